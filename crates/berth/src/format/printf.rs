//! Go's `fmt.Sprintf` for template values: flags, width, precision and the verbs `v s q d x X
//! o b c f F e E g G t %`, with Go's `%!verb(type=value)` for a value of the wrong kind.

use super::value::{Value, go_float};

/// Go's `fmt.Sprintf(format, args...)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = digits(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(digits(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        out.push_str(&spec.pad(&format_one(verb, &spec, arg)));
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.print()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

impl Spec {
    /// Pads to the width: left-justified with `-`, zeros after the sign with `0`.
    fn pad(&self, text: &str) -> String {
        let Some(width) = self.width else {
            return text.to_owned();
        };
        let len = text.chars().count();
        if len >= width {
            return text.to_owned();
        }
        let fill = width - len;
        if self.minus {
            format!("{text}{}", " ".repeat(fill))
        } else if self.zero {
            let (sign, rest) = match text.strip_prefix(['-', '+']) {
                Some(rest) => (&text[..1], rest),
                None => ("", text),
            };
            format!("{sign}{}{rest}", "0".repeat(fill))
        } else {
            format!("{}{text}", " ".repeat(fill))
        }
    }

    fn sign(&self, negative: bool) -> &'static str {
        match (negative, self.plus, self.space) {
            (true, _, _) => "-",
            (false, true, _) => "+",
            (false, false, true) => " ",
            _ => "",
        }
    }
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut value = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        value = Some(value.unwrap_or(0) * 10 + d as usize);
        chars.next();
    }
    value
}

fn format_one(verb: char, spec: &Spec, arg: &Value) -> String {
    let bad = || format!("%!{verb}({}={})", arg.type_name(), arg.print());
    match (verb, arg) {
        ('v', Value::Float(f)) => format_float('g', spec, *f),
        ('v', _) => arg.print(),
        ('s', Value::Str(s)) => match spec.precision {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        ('s', Value::List(_) | Value::Map(_) | Value::Struct(_)) => arg.print(),
        ('q', Value::Str(s)) => {
            if spec.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                go_quote(s)
            }
        }
        ('t', Value::Bool(b)) => b.to_string(),
        ('d', Value::Int(i)) => format!("{}{}", spec.sign(*i < 0), i.unsigned_abs()),
        ('x' | 'X' | 'o' | 'b', Value::Int(i)) => {
            let abs = i.unsigned_abs();
            let digits = match verb {
                'x' => format!("{abs:x}"),
                'X' => format!("{abs:X}"),
                'o' => format!("{abs:o}"),
                _ => format!("{abs:b}"),
            };
            let prefix = match (spec.sharp, verb) {
                (true, 'x') => "0x",
                (true, 'X') => "0X",
                (true, 'o') => "0",
                _ => "",
            };
            format!("{}{prefix}{digits}", spec.sign(*i < 0))
        }
        ('x' | 'X', Value::Str(s)) => {
            let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
            if verb == 'X' { hex.to_uppercase() } else { hex }
        }
        ('c', Value::Int(i)) => char::from_u32(*i as u32).map_or_else(bad, String::from),
        ('f' | 'F' | 'e' | 'E' | 'g' | 'G', Value::Float(f)) => format_float(verb, spec, *f),
        ('f' | 'F' | 'e' | 'E' | 'g' | 'G', Value::Int(_)) => bad(),
        _ => bad(),
    }
}

fn format_float(verb: char, spec: &Spec, f: f64) -> String {
    let sign = spec.sign(f.is_sign_negative() && f != 0.0);
    let abs = f.abs();
    let body = match verb {
        'f' | 'F' => format!("{abs:.*}", spec.precision.unwrap_or(6)),
        'e' | 'E' => {
            let text = format!("{abs:.*e}", spec.precision.unwrap_or(6));
            let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
            let exponent: i32 = exponent.parse().unwrap_or(0);
            let text = format!(
                "{mantissa}e{}{:02}",
                if exponent < 0 { '-' } else { '+' },
                exponent.abs()
            );
            if verb == 'E' {
                text.to_uppercase()
            } else {
                text
            }
        }
        _ => match spec.precision {
            None => go_float(abs),
            Some(p) => {
                // %.Ng: N significant digits, exponent form outside [-4, N).
                let p = p.max(1);
                let text = format!("{abs:.*e}", p - 1);
                let exponent: i32 = text
                    .split_once('e')
                    .and_then(|(_, e)| e.parse().ok())
                    .unwrap_or(0);
                if exponent < -4 || exponent >= p as i32 {
                    let (mantissa, _) = text.split_once('e').unwrap_or((&text, ""));
                    let mantissa = trim_zeros(mantissa);
                    format!(
                        "{mantissa}e{}{:02}",
                        if exponent < 0 { '-' } else { '+' },
                        exponent.abs()
                    )
                } else {
                    let decimals = (p as i32 - 1 - exponent).max(0) as usize;
                    trim_zeros(&format!("{abs:.decimals$}")).to_owned()
                }
            }
        },
    };
    format!("{sign}{body}")
}

fn trim_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
