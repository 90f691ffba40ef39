//! The Dockerfile parser: text into a [`Dockerfile`], with the syntax and checks of Docker's
//! builder (BuildKit's `frontend/dockerfile/parser` and `instructions`).
//!
//! Lines: parser directives at the very top (`# syntax=`, `# escape=`, `# check=`, until the
//! first line that is not one), comments only where a line starts with `#`, the escape
//! character at a line's end continuing it (comment and empty lines inside a continuation
//! are skipped), heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`) after `RUN`, `COPY` and `ADD`.
//! Arguments are kept as written: `ENV`, `LABEL` and `ARG` values keep their quotes, which
//! [`super::expand::expand_word`] removes when the builder expands them.

mod duration;
mod flags;
mod instruction;

pub use duration::parse_duration;

use super::ast::{Directives, Dockerfile, Heredoc, Instruction, Located, Stage};
use super::expand::{raw_words, unquoted_words};
use instruction::Parsed;

/// A Dockerfile that cannot be parsed: the line (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile:{line}: {message}")]
pub struct ParseError {
    /// The line the instruction starts on.
    pub line: usize,
    /// What is wrong, in BuildKit's words.
    pub message: String,
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Lines::new(text);
    let mut directives = Directives::default();
    let mut dparser = DirectiveParser::default();
    let mut out = Dockerfile::default();
    let mut any = false;
    while let Some(raw) = lines.next_line() {
        let first = trim_newline(raw).trim_start();
        dparser
            .line(first, &mut directives)
            .map_err(|message| err(lines.number, message))?;
        let start = lines.number;
        let (mut line, mut done) = continuation(strip_comment(first), directives.escape);
        if done && line.is_empty() {
            continue;
        }
        while !done {
            let Some(raw) = lines.next_line() else { break };
            let next = trim_newline(raw);
            dparser
                .line(next, &mut directives)
                .map_err(|message| err(lines.number, message))?;
            if is_comment(next) || next.trim_start().is_empty() {
                continue;
            }
            let (part, end) = continuation(next, directives.escape);
            line.push_str(&part);
            done = end;
        }
        let parsed = instruction::parse(&line, directives.escape).map_err(|m| err(start, m))?;
        let parsed = attach_heredocs(parsed, &line, &mut lines, start)?;
        any = true;
        place(&mut out, parsed, start, line.trim()).map_err(|m| err(start, m))?;
    }
    if !any {
        return Err(err(lines.number, "file with no instructions".into()));
    }
    out.directives = directives;
    Ok(out)
}

fn err(line: usize, message: String) -> ParseError {
    ParseError { line, message }
}

/// Puts an instruction where it belongs: a new stage, the current stage, or the global `ARG`s.
fn place(out: &mut Dockerfile, parsed: Parsed, line: usize, text: &str) -> Result<(), String> {
    fn located<T>(line: usize, text: &str, item: T) -> Located<T> {
        Located {
            line,
            text: text.to_string(),
            item,
        }
    }
    match parsed {
        Parsed::From { from, name } => out.stages.push(Stage {
            from: located(line, text, from),
            name,
            instructions: Vec::new(),
        }),
        Parsed::Instruction {
            item: Instruction::Arg(args),
            ..
        } if out.stages.is_empty() => out.global_args.extend(args),
        Parsed::Instruction { item, .. } => match out.stages.last_mut() {
            Some(stage) => stage.instructions.push(located(line, text, item)),
            None => return Err("no build stage in current context".into()),
        },
    }
    Ok(())
}

/// Reads the heredocs an instruction names from the lines after it and gives them to it.
fn attach_heredocs(
    parsed: Parsed,
    line: &str,
    lines: &mut Lines,
    start: usize,
) -> Result<Parsed, ParseError> {
    let Parsed::Instruction {
        item,
        heredocs: true,
    } = parsed
    else {
        return Ok(parsed);
    };
    if !line.contains("<<") {
        return Ok(Parsed::Instruction {
            item,
            heredocs: true,
        });
    }
    let mut docs = Vec::new();
    for word in raw_words(line) {
        let Some(mut doc) = heredoc_from_word(&word).map_err(|m| err(start, m))? else {
            continue;
        };
        let mut terminated = false;
        while let Some(raw) = lines.next_line() {
            let mut candidate = trim_newline(raw);
            if doc.strip_tabs {
                candidate = candidate.trim_start_matches('\t');
            }
            if candidate == doc.name {
                terminated = true;
                break;
            }
            doc.content.push_str(raw);
        }
        if !terminated {
            return Err(err(start, "unterminated heredoc".into()));
        }
        if doc.strip_tabs {
            doc.content = strip_leading_tabs(&doc.content);
        }
        docs.push(doc);
    }
    instruction::with_heredocs(item, docs)
        .map(|item| Parsed::Instruction {
            item,
            heredocs: true,
        })
        .map_err(|m| err(start, m))
}

/// The heredoc a word opens (`<<EOF`, `<<-"EOF"`, `3<<EOF`), without its content yet.
pub(super) fn heredoc_from_word(word: &str) -> Result<Option<Heredoc>, String> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix("<<") else {
        return Ok(None);
    };
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let words = unquoted_words(rest, false).map_err(|e| e.to_string())?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = unquoted_words(rest, true).map_err(|e| e.to_string())?;
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    let expand = raw.len() == 1 && quotes(name) == quotes(&raw[0]);
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand,
        strip_tabs,
    }))
}

fn strip_leading_tabs(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

/// The file's lines, each with its newline, and the number of the last one read.
struct Lines<'a> {
    rest: &'a str,
    number: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            rest: text,
            number: 0,
        }
    }

    fn next_line(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self.rest.find('\n').map_or(self.rest.len(), |i| i + 1);
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest;
        self.number += 1;
        Some(line)
    }
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn strip_comment(line: &str) -> &str {
    if is_comment(line) { "" } else { line }
}

/// A line without its continuation (the escape character and blanks at its end), and
/// whether the instruction ends with it.
fn continuation(line: &str, escape: char) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    if let Some(before) = body.strip_suffix(escape).filter(|b| !b.ends_with(escape)) {
        return (before.to_string(), false);
    }
    (line.to_string(), true)
}

/// Reads parser directives from the top of the file, until a line that is not one.
#[derive(Default)]
struct DirectiveParser {
    done: bool,
    seen: Vec<String>,
}

impl DirectiveParser {
    fn line(&mut self, line: &str, directives: &mut Directives) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        match key.as_str() {
            "escape" => match value {
                "\\" => directives.escape = '\\',
                "`" => directives.escape = '`',
                _ => {
                    return Err(format!(
                        "invalid escape token '{value}' does not match ` or \\"
                    ));
                }
            },
            "syntax" => directives.syntax = Some(value.to_string()),
            _ => {}
        }
        self.seen.push(key);
        Ok(())
    }
}

/// `# key=value` with a known key (lowercased): the key and the value.
fn directive(line: &str) -> Option<(String, &str)> {
    let body = line.strip_prefix('#')?.trim_start();
    let key_len = body
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(body.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let key = body[..key_len].to_ascii_lowercase();
    let value = body[key_len..].trim_start().strip_prefix('=')?.trim();
    if value.is_empty() || !matches!(key.as_str(), "syntax" | "escape" | "check") {
        return None;
    }
    Some((key, value))
}

#[cfg(test)]
mod tests;
