//! `.dockerignore`: which files of the build context are left out, with Docker's rules
//! (moby/patternmatcher and its `ignorefile`).
//!
//! One pattern a line; a line starting with `#` is a comment; blanks around a pattern are
//! dropped; a pattern is cleaned as a path (`./a//b/` is `a/b`, a leading `/` is dropped). `*`
//! matches within one path element, `?` one character, `[a-z]` / `[^a-z]` a class, `\` escapes,
//! `**` any number of elements (`**/x`, `a/**`, `a/**/b`). `!pattern` is an exception that
//! includes again what earlier patterns excluded; the last pattern that matches a path decides.
//! A pattern that matches a directory matches everything below it. `Dockerfile` and
//! `.dockerignore` can be excluded like any file: they are then not in the context that `COPY`
//! sees, but the builder still reads them (as Docker does).

/// A `.dockerignore` file that cannot be used: a malformed pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".dockerignore line {line}: {message}")]
pub struct IgnoreError {
    /// The line (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The patterns of a `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses a `.dockerignore` file's text.
    pub fn parse(text: &str) -> Result<Ignore, IgnoreError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let err = |message: String| IgnoreError {
                line: i + 1,
                message,
            };
            if line.starts_with('#') {
                continue;
            }
            let mut pattern = line.trim();
            if pattern.is_empty() {
                continue;
            }
            let exclusion = pattern.starts_with('!');
            if exclusion {
                pattern = pattern[1..].trim();
                if pattern.is_empty() {
                    return Err(err("illegal exclusion pattern: \"!\"".into()));
                }
            }
            let mut cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let tokens = compile(&cleaned).map_err(|m| err(format!("{m}: {pattern:?}")))?;
            patterns.push(Pattern { exclusion, tokens });
        }
        Ok(Ignore { patterns })
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out. For a directory
    /// (`is_dir`), true only when nothing below it can be included again either, so that the
    /// walker can skip it whole; an excluded directory that an exception may reach into is
    /// not excluded (it is sent as the parent of what is included).
    pub fn is_excluded(&self, path: &str, is_dir: bool) -> bool {
        let path = clean_relative(path);
        match self.decider(&path) {
            Some(k) if !self.patterns[k].exclusion => !(is_dir && self.exception_below(&path, k)),
            _ => false,
        }
    }

    /// Whether a file below directory `dir` may be included: false only when `dir` is excluded
    /// and no later exception can match anything inside it.
    pub fn might_include_below(&self, dir: &str) -> bool {
        let dir = clean_relative(dir);
        match self.decider(&dir) {
            Some(k) if !self.patterns[k].exclusion => self.exception_below(&dir, k),
            _ => true,
        }
    }

    /// The index of the last pattern that matches `path` or one of its parents: the one that
    /// decides whether it is excluded.
    fn decider(&self, path: &str) -> Option<usize> {
        if path == "." || path.is_empty() {
            return None;
        }
        let chars: Vec<char> = path.chars().collect();
        let prefixes: Vec<usize> = chars
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == '/')
            .map(|(i, _)| i)
            .chain([chars.len()])
            .collect();
        self.patterns.iter().rposition(|p| {
            prefixes
                .iter()
                .any(|&end| matches(&p.tokens, &chars[..end]))
        })
    }

    /// Whether an exception after pattern `k` may match something below `dir`.
    fn exception_below(&self, dir: &str, k: usize) -> bool {
        let below: Vec<char> = format!("{dir}/").chars().collect();
        self.patterns[k + 1..]
            .iter()
            .any(|p| p.exclusion && can_start_with(&p.tokens, &below))
    }
}

/// One pattern, compiled.
#[derive(Debug, Clone)]
struct Pattern {
    /// `!pattern`.
    exclusion: bool,
    tokens: Vec<Token>,
}

/// One element of a compiled pattern.
#[derive(Debug, Clone)]
enum Token {
    /// This character.
    Lit(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any characters but `/`.
    Star,
    /// `**` at the end: anything.
    All,
    /// `**/`: nothing, or anything ending with `/`.
    Dirs,
    /// `[...]`: one character of (or, negated, not of) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// Compiles a cleaned pattern as patternmatcher does: a pattern starting with `**` and with no
/// other wildcard matches any path ending with the rest.
fn compile(pattern: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    // A wildcard, class or escape after the first element (a leading `**`).
    let mut later_wildcard = false;
    let mut leading_double_star = false;
    let mut chars = pattern.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let wildcard = match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                let at_end = chars.peek().is_none();
                tokens.push(if at_end { Token::All } else { Token::Dirs });
                leading_double_star |= first;
                true
            }
            '*' => {
                tokens.push(Token::Star);
                true
            }
            '?' => {
                tokens.push(Token::One);
                true
            }
            '\\' => match chars.next() {
                Some(n) => {
                    tokens.push(Token::Lit(n));
                    true
                }
                None => {
                    tokens.push(Token::Lit('\\'));
                    false
                }
            },
            '[' => {
                tokens.push(class(&mut chars)?);
                true
            }
            c => {
                tokens.push(Token::Lit(c));
                false
            }
        };
        later_wildcard |= wildcard && !first;
        first = false;
    }
    if !leading_double_star || later_wildcard {
        return Ok(tokens);
    }
    // `**/x` or `**x` with no other wildcard: any path ending with `/x` (or equal to `x`),
    // or with `x`.
    let rest = &pattern[2..];
    let (lead, lits) = match rest.strip_prefix('/') {
        Some(r) => (Token::Dirs, r),
        None => (Token::All, rest),
    };
    Ok([lead]
        .into_iter()
        .chain(lits.chars().map(Token::Lit))
        .collect())
}

/// A `[...]` class, after its `[`.
fn class(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<Token, String> {
    let bad = || "syntax error in pattern".to_string();
    let negated = chars.peek() == Some(&'^');
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    loop {
        let c = match chars.next().ok_or_else(bad)? {
            ']' if !ranges.is_empty() => break,
            '\\' => chars.next().ok_or_else(bad)?,
            c => c,
        };
        if chars.peek() == Some(&'-') {
            chars.next();
            let hi = match chars.next().ok_or_else(bad)? {
                '\\' => chars.next().ok_or_else(bad)?,
                ']' => return Err(bad()),
                h => h,
            };
            if hi < c {
                return Err(bad());
            }
            ranges.push((c, hi));
        } else {
            ranges.push((c, c));
        }
    }
    Ok(Token::Class { negated, ranges })
}

/// Whether `tokens` match all of `s`.
fn matches(tokens: &[Token], s: &[char]) -> bool {
    // Memo of (token, position) pairs known not to match, to stay polynomial.
    let mut failed = vec![false; (tokens.len() + 1) * (s.len() + 1)];
    fn go(t: &[Token], ti: usize, s: &[char], si: usize, failed: &mut [bool]) -> bool {
        let key = ti * (s.len() + 1) + si;
        if failed[key] {
            return false;
        }
        let ok = match t.get(ti) {
            None => si == s.len(),
            Some(Token::All) => true,
            Some(Token::Star) => (si..=s.len())
                .take_while(|&j| j == si || s[j - 1] != '/')
                .any(|j| go(t, ti + 1, s, j, failed)),
            Some(Token::Dirs) => {
                go(t, ti + 1, s, si, failed)
                    || (si..s.len())
                        .filter(|&j| s[j] == '/')
                        .any(|j| go(t, ti + 1, s, j + 1, failed))
            }
            Some(tok) => si < s.len() && one_char(tok, s[si]) && go(t, ti + 1, s, si + 1, failed),
        };
        if !ok {
            failed[key] = true;
        }
        ok
    }
    go(tokens, 0, s, 0, &mut failed)
}

/// Whether a single-character token matches `c`.
fn one_char(tok: &Token, c: char) -> bool {
    match tok {
        Token::Lit(l) => *l == c,
        Token::One => c != '/',
        Token::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
        Token::Star | Token::All | Token::Dirs => false,
    }
}

/// Whether some path starting with `prefix` (and longer) can match `tokens`.
fn can_start_with(tokens: &[Token], prefix: &[char]) -> bool {
    fn go(t: &[Token], s: &[char]) -> bool {
        if s.is_empty() {
            return !t.is_empty();
        }
        match t.split_first() {
            None => false,
            Some((Token::All | Token::Dirs, _)) => true,
            Some((Token::Star, rest)) => {
                let run = s.iter().take_while(|c| **c != '/').count();
                run == s.len() || (0..=run).any(|j| go(rest, &s[j..]))
            }
            Some((tok, rest)) => one_char(tok, s[0]) && go(rest, &s[1..]),
        }
    }
    go(tokens, prefix)
}

/// A path as Go's `filepath.Clean` makes it: no empty or `.` elements, `..` resolved, no
/// trailing `/`; `.` when nothing is left.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// A context-relative path, cleaned, without a leading `/`.
fn clean_relative(path: &str) -> String {
    let c = clean(path);
    match c.strip_prefix('/') {
        Some("") => ".".into(),
        Some(rest) => rest.to_string(),
        None => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(patterns: &[&str], path: &str) -> bool {
        Ignore::parse(&patterns.join("\n"))
            .unwrap()
            .is_excluded(path, false)
    }

    /// patternmatcher's `TestMatches` cases (one pattern; the path; whether it matches).
    #[test]
    fn patternmatcher_cases() {
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**", "dir/file/", true),
            ("**/**", "dir/file", true),
            ("**/**", "dir/file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/file/", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**", "dir/dir2/file/", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file/", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("*", "fileutils.go", true),
            ("*.go", "fileutils.go", true),
            ("*.go", "dir/fileutils.go", false),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(excluded(&[pattern], path), *want, "{pattern:?} {path:?}");
        }
    }

    #[test]
    fn exceptions_and_order() {
        assert!(excluded(&["!fileutils.go", "*.go"], "fileutils.go"));
        assert!(!excluded(&["*.go", "!fileutils.go"], "fileutils.go"));
        assert!(!excluded(&["docs", "!docs/README.md"], "docs/README.md"));
        assert!(!excluded(&["docs/", "!docs/README.md"], "docs/README.md"));
        assert!(!excluded(&["docs/*", "!docs/README.md"], "docs/README.md"));
        assert!(excluded(&["docs/*", "!docs/README.md"], "docs/other.md"));
        assert!(!excluded(
            &["**", "!util/docker/web"],
            "util/docker/web/foo"
        ));
        assert!(excluded(
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo"
        ));
        assert!(!excluded(
            &["**", "!dist/*.whl"],
            "dist/x-1.0+g08-py3-none-any.whl"
        ));
        assert!(!excluded(
            &["*.md", "!README*.md", "README-secret.md"],
            "README.md"
        ));
        assert!(excluded(
            &["*.md", "!README*.md", "README-secret.md"],
            "README-secret.md"
        ));
        assert!(!excluded(&[], "any/path"));
    }

    #[test]
    fn a_directory_pattern_excludes_its_contents() {
        assert!(excluded(&["node_modules"], "node_modules/a/b.js"));
        assert!(excluded(&["*/temp*"], "somedir/temporary.txt"));
        assert!(excluded(&["*/temp*"], "somedir/temp/x"));
        assert!(!excluded(&["*/temp*"], "temp"));
        assert!(excluded(&["*/*/temp*"], "a/b/temp.txt"));
        assert!(excluded(&["temp?"], "temp1/inner"));
        assert!(!excluded(&["node_modules"], "src/node_modules"));
        assert!(excluded(&["**/node_modules"], "src/node_modules/x"));
    }

    #[test]
    fn parsing_cleans_patterns() {
        let text = "# comment\n  \n/test2\n ./a//b/ \n!  /inverted/abs/path\n #not a comment\n";
        let ig = Ignore::parse(text).unwrap();
        assert!(ig.is_excluded("test2", false));
        assert!(ig.is_excluded("a/b", false));
        assert!(ig.is_excluded("a/b/c", false));
        assert!(ig.is_excluded(" #not a comment".trim(), false));
        assert_eq!(ig.patterns.len(), 4);
        assert!(ig.patterns[2].exclusion);
        // Paths are cleaned too.
        assert!(ig.is_excluded("./test2", false));
        assert!(ig.is_excluded("/a//b/", false));
        assert!(!ig.is_excluded(".", true));
        assert!(
            Ignore::parse("\u{feff}x\n")
                .unwrap()
                .is_excluded("x", false)
        );
    }

    #[test]
    fn bad_patterns() {
        assert_eq!(
            Ignore::parse("ok\n!\n").unwrap_err().to_string(),
            ".dockerignore line 2: illegal exclusion pattern: \"!\""
        );
        let e = Ignore::parse("a\n[\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("syntax error in pattern"), "{e}");
        assert!(Ignore::parse("[a-").is_err());
        assert!(Ignore::parse("[]").is_err());
    }

    #[test]
    fn dockerfile_and_dockerignore_can_be_excluded() {
        let ig = Ignore::parse("Dockerfile\n.dockerignore\n").unwrap();
        assert!(ig.is_excluded("Dockerfile", false));
        assert!(ig.is_excluded(".dockerignore", false));
    }

    #[test]
    fn directories_the_walker_can_skip() {
        let ig = Ignore::parse("build\nvendor\n!vendor/keep\n!**/*.go\ntmp\n").unwrap();
        // Excluded, and no exception can reach inside: skipped whole.
        assert!(!ig.might_include_below("tmp"));
        assert!(ig.is_excluded("tmp", true));
        // `!vendor/keep` and `!**/*.go` may match inside.
        assert!(ig.might_include_below("vendor"));
        assert!(!ig.is_excluded("vendor", true));
        assert!(ig.is_excluded("vendor", false));
        assert!(ig.is_excluded("vendor/other", false));
        assert!(!ig.is_excluded("vendor/keep/x", false));
        assert!(!ig.is_excluded("vendor/a/b.go", false));
        // `!**/*.go` comes after `build`.
        assert!(ig.might_include_below("build"));
        // Not excluded at all.
        assert!(ig.might_include_below("src"));
        assert!(!ig.is_excluded("src", true));

        let ig = Ignore::parse("a\n!a/b/c\n").unwrap();
        assert!(ig.might_include_below("a"));
        assert!(ig.might_include_below("a/b"));
        assert!(!ig.might_include_below("a/x"));
        assert!(ig.is_excluded("a/x", true));
        let ig = Ignore::parse("a\n!a/*/keep\n").unwrap();
        assert!(ig.might_include_below("a/x"));
        assert!(!ig.might_include_below("a/x/y"));
        // An exception before the exclusion does not reach inside.
        let ig = Ignore::parse("!a/keep\na\n").unwrap();
        assert!(!ig.might_include_below("a"));
    }

    #[test]
    fn clean_like_go() {
        assert_eq!(clean("a//b/./c/"), "a/b/c");
        assert_eq!(clean("./"), ".");
        assert_eq!(clean("a/../.."), "..");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("/"), "/");
    }
}
