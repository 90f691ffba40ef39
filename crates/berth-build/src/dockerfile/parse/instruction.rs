//! One instruction's line (continuations joined) into its syntax tree, with BuildKit's
//! argument forms (JSON or shell, `key=value` words, plain strings) and checks.

use super::duration::parse_duration;
use super::flags::{self, Flags, Kind};
use super::heredoc_from_word;
use crate::dockerfile::ast::{ArgDecl, Command, CopySpec, From, Healthcheck, Heredoc, Instruction};

/// A parsed instruction: a stage's `FROM`, or any other.
#[derive(Debug)]
pub(super) enum Parsed {
    /// `FROM`.
    From {
        /// The image and platform.
        from: From,
        /// `AS name`, lowercased.
        name: Option<String>,
    },
    /// Any other instruction.
    Instruction {
        /// The instruction.
        item: Instruction,
        /// Whether heredocs after it belong to it (`RUN`, `COPY`, `ADD` in shell form, also
        /// as an `ONBUILD` trigger).
        heredocs: bool,
    },
}

/// An instruction's arguments in JSON form or as written.
enum Args {
    Json(Vec<String>),
    Text(String),
}

/// Parses one instruction line.
pub(super) fn parse(line: &str, escape: char) -> Result<Parsed, String> {
    let (cmd, rest) = split_command(line);
    let (flag_words, args) = flags::extract(rest, escape);
    let args = args.trim();
    let flags = |spec: &[(&'static str, Kind)]| Flags::parse(&flag_words, spec);
    let plain = |item| {
        Ok(Parsed::Instruction {
            item,
            heredocs: false,
        })
    };
    let name = cmd.to_ascii_uppercase();
    match name.as_str() {
        "FROM" => {
            let words = whitespace_words(args);
            let name = stage_name(&words)?;
            let f = flags(&[("platform", Kind::Str)])?;
            Ok(Parsed::From {
                from: From {
                    image: words[0].clone(),
                    platform: f.string("platform"),
                },
                name,
            })
        }
        "RUN" => {
            let f = flags(&[("mount", Kind::Strs), ("network", Kind::Str)])?;
            let network = f.string("network");
            if let Some(n) = network
                .as_deref()
                .filter(|n| !matches!(*n, "default" | "none" | "host"))
            {
                return Err(format!("invalid network mode {n:?}"));
            }
            let mounts = f.strings("mount").iter().map(|m| csv_fields(m)).collect();
            let (command, json) = command(args)?;
            Ok(Parsed::Instruction {
                item: Instruction::Run {
                    command,
                    mounts,
                    network,
                    heredocs: Vec::new(),
                },
                heredocs: !json,
            })
        }
        "CMD" | "ENTRYPOINT" => {
            flags(&[])?;
            let (command, _) = command(args)?;
            plain(if name == "CMD" {
                Instruction::Cmd(command)
            } else {
                Instruction::Entrypoint(command)
            })
        }
        "COPY" | "ADD" => copy_or_add(&name, args, flags),
        "ENV" | "LABEL" => {
            flags(&[])?;
            let pairs = name_values(args, &name, escape)?;
            plain(if name == "ENV" {
                Instruction::Env(pairs)
            } else {
                Instruction::Label(pairs)
            })
        }
        "ARG" => {
            let words = quoted_words(args, escape);
            if words.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let decls = words
                .into_iter()
                .map(|w| match w.split_once('=') {
                    Some(("", _)) => Err("ARG names can not be blank".to_string()),
                    Some((k, v)) => Ok(ArgDecl {
                        name: k.to_string(),
                        default: Some(v.to_string()),
                    }),
                    None => Ok(ArgDecl {
                        name: w,
                        default: None,
                    }),
                })
                .collect::<Result<_, _>>()?;
            plain(Instruction::Arg(decls))
        }
        "WORKDIR" | "USER" | "MAINTAINER" | "STOPSIGNAL" => {
            if args.is_empty() {
                return Err(format!("{name} requires exactly one argument"));
            }
            // BuildKit reads no flags for STOPSIGNAL (they are ignored).
            if name != "STOPSIGNAL" {
                flags(&[])?;
            }
            let arg = args.to_string();
            plain(match name.as_str() {
                "WORKDIR" => Instruction::Workdir(arg),
                "USER" => Instruction::User(arg),
                "MAINTAINER" => Instruction::Maintainer(arg),
                _ => Instruction::StopSignal(arg),
            })
        }
        "EXPOSE" => {
            let ports = whitespace_words(args);
            if ports.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            flags(&[])?;
            plain(Instruction::Expose(ports))
        }
        "VOLUME" => {
            let vols = match json_or_text(args)? {
                Args::Json(v) => v,
                Args::Text(t) => whitespace_words(&t),
            };
            if vols.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            flags(&[])?;
            let vols: Vec<String> = vols.iter().map(|v| v.trim().to_string()).collect();
            if vols.iter().any(String::is_empty) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            plain(Instruction::Volume(vols))
        }
        "HEALTHCHECK" => plain(Instruction::Healthcheck(healthcheck(args, flags)?)),
        "SHELL" => {
            flags(&[])?;
            match json_or_text(args)? {
                Args::Json(v) if !v.is_empty() => plain(Instruction::Shell(v)),
                Args::Text(t) if !t.is_empty() => {
                    Err("SHELL requires the arguments to be in JSON form".into())
                }
                _ => Err(at_least_one("SHELL")),
            }
        }
        "ONBUILD" => onbuild(line, args, escape, flags),
        _ => Err(format!("unknown instruction: {cmd}")),
    }
}

/// Gives an instruction the heredocs read after its line: `RUN`'s, `COPY`'s and `ADD`'s
/// (each source word that opens one takes its content), an `ONBUILD` trigger's (appended to
/// its text, as BuildKit keeps them).
pub(super) fn with_heredocs(item: Instruction, docs: Vec<Heredoc>) -> Result<Instruction, String> {
    Ok(match item {
        Instruction::Run {
            command,
            mounts,
            network,
            ..
        } => Instruction::Run {
            command,
            mounts,
            network,
            heredocs: docs,
        },
        Instruction::Copy(spec) => Instruction::Copy(take_heredocs(spec, &docs)?),
        Instruction::Add {
            spec,
            checksum,
            keep_git_dir,
        } => Instruction::Add {
            spec: take_heredocs(spec, &docs)?,
            checksum,
            keep_git_dir,
        },
        Instruction::Onbuild(mut text) => {
            for doc in &docs {
                text.push('\n');
                text.push_str(&doc.content);
                text.push_str(&doc.name);
            }
            Instruction::Onbuild(text)
        }
        other => other,
    })
}

/// Moves the sources that open heredocs (`<<EOF`) into `heredocs`, with their content.
fn take_heredocs(mut spec: CopySpec, docs: &[Heredoc]) -> Result<CopySpec, String> {
    let mut sources = Vec::new();
    for src in std::mem::take(&mut spec.sources) {
        match heredoc_from_word(&src)? {
            Some(h) => {
                let content = docs
                    .iter()
                    .find(|d| d.name == h.name)
                    .map(|d| d.content.clone())
                    .unwrap_or_default();
                spec.heredocs.push(Heredoc { content, ..h });
            }
            None => sources.push(src),
        }
    }
    spec.sources = sources;
    Ok(spec)
}

/// The instruction's name and the rest of its line.
fn split_command(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.find(is_separator) {
        Some(i) => (&line[..i], line[i..].trim_start_matches(is_separator)),
        None => (line, ""),
    }
}

/// White space as BuildKit splits words on it (`[\t\v\f\r ]`).
fn is_separator(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

fn whitespace_words(s: &str) -> Vec<String> {
    s.split(is_separator)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn at_least_one(name: &str) -> String {
    format!("{name} requires at least one argument")
}

/// A JSON array of strings, or the text as written when it is not JSON.
fn json_or_text(args: &str) -> Result<Args, String> {
    if !args.starts_with('[') {
        return Ok(Args::Text(args.to_string()));
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(args) else {
        return Ok(Args::Text(args.to_string()));
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(
                "when using JSON array syntax, arrays must be comprised of strings only"
                    .to_string(),
            ),
        })
        .collect::<Result<_, _>>()
        .map(Args::Json)
}

/// A command in exec or shell form, and whether it was JSON.
fn command(args: &str) -> Result<(Command, bool), String> {
    Ok(match json_or_text(args)? {
        Args::Json(v) => (Command::Exec(v), true),
        Args::Text(t) => (Command::Shell(t), false),
    })
}

/// `FROM image [AS name]`: the stage's name, lowercased.
fn stage_name(words: &[String]) -> Result<Option<String>, String> {
    match words {
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            let mut chars = lower.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                });
            if !valid {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            Ok(Some(lower))
        }
        [_] => Ok(None),
        _ => Err("FROM requires either one or three arguments".into()),
    }
}

fn copy_or_add(
    name: &str,
    args: &str,
    flags: impl Fn(&[(&'static str, Kind)]) -> Result<Flags, String>,
) -> Result<Parsed, String> {
    let (words, json) = match json_or_text(args)? {
        Args::Json(v) => (v, true),
        Args::Text(t) => (whitespace_words(&t), false),
    };
    let Some((dest, sources)) = words.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(format!(
            "{name} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    };
    let mut spec_flags = vec![
        ("chown", Kind::Str),
        ("chmod", Kind::Str),
        ("link", Kind::Bool),
    ];
    if name == "COPY" {
        spec_flags.push(("from", Kind::Str));
    } else {
        spec_flags.extend([("keep-git-dir", Kind::Bool), ("checksum", Kind::Str)]);
    }
    let f = flags(&spec_flags)?;
    if heredoc_from_word(dest).ok().flatten().is_some() {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    let spec = CopySpec {
        sources: sources.to_vec(),
        dest: dest.clone(),
        from: f.string("from"),
        chown: f.string("chown"),
        chmod: f.string("chmod"),
        link: f.bool("link"),
        heredocs: Vec::new(),
    };
    let item = if name == "COPY" {
        Instruction::Copy(spec)
    } else {
        Instruction::Add {
            spec,
            checksum: f.string("checksum"),
            keep_git_dir: f.bool("keep-git-dir"),
        }
    };
    Ok(Parsed::Instruction {
        item,
        heredocs: !json,
    })
}

/// `ENV`/`LABEL` pairs: `k=v k2="v 2"` (values as written, quotes kept), or the old `k v`.
fn name_values(args: &str, name: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = quoted_words(args, escape);
    let Some(first) = words.first() else {
        return Err(at_least_one(name));
    };
    if !first.contains('=') {
        let (key, value) = split_command(args);
        if value.is_empty() {
            return Err(format!("{name} must have two arguments"));
        }
        return Ok(vec![(key.to_string(), value.to_string())]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(format!("{name} names can not be blank")),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

/// Words split on unquoted white space with quotes and escapes kept (BuildKit's
/// `parseWords`, for `ENV`, `LABEL` and `ARG`).
fn quoted_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if in_word && (blank_ok || !word.is_empty()) {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                in_word = false;
                blank_ok = false;
            }
            None => {
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                    word.push(c);
                } else if c == escape {
                    if let Some(n) = chars.next() {
                        word.push(c);
                        word.push(n);
                    }
                } else {
                    word.push(c);
                }
            }
            Some(q) => {
                if c == q {
                    quote = None;
                    word.push(c);
                } else if c == escape && q != '\'' {
                    match chars.next() {
                        Some(n) => {
                            word.push(c);
                            word.push(n);
                        }
                        None => quote = None,
                    }
                } else {
                    word.push(c);
                }
            }
        }
    }
    if (in_word || quote.is_some()) && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// A `--mount=` value's comma-separated fields (double quotes protect commas), each
/// `key=value` or a bare `key`.
fn csv_fields(s: &str) -> Vec<(String, Option<String>)> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
        .into_iter()
        .filter(|f| !f.is_empty())
        .map(|f| match f.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (f, None),
        })
        .collect()
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [options] CMD command`.
fn healthcheck(
    args: &str,
    flags: impl Fn(&[(&'static str, Kind)]) -> Result<Flags, String>,
) -> Result<Healthcheck, String> {
    if args.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let (typ, rest) = match args.find(char::is_whitespace) {
        Some(i) => (&args[..i], args[i..].trim_start()),
        None => (args, ""),
    };
    let typ = typ.to_uppercase();
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck::None);
    }
    let f = flags(&[
        ("interval", Kind::Str),
        ("timeout", Kind::Str),
        ("start-period", Kind::Str),
        ("start-interval", Kind::Str),
        ("retries", Kind::Str),
    ])?;
    if typ != "CMD" {
        return Err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"));
    }
    let (test, _) = command(rest)?;
    let empty = match &test {
        Command::Exec(v) => v.is_empty(),
        Command::Shell(s) => s.is_empty(),
    };
    if empty {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let interval = |name: &str| -> Result<Option<String>, String> {
        let Some(v) = f.string(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let d = parse_duration(&v)?;
        if !d.is_zero() && d < std::time::Duration::from_millis(1) {
            return Err(format!("Interval {name:?} cannot be less than 1ms"));
        }
        Ok(Some(v))
    };
    let retries = f.string("retries").filter(|v| !v.is_empty());
    if let Some(r) = &retries {
        let n: i32 = r
            .parse()
            .map_err(|_| format!("strconv.ParseInt: parsing {r:?}: invalid syntax"))?;
        if n < 0 {
            return Err(format!("--retries cannot be negative ({n})"));
        }
    }
    Ok(Healthcheck::Check {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    })
}

/// `ONBUILD INSTRUCTION`: the trigger's text, checked as BuildKit does.
fn onbuild(
    line: &str,
    args: &str,
    escape: char,
    flags: impl Fn(&[(&'static str, Kind)]) -> Result<Flags, String>,
) -> Result<Parsed, String> {
    if args.is_empty() {
        return Err(at_least_one("ONBUILD"));
    }
    flags(&[])?;
    let (trigger, trigger_rest) = split_command(args);
    let trigger = trigger.to_uppercase();
    match trigger.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "MAINTAINER" | "FROM" => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"));
        }
        _ => {}
    }
    let heredocs = matches!(trigger.as_str(), "RUN" | "COPY" | "ADD")
        && !matches!(
            json_or_text(flags::extract(trigger_rest, escape).1.trim())?,
            Args::Json(_)
        );
    let line = line.trim_start();
    let text = line[split_command(line).0.len()..].trim_start();
    Ok(Parsed::Instruction {
        item: Instruction::Onbuild(text.to_string()),
        heredocs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_words_keep_quotes_and_escapes() {
        assert_eq!(
            quoted_words(r#"a=b c="d e" f='g h' i\ j"#, '\\'),
            ["a=b", "c=\"d e\"", "f='g h'", "i\\ j"]
        );
        assert_eq!(quoted_words(r#"a="" b"#, '\\'), ["a=\"\"", "b"]);
        assert_eq!(quoted_words(r#"a="x\"y" z"#, '\\'), ["a=\"x\\\"y\"", "z"]);
        assert_eq!(quoted_words("a\\", '\\'), ["a"]);
        assert_eq!(quoted_words("  ", '\\'), Vec::<String>::new());
    }

    #[test]
    fn csv_mount_fields() {
        assert_eq!(
            csv_fields("type=cache,target=/x,\"id=a,b\",ro"),
            [
                ("type".to_string(), Some("cache".to_string())),
                ("target".to_string(), Some("/x".to_string())),
                ("id".to_string(), Some("a,b".to_string())),
                ("ro".to_string(), None),
            ]
        );
    }

    #[test]
    fn json_falls_back_to_text_unless_not_strings() {
        assert!(matches!(json_or_text("[\"a\", \"b\"]"), Ok(Args::Json(v)) if v == ["a", "b"]));
        assert!(matches!(json_or_text("[a, b]"), Ok(Args::Text(t)) if t == "[a, b]"));
        assert!(matches!(json_or_text("[\"a\"] x"), Ok(Args::Text(_))));
        assert!(json_or_text("[\"a\", 1]").is_err());
    }
}
