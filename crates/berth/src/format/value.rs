//! The values a template works on, shaped as Go's `text/template` sees Docker's data: structs
//! (a missing field is an error), maps (a missing key is `<no value>`), lists and scalars.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// One value inside a template.
#[derive(Clone, Debug)]
pub enum Value {
    /// Go's invalid value: what a missing map key gives; printed `<no value>`.
    Missing,
    /// A nil pointer, interface or JSON `null`; printed `<nil>`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A slice.
    List(Vec<Value>),
    /// A Go map: keys sorted, a missing key is [`Value::Missing`].
    Map(BTreeMap<String, Value>),
    /// A Go struct: a missing field is an error.
    Struct(Rc<Struct>),
}

/// A struct: its Go type name (for error messages), its fields in order, and the labels its
/// `Label "key"` method reads (Docker's list contexts have one).
#[derive(Debug, Default)]
pub struct Struct {
    /// The Go type Docker's CLI names in "can't evaluate field X in type T".
    pub type_name: &'static str,
    /// Fields, in the order `json` prints them.
    pub fields: Vec<(String, Value)>,
    /// The map behind the `Label` method, when the struct has one.
    pub labels: Option<BTreeMap<String, String>>,
}

impl Struct {
    /// A struct of this Go type with these fields.
    pub fn new(type_name: &'static str, fields: Vec<(&str, Value)>) -> Struct {
        Struct {
            type_name,
            fields: fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            labels: None,
        }
    }

    /// The field of that name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::Str(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::Str(text)
    }
}

impl From<Struct> for Value {
    fn from(s: Struct) -> Value {
        Value::Struct(Rc::new(s))
    }
}

/// The Docker inspect fields that are Go maps (labels, ports, options...): every other JSON
/// object of an inspect document is a struct.
const MAP_KEYS: [&str; 14] = [
    "Labels",
    "ExposedPorts",
    "Volumes",
    "Ports",
    "PortBindings",
    "Networks",
    "Options",
    "Containers",
    "Sysctls",
    "DriverOpts",
    "Tmpfs",
    "StorageOpt",
    "Annotations",
    "Config",
];

impl Value {
    /// A JSON document as Docker's CLI types it: objects under [`MAP_KEYS`] (`Config` only
    /// under `LogConfig`) are maps, every other object a struct named `type_name`.
    pub fn from_json(json: &serde_json::Value, type_name: &'static str) -> Value {
        Value::convert(json, type_name, false)
    }

    /// A JSON document as plain maps (Go's `map[string]interface {}`).
    #[cfg(test)]
    pub fn from_json_maps(json: &serde_json::Value) -> Value {
        Value::convert(json, "", true)
    }

    fn convert(json: &serde_json::Value, type_name: &'static str, is_map: bool) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Value::Int)
                .unwrap_or_else(|| Value::Float(n.as_f64().unwrap_or(0.0))),
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(items) => Value::List(
                items
                    .iter()
                    .map(|v| Value::convert(v, type_name, type_name.is_empty()))
                    .collect(),
            ),
            serde_json::Value::Object(object) => {
                let field = |(key, value): (&String, &serde_json::Value)| {
                    let child_is_map = type_name.is_empty()
                        || (MAP_KEYS.contains(&key.as_str())
                            && (key != "Config" || is_log_config(object)));
                    (key.clone(), Value::convert(value, type_name, child_is_map))
                };
                if is_map {
                    Value::Map(object.iter().map(field).collect())
                } else {
                    Value::from(Struct {
                        type_name,
                        fields: object.iter().map(field).collect(),
                        labels: None,
                    })
                }
            }
        }
    }

    /// Go's truth: false, 0, nil, and empty strings, slices and maps are false.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Struct(_) => true,
        }
    }

    /// The Go type's name, as Go's error messages print it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Nil => "interface {}",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Struct(s) => s.type_name,
        }
    }

    /// The value as `fmt.Sprint` writes it (`%v`).
    pub fn print(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out, true);
        out
    }

    fn write_to(&self, out: &mut String, top: bool) {
        match self {
            Value::Missing if top => out.push_str("<no value>"),
            Value::Missing | Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&go_float(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    item.write_to(out, false);
                }
                out.push(']');
            }
            Value::Map(map) => {
                out.push_str("map[");
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_to(out, false);
                }
                out.push(']');
            }
            Value::Struct(s) => {
                out.push('{');
                for (i, (_, v)) in s.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_to(out, false);
                }
                out.push('}');
            }
        }
    }

    /// The value as Docker's `json` function encodes it (HTML characters not escaped).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Missing | Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Str(s) => s.as_str().into(),
            Value::List(items) => items.iter().map(Value::to_json).collect(),
            Value::Map(map) => map
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Value::Struct(s) => s
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

/// Whether this object is a `LogConfig` (whose `Config` is a map, not the container's config).
fn is_log_config(object: &serde_json::Map<String, serde_json::Value>) -> bool {
    object.contains_key("Type") && object.len() <= 2
}

/// A float as Go's `%v` writes it: the shortest digits, in the exponent form when the decimal
/// exponent is below -4 or from 6 up (`1e+06`, `1.5e-05`).
pub fn go_float(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f.is_nan() {
        return "NaN".into();
    }
    let text = format!("{f:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if f != 0.0 && !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    format!("{f}")
}
