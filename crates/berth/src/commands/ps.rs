//! `berth ps`: the containers, filtered (`--filter`), limited (`-n`, `-l`), with their sizes
//! (`-s`), written by a `--format` template on Docker's fields; and the states and status
//! texts that `inspect` shows too.

use super::Context;
use super::reclaimed::reclaimed;
use crate::cli::PsArgs;
use crate::exit::{Failure, Outcome};
use crate::format::{self, Format, Struct, Value};
use crate::units::{human_duration, human_size};
use berth_engine::container_filter::{self, FilterError, Filters, network_names};
use berth_engine::containers::Containers;
use berth_engine::health::HealthStatus;
use berth_engine::inspect::{state, status_text};
use berth_engine::record::Record;
use berth_engine::time;
use std::collections::BTreeMap;
use std::io::Write;

/// Docker's default `ps` table.
const TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// Each field's column title, as Docker's `ps` names them.
const TITLES: [(&str, &str); 15] = [
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Label", "LABEL"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Networks", "NETWORKS"),
];

/// The first 12 digits of an id, as Docker shows ids (a damaged record's id as it is).
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// Docker's `Ellipsis`: at most `max` characters, the last one `…` when cut.
fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// The bytes of the files under `dir`, not following links (a container's writable layer).
fn disk_usage(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&entry.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// `berth ps`
pub fn ps(ctx: &Context, args: &PsArgs) -> Outcome {
    let custom = !matches!(args.format.as_str(), "" | "table");
    if args.quiet && custom {
        eprintln!("WARNING: Ignoring custom format, because both --format and --quiet are set.");
    }
    let default_table = if args.size {
        format!("{TABLE}\t{{{{.Size}}}}")
    } else {
        TABLE.to_owned()
    };
    let format = if args.quiet {
        Format::new("{{.ID}}", "")?
    } else {
        Format::new(&args.format, &default_table)?
    };
    let size = args.size || (custom && args.format.contains(".Size"));
    let filters = Filters::parse(&args.filter).map_err(anyhow::Error::from)?;
    let (_, mut records) = reclaimed(ctx);
    records.sort_by(|a, b| b.created.cmp(&a.created));
    let mut records =
        container_filter::keep(&ctx.roots, records, &filters).map_err(|e| match e {
            FilterError::NoSuchContainer(_) => Failure {
                code: 1,
                error: e.into(),
            },
            e => anyhow::Error::from(e).into(),
        })?;
    let limit = if args.latest {
        Some(1)
    } else {
        args.last.filter(|&n| n > 0).map(|n| n as usize)
    };
    if let Some(n) = limit {
        records.truncate(n);
    } else if !args.all && !filters.has("status") {
        records.retain(Record::is_running);
    }
    let all = Containers::new(&ctx.roots.root);
    let image_sizes: BTreeMap<String, u64> = if size {
        ctx.store()?
            .images()
            .map_err(anyhow::Error::from)?
            .images
            .iter()
            .map(|(id, image)| (id.to_string(), image.size))
            .collect()
    } else {
        BTreeMap::new()
    };
    let now = time::unix_now();
    let rows: Vec<Value> = records
        .iter()
        .map(|r| {
            let size = size.then(|| {
                let rw = disk_usage(&all.dir(&r.id).join("upper"));
                let image = image_sizes.get(&r.image_id).copied().unwrap_or(0);
                (rw, rw + image)
            });
            let health = berth_engine::health::status(&all, r);
            row(r, health, now, args.no_trunc, size)
        })
        .collect();
    let text = format.render(&rows, &format::header(&TITLES))?;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(0)
}

/// One container as Docker's `ContainerContext` shows it.
fn row(
    r: &Record,
    health: Option<HealthStatus>,
    now: i64,
    no_trunc: bool,
    size: Option<(u64, u64)>,
) -> Value {
    let command = r.command.join(" ");
    let command = if no_trunc {
        command
    } else {
        ellipsis(&command, 20)
    };
    let mount_names: Vec<String> = r
        .mounts
        .iter()
        .map(|m| {
            let name = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if no_trunc {
                name.clone()
            } else {
                ellipsis(name, 15)
            }
        })
        .collect();
    let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let running_for = time::parse(&r.created).map_or_else(
        || "N/A".into(),
        |t| {
            format!(
                "{} ago",
                human_duration(now.saturating_sub(t).max(0) as u64)
            )
        },
    );
    let size = match size {
        Some((rw, virtual_size)) if virtual_size > 0 => {
            format!("{} (virtual {})", human_size(rw), human_size(virtual_size))
        }
        Some((rw, _)) => human_size(rw),
        None => "0B".into(),
    };
    let fields = vec![
        ("Command", Value::from(format::go_quote(&command))),
        (
            "CreatedAt",
            Value::from(crate::units::created_at(&r.created)),
        ),
        (
            "ID",
            Value::from(if no_trunc {
                r.id.as_str()
            } else {
                short(&r.id)
            }),
        ),
        ("Image", Value::from(r.image.as_str())),
        ("Labels", Value::from(labels.join(","))),
        (
            "LocalVolumes",
            Value::from(
                r.mounts
                    .iter()
                    .filter(|m| m.kind == "volume")
                    .count()
                    .to_string(),
            ),
        ),
        ("Mounts", Value::from(mount_names.join(","))),
        ("Names", Value::from(r.name.as_str())),
        ("Networks", Value::from(network_names(r).join(","))),
        ("Ports", Value::from(super::network::ports_column(r))),
        ("RunningFor", Value::from(running_for)),
        ("Size", Value::from(size)),
        ("State", Value::from(state(r))),
        ("Status", Value::from(status_text(r, health, now))),
    ];
    Value::from(Struct {
        labels: Some(r.labels.clone()),
        ..Struct::new("*formatter.ContainerContext", fields)
    })
}
