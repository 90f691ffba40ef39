//! The lexer of Go's template language: text, and inside `{{ }}` the tokens of actions, with
//! Go's error messages.

/// One token, with its byte offset in the template.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: Kind,
    /// Its byte offset.
    pub pos: usize,
}

/// The kinds of token.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Plain text between actions.
    Text(String),
    /// `{{` (or `{{- `).
    Left,
    /// `}}` (or ` -}}`).
    Right,
    /// Spaces inside an action.
    Space,
    /// A keyword or a function's name.
    Ident(String),
    /// `.Name`: one element of a field chain.
    Field(String),
    /// `.` alone.
    Dot,
    /// `$name`, or `$` alone.
    Variable(String),
    /// A quoted string, unquoted.
    Str(String),
    /// A number, as written.
    Number(String),
    /// A character constant `'a'`.
    Char(char),
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// `,`
    Comma,
    /// `|`
    Pipe,
    /// `(`
    LeftParen,
    /// `)`
    RightParen,
}

/// A lexing error: the message as Go's lexer words it, and where.
#[derive(Debug)]
pub struct LexError {
    /// Go's message.
    pub message: String,
    /// The byte offset it is at.
    pub pos: usize,
}

/// Splits a template into tokens; comments are dropped and trim markers applied.
pub fn lex(input: &str) -> Result<Vec<Token>, LexError> {
    let mut tokens = Vec::new();
    let mut rest = 0;
    let bytes = input.as_bytes();
    loop {
        let Some(open) = input[rest..].find("{{").map(|i| i + rest) else {
            push_text(&mut tokens, &input[rest..], rest);
            return Ok(tokens);
        };
        let trim_left = input[open + 2..].starts_with("- ")
            || input[open + 2..].starts_with("-\t")
            || input[open + 2..].starts_with("-\n")
            || input[open + 2..].starts_with("-\r");
        let mut text = &input[rest..open];
        if trim_left {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
        }
        push_text(&mut tokens, text, rest);
        let mut at = open + 2 + if trim_left { 2 } else { 0 };
        // A comment is the whole action.
        let after_space = at + input[at..].len() - input[at..].trim_start().len();
        if input[after_space..].starts_with("/*") {
            let Some(end) = input[after_space + 2..].find("*/") else {
                return Err(error("unclosed comment", open));
            };
            let mut close = after_space + 2 + end + 2;
            let (trim_right, width) = right_delim(input, close)
                .ok_or_else(|| error("comment ends before closing delimiter", open))?;
            close += width;
            rest = close;
            if trim_right {
                rest += input[rest..].len() - input[rest..].trim_start().len();
            }
            continue;
        }
        tokens.push(Token {
            kind: Kind::Left,
            pos: open,
        });
        let mut depth = 0usize;
        loop {
            if let Some((trim_right, width)) = right_delim(input, at) {
                if depth > 0 {
                    return Err(error("unclosed left paren", at));
                }
                tokens.push(Token {
                    kind: Kind::Right,
                    pos: at,
                });
                rest = at + width;
                if trim_right {
                    rest += input[rest..].len() - input[rest..].trim_start().len();
                }
                break;
            }
            let Some(c) = input[at..].chars().next() else {
                return Err(error("unclosed action", at));
            };
            let start = at;
            let kind = match c {
                ' ' | '\t' | '\r' | '\n' => {
                    at += input[at..].len()
                        - input[at..]
                            .trim_start_matches([' ', '\t', '\r', '\n'])
                            .len();
                    // The last space before `-}}` belongs to the trim marker.
                    if input[at..].starts_with("-}}") {
                        at -= 1;
                    }
                    Kind::Space
                }
                '=' => {
                    at += 1;
                    Kind::Assign
                }
                ':' => {
                    if bytes.get(at + 1) != Some(&b'=') {
                        return Err(error("expected :=", at));
                    }
                    at += 2;
                    Kind::Declare
                }
                ',' => {
                    at += 1;
                    Kind::Comma
                }
                '|' => {
                    at += 1;
                    Kind::Pipe
                }
                '(' => {
                    at += 1;
                    depth += 1;
                    Kind::LeftParen
                }
                ')' => {
                    if depth == 0 {
                        return Err(error("unexpected right paren", at));
                    }
                    at += 1;
                    depth -= 1;
                    Kind::RightParen
                }
                '"' => {
                    let (value, end) = quoted(input, at)?;
                    at = end;
                    Kind::Str(value)
                }
                '`' => {
                    let end = input[at + 1..]
                        .find('`')
                        .ok_or_else(|| error("unterminated raw quoted string", at))?;
                    let value = input[at + 1..at + 1 + end].to_owned();
                    at += end + 2;
                    Kind::Str(value)
                }
                '\'' => {
                    let mut chars = input[at + 1..].chars();
                    match (chars.next(), chars.next()) {
                        (Some(ch), Some('\'')) if ch != '\\' => {
                            at += 2 + ch.len_utf8();
                            Kind::Char(ch)
                        }
                        _ => return Err(error("unterminated character constant", at)),
                    }
                }
                '$' => {
                    let end = word_end(input, at + 1);
                    at = end;
                    Kind::Variable(input[start..end].to_owned())
                }
                '.' => {
                    if bytes.get(at + 1).is_some_and(u8::is_ascii_digit) {
                        let end = number_end(input, at);
                        at = end;
                        Kind::Number(input[start..end].to_owned())
                    } else {
                        let end = word_end(input, at + 1);
                        at = end;
                        if end == start + 1 {
                            Kind::Dot
                        } else {
                            Kind::Field(input[start + 1..end].to_owned())
                        }
                    }
                }
                '0'..='9' | '+' | '-' => {
                    let end = number_end(input, at);
                    let text = &input[start..end];
                    if text.parse::<f64>().is_err() && parse_int(text).is_none() {
                        return Err(error(&format!("bad number syntax: \"{text}\""), at));
                    }
                    at = end;
                    Kind::Number(text.to_owned())
                }
                c if c == '_' || c.is_alphabetic() => {
                    let end = word_end(input, at);
                    at = end;
                    Kind::Ident(input[start..end].to_owned())
                }
                c => {
                    return Err(error(
                        &format!("bad character U+{:04X} '{c}'", c as u32),
                        at,
                    ));
                }
            };
            tokens.push(Token { kind, pos: start });
        }
    }
}

/// Whether a right delimiter starts at `at`: `(trim, its width)`.
fn right_delim(input: &str, at: usize) -> Option<(bool, usize)> {
    let rest = &input[at..];
    if rest.starts_with("}}") {
        Some((false, 2))
    } else if (rest.starts_with(" -}}")
        || rest.starts_with("\t-}}")
        || rest.starts_with("\n-}}")
        || rest.starts_with("\r-}}"))
        && at > 0
    {
        Some((true, 4))
    } else {
        None
    }
}

fn push_text(tokens: &mut Vec<Token>, text: &str, pos: usize) {
    if !text.is_empty() {
        tokens.push(Token {
            kind: Kind::Text(text.to_owned()),
            pos,
        });
    }
}

fn error(message: &str, pos: usize) -> LexError {
    LexError {
        message: message.to_owned(),
        pos,
    }
}

/// The end of an identifier's characters (letters, digits, `_`) from `at`.
fn word_end(input: &str, at: usize) -> usize {
    at + input[at..]
        .find(|c: char| !(c == '_' || c.is_alphanumeric()))
        .unwrap_or(input.len() - at)
}

/// The end of a number's characters from `at` (Go's lexer takes them all, then checks).
fn number_end(input: &str, at: usize) -> usize {
    let mut end = at;
    let bytes = input.as_bytes();
    if matches!(bytes.get(end), Some(b'+' | b'-')) {
        end += 1;
    }
    while let Some(&b) = bytes.get(end) {
        let exponent_sign = matches!(b, b'+' | b'-')
            && matches!(bytes.get(end - 1), Some(b'e' | b'E' | b'p' | b'P'))
            && !input[at..end].starts_with("0x");
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || exponent_sign {
            end += 1;
        } else {
            break;
        }
    }
    end
}

/// An integer in Go's syntax: decimal, `0x`, `0o`, `0b`, with `_` separators.
pub fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits = digits.replace('_', "");
    let lower = digits.to_ascii_lowercase();
    let value = if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(octal) = lower.strip_prefix("0o") {
        i64::from_str_radix(octal, 8).ok()?
    } else if let Some(binary) = lower.strip_prefix("0b") {
        i64::from_str_radix(binary, 2).ok()?
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok()?
    } else {
        lower.parse().ok()?
    };
    Some(if negative { -value } else { value })
}

/// A double-quoted string from `at` with Go's escapes: `(value, end)`.
fn quoted(input: &str, at: usize) -> Result<(String, usize), LexError> {
    let mut value = String::new();
    let mut chars = input[at + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, at + 1 + i + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, escaped)) = chars.next() else {
                    break;
                };
                match escaped {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    'r' => value.push('\r'),
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    '\'' => value.push('\''),
                    'a' => value.push('\x07'),
                    'b' => value.push('\x08'),
                    'f' => value.push('\x0c'),
                    'v' => value.push('\x0b'),
                    'x' | 'u' | 'U' => {
                        let width = match escaped {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex: String = (0..width)
                            .filter_map(|_| chars.next())
                            .map(|(_, c)| c)
                            .collect();
                        let ch = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| error("invalid syntax", at))?;
                        value.push(ch);
                    }
                    _ => return Err(error("invalid syntax", at)),
                }
            }
            c => value.push(c),
        }
    }
    Err(error("unterminated quoted string", at))
}
