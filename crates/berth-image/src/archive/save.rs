//! `save`: images written as one tar in Docker 25+'s layout (see the module above), streamed
//! from the store's blob files: the configs, the layer blobs as they are stored (a pulled
//! layer as it was pulled), the manifests, then `index.json`, `manifest.json`, `oci-layout`
//! and `repositories`. A blob that several images share is written once.

use super::{ArchiveError, blob_name, familiar};
use crate::digest::Digest;
use crate::local;
use crate::reference::Reference;
use crate::store::{Images, Store};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// One image to write: its id, manifest (bytes and media type) and names.
struct Saved {
    id: Digest,
    manifest: Vec<u8>,
    media_type: String,
    layers: Vec<(Digest, u64)>,
    tags: Vec<Reference>,
}

/// Writes the images `names` name (a tag, an id, or a repository alone: each of its tags) to
/// `out` as one archive.
pub fn save(store: &Store, names: &[String], out: impl Write) -> Result<(), ArchiveError> {
    let images = store.images()?;
    let mut saved: Vec<Saved> = Vec::new();
    for name in names {
        for (id, tag) in find(&images, name)? {
            match saved.iter_mut().find(|s| s.id == id) {
                Some(same) => same.tags.extend(tag.filter(|t| !same.tags.contains(t))),
                None => saved.push(describe(store, &images, id, tag)?),
            }
        }
    }
    write_archive(store, &saved, out)
}

/// Writes the archive of `names` to the file `path`: to a temporary file beside it first,
/// renamed over it once complete, so that a failed save leaves no half archive (nor changes
/// one that was there).
pub fn save_to_file(store: &Store, names: &[String], path: &Path) -> Result<(), ArchiveError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let prefix = format!(".{}.", file_name.as_deref().unwrap_or("berth-save"));
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(dir)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create a file in {}: {e}", dir.display()),
            )
        })?;
    save(store, names, tmp.as_file_mut())?;
    tmp.persist(path).map_err(|e| {
        io::Error::new(
            e.error.kind(),
            format!("cannot write {}: {}", path.display(), e.error),
        )
    })?;
    Ok(())
}

/// The images `name` means, each with the tag it was named by (none for an id). A repository
/// alone (`busybox`) means each of its tags, as with Docker; failing that, an id prefix.
fn find(images: &Images, name: &str) -> Result<Vec<(Digest, Option<Reference>)>, ArchiveError> {
    if repository_alone(name)
        && let Ok(wanted) = Reference::parse(name)
    {
        let tagged: Vec<_> = images
            .tags
            .iter()
            .filter_map(|(tag, id)| Some((id.clone(), Reference::parse(tag).ok()?)))
            .filter(|(_, tag)| tag.full_name() == wanted.full_name())
            .map(|(id, tag)| (id, Some(tag)))
            .collect();
        if !tagged.is_empty() {
            return Ok(tagged);
        }
    }
    let id = local::resolve(images, name)?;
    let by_tag = Reference::parse(name)
        .ok()
        .filter(|r| r.digest.is_none() && images.tags.get(&r.to_string()) == Some(&id));
    Ok(vec![(id, by_tag)])
}

/// Whether `name` is a repository with neither tag nor digest.
fn repository_alone(name: &str) -> bool {
    let last = name.rsplit('/').next().unwrap_or(name);
    !last.contains(':') && !name.contains('@')
}

/// Reads what the archive needs of the image `id`, checking that its layer blobs are stored.
fn describe(
    store: &Store,
    images: &Images,
    id: Digest,
    tag: Option<Reference>,
) -> Result<Saved, ArchiveError> {
    let record = &images.images[&id];
    let manifest = store.read_blob(&record.manifest)?;
    let parsed: Value = serde_json::from_slice(&manifest).map_err(|e| {
        ArchiveError::Invalid(format!("the stored manifest of {id} is malformed: {e}"))
    })?;
    let media_type = parsed["mediaType"]
        .as_str()
        .unwrap_or(crate::new_image::OCI_MANIFEST)
        .to_owned();
    let mut layers = Vec::new();
    for layer in parsed["layers"].as_array().into_iter().flatten() {
        let digest = layer["digest"]
            .as_str()
            .and_then(|d| Digest::parse(d).ok())
            .ok_or_else(|| {
                ArchiveError::Invalid(format!("the stored manifest of {id} names no layer digest"))
            })?;
        let size = layer["size"].as_u64().unwrap_or(0);
        let on_disk = std::fs::metadata(store.blob_path(&digest)).map(|m| m.len());
        match on_disk {
            Ok(len) if len == size => layers.push((digest, size)),
            Ok(len) => {
                return Err(ArchiveError::Invalid(format!(
                    "the stored blob {digest} of image {} has {len} bytes, its manifest says {size} (corrupt store)",
                    id.short()
                )));
            }
            Err(_) => {
                return Err(ArchiveError::Invalid(format!(
                    "the layer blob {digest} of image {} is not in the store (it was unpacked by an older berth that kept no blobs): pull the image again",
                    id.short()
                )));
            }
        }
    }
    Ok(Saved {
        id,
        manifest,
        media_type,
        layers,
        tags: tag.into_iter().collect(),
    })
}

fn write_archive(store: &Store, saved: &[Saved], out: impl Write) -> Result<(), ArchiveError> {
    let mut tar = tar::Builder::new(io::BufWriter::with_capacity(256 << 10, out));
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut header = header(tar::EntryType::Directory, 0);
        header.set_mode(0o755);
        tar.append_data(&mut header, dir, io::empty())?;
    }
    let mut written: BTreeSet<Digest> = BTreeSet::new();
    for image in saved {
        let config = store.read_blob(&image.id)?;
        append(&mut tar, &mut written, &image.id, &config[..])?;
        for (digest, size) in &image.layers {
            if written.contains(digest) {
                continue;
            }
            let file = File::open(store.blob_path(digest))?;
            append_sized(&mut tar, &mut written, digest, *size, file)?;
        }
        append(
            &mut tar,
            &mut written,
            &Digest::of(&image.manifest),
            &image.manifest[..],
        )?;
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": saved.iter().flat_map(|image| {
            let descriptor = json!({
                "mediaType": image.media_type,
                "digest": Digest::of(&image.manifest).to_string(),
                "size": image.manifest.len(),
            });
            let named: Vec<Value> = image.tags.iter().map(|tag| {
                let mut d = descriptor.clone();
                d["annotations"] = json!({
                    "io.containerd.image.name": tag.to_string(),
                    "org.opencontainers.image.ref.name": tag.tag.as_deref().unwrap_or("latest"),
                });
                d
            }).collect();
            if named.is_empty() { vec![descriptor] } else { named }
        }).collect::<Vec<_>>(),
    });
    let manifest = saved
        .iter()
        .map(|image| {
            json!({
                "Config": blob_name(&image.id),
                "RepoTags": image.tags.iter().map(familiar).collect::<Vec<_>>(),
                "Layers": image.layers.iter().map(|(d, _)| blob_name(d)).collect::<Vec<_>>(),
            })
        })
        .collect::<Vec<_>>();
    let mut repositories = serde_json::Map::new();
    for image in saved {
        let Some((top, _)) = image.layers.last() else {
            continue;
        };
        for tag in &image.tags {
            let repository = repositories
                .entry(tag.familiar_name())
                .or_insert_with(|| json!({}));
            repository[tag.tag.as_deref().unwrap_or("latest")] = top.hex().into();
        }
    }
    for (name, value) in [
        ("index.json", index),
        ("manifest.json", Value::Array(manifest)),
        ("oci-layout", json!({"imageLayoutVersion": "1.0.0"})),
        ("repositories", Value::Object(repositories)),
    ] {
        let bytes = serde_json::to_vec(&value).expect("JSON values serialise");
        let mut header = header(tar::EntryType::Regular, bytes.len() as u64);
        tar.append_data(&mut header, name, &bytes[..])?;
    }
    let mut out = tar.into_inner()?;
    out.flush()?;
    Ok(())
}

/// A header of an entry: read-only for all, owned by root, dated 0 (the same images make the
/// same archive).
fn header(kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

/// Appends the blob `digest` (these bytes) unless it was written already.
fn append(
    tar: &mut tar::Builder<impl Write>,
    written: &mut BTreeSet<Digest>,
    digest: &Digest,
    bytes: &[u8],
) -> Result<(), ArchiveError> {
    append_sized(tar, written, digest, bytes.len() as u64, bytes)
}

fn append_sized(
    tar: &mut tar::Builder<impl Write>,
    written: &mut BTreeSet<Digest>,
    digest: &Digest,
    size: u64,
    data: impl io::Read,
) -> Result<(), ArchiveError> {
    if !written.insert(digest.clone()) {
        return Ok(());
    }
    let mut header = header(tar::EntryType::Regular, size);
    tar.append_data(&mut header, blob_name(digest), data)?;
    Ok(())
}
