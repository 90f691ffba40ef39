//! What images, containers and volumes take on disk, as Docker counts it (`system df`, the space a
//! prune reclaims): the bytes of the files in a tree, each hard-linked file once, directories
//! not counted (moby's `directory.Size`).

use crate::containers::Containers;
use crate::record::Record;
use berth_image::digest::Digest;
use berth_image::store::{Store, StoreError};
use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The bytes of the files below `dir` (0 when it is missing): regular files, symbolic links
/// and the rest by their size, every hard link of a file counted once, directories not.
pub fn tree_size(dir: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.nlink() < 2 || seen.insert((meta.dev(), meta.ino())) {
                total += meta.size();
            }
        }
    }
    total
}

/// The size of a container's writable layer (Docker's `SizeRw`).
pub fn container_size(containers: &Containers, id: &str) -> u64 {
    tree_size(&containers.dir(id).join("upper"))
}

/// A volume under the data root (`volumes/NAME/_data`), with its size and the containers
/// whose spec mounts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeUsage {
    /// Its name.
    pub name: String,
    /// The bytes of its files.
    pub size: u64,
    /// How many containers mount it.
    pub links: usize,
}

/// The volumes under data root `root`, by name: each directory `volumes/NAME` that has a
/// `_data` directory; none when there is no `volumes/`.
pub fn volumes(root: &Path, containers: &Containers, records: &[Record]) -> Vec<VolumeUsage> {
    let sources: Vec<PathBuf> = records
        .iter()
        .flat_map(|r| mount_sources(containers, &r.id))
        .collect();
    let mut found: Vec<VolumeUsage> = std::fs::read_dir(root.join("volumes"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().join("_data").is_dir())
        .map(|entry| {
            let data = entry.path().join("_data");
            VolumeUsage {
                name: entry.file_name().to_string_lossy().into_owned(),
                size: tree_size(&data),
                links: sources.iter().filter(|s| s.starts_with(&data)).count(),
            }
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// The sources of the bind mounts of container `id`'s spec.
fn mount_sources(containers: &Containers, id: &str) -> Vec<PathBuf> {
    let spec: serde_json::Value = std::fs::read(containers.dir(id).join("config.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    spec["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["source"].as_str().map(PathBuf::from))
        .collect()
}

/// One image as `df` counts it.
pub struct ImageUsage {
    /// Its id.
    pub id: Digest,
    /// Its tags, as stored.
    pub tags: Vec<String>,
    /// When it was made (RFC 3339).
    pub created: String,
    /// The bytes of its layers.
    pub size: u64,
    /// The bytes of its layers that other images share.
    pub shared: u64,
    /// How many containers use it.
    pub containers: usize,
}

/// Every image with its size, the part of it other images share, and its containers; and the
/// size of all their layers, each counted once.
pub fn image_usage(root: &Path, records: &[Record]) -> Result<(Vec<ImageUsage>, u64), StoreError> {
    let store = Store::open(root)?;
    let images = store.images()?;
    let layer_size = |chain: &Digest| store.layer(chain).map_or(0, |l| l.size);
    let mut users: BTreeMap<&Digest, usize> = BTreeMap::new();
    for record in images.images.values() {
        for layer in &record.layers {
            *users.entry(layer).or_default() += 1;
        }
    }
    let total = users.keys().map(|chain| layer_size(chain)).sum();
    let mut usage = Vec::new();
    for (id, record) in &images.images {
        let config: serde_json::Value = store
            .read_blob(id)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        usage.push(ImageUsage {
            id: id.clone(),
            tags: images.tags_of(id),
            created: config["created"].as_str().unwrap_or("").to_owned(),
            size: record.layers.iter().map(layer_size).sum(),
            shared: record
                .layers
                .iter()
                .filter(|chain| users.get(chain).is_some_and(|n| *n > 1))
                .map(layer_size)
                .sum(),
            containers: records
                .iter()
                .filter(|r| r.image_id == id.to_string())
                .count(),
        });
    }
    usage.sort_by(|a, b| b.created.cmp(&a.created));
    Ok((usage, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_counts_its_files_once_and_its_directories_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/one"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("a/b/two"), [0u8; 20]).unwrap();
        std::fs::hard_link(dir.path().join("a/one"), dir.path().join("again")).unwrap();
        std::os::unix::fs::symlink("a/b/two", dir.path().join("link")).unwrap();
        assert_eq!(tree_size(dir.path()), 100 + 20 + "a/b/two".len() as u64);
        assert_eq!(tree_size(&dir.path().join("missing")), 0);
    }

    #[test]
    fn volumes_are_the_directories_with_data_and_their_users_are_counted() {
        let root = tempfile::tempdir().unwrap();
        let containers = Containers::new(root.path());
        assert!(volumes(root.path(), &containers, &[]).is_empty());
        let data = root.path().join("volumes/v1/_data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("f"), b"12345").unwrap();
        std::fs::create_dir_all(root.path().join("volumes/not-one")).unwrap();
        std::fs::create_dir_all(containers.dir("c1")).unwrap();
        let spec = serde_json::json!({ "mounts": [{ "source": data, "destination": "/d" }] });
        std::fs::write(containers.dir("c1").join("config.json"), spec.to_string()).unwrap();
        let user = Record {
            id: "c1".into(),
            ..Record::default()
        };
        let found = volumes(root.path(), &containers, &[user]);
        assert_eq!(
            found,
            [VolumeUsage {
                name: "v1".into(),
                size: 5,
                links: 1
            }]
        );
    }
}
