//! The content-addressed image store (DESIGN.md, "Where things live").
//!
//! ```text
//! <root>/blobs/sha256/<hex>         manifests, indexes and configs, by digest
//! <root>/layers/<chain-hex>/diff/   an unpacked layer, shared by every image that has it
//! <root>/layers/<chain-hex>/layer.json
//! <root>/images.json                tags and images
//! <root>/tmp/                       downloads and unpacks in progress
//! ```
//!
//! Nothing becomes visible before it is verified: blobs and layers are written under `tmp/`
//! and renamed into place. Writers of `images.json` hold `images.lock`; a layer being unpacked
//! holds `tmp/<chain-hex>.lock`, so concurrent pulls fetch each layer once.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A store operation failed; the message names the path.
#[derive(Debug, thiserror::Error)]
#[error("image store: {path}: {source}")]
pub struct StoreError {
    /// The file or directory.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError {
        path: path.to_path_buf(),
        source,
    }
}

/// One image: its manifest, where it was pulled from, its layers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageRecord {
    /// The digest of the image manifest (of this platform).
    pub manifest: Digest,
    /// `registry/repository@digest` of what each pulled reference pointed at (an index or the
    /// manifest).
    pub repo_digests: Vec<String>,
    /// Chain ids of the layers, bottom first.
    pub layers: Vec<Digest>,
    /// Total unpacked size in bytes.
    pub size: u64,
}

/// The contents of `images.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Images {
    /// `registry/repository:tag` -> image id (the config digest).
    pub tags: BTreeMap<String, Digest>,
    /// Image id -> record.
    pub images: BTreeMap<Digest, ImageRecord>,
}

impl Images {
    /// The tags that point at `id`.
    pub fn tags_of(&self, id: &Digest) -> Vec<String> {
        self.tags
            .iter()
            .filter(|(_, v)| *v == id)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// What `layers/<chain>/layer.json` says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LayerRecord {
    /// The digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Total size of the regular files in it.
    pub size: u64,
}

/// An exclusive `flock` on a file, released when dropped.
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Waits for and takes the lock on `path` (created if missing).
    pub fn acquire(path: &Path) -> Result<FileLock, StoreError> {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(at(path))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| at(path)(e.into()))?;
        Ok(FileLock { _file: file })
    }
}

/// The store under one root directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (and creates) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let store = Store {
            root: root.to_path_buf(),
        };
        for dir in [store.blobs_dir(), store.layers_dir(), store.tmp_dir()] {
            fs::create_dir_all(&dir).map_err(at(&dir))?;
        }
        Ok(store)
    }

    /// The store's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// Where work in progress goes.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The path of a blob.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    /// Whether a blob is stored.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Reads a stored blob and checks it still matches its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(at(&path))?;
        if &Digest::of(&bytes) != digest {
            return Err(at(&path)(io::Error::other(
                "stored blob does not match its digest (corrupt store)",
            )));
        }
        Ok(bytes)
    }

    /// Stores verified bytes under their digest: written to `tmp/`, synced, renamed.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if path.is_file() {
            return Ok(digest);
        }
        let tmp_dir = self.tmp_dir();
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(at(&tmp_dir))?;
        tmp.write_all(bytes).map_err(at(tmp.path()))?;
        tmp.as_file().sync_all().map_err(at(&path))?;
        tmp.persist(&path).map_err(|e| at(&path)(e.error))?;
        Ok(digest)
    }

    /// Removes a blob; missing is fine.
    pub fn remove_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(at(&path)(e)),
            _ => Ok(()),
        }
    }

    /// The directory of a layer: its `diff/` is the tree overlayfs stacks.
    pub fn layer_dir(&self, chain_id: &Digest) -> PathBuf {
        self.layers_dir().join(chain_id.hex())
    }

    /// The record of a stored layer, if it is complete.
    pub fn layer(&self, chain_id: &Digest) -> Option<LayerRecord> {
        let bytes = fs::read(self.layer_dir(chain_id).join("layer.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Takes the lock that guards unpacking the layer `chain_id`.
    pub fn lock_layer(&self, chain_id: &Digest) -> Result<FileLock, StoreError> {
        FileLock::acquire(&self.tmp_dir().join(format!("{}.lock", chain_id.hex())))
    }

    /// A fresh directory under `tmp/` for unpacking `chain_id`, with an empty `diff/`. A
    /// leftover of a crashed pull is removed first (the caller holds the layer's lock).
    pub fn layer_work_dir(&self, chain_id: &Digest) -> Result<PathBuf, StoreError> {
        let dir = self.tmp_dir().join(format!("{}.unpack", chain_id.hex()));
        crate::unpack::remove_dir_all(&dir).map_err(at(&dir))?;
        let diff = dir.join("diff");
        fs::create_dir_all(&diff).map_err(at(&diff))?;
        Ok(dir)
    }

    /// Makes an unpacked layer visible: writes its record, then renames the work dir into place.
    pub fn commit_layer(
        &self,
        work_dir: &Path,
        chain_id: &Digest,
        record: &LayerRecord,
    ) -> Result<(), StoreError> {
        let meta = work_dir.join("layer.json");
        fs::write(
            &meta,
            serde_json::to_vec(record).expect("a record serialises"),
        )
        .map_err(at(&meta))?;
        let dest = self.layer_dir(chain_id);
        fs::rename(work_dir, &dest).map_err(at(&dest))
    }

    /// Removes a layer: renamed aside first, so that it is never seen half-deleted.
    pub fn remove_layer(&self, chain_id: &Digest) -> Result<(), StoreError> {
        let dir = self.layer_dir(chain_id);
        let doomed = self.tmp_dir().join(format!("{}.remove", chain_id.hex()));
        match fs::rename(&dir, &doomed) {
            Ok(()) => crate::unpack::remove_dir_all(&doomed).map_err(at(&doomed)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(at(&dir)(e)),
        }
    }

    /// The chain ids of every stored layer.
    pub fn layer_ids(&self) -> Result<Vec<Digest>, StoreError> {
        let dir = self.layers_dir();
        let mut ids = Vec::new();
        for entry in fs::read_dir(&dir).map_err(at(&dir))? {
            let entry = entry.map_err(at(&dir))?;
            if let Ok(id) =
                Digest::parse(&format!("sha256:{}", entry.file_name().to_string_lossy()))
            {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Reads `images.json` (empty when missing).
    pub fn images(&self) -> Result<Images, StoreError> {
        let path = self.root.join("images.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| at(&path)(io::Error::other(e))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Images::default()),
            Err(e) => Err(at(&path)(e)),
        }
    }

    /// Changes `images.json` under its lock, and writes it atomically.
    pub fn update_images<R>(&self, change: impl FnOnce(&mut Images) -> R) -> Result<R, StoreError> {
        let _lock = FileLock::acquire(&self.root.join("images.lock"))?;
        let mut images = self.images()?;
        let result = change(&mut images);
        let path = self.root.join("images.json");
        let tmp_dir = self.tmp_dir();
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(at(&tmp_dir))?;
        tmp.write_all(&serde_json::to_vec_pretty(&images).expect("images serialise"))
            .map_err(at(&path))?;
        tmp.as_file().sync_all().map_err(at(&path))?;
        tmp.persist(&path).map_err(|e| at(&path)(e.error))?;
        Ok(result)
    }

    /// Holds the `images.json` lock while `work` runs (for removals that must not race a pull).
    pub fn with_images_lock<R>(&self, work: impl FnOnce() -> R) -> Result<R, StoreError> {
        let _lock = FileLock::acquire(&self.root.join("images.lock"))?;
        Ok(work())
    }
}
