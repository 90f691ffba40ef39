//! Images already in the store: find them by name, id or digest; tag, remove, prune, inspect.

use crate::digest::Digest;
use crate::reference::{Reference, ReferenceError};
use crate::store::{Images, Store};
use berth_error::IoContext;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A local image operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Nothing matches the name.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// An id prefix matches several images.
    #[error("{0}: ambiguous image id prefix; give more digits")]
    Ambiguous(String),
    /// A container uses the image.
    #[error(
        "conflict: unable to remove repository reference \"{name}\" (must force) - a container is using its referenced image {image}"
    )]
    InUse {
        /// The name given.
        name: String,
        /// The image's short id.
        image: String,
    },
    /// The name is not a valid reference.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// Removing by id an image that has several tags needs `-f`.
    #[error(
        "conflict: unable to delete {0} (must be forced) - image is referenced in multiple repositories"
    )]
    MultipleTags(String),
    /// The store failed.
    #[error(transparent)]
    Io(#[from] IoContext),
}

/// Finds the image `name` means: a tag (`busybox`, `host/x:1`), `repo@digest`, or an image id or
/// a unique prefix of one (with or without `sha256:`).
pub fn resolve(images: &Images, name: &str) -> Result<Digest, LocalError> {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if !hex.is_empty()
        && hex.len() <= 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        let matches: Vec<&Digest> = images
            .images
            .keys()
            .filter(|id| id.hex().starts_with(hex))
            .collect();
        match matches.as_slice() {
            [one] => return Ok((*one).clone()),
            [] => {}
            _ => return Err(LocalError::Ambiguous(name.to_owned())),
        }
    }
    let reference = Reference::parse(name)?;
    if let Some(digest) = &reference.digest {
        let wanted = format!("{}@{digest}", reference.full_name());
        return images
            .images
            .iter()
            .find(|(_, record)| record.repo_digests.contains(&wanted))
            .map(|(id, _)| id.clone())
            .ok_or_else(|| LocalError::NoSuchImage(name.to_owned()));
    }
    images
        .tags
        .get(&reference.to_string())
        .cloned()
        .ok_or_else(|| LocalError::NoSuchImage(name.to_owned()))
}

/// Points the tag `target` at the image `source` names.
pub fn tag(store: &Store, source: &str, target: &str) -> Result<(), LocalError> {
    let target = Reference::parse(target)?;
    let target = target.with_tag(target.tag.as_deref().unwrap_or("latest"));
    store.update_images(|images| {
        let id = resolve(images, source)?;
        images.tags.insert(target.to_string(), id);
        Ok(())
    })?
}

/// What `rmi` did, line by line, as Docker prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// A tag was removed.
    Untagged(String),
    /// An image (or a layer of it) was deleted.
    Deleted(Digest),
}

/// Removes `name`: a tag is untagged, and the image is deleted when no tag is left. An id with
/// several tags needs `force`. An image in `in_use` (by containers) is refused without
/// `force`, and with it only untagged. Layers and blobs no other image uses are deleted too.
pub fn remove(
    store: &Store,
    name: &str,
    force: bool,
    in_use: &BTreeSet<Digest>,
) -> Result<Vec<Removal>, LocalError> {
    store
        .update_images(|images| {
            let id = resolve(images, name)?;
            let tags = images.tags_of(&id);
            if in_use.contains(&id) {
                if !force {
                    return Err(LocalError::InUse {
                        name: name.to_owned(),
                        image: id.short().to_owned(),
                    });
                }
                let doomed: Vec<String> = match Reference::parse(name)
                    .ok()
                    .filter(|r| images.tags.contains_key(&r.to_string()))
                {
                    Some(reference) => vec![reference.to_string()],
                    None => tags,
                };
                let mut events = Vec::new();
                for tag in doomed {
                    images.tags.remove(&tag);
                    events.push(Removal::Untagged(
                        Reference::parse(&tag).map(|r| familiar(&r)).unwrap_or(tag),
                    ));
                }
                return Ok(events);
            }
            let by_tag = Reference::parse(name)
                .ok()
                .filter(|r| images.tags.contains_key(&r.to_string()));
            let mut events = Vec::new();
            match by_tag {
                Some(reference) if tags.len() > 1 => {
                    images.tags.remove(&reference.to_string());
                    events.push(Removal::Untagged(familiar(&reference)));
                    return Ok(events);
                }
                None if tags.len() > 1 && !force => {
                    return Err(LocalError::MultipleTags(id.short().to_owned()));
                }
                _ => {}
            }
            for tag in tags {
                images.tags.remove(&tag);
                events.push(Removal::Untagged(
                    Reference::parse(&tag).map(|r| familiar(&r)).unwrap_or(tag),
                ));
            }
            if let Some(record) = images.images.remove(&id) {
                for digest in &record.repo_digests {
                    events.push(Removal::Untagged(
                        digest
                            .strip_prefix("docker.io/library/")
                            .or_else(|| digest.strip_prefix("docker.io/"))
                            .unwrap_or(digest)
                            .to_owned(),
                    ));
                }
            }
            events.push(Removal::Deleted(id));
            Ok(events)
        })?
        .and_then(|events| {
            collect_garbage(store)?;
            Ok(events)
        })
}

/// `busybox:latest` for `docker.io/library/busybox:latest`.
fn familiar(reference: &Reference) -> String {
    match &reference.tag {
        Some(tag) => format!("{}:{tag}", reference.familiar_name()),
        None => reference.familiar_name(),
    }
}

/// Removes images without tags (`all`: every image) that are not in `in_use`, then unused
/// layers and blobs. Returns the ids removed.
pub fn prune(
    store: &Store,
    all: bool,
    in_use: &BTreeSet<Digest>,
) -> Result<Vec<Digest>, LocalError> {
    let removed = store.update_images(|images| {
        let tagged: BTreeSet<Digest> = images.tags.values().cloned().collect();
        let doomed: Vec<Digest> = images
            .images
            .keys()
            .filter(|id| (all || !tagged.contains(*id)) && !in_use.contains(*id))
            .cloned()
            .collect();
        for id in &doomed {
            images.images.remove(id);
            images.tags.retain(|_, v| v != id);
        }
        doomed
    })?;
    collect_garbage(store)?;
    Ok(removed)
}

/// Deletes layers and blobs that no image record uses, under the images lock so that a pull
/// recording an image at the same time sees a consistent store.
fn collect_garbage(store: &Store) -> Result<(), LocalError> {
    store.with_images_lock(|| collect_garbage_locked(store))?
}

fn collect_garbage_locked(store: &Store) -> Result<(), LocalError> {
    let images = store.images()?;
    let used_layers: BTreeSet<&Digest> = images
        .images
        .values()
        .flat_map(|r| r.layers.iter())
        .collect();
    for layer in store.layer_ids()? {
        if !used_layers.contains(&layer) {
            let _lock = store.lock_layer(&layer)?;
            store.remove_layer(&layer)?;
        }
    }
    let mut used_blobs: BTreeSet<Digest> = BTreeSet::new();
    for (id, record) in &images.images {
        used_blobs.insert(id.clone());
        used_blobs.insert(record.manifest.clone());
        used_blobs.extend(layer_blobs(store, &record.manifest));
        for repo_digest in &record.repo_digests {
            if let Some(d) = repo_digest
                .split_once('@')
                .and_then(|(_, d)| Digest::parse(d).ok())
            {
                used_blobs.insert(d);
            }
        }
    }
    let blobs_dir = store.root().join("blobs/sha256");
    if let Ok(entries) = std::fs::read_dir(&blobs_dir) {
        for entry in entries.flatten() {
            if let Ok(digest) =
                Digest::parse(&format!("sha256:{}", entry.file_name().to_string_lossy()))
                && !used_blobs.contains(&digest)
            {
                store.remove_blob(&digest)?;
            }
        }
    }
    Ok(())
}

/// The layer blobs the image manifest `manifest` names (none when it cannot be read: the
/// blobs of a broken image are not worth keeping).
pub fn layer_blobs(store: &Store, manifest: &Digest) -> Vec<Digest> {
    let Ok(bytes) = store.read_blob(manifest) else {
        return Vec::new();
    };
    let Ok(manifest) = serde_json::from_slice::<oci_spec::image::ImageManifest>(&bytes) else {
        return Vec::new();
    };
    manifest
        .layers()
        .iter()
        .filter_map(|layer| Digest::parse(layer.digest().as_ref()).ok())
        .collect()
}

/// Docker-shaped `image inspect` JSON for the image `name` names.
pub fn inspect(store: &Store, name: &str) -> Result<Value, LocalError> {
    let images = store.images()?;
    let id = resolve(&images, name)?;
    let record = &images.images[&id];
    let config: Value = serde_json::from_slice(&store.read_blob(&id)?).unwrap_or(Value::Null);
    let tags: Vec<String> = images
        .tags_of(&id)
        .iter()
        .map(|t| {
            Reference::parse(t)
                .map(|r| familiar(&r))
                .unwrap_or_else(|_| t.clone())
        })
        .collect();
    let repo_digests: Vec<String> = record
        .repo_digests
        .iter()
        .map(|d| {
            d.strip_prefix("docker.io/library/")
                .or_else(|| d.strip_prefix("docker.io/"))
                .unwrap_or(d)
                .to_owned()
        })
        .collect();
    let mut out = json!({
        "Id": id.to_string(),
        "RepoTags": tags,
        "RepoDigests": repo_digests,
        "Created": config["created"],
        "Config": config["config"],
        "Architecture": config["architecture"],
        "Os": config["os"],
        "Size": record.size,
        "RootFS": { "Type": "layers", "Layers": config["rootfs"]["diff_ids"] },
        "Metadata": { "ManifestDigest": record.manifest.to_string() },
    });
    if let Some(variant) = config.get("variant") {
        out["Variant"] = variant.clone();
    }
    Ok(out)
}
