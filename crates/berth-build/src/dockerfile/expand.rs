//! Variable substitution in instruction arguments, as Docker's builder does it (BuildKit's
//! `shell.Lex`): `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`,
//! `${VAR+word}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR#pat}`, `${VAR##pat}`, `${VAR%pat}`,
//! `${VAR%%pat}`, `${VAR/pat/repl}`, `${VAR//pat/repl}`; single quotes are literal, double
//! quotes keep spaces and expand, the escape character (`\` or `` ` ``) escapes the next
//! character. [`expand_word`] gives one string (`WORKDIR`, `ENV` values, `COPY` sources);
//! [`expand_words`] also splits on unquoted white space, including white space that came from
//! a variable's value (`EXPOSE $PORTS`).

/// A word that cannot be expanded: bad syntax (`${}`, an unterminated quote) or a `${VAR?msg}`
/// whose variable is unset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process \"{word}\": {message}")]
pub struct ExpandError {
    /// The word as written.
    pub word: String,
    /// What is wrong with it.
    pub message: String,
}

/// Expands `word` to one string, with `lookup` giving the variables that are set.
pub fn expand_word(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, ExpandError> {
    Lexer::new(word, lookup, escape, Options::default())
        .run(word)
        .map(|(w, _)| w)
}

/// Expands `word` and splits the result into words on unquoted white space (also on white
/// space that came from a variable's value, as a shell does).
pub fn expand_words(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<Vec<String>, ExpandError> {
    Lexer::new(word, lookup, escape, Options::default())
        .run(word)
        .map(|(_, ws)| ws)
}

/// The words of an instruction line as the parser sees them to find heredocs: quotes and
/// escapes kept as written, variables left alone, `<< EOF` one word.
pub(crate) fn raw_words(line: &str) -> Vec<String> {
    let opts = Options {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
    };
    // An unterminated quote leaves the line without heredocs, as BuildKit does.
    Lexer::new(line, &|_| None, '\\', opts)
        .run(line)
        .map(|(_, ws)| ws)
        .unwrap_or_default()
}

/// The words of `text` with quotes and escapes resolved and variables left as written (a
/// heredoc's name: `"EOF"` is `EOF`). With `raw_quotes`, quotes are kept.
pub(crate) fn unquoted_words(text: &str, raw_quotes: bool) -> Result<Vec<String>, ExpandError> {
    let opts = Options {
        raw_quotes,
        raw_escapes: false,
        skip_unset: true,
    };
    Lexer::new(text, &|_| None, '\\', opts)
        .run(text)
        .map(|(_, ws)| ws)
}

/// How the lexer treats quotes, escapes and unset variables.
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    /// Keep quote characters in the result.
    raw_quotes: bool,
    /// Keep escape characters in the result.
    raw_escapes: bool,
    /// Leave references to unset variables as written.
    skip_unset: bool,
}

/// Words being collected: characters from quotes or escapes never split a word.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

/// One word being expanded.
struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    escape: char,
    opts: Options,
}

/// A syntax or unset-variable error, before the word is attached.
type Res<T> = Result<T, String>;

impl<'a> Lexer<'a> {
    fn new(
        word: &str,
        lookup: &'a dyn Fn(&str) -> Option<String>,
        escape: char,
        opts: Options,
    ) -> Self {
        Lexer {
            chars: word.chars().collect(),
            pos: 0,
            lookup,
            escape,
            opts,
        }
    }

    fn run(mut self, word: &str) -> Result<(String, Vec<String>), ExpandError> {
        let raw = self.opts.raw_escapes;
        self.until(None, raw).map_err(|message| ExpandError {
            word: word.to_string(),
            message,
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Processes up to `stop` (consumed) or the end: the string and its words.
    fn until(&mut self, stop: Option<char>, raw_escapes: bool) -> Res<(String, Vec<String>)> {
        let saved = std::mem::replace(&mut self.opts.raw_escapes, raw_escapes);
        let out = self.until_inner(stop);
        self.opts.raw_escapes = saved;
        out
    }

    fn until_inner(&mut self, stop: Option<char>) -> Res<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    words.add_string(&value);
                }
                '\'' | '"' | '<' => {
                    let value = match ch {
                        '\'' => self.single_quote()?,
                        '"' => self.double_quote()?,
                        _ => self.possible_heredoc(),
                    };
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                _ => {
                    self.pos += 1;
                    if ch == self.escape {
                        if self.opts.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(c) => Err(format!(
                "unexpected end of statement while looking for matching {c}"
            )),
            None => Ok((result, words.finish())),
        }
    }

    fn single_quote(&mut self) -> Res<String> {
        let mut out = String::new();
        self.pos += 1;
        if self.opts.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.opts.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Res<String> {
        let mut out = String::new();
        self.pos += 1;
        if self.opts.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.pos += 1;
                    if self.opts.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    out.push_str(&value);
                }
                Some(mut c) => {
                    self.pos += 1;
                    if c == self.escape {
                        if self.opts.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                c = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `<<` and the white space after it stay in one word (a heredoc's `<< EOF`).
    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut out = String::from("<<");
        while let Some(c @ (' ' | '\t' | '\r')) = self.peek() {
            out.push(c);
            self.pos += 1;
        }
        out
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn dollar(&mut self) -> Res<String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get(&name) {
                Some(v) => v,
                None if self.opts.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(ch) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        match ch {
            '}' => Ok(match self.get(&name) {
                Some(v) => v,
                None if self.opts.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => self.modifier(&name, ch),
            '/' => self.replace(&name),
            _ => Err(format!("unsupported modifier ({ch}) in substitution")),
        }
    }

    /// `${name:-word}` and the like, after `name` and the modifier's first character.
    fn modifier(&mut self, name: &str, first: char) -> Res<String> {
        let mut chs = first.to_string();
        let null_is_unset = first == ':';
        let op = if null_is_unset {
            let c = self.next();
            if let Some(c) = c {
                chs.push(c);
            }
            c
        } else {
            Some(first)
        };
        let pattern_op = matches!(op, Some('#' | '%'));
        if null_is_unset && pattern_op {
            return Err(format!("unsupported modifier ({chs}) in substitution"));
        }
        let (word, _) = self.until(Some('}'), pattern_op).map_err(|e| {
            if self.peek().is_none() {
                "syntax error: missing '}'".to_string()
            } else {
                e
            }
        })?;
        let value = self.get(name);
        if self.opts.skip_unset && value.is_none() {
            return Ok(format!("${{{name}{chs}{word}}}"));
        }
        let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
        match op {
            Some('-') => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            Some('+') => Ok(if unset { String::new() } else { word }),
            Some('?') => {
                if unset {
                    let default = if value.is_none() {
                        "is not allowed to be unset"
                    } else {
                        "is not allowed to be empty"
                    };
                    let msg = if word.is_empty() { default } else { &word };
                    Err(format!("{name}: {msg}"))
                } else {
                    Ok(value.unwrap_or_default())
                }
            }
            Some(c @ ('#' | '%')) => {
                let value = value.unwrap_or_default();
                let (greedy, pat) = match word.strip_prefix(c) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let pat = Glob::parse(pat)?;
                Ok(if c == '#' {
                    pat.trim_prefix(&value, greedy)
                } else {
                    pat.trim_suffix(&value, greedy)
                })
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    /// `${name/pat/repl}` and `${name//pat/repl}`, after the first `/`.
    fn replace(&mut self, name: &str) -> Res<String> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let (pattern, _) = self.until(Some('/'), true).map_err(|e| {
            if self.peek().is_none() {
                "syntax error: missing '/' in ${}".to_string()
            } else {
                e
            }
        })?;
        let (replacement, _) = self.until(Some('}'), true).map_err(|e| {
            if self.peek().is_none() {
                "syntax error: missing '}'".to_string()
            } else {
                e
            }
        })?;
        let Some(value) = self.get(name) else {
            if self.opts.skip_unset {
                return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
            }
            return Ok(String::new());
        };
        let glob = Glob::parse(&pattern)?;
        Ok(glob.replace(&value, &replacement, all))
    }

    /// A variable name: letters, digits and `_`, or all digits (a positional parameter), or one
    /// special parameter character (`$@`, `$#`...).
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !c.is_alphanumeric() && c != '_' {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }
}

/// A shell pattern of `${VAR#pat}` and `${VAR/pat/repl}`: `*`, `?`, `\` escaping.
struct Glob(Vec<GlobToken>);

/// One element of a [`Glob`].
#[derive(Clone, Copy)]
enum GlobToken {
    Star,
    Any,
    Lit(char),
}

impl Glob {
    fn parse(pattern: &str) -> Res<Glob> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => GlobToken::Star,
                '?' => GlobToken::Any,
                '\\' => match chars.peek().copied() {
                    Some('}' | '/') => continue,
                    Some(n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        GlobToken::Lit(n)
                    }
                    Some(n) => {
                        return Err(format!(
                            "invalid pattern ({pattern}) in substitution: invalid escape '\\{n}'"
                        ));
                    }
                    None => {
                        return Err(format!(
                            "invalid pattern ({pattern}) in substitution: trailing backslash"
                        ));
                    }
                },
                c => GlobToken::Lit(c),
            });
        }
        Ok(Glob(tokens))
    }

    /// Whether the whole of `s` matches.
    fn matches(&self, s: &[char]) -> bool {
        fn go(p: &[GlobToken], s: &[char]) -> bool {
            match p.split_first() {
                None => s.is_empty(),
                Some((GlobToken::Star, rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
                Some((GlobToken::Any, rest)) => !s.is_empty() && go(rest, &s[1..]),
                Some((GlobToken::Lit(c), rest)) => s.first() == Some(c) && go(rest, &s[1..]),
            }
        }
        go(&self.0, s)
    }

    fn trim_prefix(&self, value: &str, greedy: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let mut ends: Vec<usize> = (0..=v.len()).collect();
        if greedy {
            ends.reverse();
        }
        match ends.into_iter().find(|&e| self.matches(&v[..e])) {
            Some(e) => v[e..].iter().collect(),
            None => value.to_string(),
        }
    }

    fn trim_suffix(&self, value: &str, greedy: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let mut starts: Vec<usize> = (0..=v.len()).rev().collect();
        if greedy {
            starts.reverse();
        }
        match starts.into_iter().find(|&s| self.matches(&v[s..])) {
            Some(s) => v[..s].iter().collect(),
            None => value.to_string(),
        }
    }

    /// The leftmost, longest match at or after `from`: its start and end.
    fn find(&self, v: &[char], from: usize) -> Option<(usize, usize)> {
        (from..=v.len()).find_map(|s| {
            (s..=v.len())
                .rev()
                .find(|&e| self.matches(&v[s..e]))
                .map(|e| (s, e))
        })
    }

    fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut pos = 0;
        while let Some((s, e)) = self.find(&v, pos) {
            out.extend(&v[pos..s]);
            out.push_str(replacement);
            if e == s {
                // An empty match: keep the next character and go on after it.
                if let Some(c) = v.get(s) {
                    out.push(*c);
                }
                pos = s + 1;
            } else {
                pos = e;
            }
            if !all || pos > v.len() {
                break;
            }
        }
        if pos <= v.len() {
            out.extend(&v[pos..]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PWD" => Some("/home".into()),
            "SHELL" => Some("bash".into()),
            "KOREAN" => Some("한국어".into()),
            "NULL" => Some(String::new()),
            _ => None,
        }
    }

    fn word(w: &str) -> Result<String, ExpandError> {
        expand_word(w, &env, '\\')
    }

    /// BuildKit's `envVarTest` cases (Unix), source and result; `None` for an error.
    #[test]
    fn buildkit_env_var_cases() {
        let cases: &[(&str, Option<&str>)] = &[
            ("hello", Some("hello")),
            ("he'll'o", Some("hello")),
            ("he'llo", None),
            ("he\\'llo", Some("he'llo")),
            ("he\\\\'llo", None),
            ("abc\\tdef", Some("abctdef")),
            ("\"abc\\tdef\"", Some("abc\\tdef")),
            ("\"abc\\\\tdef\"", Some("abc\\tdef")),
            ("'abc\\tdef'", Some("abc\\tdef")),
            ("hello\\", Some("hello")),
            ("hello\\\\", Some("hello\\")),
            ("\"hello", None),
            ("\"hello\\\"", None),
            ("\"hel'lo\"", Some("hel'lo")),
            ("'hello", None),
            ("'hello\\'", Some("hello\\")),
            ("'hello\\there'", Some("hello\\there")),
            ("'hello\\\\there'", Some("hello\\\\there")),
            ("\"''\"", Some("''")),
            ("$.", Some("$.")),
            ("he$1x", Some("hex")),
            ("he$.x", Some("he$.x")),
            ("he$pwd.", Some("he.")),
            ("he$PWD", Some("he/home")),
            ("he\\$PWD", Some("he$PWD")),
            ("he\\\\$PWD", Some("he\\/home")),
            ("\"he\\$PWD\"", Some("he$PWD")),
            ("\"he\\\\$PWD\"", Some("he\\/home")),
            ("\\${}", Some("${}")),
            ("\\${}aaa", Some("${}aaa")),
            ("he\\${}", Some("he${}")),
            ("${}", None),
            ("${}aaa", None),
            ("he${}xx", None),
            ("he${hi}", Some("he")),
            ("he${hi}xx", Some("hexx")),
            ("he${PWD}", Some("he/home")),
            ("he${.}", None),
            ("he${XXX:-000}xx", Some("he000xx")),
            ("he${PWD:-000}xx", Some("he/homexx")),
            ("he${XXX:-$PWD}xx", Some("he/homexx")),
            ("he${XXX:-${PWD:-yyy}}xx", Some("he/homexx")),
            ("he${XXX:-${YYY:-yyy}}xx", Some("heyyyxx")),
            ("he${XXX:YYY}", None),
            ("he${XXX?}", None),
            ("he${XXX:?}", None),
            ("he${PWD?}", Some("he/home")),
            ("he${PWD:?}", Some("he/home")),
            ("he${NULL?}", Some("he")),
            ("he${NULL:?}", None),
            ("he${XXX:+${PWD}}xx", Some("hexx")),
            ("he${PWD:+${XXX}}xx", Some("hexx")),
            ("he${PWD:+${SHELL}}xx", Some("hebashxx")),
            ("he${XXX:+000}xx", Some("hexx")),
            ("he${PWD:+000}xx", Some("he000xx")),
            ("'he${XX}'", Some("he${XX}")),
            ("\"he${PWD}\"", Some("he/home")),
            ("\"he'$PWD'\"", Some("he'/home'")),
            ("\"$PWD\"", Some("/home")),
            ("'$PWD'", Some("$PWD")),
            ("'\\$PWD'", Some("\\$PWD")),
            ("'\"hello\"'", Some("\"hello\"")),
            ("'he\\$PWD'", Some("he\\$PWD")),
            ("he${PWD", None),
            ("he${PWD:=000}xx", None),
            ("he${PWD:+${PWD}:}xx", Some("he/home:xx")),
            ("he${XXX:-\\$PWD:}xx", Some("he$PWD:xx")),
            ("he${XXX:-\\${PWD}z}xx", Some("he${PWDz}xx")),
            ("안녕'하세요", None),
            ("안녕\\'하세요", Some("안녕'하세요")),
            ("안녕$KOREAN", Some("안녕한국어")),
            ("안녕${PWD:+${SHELL}}xx", Some("안녕bashxx")),
            ("${{aaa}", None),
            ("${aaa}}", Some("}")),
            ("${aaa", None),
            ("${{aaa:-bbb}", None),
            ("${aaa:-bbb}}", Some("bbb}")),
            ("${aaa:-bbb", None),
            ("${aaa:-bbb}", Some("bbb")),
            ("${aaa:-${bbb:-ccc}}", Some("ccc")),
            ("${aaa:-bbb ${foo}", None),
            ("${aaa:-bbb {foo}", Some("bbb {foo")),
            ("${:}", None),
            ("${:-bbb}", None),
            ("${:+bbb}", None),
            ("$1", Some("")),
            ("${1:-bbb}", Some("bbb")),
            ("${9:+bbb}", Some("")),
            ("$999aaa", Some("aaa")),
            ("${999:-bbb}aaa", Some("bbbaaa")),
            ("$001aaa", Some("aaa")),
            ("$@@@", Some("@@")),
            ("${@:-bbb}aaa", Some("bbbaaa")),
            ("$*", Some("")),
            ("${#:-bbb}", Some("bbb")),
            ("$?", Some("")),
            ("${-:+bbb}", Some("")),
            ("$$", Some("")),
            ("${!:-bbb}", Some("bbb")),
            ("$0", Some("")),
            ("${0:-bbb}", Some("bbb")),
        ];
        for (src, want) in cases {
            let got = word(src);
            match want {
                Some(w) => assert_eq!(got.as_deref(), Ok(*w), "source {src:?}"),
                None => assert!(got.is_err(), "source {src:?} gave {got:?}"),
            }
        }
    }

    /// BuildKit's `wordsTest` cases: the source, then its words joined with `,`.
    #[test]
    fn buildkit_words_cases() {
        let lookup = |name: &str| -> Option<String> {
            match name {
                "hi" => Some("hi".into()),
                "space" => Some("abc  def".into()),
                "leading" => Some("  ab c".into()),
                "trailing" => Some("ab c   ".into()),
                _ => None,
            }
        };
        let cases: &[(&str, Option<&str>)] = &[
            ("hello", Some("hello")),
            ("hello${hi}bye", Some("hellohibye")),
            ("hello${space}bye", Some("helloabc,defbye")),
            ("hello\"${space}\"bye", Some("helloabc  defbye")),
            ("hello \"${space}\"bye", Some("hello,abc  defbye")),
            ("hello${leading}def", Some("hello,ab,cdef")),
            ("hello\"${leading}\" def", Some("hello  ab c,def")),
            ("hello\"${leading}\"", Some("hello  ab c")),
            ("hello${leading}", Some("hello,ab,c")),
            ("hello${trailing}", Some("helloab,c")),
            ("hello${trailing}d", Some("helloab,c,d")),
            ("hello\"${trailing}\"d", Some("helloab c   d")),
            ("hel\"lo${trailing}\"", Some("helloab c   ")),
            ("hello\" there  \"", Some("hello there  ")),
            ("hello there     ", Some("hello,there")),
            ("hello\\ there", Some("hello there")),
            ("hello\" there", None),
            ("hello\\\" there", Some("hello\",there")),
            ("hello\"\\\\there\"", Some("hello\\there")),
            ("hello\"\\there\"", Some("hello\\there")),
            ("hello'\\\\there'", Some("hello\\\\there")),
            ("hello'\\there'", Some("hello\\there")),
            ("hello'$there'", Some("hello$there")),
        ];
        for (src, want) in cases {
            let got = expand_words(src, &lookup, '\\').map(|w| w.join(","));
            match want {
                Some(w) => assert_eq!(got.as_deref(), Ok(*w), "source {src:?}"),
                None => assert!(got.is_err(), "source {src:?} gave {got:?}"),
            }
        }
    }

    #[test]
    fn mandatory_variables_carry_the_message() {
        let set = |n: &str| {
            (n == "VAR")
                .then(|| "plain".to_string())
                .or_else(|| (n == "ARG").then(|| "x".to_string()))
        };
        let empty = |n: &str| {
            (n == "VAR")
                .then(String::new)
                .or_else(|| (n == "ARG").then(|| "x".to_string()))
        };
        let unset = |n: &str| (n == "ARG").then(|| "x".to_string());
        let no_empty = "${VAR:?message here$ARG}";
        let no_unset = "${VAR?message here$ARG}";
        assert_eq!(expand_word(no_empty, &set, '\\').unwrap(), "plain");
        let e = expand_word(no_empty, &empty, '\\').unwrap_err();
        assert_eq!(e.message, "VAR: message herex");
        assert!(
            expand_word(no_empty, &unset, '\\')
                .unwrap_err()
                .message
                .contains("message herex")
        );
        assert_eq!(expand_word(no_unset, &set, '\\').unwrap(), "plain");
        assert_eq!(expand_word(no_unset, &empty, '\\').unwrap(), "");
        assert!(
            expand_word(no_unset, &unset, '\\')
                .unwrap_err()
                .message
                .contains("message herex")
        );
        let e = word("${XXX:?}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to process \"${XXX:?}\": XXX: is not allowed to be unset"
        );
    }

    #[test]
    fn unset_with_plain_dash_and_plus() {
        assert_eq!(word("${NULL-x}").unwrap(), "");
        assert_eq!(word("${XXX-x}").unwrap(), "x");
        assert_eq!(word("${NULL+x}").unwrap(), "x");
        assert_eq!(word("${XXX+x}").unwrap(), "");
        assert_eq!(word("${NULL:-x}").unwrap(), "x");
        assert_eq!(word("${NULL:+x}").unwrap(), "");
    }

    #[test]
    fn pattern_modifiers() {
        let lookup = |n: &str| (n == "F").then(|| "dir/sub/file.tar.gz".to_string());
        let w = |s: &str| expand_word(s, &lookup, '\\');
        assert_eq!(w("${F#*/}").unwrap(), "sub/file.tar.gz");
        assert_eq!(w("${F##*/}").unwrap(), "file.tar.gz");
        assert_eq!(w("${F%.*}").unwrap(), "dir/sub/file.tar");
        assert_eq!(w("${F%%.*}").unwrap(), "dir/sub/file");
        assert_eq!(w("${F#nomatch}").unwrap(), "dir/sub/file.tar.gz");
        assert_eq!(w("${F/\\//-}").unwrap(), "dir-sub/file.tar.gz");
        assert_eq!(w("${F//\\//-}").unwrap(), "dir-sub-file.tar.gz");
        assert_eq!(w("${F/s?b/X}").unwrap(), "dir/X/file.tar.gz");
        assert_eq!(w("${F/*\\//}").unwrap(), "file.tar.gz");
        assert_eq!(w("${UNSET/a/b}").unwrap(), "");
        assert!(w("${F:#x}").is_err());
        assert!(w("${F#\\x}").is_err());
        assert!(w("${F/a}").is_err());
    }

    #[test]
    fn backtick_escape() {
        let w = |s: &str| expand_word(s, &env, '`');
        assert_eq!(w("c:\\dir\\$PWD").unwrap(), "c:\\dir\\/home");
        assert_eq!(w("`$PWD").unwrap(), "$PWD");
        assert_eq!(w("\"a`\"b\"").unwrap(), "a\"b");
    }

    #[test]
    fn raw_words_keep_quotes_escapes_and_variables() {
        assert_eq!(
            raw_words("RUN cat <<\"EOF\" > $OUT \\x 'a b' << END"),
            [
                "RUN",
                "cat",
                "<<\"EOF\"",
                ">",
                "$OUT",
                "\\x",
                "'a b'",
                "<< END"
            ]
        );
        assert_eq!(raw_words("RUN echo 'unterminated"), Vec::<String>::new());
        assert_eq!(unquoted_words("\"EOF\"", false).unwrap(), ["EOF"]);
        assert_eq!(unquoted_words("\"EOF\"", true).unwrap(), ["\"EOF\""]);
        assert_eq!(unquoted_words("${X:-a}", false).unwrap(), ["${X:-a}"]);
    }
}
