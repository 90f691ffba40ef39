//! `volume create|ls|inspect|rm|prune`.

use super::Context;
use super::reclaimed::reclaimed;
use crate::cli::{
    VolumeCommand, VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs, VolumeRmArgs,
};
use crate::exit::{Failure, Outcome};
use crate::format::{self, Format};
use anyhow::anyhow;
use berth_engine::volumes::{CreateOptions, VolumeError, VolumeRow, Volumes};
use std::io::{BufRead, Write};

/// Docker's CLI ends with 1 when the engine refuses a volume request.
fn refused(error: VolumeError) -> Failure {
    Failure {
        code: 1,
        error: error.into(),
    }
}

fn volumes(ctx: &Context) -> Volumes {
    Volumes::new(&ctx.roots.root)
}

/// `berth volume ...`
pub fn run(ctx: &Context, command: &VolumeCommand) -> Outcome {
    match command {
        VolumeCommand::Create(args) => create(ctx, args),
        VolumeCommand::Ls(args) => ls(ctx, args),
        VolumeCommand::Inspect(args) => inspect(ctx, args),
        VolumeCommand::Rm(args) => rm(ctx, args),
        VolumeCommand::Prune(args) => prune(ctx, args),
    }
}

fn create(ctx: &Context, args: &VolumeCreateArgs) -> Outcome {
    let name = match (&args.name, &args.name_flag) {
        (Some(a), Some(b)) if a != b => {
            return Err(Failure {
                code: 1,
                error: anyhow!(
                    "conflicting options: either specify --name or provide positional arg, not both"
                ),
            });
        }
        (Some(name), _) | (None, Some(name)) => Some(name.as_str()),
        (None, None) => None,
    };
    let request = CreateOptions {
        driver: args.driver.clone(),
        options: args.opt.clone(),
        labels: args.label.clone(),
    };
    let (volume, _) = volumes(ctx).create(name, &request).map_err(refused)?;
    println!("{}", volume.name);
    Ok(0)
}

/// The rows of `volume ls` as `--filter` asks, for the table, `json` or a template.
pub fn ls_rows(ctx: &Context, filters: &[String]) -> Result<Vec<VolumeRow>, Failure> {
    let (_, records) = reclaimed(ctx);
    volumes(ctx).rows(&records, filters).map_err(refused)
}

/// Each field's column title, as Docker's `volume ls` names them.
const TITLES: [(&str, &str); 11] = [
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Label", "LABEL"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("Group", "GROUP"),
    ("Availability", "AVAILABILITY"),
    ("Status", "STATUS"),
];

fn ls(ctx: &Context, args: &VolumeLsArgs) -> Outcome {
    let format = if args.quiet {
        Format::new("{{.Name}}", "")?
    } else {
        Format::new(&args.format, "table {{.Driver}}\t{{.Name}}")?
    };
    let volumes = volumes(ctx);
    let rows: Vec<format::Value> = ls_rows(ctx, &args.filter)?
        .iter()
        .map(|row| {
            let json = serde_json::to_value(row).expect("a row serialises");
            let format::Value::Struct(fields) =
                format::Value::from_json(&json, "*formatter.volumeContext")
            else {
                unreachable!("a row is an object")
            };
            let labels = volumes.get(&row.name).ok().and_then(|v| v.labels);
            format::Value::from(format::Struct {
                type_name: fields.type_name,
                fields: fields.fields.clone(),
                labels: Some(labels.unwrap_or_default()),
            })
        })
        .collect();
    let text = format.render(&rows, &format::header(&TITLES))?;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(0)
}

fn inspect(ctx: &Context, args: &VolumeInspectArgs) -> Outcome {
    let volumes = volumes(ctx);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in &args.volumes {
        match volumes.get(name) {
            Ok(volume) => found
                .push(serde_json::to_value(volumes.inspect(&volume)).expect("a volume serialises")),
            Err(VolumeError::NoSuch(_)) => missing.push(name.clone()),
            Err(e) => return Err(refused(e)),
        }
    }
    super::print_inspect(&found, &missing, "No such volume", args.format.as_deref())
}

fn rm(ctx: &Context, args: &VolumeRmArgs) -> Outcome {
    let (containers, _) = reclaimed(ctx);
    let volumes = volumes(ctx);
    let mut code = 0;
    for name in &args.volumes {
        match volumes.remove(&containers, name, args.force) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("berth: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

fn prune(ctx: &Context, args: &VolumePruneArgs) -> Outcome {
    if !args.force {
        let what = if args.all {
            "all local volumes"
        } else {
            "anonymous local volumes"
        };
        println!(
            "WARNING! This will remove {what} not used by at least one container.\nAre you sure you want to continue? [y/N] "
        );
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let (containers, _) = reclaimed(ctx);
    let removed = volumes(ctx).prune(&containers, args.all).map_err(refused)?;
    let mut out = std::io::stdout().lock();
    if !removed.is_empty() {
        let _ = writeln!(out, "Deleted Volumes:");
        for (name, _) in &removed {
            let _ = writeln!(out, "{name}");
        }
        let _ = writeln!(out);
    }
    let total = removed.iter().map(|(_, size)| size).sum();
    let _ = writeln!(
        out,
        "Total reclaimed space: {}",
        crate::units::human_size(total)
    );
    Ok(0)
}
