//! The functions a template can call: Go's built-ins (`and`, `or`, `not`, `len`, `index`,
//! `slice`, `print`, `printf`, `println`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`) and Docker's
//! (`json`, `split`, `join`, `title`, `lower`, `upper`, `pad`, `truncate`).

use super::printf;
use super::value::Value;
use std::cmp::Ordering;

/// A parameter's Go type, checked as Go checks a call's arguments.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Param {
    /// `any`
    Any,
    /// `string`
    Str,
    /// `int`
    Int,
    /// `[]string`
    Strings,
}

impl Param {
    /// The Go type's name.
    pub fn name(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Str => "string",
            Param::Int => "int",
            Param::Strings => "[]string",
        }
    }

    /// Whether `value` fits this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            Param::Any => true,
            Param::Str => matches!(value, Value::Str(_)),
            Param::Int => matches!(value, Value::Int(_)),
            Param::Strings => match value {
                Value::List(items) => items.iter().all(|v| matches!(v, Value::Str(_))),
                _ => false,
            },
        }
    }
}

/// A function: its parameters, whether the last repeats, and its body.
pub struct Function {
    /// Its parameters' types.
    pub params: &'static [Param],
    /// Whether the last parameter takes any number of arguments.
    pub variadic: bool,
    /// The body: a value, or the error Go reports as "error calling NAME: ...".
    pub call: fn(&[Value]) -> Result<Value, String>,
}

use Param::{Any, Int, Str, Strings};

/// The function of that name.
pub fn get(name: &str) -> Option<Function> {
    let f = |params: &'static [Param], variadic: bool, call| {
        Some(Function {
            params,
            variadic,
            call,
        })
    };
    match name {
        "and" => f(&[Any, Any], true, |a| {
            Ok(a.iter()
                .find(|v| !v.is_true())
                .unwrap_or(&a[a.len() - 1])
                .clone())
        }),
        "or" => f(&[Any, Any], true, |a| {
            Ok(a.iter()
                .find(|v| v.is_true())
                .unwrap_or(&a[a.len() - 1])
                .clone())
        }),
        "not" => f(&[Any], false, |a| Ok(Value::Bool(!a[0].is_true()))),
        "len" => f(&[Any], false, |a| match &a[0] {
            Value::Str(s) => Ok(Value::Int(s.len() as i64)),
            Value::List(l) => Ok(Value::Int(l.len() as i64)),
            Value::Map(m) => Ok(Value::Int(m.len() as i64)),
            other => Err(format!("len of type {}", other.type_name())),
        }),
        "index" => f(&[Any, Any], true, |a| index(&a[0], &a[1..])),
        "slice" => f(&[Any, Any], true, |a| slice(&a[0], &a[1..])),
        "print" => f(&[Any], true, |a| Ok(Value::Str(sprint(a)))),
        "println" => f(&[Any], true, |a| Ok(Value::Str(sprintln(a)))),
        "printf" => f(&[Str, Any], true, |a| {
            let Value::Str(format) = &a[0] else {
                unreachable!("checked")
            };
            Ok(Value::Str(printf::sprintf(format, &a[1..])))
        }),
        "eq" => f(&[Any, Any], true, |a| {
            for other in &a[1..] {
                if compare(&a[0], other, true)? == Some(Ordering::Equal) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }),
        "ne" => f(&[Any, Any], false, |a| {
            Ok(Value::Bool(
                compare(&a[0], &a[1], true)? != Some(Ordering::Equal),
            ))
        }),
        "lt" => f(&[Any, Any], false, |a| ordered(a, |o| o == Ordering::Less)),
        "le" => f(&[Any, Any], false, |a| {
            ordered(a, |o| o != Ordering::Greater)
        }),
        "gt" => f(&[Any, Any], false, |a| {
            ordered(a, |o| o == Ordering::Greater)
        }),
        "ge" => f(&[Any, Any], false, |a| ordered(a, |o| o != Ordering::Less)),
        "json" => f(&[Any], false, |a| {
            Ok(Value::Str(a[0].to_json().to_string()))
        }),
        "split" => f(&[Str, Str], false, |a| {
            let (Value::Str(s), Value::Str(sep)) = (&a[0], &a[1]) else {
                unreachable!("checked")
            };
            Ok(Value::List(
                go_split(s, sep).into_iter().map(Value::from).collect(),
            ))
        }),
        "join" => f(&[Strings, Str], false, |a| {
            let (Value::List(items), Value::Str(sep)) = (&a[0], &a[1]) else {
                unreachable!("checked")
            };
            Ok(Value::Str(
                items.iter().map(Value::print).collect::<Vec<_>>().join(sep),
            ))
        }),
        "title" => f(&[Str], false, |a| string_fn(a, title)),
        "lower" => f(&[Str], false, |a| string_fn(a, |s| s.to_lowercase())),
        "upper" => f(&[Str], false, |a| string_fn(a, |s| s.to_uppercase())),
        "pad" => f(&[Str, Int, Int], false, |a| {
            let (Value::Str(s), Value::Int(prefix), Value::Int(suffix)) = (&a[0], &a[1], &a[2])
            else {
                unreachable!("checked")
            };
            if s.is_empty() {
                return Ok(a[0].clone());
            }
            let spaces = |n: i64| " ".repeat(n.max(0) as usize);
            Ok(Value::Str(format!(
                "{}{s}{}",
                spaces(*prefix),
                spaces(*suffix)
            )))
        }),
        "truncate" => f(&[Str, Int], false, |a| {
            let (Value::Str(s), Value::Int(length)) = (&a[0], &a[1]) else {
                unreachable!("checked")
            };
            if (s.len() as i64) < *length {
                return Ok(a[0].clone());
            }
            let mut end = (*length).max(0) as usize;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            Ok(Value::Str(s[..end].to_owned()))
        }),
        _ => None,
    }
}

/// Whether a function of that name exists (the parser checks every name).
pub fn exists(name: &str) -> bool {
    get(name).is_some()
}

fn string_fn(args: &[Value], f: fn(&str) -> String) -> Result<Value, String> {
    match &args[0] {
        Value::Str(s) => Ok(Value::Str(f(s))),
        _ => unreachable!("checked"),
    }
}

/// Whether Docker's header row runs this function as the identity: its table headers keep
/// the column's name (`pad` is kept, to keep the columns aligned).
pub fn header_identity(name: &str) -> bool {
    matches!(
        name,
        "json" | "split" | "join" | "title" | "lower" | "upper" | "truncate"
    )
}

/// Go's `strings.Title`: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut previous: Option<char> = None;
    for c in s.chars() {
        let at_word_start =
            previous.is_none_or(|p| !(p.is_alphanumeric() || p == '_' || p == '\''));
        if at_word_start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        previous = Some(c);
    }
    out
}

/// Go's `strings.Split`: an empty separator splits into characters.
fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(str::to_owned).collect()
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 && !matches!(arg, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&printable(arg));
    }
    out
}

/// Go's `fmt.Sprintln`: spaces between all operands, and a newline.
fn sprintln(args: &[Value]) -> String {
    let mut out = args.iter().map(printable).collect::<Vec<_>>().join(" ");
    out.push('\n');
    out
}

/// An operand of print: a missing value is nil to fmt.
fn printable(value: &Value) -> String {
    match value {
        Value::Missing => "<nil>".into(),
        other => other.print(),
    }
}

fn index(item: &Value, keys: &[Value]) -> Result<Value, String> {
    let mut item = item.clone();
    for key in keys {
        item = match (&item, key) {
            (Value::List(list), Value::Int(i)) => {
                if *i < 0 || *i as usize >= list.len() {
                    return Err(format!("index out of range: {i}"));
                }
                list[*i as usize].clone()
            }
            (Value::Str(s), Value::Int(i)) => {
                if *i < 0 || *i as usize >= s.len() {
                    return Err(format!("index out of range: {i}"));
                }
                Value::Int(s.as_bytes()[*i as usize] as i64)
            }
            // A missing key is the map's zero value: Docker's label maps hold strings.
            (Value::Map(map), Value::Str(k)) => map.get(k).cloned().unwrap_or_else(|| {
                if map.values().all(|v| matches!(v, Value::Str(_))) {
                    Value::Str(String::new())
                } else {
                    Value::Missing
                }
            }),
            (Value::Map(_), other) => {
                return Err(format!(
                    "value has type {}; should be string",
                    other.type_name()
                ));
            }
            (Value::List(_) | Value::Str(_), _) => {
                return Err("cannot index slice/array with nil".into());
            }
            (Value::Nil | Value::Missing, _) => return Err("index of untyped nil".into()),
            (other, _) => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(item: &Value, bounds: &[Value]) -> Result<Value, String> {
    let len = match item {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut indexes = Vec::new();
    for bound in bounds {
        match bound {
            Value::Int(i) if *i >= 0 && *i as usize <= len => indexes.push(*i as usize),
            Value::Int(i) => return Err(format!("index out of range: {i}")),
            _ => return Err("cannot index slice/array with nil".into()),
        }
    }
    let start = indexes.first().copied().unwrap_or(0);
    let end = indexes.get(1).copied().unwrap_or(len);
    if start > end {
        return Err(format!("invalid slice index: {start} > {end}"));
    }
    Ok(match item {
        Value::Str(s) => Value::Str(s.get(start..end).unwrap_or_default().to_owned()),
        Value::List(l) => Value::List(l[start..end].to_vec()),
        _ => unreachable!("checked"),
    })
}

/// Go's comparison of basic values: `Some(order)`, `None` when not ordered (bools, for `lt`).
fn compare(a: &Value, b: &Value, equality: bool) -> Result<Option<Ordering>, String> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) if equality => Some(x.cmp(y)),
        (Value::Nil | Value::Missing, Value::Nil | Value::Missing) if equality => {
            Some(Ordering::Equal)
        }
        (Value::Int(_) | Value::Float(_) | Value::Str(_) | Value::Bool(_), _)
            if std::mem::discriminant(a) != std::mem::discriminant(b) =>
        {
            return Err("incompatible types for comparison".into());
        }
        _ if equality => return Err("non-comparable types".into()),
        _ => return Err("invalid type for comparison".into()),
    })
}

fn ordered(args: &[Value], holds: fn(Ordering) -> bool) -> Result<Value, String> {
    match compare(&args[0], &args[1], false)? {
        Some(order) => Ok(Value::Bool(holds(order))),
        None => Err("invalid type for comparison".into()),
    }
}
