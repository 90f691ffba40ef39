//! Image archives as `docker save` writes them and `docker load` reads them.
//!
//! ```text
//! oci-layout                    {"imageLayoutVersion": "1.0.0"}
//! index.json                    an OCI index: one manifest descriptor per name
//! blobs/sha256/<hex>            manifests, configs and layer blobs, by digest
//! manifest.json                 Docker's: [{"Config", "RepoTags", "Layers"}], paths in the tar
//! repositories                  Docker's legacy {"name": {"tag": "<top layer>"}}
//! ```
//!
//! `save` writes that layout (Docker 25+'s, which `docker load` and `podman load` accept);
//! `load` reads it, Docker 20.10's legacy layout (`<id>/layer.tar`, `<config>.json`),
//! `podman save`'s docker-archive and its `oci-archive` (an index.json alone).

pub mod layout;
pub mod load;
pub mod save;

use crate::digest::Digest;
use crate::layer_in::LayerInError;
use crate::local::LocalError;
use crate::reference::Reference;
use crate::store::StoreError;
use std::io;

/// An archive could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive is not one berth can read, or is truncated or tampered with.
    #[error("{0}")]
    Invalid(String),
    /// A layer of the archive was refused.
    #[error("layer {name}: {source}")]
    Layer {
        /// The layer's name in the archive.
        name: String,
        /// Why.
        source: LayerInError,
    },
    /// Reading or writing the archive failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The image store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A local image operation failed.
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// `busybox:latest`, `host:5000/x:1`: an image's name as Docker writes it in `RepoTags` and
/// prints it.
pub fn familiar(tag: &Reference) -> String {
    format!(
        "{}:{}",
        tag.familiar_name(),
        tag.tag.as_deref().unwrap_or("latest")
    )
}

/// The path of a blob in the archive.
fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// The digest a name in the archive stands for, if it is one: `blobs/sha256/<hex>`, and
/// Docker's and Podman's `<hex>.json` configs.
fn digest_in_name(name: &str) -> Option<Digest> {
    let hex = name
        .strip_prefix("blobs/sha256/")
        .or_else(|| name.strip_suffix(".json"))?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// An entry name of the archive made plain (`./a//b/../c` is `a/c`, `./` is empty); an
/// absolute name, or one that climbs out of the archive, is refused as tampering.
fn clean_name(name: &str) -> Result<String, ArchiveError> {
    if name.starts_with('/') {
        return Err(ArchiveError::Invalid(format!(
            "the archive holds an absolute name {name:?} (refused)"
        )));
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.pop().is_some() => {}
            ".." => {
                return Err(ArchiveError::Invalid(format!(
                    "the archive holds a name that climbs out of it with \"..\": {name:?} (refused)"
                )));
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_plain_and_escapes_refused() {
        assert_eq!(clean_name("./blobs//sha256/ab").unwrap(), "blobs/sha256/ab");
        assert_eq!(clean_name("manifest.json").unwrap(), "manifest.json");
        assert_eq!(clean_name("c/../a/layer.tar").unwrap(), "a/layer.tar");
        assert_eq!(clean_name("./").unwrap(), "");
        for bad in ["/etc/passwd", "../x", "a/../../x", "/"] {
            assert!(clean_name(bad).is_err(), "{bad}");
        }
        let hex = "ab".repeat(32);
        let digest = Digest::parse(&format!("sha256:{hex}")).unwrap();
        assert_eq!(digest_in_name(&blob_name(&digest)), Some(digest.clone()));
        assert_eq!(digest_in_name(&format!("{hex}.json")), Some(digest));
        assert_eq!(digest_in_name("abc/layer.tar"), None);
    }
}
