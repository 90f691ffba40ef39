//! `--format`: Go's `text/template` language as Docker's CLI uses it. A format is parsed
//! once (`table ...` for an aligned table with a header row, `json` for `{{json .}}`, else a
//! template written once per row), then rendered on each row.
//!
//! The engine is berth's own (`lex`, `parse`, `exec`, `funcs`, `printf`): the `gtmpl` crate
//! ranges over maps in hash order, has no methods with arguments (`{{.Label "k"}}`) and words
//! its errors unlike Go, so Docker's documented examples and messages do not hold with it.

mod exec;
mod funcs;
mod lex;
mod parse;
mod printf;
mod tabwriter;
#[cfg(test)]
mod tests;
mod value;

pub use exec::Missing;
pub use printf::go_quote;
pub use value::{Struct, Value};

use crate::exit::Failure;
use anyhow::anyhow;

/// A parsed template.
#[derive(Debug)]
pub struct Template {
    nodes: Vec<parse::Node>,
    source: String,
    name: &'static str,
}

/// A template's error as Go words it: `template: NAME:LINE: ...` for a parse error,
/// `template: NAME:LINE:COL: executing "NAME" at <NODE>: ...` for an execution error.
#[derive(Debug)]
pub struct TemplateError(String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

impl Template {
    /// Parses `source` as a template named `name` (Docker's are `""`, `version`'s is
    /// `"version"`).
    pub fn parse(source: &str, name: &'static str) -> Result<Template, TemplateError> {
        let nodes = parse::parse(source).map_err(|e| {
            TemplateError(format!(
                "template: {name}:{}: {}",
                line_of(source, e.pos),
                e.message
            ))
        })?;
        Ok(Template {
            nodes,
            source: source.to_owned(),
            name,
        })
    }

    /// The template run on `data`.
    pub fn render(&self, data: &Value, missing: Missing) -> Result<String, TemplateError> {
        let mut out = String::new();
        self.run(data, missing, exec::Mode::Data, &mut out)?;
        Ok(out)
    }

    fn run(
        &self,
        data: &Value,
        missing: Missing,
        mode: exec::Mode,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        exec::execute(&self.nodes, data, out, missing, mode).map_err(|e| {
            let line_start = self.source[..e.pos.min(self.source.len())]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            TemplateError(format!(
                "template: {name}:{}:{}: executing \"{name}\" at <{}>: {}",
                line_of(&self.source, e.pos),
                e.pos - line_start,
                e.node,
                e.message,
                name = self.name,
            ))
        })
    }
}

/// The 1-based line of a byte offset.
fn line_of(source: &str, pos: usize) -> usize {
    1 + source[..pos.min(source.len())].matches('\n').count()
}

/// "template parsing error: ...", as Docker's CLI reports a bad template, with its exit code.
pub fn failure(error: TemplateError, code: i32) -> Failure {
    Failure {
        code,
        error: anyhow!("template parsing error: {error}"),
    }
}

/// A list command's `--format`, as Docker's formatter reads it.
#[derive(Debug)]
pub struct Format {
    template: Template,
    table: bool,
}

impl Format {
    /// `format` as given (`table`, `json`, `table TEMPLATE` or `TEMPLATE`), `default_table` the
    /// command's own `table TEMPLATE` (for `table` alone, or no `--format`).
    pub fn new(format: &str, default_table: &str) -> Result<Format, Failure> {
        let format = match format {
            "" | "table" => default_table,
            other => other,
        };
        let (table, body) = match format {
            "json" => (false, "{{json .}}"),
            other => match other.strip_prefix("table") {
                Some(rest) => (true, rest),
                None => (false, other),
            },
        };
        // Docker trims spaces and reads `\t` and `\n` as a tab and a newline.
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let template = Template::parse(&body, "").map_err(|e| failure(e, 1))?;
        Ok(Format { template, table })
    }

    /// The rows written, each followed by a newline; a table aligned under its header row,
    /// the template run on `header` (Docker's header context: field name -> column title).
    pub fn render(&self, rows: &[Value], header: &Value) -> Result<String, Failure> {
        let mut body = String::new();
        for row in rows {
            self.template
                .run(row, Missing::Field, exec::Mode::Data, &mut body)
                .map_err(|e| failure(e, 1))?;
            body.push('\n');
        }
        if !self.table {
            return Ok(body);
        }
        // Docker ignores the header's error: the header is what was written up to it.
        let mut text = String::new();
        let _ = self
            .template
            .run(header, Missing::Field, exec::Mode::Header, &mut text);
        text.push('\n');
        text.push_str(&body);
        Ok(tabwriter::align(&text))
    }
}

/// A header context: each field's column title, as Docker's `FullHeader` maps them.
pub fn header(titles: &[(&str, &str)]) -> Value {
    Value::Map(
        titles
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect(),
    )
}

/// `inspect --format`: the template parsed as Docker's inspect parses it (exit 64 on error).
pub fn inspect_template(format: &str) -> Result<Template, Failure> {
    Template::parse(format, "").map_err(|e| failure(e, 64))
}

/// `version --format` and `info --format`: the document as JSON for `json`, else through the
/// template named `name` (exit 64 when it does not parse, 1 with Go's words when it fails).
pub fn document(
    text: &str,
    name: &'static str,
    data: &serde_json::Value,
    type_name: &'static str,
) -> Result<String, Failure> {
    if text == "json" {
        return Ok(data.to_string());
    }
    let template = Template::parse(text, name).map_err(|e| failure(e, 64))?;
    template
        .render(&Value::from_json(data, type_name), Missing::Field)
        .map_err(|e| Failure {
            code: 1,
            error: e.into(),
        })
}
