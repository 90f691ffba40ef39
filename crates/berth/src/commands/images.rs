//! `pull`, `images`, `tag`, `rmi`, `image inspect`, `image prune`.

use super::Context;
use super::progress;
use crate::cli::{ImageInspectArgs, ImagesArgs, PruneArgs, PullArgs, RmiArgs, TagArgs};
use crate::exit::{Failure, Outcome};
use crate::format::{self, Format, Struct, Value};
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
use std::collections::{BTreeMap, BTreeSet};
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
    let familiar = reference.familiar();
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

/// Docker's default `images` table, and the one of `--digests`.
const TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DIGESTS_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

/// Each field's column title, as Docker's `images` names them.
const TITLES: [(&str, &str); 11] = [
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("VirtualSize", "VIRTUAL SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

/// One line of `images`: a tag of an image (or `<none>`).
struct ImageRow {
    repository: String,
    tag: String,
    digest: String,
    id: Digest,
    created: String,
    since: String,
    size: u64,
}

/// `images --filter`: `dangling=true|false`, `label=KEY[=VALUE]`, `reference=PATTERN`.
#[derive(Default)]
struct ImageFilters {
    dangling: Option<bool>,
    labels: Vec<String>,
    references: Vec<String>,
}

impl ImageFilters {
    fn parse(filters: &[String]) -> Result<ImageFilters, Failure> {
        let mut parsed = ImageFilters::default();
        for filter in filters {
            let (key, value) = filter
                .split_once('=')
                .ok_or_else(|| anyhow!("bad format of filter (expected name=value): {filter}"))?;
            match key {
                "dangling" => {
                    parsed.dangling = Some(match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(anyhow!("Invalid filter 'dangling=[{value}]'").into()),
                    });
                }
                "label" => parsed.labels.push(value.to_owned()),
                "reference" => parsed.references.push(value.to_owned()),
                other => return Err(anyhow!("invalid filter '{other}'").into()),
            }
        }
        Ok(parsed)
    }
}

/// Go's `path.Match`: `*` is any run of characters but `/`, `?` one of them, `[...]` a class.
fn glob(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len())
            .take_while(|&i| i == 0 || text[i - 1] != '/')
            .any(|i| glob(rest, &text[i..])),
        Some(('?', rest)) => text.first().is_some_and(|&c| c != '/') && glob(rest, &text[1..]),
        Some(('[', rest)) => {
            let Some(end) = rest.iter().position(|&c| c == ']') else {
                return false;
            };
            let (negated, class) = match rest[..end].split_first() {
                Some(('^', class)) => (true, class),
                _ => (false, &rest[..end]),
            };
            let Some(&c) = text.first() else {
                return false;
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negated && glob(&rest[end + 1..], &text[1..])
        }
        Some((&p, rest)) => text.first() == Some(&p) && glob(rest, &text[1..]),
    }
}

/// Docker's `reference=` filter: the pattern against `name:tag`, then against `name`.
fn reference_matches(pattern: &str, repository: &str, tag: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let full: Vec<char> = format!("{repository}:{tag}").chars().collect();
    let name: Vec<char> = repository.chars().collect();
    glob(&pattern, &full) || glob(&pattern, &name)
}

/// `berth images`
pub fn run_images(ctx: &Context, args: &ImagesArgs) -> Outcome {
    let default_table = if args.digests { DIGESTS_TABLE } else { TABLE };
    let format = Format::new(&args.format, default_table)?;
    let filters = ImageFilters::parse(&args.filter)?;
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
    let now = time::unix_now();
    // The builds' intermediate images, hidden unless tagged or `-a` (as Docker's).
    let intermediate = match args.all {
        true => Default::default(),
        false => berth_build::builder::cache::intermediate(&ctx.roots.root),
    };

    let mut rows = Vec::new();
    for (id, record) in &images.images {
        if intermediate.contains(&id.to_string()) && images.tags_of(id).is_empty() {
            continue;
        }
        let config: serde_json::Value = store
            .read_blob(id)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let labels: BTreeMap<String, String> = config["config"]["Labels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        if !filters
            .labels
            .iter()
            .all(|l| berth_engine::container_filter::label_matches(&labels, l))
        {
            continue;
        }
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
        let tags: Vec<Reference> = images
            .tags_of(id)
            .iter()
            .filter_map(|t| Reference::parse(t).ok())
            .collect();
        if filters
            .dangling
            .is_some_and(|dangling| dangling != tags.is_empty())
        {
            continue;
        }
        let digest_of = |r: &Reference| {
            record
                .repo_digests
                .iter()
                .find_map(|d| d.strip_prefix(&format!("{}@", r.full_name())))
                .unwrap_or("<none>")
                .to_owned()
        };
        let mut names: Vec<(String, String, String)> = tags
            .iter()
            .filter(|r| {
                filter.as_ref().is_none_or(|f| {
                    f.full_name() == r.full_name() && (!filter_has_tag || f.tag == r.tag)
                })
            })
            .map(|r| {
                (
                    r.familiar_name(),
                    r.tag.clone().unwrap_or_default(),
                    digest_of(r),
                )
            })
            .collect();
        if names.is_empty() {
            if filter.is_some() || !filters.references.is_empty() {
                continue;
            }
            names.push(("<none>".into(), "<none>".into(), "<none>".into()));
        }
        for (repository, tag, digest) in names {
            if !filters.references.is_empty()
                && !filters
                    .references
                    .iter()
                    .any(|p| reference_matches(p, &repository, &tag))
            {
                continue;
            }
            rows.push(ImageRow {
                repository,
                tag,
                digest,
                id: id.clone(),
                created: created.to_owned(),
                since: since.clone(),
                size: record.size,
            });
        }
    }
    rows.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then(a.repository.cmp(&b.repository))
            .then(a.tag.cmp(&b.tag))
    });

    if args.quiet {
        let mut seen = BTreeSet::new();
        for row in &rows {
            if seen.insert(row.id.clone()) {
                println!(
                    "{}",
                    if args.no_trunc {
                        row.id.to_string()
                    } else {
                        row.id.short().to_owned()
                    }
                );
            }
        }
        return Ok(0);
    }
    let values: Vec<Value> = rows
        .iter()
        .map(|row| {
            let size = Value::from(human_size(row.size));
            let id = if args.no_trunc {
                row.id.to_string()
            } else {
                row.id.short().to_owned()
            };
            Value::from(Struct::new(
                "*formatter.ImageContext",
                vec![
                    ("Containers", Value::from("N/A")),
                    (
                        "CreatedAt",
                        Value::from(crate::units::created_at(&row.created)),
                    ),
                    ("CreatedSince", Value::from(row.since.as_str())),
                    ("Digest", Value::from(row.digest.as_str())),
                    ("ID", Value::from(id)),
                    ("Repository", Value::from(row.repository.as_str())),
                    ("SharedSize", Value::from("N/A")),
                    ("Size", size.clone()),
                    ("Tag", Value::from(row.tag.as_str())),
                    ("UniqueSize", Value::from("N/A")),
                    ("VirtualSize", size),
                ],
            ))
        })
        .collect();
    print!("{}", format.render(&values, &format::header(&TITLES))?);
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
pub(super) fn images_in_use(ctx: &Context) -> BTreeSet<Digest> {
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
    super::print_inspect(&found, &missing, "No such image", args.format.as_deref())
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

#[cfg(test)]
mod tests {
    use super::reference_matches;

    // Docker's documented `reference=` examples: `busy*:*libc`, `busybox`, `busybox:uclibc`.
    #[test]
    fn reference_patterns_match_as_go_path_match_does() {
        assert!(reference_matches("busy*:*libc", "busybox", "uclibc"));
        assert!(reference_matches("busy*:*libc", "busybox", "glibc"));
        assert!(!reference_matches("busy*:*libc", "busybox", "latest"));
        assert!(reference_matches("busybox", "busybox", "latest"));
        assert!(!reference_matches("busy", "busybox", "latest"));
        assert!(reference_matches("*/x", "mine/x", "1"));
        assert!(!reference_matches("*", "mine/x", "1"));
        assert!(reference_matches("mine/[a-x]", "mine/x", "1"));
        assert!(reference_matches("mine/?:1", "mine/x", "1"));
    }
}
