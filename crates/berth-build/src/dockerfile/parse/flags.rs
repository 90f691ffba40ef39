//! Instruction flags (`--from=x`, `--link`), split off the arguments and checked against
//! the flags an instruction takes, with BuildKit's messages.

use std::collections::HashMap;

/// What values a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `--link`, `--link=true|false`.
    Bool,
    /// `--from=x`, once.
    Str,
    /// `--mount=...`, any number of times.
    Strs,
}

/// The flags an instruction was given, by name (without `--`).
#[derive(Debug, Default)]
pub(super) struct Flags(HashMap<&'static str, Vec<String>>);

impl Flags {
    /// Checks `raw` (`--name[=value]` words) against `spec`.
    pub(super) fn parse(raw: &[String], spec: &[(&'static str, Kind)]) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for arg in raw {
            if arg == "--" {
                break;
            }
            let Some(stripped) = arg.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {arg}"));
            };
            let (name, value) = match stripped.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (stripped, None),
            };
            let flag_name = format!("--{name}");
            let Some(&(key, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag: {flag_name}"));
            };
            let values = flags.0.entry(key).or_default();
            if !values.is_empty() && kind != Kind::Strs {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            let value = match (kind, value) {
                (Kind::Bool, Some("")) | (Kind::Str | Kind::Strs, None) => {
                    return Err(format!("missing a value on flag: {flag_name}"));
                }
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".to_string(),
                    "false" => "false".to_string(),
                    _ => {
                        return Err(format!(
                            "expecting boolean value for flag {flag_name}, not: {v}"
                        ));
                    }
                },
                (_, Some(v)) => v.to_string(),
            };
            values.push(value);
        }
        Ok(flags)
    }

    /// A string flag's value.
    pub(super) fn string(&self, name: &str) -> Option<String> {
        self.0.get(name).and_then(|v| v.last().cloned())
    }

    /// A boolean flag's value (false when not given).
    pub(super) fn bool(&self, name: &str) -> bool {
        self.string(name).as_deref() == Some("true")
    }

    /// A repeatable flag's values, in order.
    pub(super) fn strings(&self, name: &str) -> Vec<String> {
        self.0.get(name).cloned().unwrap_or_default()
    }
}

/// Splits the leading `--flag` words off an instruction's arguments, as BuildKit does: quotes
/// in a flag are removed, the escape character escapes the next character, and `--` ends the
/// flags. Returns the flags and the rest.
pub(super) fn extract(line: &str, escape: char) -> (Vec<String>, &str) {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut iter = line.char_indices().peekable();
    loop {
        // Between words.
        while let Some(&(_, c)) = iter.peek() {
            if !c.is_whitespace() {
                break;
            }
            iter.next();
        }
        let Some(&(start, _)) = iter.peek() else {
            return (words, "");
        };
        if !line[start..].starts_with("--") {
            return (words, &line[start..]);
        }
        // In a word (maybe in quotes).
        let mut quote: Option<char> = None;
        loop {
            let Some((pos, c)) = iter.next() else {
                if word != "--" && (blank_ok || !word.is_empty()) {
                    words.push(word);
                }
                return (words, "");
            };
            match quote {
                None if c.is_whitespace() => {
                    if word == "--" {
                        return (words, &line[pos..]);
                    }
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    break;
                }
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    blank_ok = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == escape => match iter.next() {
                    Some((_, n)) => word.push(n),
                    None => quote = None,
                },
                _ => word.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn extracts_leading_flags_only() {
        assert_eq!(
            extract("--from=a --link src dst --x", '\\'),
            (strs(&["--from=a", "--link"]), "src dst --x")
        );
        assert_eq!(extract("src dst", '\\'), (vec![], "src dst"));
        assert_eq!(extract("--a=\"b c\" d", '\\'), (strs(&["--a=b c"]), "d"));
        assert_eq!(extract("--a=b\\ c d", '\\'), (strs(&["--a=b c"]), "d"));
        assert_eq!(extract("--a -- --b", '\\'), (strs(&["--a"]), " --b"));
        assert_eq!(extract("--a", '\\'), (strs(&["--a"]), ""));
        assert_eq!(extract("-a b", '\\'), (vec![], "-a b"));
        assert_eq!(extract("--a=`\"b c", '`'), (strs(&["--a=\"b"]), "c"));
    }

    #[test]
    fn checks_flags_like_buildkit() {
        let spec = [
            ("link", Kind::Bool),
            ("from", Kind::Str),
            ("mount", Kind::Strs),
        ];
        let f = Flags::parse(
            &strs(&["--link", "--from=x", "--mount=a", "--mount=b"]),
            &spec,
        )
        .unwrap();
        assert!(f.bool("link"));
        assert_eq!(f.string("from").as_deref(), Some("x"));
        assert_eq!(f.strings("mount"), ["a", "b"]);
        assert!(
            !Flags::parse(&strs(&["--link=FALSE"]), &spec)
                .unwrap()
                .bool("link")
        );
        let err = |raw: &[&str]| Flags::parse(&strs(raw), &spec).unwrap_err();
        assert_eq!(err(&["--chown=1"]), "unknown flag: --chown");
        assert_eq!(
            err(&["--from=a", "--from=b"]),
            "duplicate flag specified: --from"
        );
        assert_eq!(err(&["--from"]), "missing a value on flag: --from");
        assert_eq!(err(&["--link="]), "missing a value on flag: --link");
        assert_eq!(
            err(&["--link=yes"]),
            "expecting boolean value for flag --link, not: yes"
        );
    }
}
