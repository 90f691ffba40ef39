//! What an archive says it holds: its images, each a config, layers and names, from Docker's
//! `manifest.json` or, where there is none (`podman save --format oci-archive`), the OCI
//! `index.json`.

use super::{ArchiveError, blob_name, clean_name};
use crate::digest::Digest;
use crate::manifest::{Manifest, Platform, select_platform};
use crate::reference::Reference;
use oci_spec::image::{Descriptor, ImageIndex};

/// One image an archive holds; names are the archive's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedImage {
    /// The config's entry.
    pub config: String,
    /// The layers' entries, bottom first.
    pub layers: Vec<String>,
    /// The names it is loaded as.
    pub tags: Vec<Reference>,
}

/// The small files of an archive: its JSON, by entry name.
pub trait Files {
    /// The bytes of `name`, if the archive has it (and it was small enough to keep).
    fn file(&self, name: &str) -> Option<&[u8]>;
}

/// The images `files` describe.
pub fn images_in(files: &dyn Files) -> Result<Vec<ArchivedImage>, ArchiveError> {
    if let Some(bytes) = files.file("manifest.json") {
        return from_docker_manifest(bytes);
    }
    if let Some(bytes) = files.file("index.json") {
        return from_index(files, bytes);
    }
    Err(ArchiveError::Invalid(
        "the archive has no manifest.json nor index.json: it is not one that docker save or podman save writes (or it is truncated)".into(),
    ))
}

/// Docker's `manifest.json`: `[{"Config": ..., "RepoTags": [...], "Layers": [...]}]`.
fn from_docker_manifest(bytes: &[u8]) -> Result<Vec<ArchivedImage>, ArchiveError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        config: String,
        #[serde(default)]
        repo_tags: Option<Vec<String>>,
        layers: Vec<String>,
    }
    let entries: Vec<Entry> = serde_json::from_slice(bytes)
        .map_err(|e| ArchiveError::Invalid(format!("malformed manifest.json: {e}")))?;
    entries
        .into_iter()
        .map(|entry| {
            let tags = entry
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|tag| {
                    Reference::parse(tag).map_err(|e| {
                        ArchiveError::Invalid(format!("manifest.json names an image {tag:?}: {e}"))
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(ArchivedImage {
                config: clean_name(&entry.config)?,
                layers: entry
                    .layers
                    .iter()
                    .map(|l| clean_name(l))
                    .collect::<Result<_, _>>()?,
                tags,
            })
        })
        .collect()
}

/// An OCI `index.json`: each manifest it names (an index in it: this platform's image), with
/// the name its annotations give.
fn from_index(files: &dyn Files, bytes: &[u8]) -> Result<Vec<ArchivedImage>, ArchiveError> {
    let index: ImageIndex = serde_json::from_slice(bytes)
        .map_err(|e| ArchiveError::Invalid(format!("malformed index.json: {e}")))?;
    let mut images: Vec<ArchivedImage> = Vec::new();
    for descriptor in index.manifests() {
        let mut image = image_of(files, descriptor, 0)?;
        image.tags.extend(name_of(descriptor));
        match images.iter_mut().find(|i| i.config == image.config) {
            Some(same) => same.tags.append(&mut image.tags),
            None => images.push(image),
        }
    }
    Ok(images)
}

/// The image a manifest descriptor points at, through at most one index.
fn image_of(
    files: &dyn Files,
    descriptor: &Descriptor,
    depth: u32,
) -> Result<ArchivedImage, ArchiveError> {
    let bytes = blob(files, descriptor, "index.json")?;
    let manifest = Manifest::parse(descriptor.media_type().as_ref(), bytes)
        .map_err(|e| ArchiveError::Invalid(format!("{}: {e}", descriptor.digest())))?;
    match manifest {
        Manifest::Image(manifest) => Ok(ArchivedImage {
            config: blob_name(&digest_of(manifest.config())?),
            layers: manifest
                .layers()
                .iter()
                .map(|l| digest_of(l).map(|d| blob_name(&d)))
                .collect::<Result<_, _>>()?,
            tags: Vec::new(),
        }),
        Manifest::Index(index) if depth == 0 => {
            let chosen = select_platform(&index, &Platform::host())
                .map_err(|e| ArchiveError::Invalid(e.to_string()))?;
            image_of(files, chosen, depth + 1)
        }
        Manifest::Index(_) => Err(ArchiveError::Invalid(format!(
            "{}: an index within an index within index.json (not supported)",
            descriptor.digest()
        ))),
    }
}

/// The bytes of the blob `descriptor` names, checked against its digest.
fn blob<'a>(
    files: &'a dyn Files,
    descriptor: &Descriptor,
    named_by: &str,
) -> Result<&'a [u8], ArchiveError> {
    let digest = digest_of(descriptor)?;
    let bytes = files.file(&blob_name(&digest)).ok_or_else(|| {
        ArchiveError::Invalid(format!(
            "{named_by} names {digest}, which the archive lacks"
        ))
    })?;
    if Digest::of(bytes) != digest {
        return Err(ArchiveError::Invalid(format!(
            "{} does not match its digest (the archive was changed)",
            blob_name(&digest)
        )));
    }
    Ok(bytes)
}

fn digest_of(descriptor: &Descriptor) -> Result<Digest, ArchiveError> {
    Digest::parse(descriptor.digest().as_ref()).map_err(|e| ArchiveError::Invalid(e.to_string()))
}

/// The name an index entry's annotations give: containerd's full name, else the OCI ref
/// name when it is more than a bare tag (Podman's `oci-archive`).
fn name_of(descriptor: &Descriptor) -> Option<Reference> {
    let annotations = descriptor.annotations().as_ref()?;
    let full = annotations.get("io.containerd.image.name").or_else(|| {
        annotations
            .get("org.opencontainers.image.ref.name")
            .filter(|name| name.contains([':', '/']))
    })?;
    Reference::parse(full).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Map(BTreeMap<String, Vec<u8>>);

    impl Files for Map {
        fn file(&self, name: &str) -> Option<&[u8]> {
            self.0.get(name).map(|v| &v[..])
        }
    }

    #[test]
    fn docker_manifests_name_their_entries() {
        let manifest = br#"[{"Config":"abc.json","RepoTags":["busybox:latest","h:5000/x:1"],
            "Layers":["./l1/layer.tar","l2/layer.tar"]},{"Config":"d.json","RepoTags":null,"Layers":[]}]"#;
        let files = Map(BTreeMap::from([(
            "manifest.json".into(),
            manifest.to_vec(),
        )]));
        let images = images_in(&files).unwrap();
        assert_eq!(images[0].config, "abc.json");
        assert_eq!(images[0].layers, ["l1/layer.tar", "l2/layer.tar"]);
        assert_eq!(
            images[0]
                .tags
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>(),
            ["docker.io/library/busybox:latest", "h:5000/x:1"]
        );
        assert!(images[1].tags.is_empty());
        let escape = br#"[{"Config":"../c.json","Layers":[]}]"#;
        let files = Map(BTreeMap::from([("manifest.json".into(), escape.to_vec())]));
        assert!(images_in(&files).is_err());
        assert!(images_in(&Map(BTreeMap::new())).is_err());
    }

    #[test]
    fn an_oci_index_names_manifests_by_digest() {
        let config = br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
        let layer = Digest::of(b"layer");
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": Digest::of(&config).to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer.to_string(), "size": 5}],
        }))
        .unwrap();
        let digest = Digest::of(&manifest);
        let descriptor = |annotations: serde_json::Value| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest.to_string(), "size": manifest.len(), "annotations": annotations})
        };
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [
                descriptor(serde_json::json!({"org.opencontainers.image.ref.name": "localhost/a:1"})),
                descriptor(serde_json::json!({"io.containerd.image.name": "docker.io/library/b:2",
                    "org.opencontainers.image.ref.name": "2"})),
                descriptor(serde_json::json!({"org.opencontainers.image.ref.name": "latest"})),
            ],
        }))
        .unwrap();
        let mut files = Map(BTreeMap::from([
            ("index.json".into(), index),
            (blob_name(&digest), manifest.clone()),
        ]));
        let images = images_in(&files).unwrap();
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].config, blob_name(&Digest::of(&config)));
        assert_eq!(images[0].layers, [blob_name(&layer)]);
        assert_eq!(
            images[0]
                .tags
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>(),
            ["localhost/a:1", "docker.io/library/b:2"]
        );
        // A manifest that is not what its digest says is refused.
        files.0.insert(blob_name(&digest), b"{}".to_vec());
        assert!(images_in(&files).is_err());
    }
}
