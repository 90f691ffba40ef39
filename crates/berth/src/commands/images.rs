//! `pull`, `images`, `tag`, `rmi`, `image inspect`, `image prune`.

use super::Context;
use super::progress;
use crate::cli::{ImageInspectArgs, ImagesArgs, PruneArgs, PullArgs, RmiArgs, TagArgs};
use crate::exit::{Failure, Outcome};
use crate::units::{human_duration, human_size};
use anyhow::anyhow;
use berth_engine::containers::Containers;
use berth_engine::events;
use berth_engine::time;
use berth_image::digest::Digest;
use berth_image::local::{self, LocalError, Removal};
use berth_image::manifest::Platform;
use berth_image::pull::pull;
use berth_image::reference::Reference;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::BufRead;

/// `berth pull NAME`
pub fn run_pull(ctx: &Context, args: &PullArgs) -> Outcome {
    let reference = Reference::parse(&args.name).map_err(anyhow::Error::from)?;
    let platform = match &args.platform {
        Some(text) => Some(Platform::parse(text).ok_or_else(|| {
            anyhow!("invalid platform \"{text}\": expected os/arch[/variant], e.g. linux/arm64/v8")
        })?),
        None => None,
    };
    let store = ctx.store()?;
    let familiar = match (&reference.tag, &reference.digest) {
        (_, Some(digest)) => format!("{}@{digest}", reference.familiar_name()),
        (Some(tag), None) => format!("{}:{tag}", reference.familiar_name()),
        (None, None) => reference.familiar_name(),
    };
    if !args.quiet {
        if !args.name.contains(':') && !args.name.contains('@') {
            println!("Using default tag: latest");
        }
        println!(
            "{}: Pulling from {}",
            reference
                .tag
                .as_deref()
                .unwrap_or_else(|| reference.digest.as_ref().map_or("latest", |d| d.short())),
            reference.repository
        );
    }
    let display = progress::for_output(args.quiet);
    let pulled = pull(
        &store,
        &reference,
        &ctx.config.pull_options(platform),
        display.as_ref(),
    )
    .map_err(anyhow::Error::from)?;
    events::image(
        &ctx.roots.root,
        "pull",
        &familiar,
        &reference.familiar_name(),
    );
    if args.quiet {
        println!("{}", pulled.digest);
    } else {
        println!("Digest: {}", pulled.digest);
        if pulled.downloaded {
            println!("Status: Downloaded newer image for {familiar}");
        } else {
            println!("Status: Image is up to date for {familiar}");
        }
        println!("{reference}");
    }
    Ok(0)
}

/// `berth images`
pub fn run_images(ctx: &Context, args: &ImagesArgs) -> Outcome {
    let json_lines = match args.format.as_str() {
        "table" => false,
        "json" => true,
        other => {
            return Err(
                anyhow!("unsupported --format \"{other}\": use \"table\" or \"json\"").into(),
            );
        }
    };
    let store = ctx.store()?;
    let images = store.images().map_err(anyhow::Error::from)?;
    let filter = args
        .repository
        .as_deref()
        .map(Reference::parse)
        .transpose()
        .map_err(anyhow::Error::from)?;
    let filter_has_tag = args
        .repository
        .as_deref()
        .is_some_and(|r| r.rsplit('/').next().is_some_and(|last| last.contains(':')));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);

    let mut rows = Vec::new();
    for (id, record) in &images.images {
        let config: serde_json::Value = store
            .read_blob(id)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let created = config["created"].as_str().unwrap_or("");
        let since = time::parse(created).map_or_else(
            || "N/A".to_owned(),
            |t| {
                format!(
                    "{} ago",
                    human_duration(now.saturating_sub(t).max(0) as u64)
                )
            },
        );
        let mut names: Vec<(String, String)> = images
            .tags_of(id)
            .iter()
            .filter_map(|t| Reference::parse(t).ok())
            .filter(|r| {
                filter.as_ref().is_none_or(|f| {
                    f.full_name() == r.full_name() && (!filter_has_tag || f.tag == r.tag)
                })
            })
            .map(|r| (r.familiar_name(), r.tag.clone().unwrap_or_default()))
            .collect();
        if names.is_empty() {
            if filter.is_some() {
                continue;
            }
            names.push(("<none>".into(), "<none>".into()));
        }
        for (repository, tag) in names {
            rows.push((
                repository,
                tag,
                id.clone(),
                created.to_owned(),
                since.clone(),
                record.size,
            ));
        }
    }
    rows.sort_by(|a, b| b.3.cmp(&a.3).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));

    if args.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for row in &rows {
            if seen.insert(row.2.clone()) {
                println!(
                    "{}",
                    if args.no_trunc {
                        row.2.to_string()
                    } else {
                        row.2.short().to_owned()
                    }
                );
            }
        }
        return Ok(0);
    }
    if json_lines {
        for (repository, tag, id, created, since, size) in &rows {
            let line = json!({ "Repository": repository, "Tag": tag, "ID": if args.no_trunc { id.to_string() } else { id.short().to_owned() }, "CreatedAt": created, "CreatedSince": since, "Size": human_size(*size) });
            println!("{line}");
        }
        return Ok(0);
    }
    let id_width = if args.no_trunc { 71 } else { 12 };
    let repo_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(10);
    let tag_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(3);
    println!(
        "{:<repo_width$}   {:<tag_width$}   {:<id_width$}   {:<18}   SIZE",
        "REPOSITORY", "TAG", "IMAGE ID", "CREATED"
    );
    for (repository, tag, id, _, since, size) in &rows {
        let id = if args.no_trunc {
            id.to_string()
        } else {
            id.short().to_owned()
        };
        println!(
            "{repository:<repo_width$}   {tag:<tag_width$}   {id:<id_width$}   {since:<18}   {}",
            human_size(*size)
        );
    }
    Ok(0)
}

/// `berth tag SOURCE TARGET`
pub fn run_tag(ctx: &Context, args: &TagArgs) -> Outcome {
    let store = ctx.store()?;
    local::tag(&store, &args.source, &args.target).map_err(local_failure)?;
    if let Ok(id) = store
        .images()
        .map_err(|e| e.to_string())
        .and_then(|images| local::resolve(&images, &args.source).map_err(|e| e.to_string()))
    {
        events::image(&ctx.roots.root, "tag", &id.to_string(), &args.target);
    }
    Ok(0)
}

/// The ids of images that containers use: those `rmi` refuses and `prune` keeps.
fn images_in_use(ctx: &Context) -> BTreeSet<Digest> {
    Containers::new(&ctx.roots.root)
        .list()
        .iter()
        .filter_map(|r| Digest::parse(&r.image_id).ok())
        .collect()
}

/// `berth rmi IMAGE...`: every image is tried; the exit code is 1 when any failed.
pub fn run_rmi(ctx: &Context, args: &RmiArgs) -> Outcome {
    let store = ctx.store()?;
    let in_use = images_in_use(ctx);
    let mut failed = false;
    for name in &args.images {
        let id = store
            .images()
            .ok()
            .and_then(|images| local::resolve(&images, name).ok())
            .map(|id| id.to_string());
        match local::remove(&store, name, args.force, &in_use) {
            Ok(removals) => {
                for removal in removals {
                    let (action, line) = match &removal {
                        Removal::Untagged(name) => ("untag", format!("Untagged: {name}")),
                        Removal::Deleted(id) => ("delete", format!("Deleted: {id}")),
                    };
                    println!("{line}");
                    if let Some(id) = &id {
                        events::image(&ctx.roots.root, action, id, id);
                    }
                }
            }
            Err(e) => {
                eprintln!("berth: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `berth image inspect IMAGE...`: a JSON array; exit 1 when any is missing, as Docker does.
pub fn run_inspect(ctx: &Context, args: &ImageInspectArgs) -> Outcome {
    let store = ctx.store()?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for name in &args.images {
        match local::inspect(&store, name) {
            Ok(value) => found.push(value),
            Err(LocalError::NoSuchImage(name)) => missing.push(name),
            Err(e) => return Err(local_failure(e)),
        }
    }
    Ok(super::print_inspect(&found, &missing, "No such image"))
}

/// `berth image prune`
pub fn run_prune(ctx: &Context, args: &PruneArgs) -> Outcome {
    if !args.force {
        let what = if args.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        println!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let removed =
        local::prune(&ctx.store()?, args.all, &images_in_use(ctx)).map_err(local_failure)?;
    if !removed.is_empty() {
        println!("Deleted Images:");
        for id in &removed {
            println!("deleted: {id}");
        }
    }
    println!("Total reclaimed: {} image(s)", removed.len());
    Ok(0)
}

/// "No such image" is exit 1 (as Docker's CLI); anything else is an engine error.
fn local_failure(error: LocalError) -> Failure {
    let code = if matches!(error, LocalError::NoSuchImage(_)) {
        1
    } else {
        crate::exit::ENGINE
    };
    Failure {
        code,
        error: error.into(),
    }
}
