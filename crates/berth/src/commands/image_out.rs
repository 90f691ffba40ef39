//! `commit`, `export`, `import`, `history`, `diff`: images made from containers and tars, and
//! what is in them. Each fails with exit code 1, as the docker CLI does for these.

use super::Context;
use crate::exit::{Failure, Outcome};
use crate::units::{human_duration, human_size};
use anyhow::anyhow;
use berth_engine::commit::{self, CommitOptions};
use berth_engine::time;
use berth_image::import::{fetch, import};
use berth_image::local;
use berth_image::manifest::Platform;
use berth_image::reference::Reference;
use clap::Args;
use serde_json::{Value, json};
use std::io::{IsTerminal, Read, Write};

/// `berth commit`
#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Pause container during commit
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set,
        num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub pause: bool,
    /// The container
    pub container: String,
    /// The new image's name, REPO[:TAG]
    pub repository: Option<String>,
}

/// `berth export`
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<String>,
    /// The container
    pub container: String,
}

/// `berth import`
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// A tar file, `-` for standard input, or an http(s) URL
    pub source: String,
    /// The new image's name, REPO[:TAG]
    pub repository: Option<String>,
}

/// `berth history`
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set,
        num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output: "table", "json" or a Go template
    #[arg(long, default_value = "table")]
    pub format: String,
    /// The image
    pub image: String,
}

/// `berth diff`
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The container
    pub container: String,
}

/// An error that ends the command with exit code 1.
fn failed(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 1,
        error: error.into(),
    }
}

/// `REPO[:TAG]` with the tag `latest` when none is given.
fn tag_of(name: Option<&str>) -> Result<Option<Reference>, Failure> {
    name.map(|n| {
        let reference = Reference::parse(n).map_err(failed)?;
        if reference.digest.is_some() {
            return Err(failed(anyhow!(
                "invalid reference format: {n} names a digest"
            )));
        }
        let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
        Ok(reference.with_tag(&tag))
    })
    .transpose()
}

/// `berth commit CONTAINER [REPO[:TAG]]`
pub fn run_commit(ctx: &Context, args: &CommitArgs) -> Outcome {
    super::run::needs_root()?;
    let options = CommitOptions {
        author: args.author.clone(),
        message: args.message.clone(),
        changes: args.change.clone(),
        pause: args.pause,
        tag: tag_of(args.repository.as_deref())?,
    };
    let id = commit::commit(&ctx.roots, &ctx.config, &args.container, &options).map_err(failed)?;
    println!("{id}");
    Ok(0)
}

/// `berth export CONTAINER`
pub fn run_export(ctx: &Context, args: &ExportArgs) -> Outcome {
    super::run::needs_root()?;
    match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| failed(anyhow!("failed to export container: {path}: {e}")))?;
            commit::export(&ctx.roots, &args.container, std::io::BufWriter::new(file))
                .map_err(failed)?;
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                return Err(failed(anyhow!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                )));
            }
            commit::export(&ctx.roots, &args.container, stdout.lock()).map_err(failed)?;
        }
    }
    Ok(0)
}

/// `berth import FILE|-|URL [REPO[:TAG]]`
pub fn run_import(ctx: &Context, args: &ImportArgs) -> Outcome {
    let tag = tag_of(args.repository.as_deref())?;
    let platform = match &args.platform {
        Some(text) => Some(Platform::parse(text).ok_or_else(|| {
            failed(anyhow!(
                "invalid platform \"{text}\": expected os/arch[/variant], e.g. linux/arm64/v8"
            ))
        })?),
        None => None,
    };
    let store = ctx.store().map_err(failed)?;
    let source = args.source.as_str();
    let (reader, origin): (Box<dyn Read>, &str) = if source == "-" {
        (Box::new(std::io::stdin().lock()), "-")
    } else if source.starts_with("http://") || source.starts_with("https://") {
        (
            Box::new(fetch(source).map_err(|e| failed(anyhow!("import {source}: {e}")))?),
            source,
        )
    } else if source.contains("://") {
        return Err(failed(anyhow!(
            "unsupported URL scheme in \"{source}\": use http or https"
        )));
    } else {
        let file =
            std::fs::File::open(source).map_err(|e| failed(anyhow!("open {source}: {e}")))?;
        // The docker CLI sends a file as its standard input: the history says "-".
        (Box::new(file), "-")
    };
    let id = import(
        &store,
        std::io::BufReader::with_capacity(256 << 10, reader),
        &args.change,
        args.message.as_deref(),
        &format!("Imported from {origin}"),
        platform.as_ref(),
        &time::now(),
        tag.as_slice(),
        ctx.config.made_layers(),
    )
    .map_err(|e| failed(anyhow!("import {source}: {e}")))?;
    println!("{id}");
    Ok(0)
}

/// `berth history IMAGE`
pub fn run_history(ctx: &Context, args: &HistoryArgs) -> Outcome {
    let json_lines = args.format == "json";
    // A Go template other than Docker's own table or json goes through the formatter.
    let template = match args.format.as_str() {
        "" | "table" | "json" => None,
        other => Some(crate::format::Format::new(other, "")?),
    };
    let store = ctx.store().map_err(failed)?;
    let images = store.images().map_err(failed)?;
    let id = local::resolve(&images, &args.image).map_err(failed)?;
    let record = &images.images[&id];
    let config: Value = store
        .read_blob(&id)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let history = config["history"].as_array().cloned().unwrap_or_default();
    // Each entry that made a layer takes the next one, bottom up.
    let mut layers = record.layers.iter();
    let mut rows: Vec<Row> = history
        .iter()
        .map(|entry| {
            let size = match entry["empty_layer"].as_bool() == Some(true) {
                true => 0,
                false => layers
                    .next()
                    .and_then(|chain| store.layer(chain))
                    .map_or(0, |l| l.size),
            };
            Row {
                id: "<missing>".into(),
                created: entry["created"].as_str().unwrap_or("").to_owned(),
                created_by: entry["created_by"].as_str().unwrap_or("").to_owned(),
                size,
                comment: entry["comment"].as_str().unwrap_or("").to_owned(),
            }
        })
        .collect();
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = match args.no_trunc {
            true => id.to_string(),
            false => id.short().to_owned(),
        };
    }
    if args.quiet {
        for row in &rows {
            println!("{}", row.id);
        }
        return Ok(0);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let since = |created: &str| match time::parse(created) {
        Some(t) => format!(
            "{} ago",
            human_duration(now.saturating_sub(t).max(0) as u64)
        ),
        None => "N/A".into(),
    };
    let mut table = vec![[
        "IMAGE".to_owned(),
        "CREATED".into(),
        "CREATED BY".into(),
        "SIZE".into(),
        "COMMENT".into(),
    ]];
    let mut values = Vec::new();
    for row in &rows {
        let created_by = row.created_by.replace('\t', " ");
        let created_by = match args.no_trunc {
            true => created_by,
            false => ellipsis(&created_by, 45),
        };
        let size = match args.human {
            true => human_size(row.size),
            false => row.size.to_string(),
        };
        if template.is_some() {
            let value = crate::format::Value::from(crate::format::Struct::new(
                "*formatter.historyContext",
                vec![
                    ("Comment", row.comment.as_str().into()),
                    ("CreatedAt", row.created.as_str().into()),
                    ("CreatedBy", created_by.as_str().into()),
                    ("CreatedSince", since(&row.created).into()),
                    ("ID", row.id.as_str().into()),
                    ("Size", size.as_str().into()),
                ],
            ));
            values.push(value);
            continue;
        }
        if json_lines {
            let line = json!({
                "Comment": row.comment, "CreatedAt": row.created, "CreatedBy": created_by,
                "CreatedSince": since(&row.created), "ID": row.id, "Size": size,
            });
            println!("{line}");
            continue;
        }
        let created = match args.human {
            true => since(&row.created),
            false => row.created.clone(),
        };
        table.push([
            row.id.clone(),
            created,
            created_by,
            size,
            row.comment.clone(),
        ]);
    }
    match &template {
        Some(template) => print!(
            "{}",
            template.render(&values, &crate::format::header(&HISTORY_TITLES))?
        ),
        None if !json_lines => print_table(&table),
        None => {}
    }
    Ok(0)
}

/// `history`'s column titles, for a `table` template.
const HISTORY_TITLES: [(&str, &str); 6] = [
    ("Comment", "COMMENT"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("CreatedSince", "CREATED"),
    ("ID", "IMAGE"),
    ("Size", "SIZE"),
];

/// One line of `history`.
struct Row {
    id: String,
    created: String,
    created_by: String,
    size: u64,
    comment: String,
}

/// `text` cut to `width` characters, the last of them `…`, as Docker's `Ellipsis`.
fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

/// Columns as Go's tabwriter aligns them for Docker (minimum width 10, padding 3); the last
/// is not padded.
fn print_table<const N: usize>(rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(10)
        })
        .collect();
    let mut out = std::io::stdout().lock();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', widths[c] - cell.chars().count()));
            }
        }
        let _ = writeln!(out, "{line}");
    }
}

/// `berth diff CONTAINER`
pub fn run_diff(ctx: &Context, args: &DiffArgs) -> Outcome {
    let changes = berth_engine::diff::diff(&ctx.roots, &args.container).map_err(failed)?;
    let mut out = std::io::stdout().lock();
    for change in changes {
        let _ = writeln!(out, "{} {}", change.kind, change.path);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_end_in_an_ellipsis() {
        assert_eq!(ellipsis("short", 45), "short");
        let long = "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789 in /";
        let cut = ellipsis(long, 45);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with('…') && long.starts_with(cut.trim_end_matches('…')));
    }
}
