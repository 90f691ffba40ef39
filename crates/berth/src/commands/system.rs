//! `system df`: what images, containers, volumes and the build cache take on disk, in Docker's
//! table (`-v`: one table per kind), and the sizes as Docker's prunes and `df` print them.

use super::Context;
use super::reclaimed::reclaimed;
use crate::cli_groups::DfArgs;
use crate::exit::Outcome;
use crate::units::{human_duration, human_size};
use berth_engine::disk_usage::{ImageUsage, VolumeUsage, container_size, image_usage, volumes};
use berth_engine::record::Record;
use berth_engine::time;
use berth_image::reference::Reference;

/// A size as Docker's `units.HumanSize` writes it: decimal units, four significant digits
/// (`16.43MB`, `212B`, `0B`).
pub fn go_human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let decimals = match value {
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    let text = format!("{value:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{}", UNITS[unit])
}

/// Rows aligned as Docker's tables are (Go's tabwriter with a minimum width of 10 and a
/// padding of 3): every column but the last as wide as its widest cell and 3, at least 10.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|cell| cell.chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(10)
        })
        .collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}", width = widths[i]));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Docker's RECLAIMABLE cell: the size and, when there is any total, its share in percent.
fn reclaimable(size: u64, total: u64) -> String {
    match total {
        0 => go_human_size(size),
        _ => format!("{} ({}%)", go_human_size(size), size * 100 / total),
    }
}

/// `berth system df [-v]`
pub fn df(ctx: &Context, args: &DfArgs) -> Outcome {
    let (containers, mut records) = reclaimed(ctx);
    records.sort_by(|a, b| b.created.cmp(&a.created));
    let (images, images_total) =
        image_usage(&ctx.roots.root, &records).map_err(anyhow::Error::from)?;
    let sizes: Vec<u64> = records
        .iter()
        .map(|r| container_size(&containers, &r.id))
        .collect();
    let volumes = volumes(&ctx.roots.root, &containers, &records);
    if args.verbose {
        print!("{}", verbose(&images, &records, &sizes, &volumes));
        return Ok(0);
    }
    let used_by_active: u64 = images
        .iter()
        .filter(|i| i.containers > 0)
        .map(|i| i.size - i.shared)
        .sum();
    let containers_total: u64 = sizes.iter().sum();
    let containers_idle: u64 = records
        .iter()
        .zip(&sizes)
        .filter(|(r, _)| !r.is_running())
        .map(|(_, s)| s)
        .sum();
    let volumes_total: u64 = volumes.iter().map(|v| v.size).sum();
    let volumes_idle: u64 = volumes
        .iter()
        .filter(|v| v.links == 0)
        .map(|v| v.size)
        .sum();
    let count = |n: usize| n.to_string();
    let rows = vec![
        vec![
            "TYPE".into(),
            "TOTAL".into(),
            "ACTIVE".into(),
            "SIZE".into(),
            "RECLAIMABLE".into(),
        ],
        vec![
            "Images".into(),
            count(images.len()),
            count(images.iter().filter(|i| i.containers > 0).count()),
            go_human_size(images_total),
            reclaimable(images_total.saturating_sub(used_by_active), images_total),
        ],
        vec![
            "Containers".into(),
            count(records.len()),
            count(records.iter().filter(|r| r.is_running()).count()),
            go_human_size(containers_total),
            reclaimable(containers_idle, containers_total),
        ],
        vec![
            "Local Volumes".into(),
            count(volumes.len()),
            count(volumes.iter().filter(|v| v.links > 0).count()),
            go_human_size(volumes_total),
            reclaimable(volumes_idle, volumes_total),
        ],
        vec![
            "Build Cache".into(),
            "0".into(),
            "0".into(),
            "0B".into(),
            "0B".into(),
        ],
    ];
    print!("{}", table(&rows));
    Ok(0)
}

/// `df -v`: a table each of images, containers, volumes, and the (empty) build cache.
fn verbose(
    images: &[ImageUsage],
    records: &[Record],
    sizes: &[u64],
    volumes: &[VolumeUsage],
) -> String {
    let now = time::unix_now();
    let ago = |at: &str| {
        time::parse(at).map_or_else(
            || "N/A".to_owned(),
            |t| {
                format!(
                    "{} ago",
                    human_duration(now.saturating_sub(t).max(0) as u64)
                )
            },
        )
    };
    let header = |cells: &[&str]| cells.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
    let mut image_rows = vec![header(&[
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE",
        "SHARED SIZE",
        "UNIQUE SIZE",
        "CONTAINERS",
    ])];
    for image in images {
        let (repository, tag) = image
            .tags
            .first()
            .and_then(|t| Reference::parse(t).ok())
            .map_or(("<none>".into(), "<none>".into()), |r| {
                (r.familiar_name(), r.tag.clone().unwrap_or_default())
            });
        image_rows.push(vec![
            repository,
            tag,
            image.id.short().to_owned(),
            ago(&image.created),
            human_size(image.size),
            human_size(image.shared),
            human_size(image.size - image.shared),
            image.containers.to_string(),
        ]);
    }
    let mut container_rows = vec![header(&[
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "LOCAL VOLUMES",
        "SIZE",
        "CREATED",
        "STATUS",
        "NAMES",
    ])];
    for (record, size) in records.iter().zip(sizes) {
        let command = record.command.join(" ");
        let command = match command.chars().count() {
            n if n > 20 => format!("{}…", command.chars().take(19).collect::<String>()),
            _ => command,
        };
        container_rows.push(vec![
            record.id.get(..12).unwrap_or(&record.id).to_owned(),
            record.image.clone(),
            format!("\"{command}\""),
            "0".into(),
            human_size(*size),
            ago(&record.created),
            berth_engine::inspect::status_text(record, None, now),
            record.name.clone(),
        ]);
    }
    let mut volume_rows = vec![header(&["VOLUME NAME", "LINKS", "SIZE"])];
    for volume in volumes {
        volume_rows.push(vec![
            volume.name.clone(),
            volume.links.to_string(),
            human_size(volume.size),
        ]);
    }
    let cache = header(&[
        "CACHE ID",
        "CACHE TYPE",
        "SIZE",
        "CREATED",
        "LAST USED",
        "USAGE",
        "SHARED",
    ]);
    format!(
        "Images space usage:\n\n{}\nContainers space usage:\n\n{}\nLocal Volumes space usage:\n\n{}\nBuild cache usage: 0B\n\n{}",
        table(&image_rows),
        table(&container_rows),
        table(&volume_rows),
        table(&[cache])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_have_four_significant_digits_as_dockers() {
        assert_eq!(go_human_size(0), "0B");
        assert_eq!(go_human_size(212), "212B");
        assert_eq!(go_human_size(16_430_000), "16.43MB");
        assert_eq!(go_human_size(4_261_000), "4.261MB");
        assert_eq!(go_human_size(1_000), "1kB");
        assert_eq!(go_human_size(123_456_789), "123.5MB");
    }

    #[test]
    fn tables_are_aligned_as_go_s_tabwriter_aligns_them() {
        let rows = vec![
            vec!["TYPE".to_owned(), "TOTAL".into(), "RECLAIMABLE".into()],
            vec!["Local Volumes".to_owned(), "2".into(), "0B".into()],
        ];
        assert_eq!(
            table(&rows),
            "TYPE            TOTAL     RECLAIMABLE\nLocal Volumes   2         0B\n"
        );
        assert_eq!(reclaimable(50, 200), "50B (25%)");
        assert_eq!(reclaimable(0, 0), "0B");
    }
}
