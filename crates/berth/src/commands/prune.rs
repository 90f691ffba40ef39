//! `container prune`, `network prune` and `system prune`, with Docker's confirmation prompt
//! and report: `Deleted Containers:` and the others, then `Total reclaimed space: X`. A
//! prompt answered with anything but `y` cancels: nothing is removed and the exit code is 1,
//! silently, as with Docker.

use super::Context;
use super::reclaimed::containers;
use super::system::go_human_size;
use crate::cli_groups::{ContainerPruneArgs, NetworkPruneArgs, SystemPruneArgs};
use crate::exit::{Failure, Outcome};
use crate::units::go_duration;
use anyhow::anyhow;
use berth_engine::prune::{PruneFilter, prune_containers, prune_networks};
use berth_image::reference::Reference;
use berth_image::store::Store;
use std::io::{BufRead, Write};

/// Shows `warning` with Docker's `[y/N]` and reads one line of the answer from stdin.
fn confirmed(warning: &str) -> bool {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{warning} [y/N] ");
    let _ = out.flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    answer.trim().eq_ignore_ascii_case("y")
}

/// A cancelled prune: exit 1, nothing said (Docker's CLI prints no cancelled error).
const CANCELLED: Outcome = Ok(1);

/// A section of the report (`Deleted Containers:` and its lines, then a blank line); nothing
/// when nothing went.
fn section(title: &str, lines: &[String]) -> String {
    match lines.is_empty() {
        true => String::new(),
        false => format!("{title}\n{}\n\n", lines.join("\n")),
    }
}

/// `--filter` values of a container prune: `until=` (a Go duration before now, a Unix time or
/// an RFC 3339 time) and `label=`/`label!=` (`KEY` or `KEY=VALUE`).
fn parse_filters(filters: &[String]) -> Result<PruneFilter, Failure> {
    let refused = |why: String| Failure {
        code: 1,
        error: anyhow!(why),
    };
    let mut filter = PruneFilter::default();
    for text in filters {
        let (key, value, wanted) = match text.split_once("!=") {
            Some((key, value)) => (key, value, false),
            None => match text.split_once('=') {
                Some((key, value)) => (key, value, true),
                None => {
                    return Err(refused(format!(
                        "bad format of filter (expected name=value): {text}"
                    )));
                }
            },
        };
        match (key, wanted) {
            ("until", true) => {
                let now = berth_engine::time::unix_now();
                let until = go_duration(value)
                    .map(|ago| now - ago.as_secs() as i64)
                    .or_else(|| value.parse::<i64>().ok())
                    .or_else(|| berth_engine::time::parse(value))
                    .ok_or_else(|| {
                        refused(format!(
                            "failed to parse value as time or duration: \"{value}\""
                        ))
                    })?;
                filter.until = Some(until);
            }
            ("label", _) => {
                let (name, want) = match value.split_once('=') {
                    Some((name, want)) => (name, Some(want.to_owned())),
                    None => (value, None),
                };
                filter.labels.push((wanted, name.to_owned(), want));
            }
            _ => return Err(refused(format!("invalid filter '{key}'"))),
        }
    }
    Ok(filter)
}

/// The stopped containers removed, as the report's section, and the space they took.
fn removed_containers(ctx: &Context, filter: &PruneFilter) -> (String, u64) {
    containers(ctx);
    let removed = prune_containers(&ctx.roots, filter);
    let ids: Vec<String> = removed.iter().map(|(id, _)| id.clone()).collect();
    let space = removed.iter().map(|(_, size)| size).sum();
    (section("Deleted Containers:", &ids), space)
}

/// `berth container prune [-f] [--filter ...]`
pub fn container_prune(ctx: &Context, args: &ContainerPruneArgs) -> Outcome {
    let filter = parse_filters(&args.filter)?;
    if !args.force
        && !confirmed(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )
    {
        return CANCELLED;
    }
    let (report, space) = removed_containers(ctx, &filter);
    print!("{report}");
    println!("Total reclaimed space: {}", go_human_size(space));
    Ok(0)
}

/// `berth network prune [-f]`
pub fn network_prune(ctx: &Context, args: &NetworkPruneArgs) -> Outcome {
    if !args.force
        && !confirmed(
            "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?",
        )
    {
        return CANCELLED;
    }
    containers(ctx);
    print!(
        "{}",
        section("Deleted Networks:", &prune_networks(&ctx.roots))
    );
    Ok(0)
}

/// `berth system prune [-a] [--volumes] [-f]`: stopped containers, then unused networks, then
/// with `--volumes` unused anonymous volumes, then dangling images (`-a`: every image no
/// container uses) and the layers only they had. Berth keeps no build cache.
pub fn system_prune(ctx: &Context, args: &SystemPruneArgs) -> Outcome {
    let images = match args.all {
        true => "all images without at least one container associated to them",
        false => "all dangling images",
    };
    let volumes = match args.volumes {
        true => "\n  - all anonymous volumes not used by at least one container",
        false => "",
    };
    let warning = format!(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container{volumes}\n  - {images}\n\nAre you sure you want to continue?"
    );
    if !args.force && !confirmed(&warning) {
        return CANCELLED;
    }
    let (containers_report, containers_space) = removed_containers(ctx, &PruneFilter::default());
    let networks = prune_networks(&ctx.roots);
    let (volumes_report, volumes_space) = match args.volumes {
        true => removed_volumes(ctx)?,
        false => (String::new(), 0),
    };
    let (images_report, images_space) = removed_images(ctx, args.all)?;
    print!(
        "{containers_report}{}{volumes_report}{images_report}",
        section("Deleted Networks:", &networks)
    );
    println!(
        "Total reclaimed space: {}",
        go_human_size(containers_space + volumes_space + images_space)
    );
    Ok(0)
}

/// The unused anonymous volumes `system prune --volumes` removes, as the report's section, and
/// their size.
fn removed_volumes(ctx: &Context) -> Result<(String, u64), Failure> {
    let (containers, _) = super::reclaimed::reclaimed(ctx);
    let removed = berth_engine::volumes::Volumes::new(&ctx.roots.root)
        .prune(&containers, false)
        .map_err(anyhow::Error::from)?;
    let names: Vec<String> = removed.iter().map(|(name, _)| name.clone()).collect();
    let space = removed.iter().map(|(_, size)| size).sum();
    Ok((section("Deleted Volumes:", &names), space))
}

/// The images `image prune` removes (`all`: every one no container uses), as the report's
/// section (`untagged:` each tag, `deleted:` each id), and the space of the layers removed.
fn removed_images(ctx: &Context, all: bool) -> Result<(String, u64), Failure> {
    let store = ctx.store()?;
    let tags = store.images().map_err(anyhow::Error::from)?;
    let before = layers_size(&store);
    let removed = berth_image::local::prune(&store, all, &super::images::images_in_use(ctx))
        .map_err(anyhow::Error::from)?;
    let mut lines = Vec::new();
    for id in &removed {
        for tag in tags.tags_of(id) {
            let name = Reference::parse(&tag).map_or(tag, |r| {
                format!("{}:{}", r.familiar_name(), r.tag.unwrap_or_default())
            });
            lines.push(format!("untagged: {name}"));
        }
    }
    lines.extend(removed.iter().map(|id| format!("deleted: {id}")));
    let space = before.saturating_sub(layers_size(&store));
    Ok((section("Deleted Images:", &lines), space))
}

/// The size of every layer in the store.
fn layers_size(store: &Store) -> u64 {
    store
        .layer_ids()
        .unwrap_or_default()
        .iter()
        .filter_map(|chain| store.layer(chain))
        .map(|layer| layer.size)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_filters_parse_as_dockers() {
        let filter = parse_filters(&["label=a=b".into(), "label!=c".into(), "until=1000".into()])
            .unwrap_or_else(|f| panic!("{}", f.error));
        assert_eq!(filter.until, Some(1000));
        assert_eq!(
            filter.labels,
            [
                (true, "a".into(), Some("b".into())),
                (false, "c".into(), None)
            ]
        );
        let recent = parse_filters(&["until=1h".into()]).unwrap_or_else(|f| panic!("{}", f.error));
        let hour_ago = berth_engine::time::unix_now() - 3600;
        assert!(recent.until.is_some_and(|t| (t - hour_ago).abs() < 5));
        for bad in ["name=x", "until=soon", "x"] {
            let e = parse_filters(&[bad.into()]).expect_err(bad);
            assert_eq!(e.code, 1);
        }
        assert_eq!(section("Deleted Networks:", &[]), "");
        assert_eq!(
            section("Deleted Networks:", &["a".into(), "b".into()]),
            "Deleted Networks:\na\nb\n\n"
        );
    }
}
