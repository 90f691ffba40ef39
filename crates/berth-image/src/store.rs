//! The content-addressed image store (DESIGN.md, "Where things live").
//!
//! ```text
//! <root>/blobs/sha256/<hex>         manifests, indexes and configs, by digest
//! <root>/layers/<chain-hex>/diff/   an unpacked layer, shared by every image that has it
//! <root>/layers/<chain-hex>/layer.json
//! <root>/layers/<chain-hex>/init/   placeholders the chain up to this layer lacks (see
//!                                   `init_layer`), made at its first container
//! <root>/images.json                tags and images
//! <root>/tmp/                       downloads and unpacks in progress
//! ```
//!
//! Nothing becomes visible before it is verified: blobs and layers are written under `tmp/`
//! and renamed into place. Writers of `images.json` hold `images.lock`; a layer being unpacked
//! holds `tmp/<chain-hex>.lock`, so concurrent pulls fetch each layer once. That lock file is
//! removed by its holder when done; what a killed berth left in `tmp/` (a lock file, a
//! half-unpacked layer) is removed by the next pull once it can take the layer's lock, so the
//! work of a live pull is never touched.

use crate::digest::Digest;
use berth_error::{Context, IoContext};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A store operation failed: what is `image store: <path>`.
pub type StoreError = IoContext;

/// What a failed operation on the store's `path` was doing.
pub(crate) fn at(path: &Path) -> String {
    format!("image store: {}", path.display())
}

/// What a failed lock of `path` was doing.
fn locking(path: &Path) -> String {
    format!("lock {}", path.display())
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

/// A path that `Store::init_layer` makes when an image lacks it: relative to the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// An empty directory.
    Dir(&'static str),
    /// An empty file.
    File(&'static str),
}

impl Placeholder {
    fn path(&self) -> &'static str {
        match self {
            Placeholder::Dir(path) | Placeholder::File(path) => path,
        }
    }
}

/// Whether no layer has anything at `path` while every parent of it that a layer has is a
/// directory: a placeholder there changes nothing but the path's existence.
fn lacks(layers: &[PathBuf], path: &str) -> bool {
    layers.iter().all(|layer| {
        let mut at = layer.clone();
        let parts: Vec<&str> = path.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            match fs::symlink_metadata(&at) {
                Err(_) => return true,
                Ok(_) if i + 1 == parts.len() => return false,
                Ok(meta) if !meta.is_dir() => return false,
                Ok(_) => {}
            }
        }
        true
    })
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

/// Opens the lock file `path`, made when missing, its content left as it is.
fn open_lock_file(path: &Path) -> Result<File, IoContext> {
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| locking(path))
}

impl FileLock {
    /// Waits for and takes the lock on `path` (created if missing).
    pub fn acquire(path: &Path) -> Result<FileLock, IoContext> {
        let file = open_lock_file(path)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .with_context(|| locking(path))?;
        Ok(FileLock { _file: file })
    }

    /// Waits for and takes the lock on the directory `path`, which must exist: a lock that
    /// needs no file of its own.
    pub fn on_directory(path: &Path) -> Result<FileLock, IoContext> {
        let file = File::open(path).with_context(|| locking(path))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .with_context(|| locking(path))?;
        Ok(FileLock { _file: file })
    }

    /// Takes the lock on the directory `path` if nobody holds it; `Ok(None)` when somebody does.
    pub fn try_on_directory(path: &Path) -> Result<Option<FileLock>, IoContext> {
        let file = File::open(path).with_context(|| locking(path))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(FileLock { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(IoContext::new(locking(path), e)),
        }
    }
}

impl FileLock {
    /// Takes the lock on `path` (created if missing), a lock file that its holders remove when
    /// done (see [`LayerLock`]): a lock taken on a file that was removed meanwhile is taken
    /// again on the new one. Waits for it when `wait`; `Ok(None)` when somebody holds it and
    /// not `wait`.
    fn acquire_removable(path: &Path, wait: bool) -> Result<Option<FileLock>, IoContext> {
        use rustix::fs::FlockOperation;
        let operation = if wait {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::NonBlockingLockExclusive
        };
        loop {
            let file = open_lock_file(path)?;
            match rustix::fs::flock(&file, operation) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) if !wait => return Ok(None),
                Err(e) => return Err(IoContext::new(locking(path), e)),
            }
            let held = file.metadata().with_context(|| locking(path))?;
            match fs::metadata(path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    return Ok(Some(FileLock { _file: file }));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(IoContext::new(locking(path), e)),
            }
        }
    }
}

/// The lock of one layer's work in `tmp/`; its file is removed when it is released, so that no
/// lock file outlives the work it guards.
pub struct LayerLock {
    path: PathBuf,
    _lock: FileLock,
}

impl Drop for LayerLock {
    /// Removes the lock file while the lock is still held: a waiter then finds its file gone
    /// and takes the lock on a new one.
    fn drop(&mut self) {
        if let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::debug!(path = %self.path.display(), error = %e, "cannot remove a lock file");
        }
    }
}

impl rustix::fd::AsFd for FileLock {
    fn as_fd(&self) -> rustix::fd::BorrowedFd<'_> {
        self._file.as_fd()
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
            fs::create_dir_all(&dir).with_context(|| at(&dir))?;
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
        let bytes = fs::read(&path).with_context(|| at(&path))?;
        if &Digest::of(&bytes) != digest {
            return Err(IoContext::new(
                at(&path),
                io::Error::other("stored blob does not match its digest (corrupt store)"),
            ));
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
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir).with_context(|| at(&tmp_dir))?;
        tmp.write_all(bytes).with_context(|| at(tmp.path()))?;
        tmp.as_file().sync_all().with_context(|| at(&path))?;
        tmp.persist(&path)
            .map_err(|e| e.error)
            .with_context(|| at(&path))?;
        Ok(digest)
    }

    /// Removes a blob; missing is fine.
    pub fn remove_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(IoContext::new(at(&path), e)),
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
    pub fn lock_layer(&self, chain_id: &Digest) -> Result<LayerLock, StoreError> {
        let path = self.tmp_dir().join(format!("{}.lock", chain_id.hex()));
        let lock = FileLock::acquire_removable(&path, true)?.expect("a waited-for lock is held");
        Ok(LayerLock { path, _lock: lock })
    }

    /// Removes what killed berth commands left in `tmp/`: lock files, and layers half
    /// unpacked, initialised or removed. Work whose layer lock is held (a live pull's) stays.
    pub fn remove_stale_work(&self) {
        const KINDS: [&str; 4] = ["lock", "unpack", "init", "remove"];
        let tmp = self.tmp_dir();
        let Ok(entries) = fs::read_dir(&tmp) else {
            return;
        };
        let layers: BTreeSet<String> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                let (hex, kind) = name.rsplit_once('.')?;
                let is_layer = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
                (is_layer && KINDS.contains(&kind)).then(|| hex.to_owned())
            })
            .collect();
        for hex in layers {
            let path = tmp.join(format!("{hex}.lock"));
            let Ok(Some(lock)) = FileLock::acquire_removable(&path, false) else {
                continue;
            };
            let lock = LayerLock { path, _lock: lock };
            for kind in &KINDS[1..] {
                let dir = tmp.join(format!("{hex}.{kind}"));
                if let Err(e) = crate::unpack::remove_dir_all(&dir) {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a killed berth's work");
                }
            }
            drop(lock);
        }
    }

    /// A fresh directory under `tmp/` for unpacking `chain_id`, with an empty `diff/`. A
    /// leftover of a crashed pull is removed first (the caller holds the layer's lock).
    pub fn layer_work_dir(&self, chain_id: &Digest) -> Result<PathBuf, StoreError> {
        let dir = self.tmp_dir().join(format!("{}.unpack", chain_id.hex()));
        crate::unpack::remove_dir_all(&dir).with_context(|| at(&dir))?;
        let diff = dir.join("diff");
        fs::create_dir_all(&diff).with_context(|| at(&diff))?;
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
        .with_context(|| at(&meta))?;
        let dest = self.layer_dir(chain_id);
        fs::rename(work_dir, &dest).with_context(|| at(&dest))
    }

    /// Removes a layer: renamed aside first, so that it is never seen half-deleted.
    pub fn remove_layer(&self, chain_id: &Digest) -> Result<(), StoreError> {
        let dir = self.layer_dir(chain_id);
        let doomed = self.tmp_dir().join(format!("{}.remove", chain_id.hex()));
        match fs::rename(&dir, &doomed) {
            Ok(()) => crate::unpack::remove_dir_all(&doomed).with_context(|| at(&doomed)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(IoContext::new(at(&dir), e)),
        }
    }

    /// The `init/` directory of the top layer `chain_id` of a chain whose layers are
    /// `layers_top_first`: an overlay lower directory, stacked above the image's, that holds
    /// the `placeholders` no layer has (as Docker's init layer does). A container's mount
    /// targets (`/etc/hosts`, `/proc`) then exist before it starts, so none is made in its
    /// writable layer: that layer stays empty until the container writes, and each start
    /// saves a copy-up. A placeholder goes in only where no layer has anything at its path
    /// and every parent that a layer has is a directory, so that it never hides the image's
    /// own file, whiteout or symlink. Made once, under the layer's lock, in `tmp/` first (a
    /// leftover of a killed berth is removed there), and removed with the layer.
    pub fn init_layer(
        &self,
        chain_id: &Digest,
        layers_top_first: &[PathBuf],
        placeholders: &[Placeholder],
    ) -> Result<PathBuf, StoreError> {
        let init = self.layer_dir(chain_id).join("init");
        if init.is_dir() {
            return Ok(init);
        }
        let _lock = self.lock_layer(chain_id)?;
        if init.is_dir() {
            return Ok(init);
        }
        let work = self.tmp_dir().join(format!("{}.init", chain_id.hex()));
        crate::unpack::remove_dir_all(&work).with_context(|| at(&work))?;
        let made = (|| {
            fs::create_dir_all(&work)?;
            for placeholder in placeholders {
                let path = placeholder.path();
                if !lacks(layers_top_first, path) {
                    continue;
                }
                let mut relative = PathBuf::new();
                for part in path.split('/') {
                    relative.push(part);
                    let at = work.join(&relative);
                    let is_dir =
                        relative != Path::new(path) || matches!(placeholder, Placeholder::Dir(_));
                    match is_dir {
                        true if at.is_dir() => continue,
                        true => fs::create_dir(&at)?,
                        false => drop(File::create(&at)?),
                    }
                    // A parent the image has keeps its mode and owner (the merged directory
                    // shows the topmost layer's); a new one gets an image's usual modes,
                    // whatever this process's umask.
                    let image = layers_top_first
                        .iter()
                        .find_map(|layer| fs::symlink_metadata(layer.join(&relative)).ok());
                    let mode = match &image {
                        Some(meta) => meta.mode() & 0o7777,
                        None if is_dir => 0o755,
                        None => 0o644,
                    };
                    fs::set_permissions(&at, fs::Permissions::from_mode(mode))?;
                    if let Some(meta) = image {
                        std::os::unix::fs::lchown(&at, Some(meta.uid()), Some(meta.gid()))?;
                    }
                }
            }
            fs::set_permissions(&work, fs::Permissions::from_mode(0o755))?;
            fs::rename(&work, &init)
        })();
        made.map(|()| init.clone()).map_err(|e| {
            let _ = crate::unpack::remove_dir_all(&work);
            IoContext::new(at(&init), e)
        })
    }

    /// The chain ids of every stored layer.
    pub fn layer_ids(&self) -> Result<Vec<Digest>, StoreError> {
        let dir = self.layers_dir();
        let mut ids = Vec::new();
        for entry in fs::read_dir(&dir).with_context(|| at(&dir))? {
            let entry = entry.with_context(|| at(&dir))?;
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
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(io::Error::other)
                .with_context(|| at(&path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Images::default()),
            Err(e) => Err(IoContext::new(at(&path), e)),
        }
    }

    /// Changes `images.json` under its lock, and writes it atomically.
    pub fn update_images<R>(&self, change: impl FnOnce(&mut Images) -> R) -> Result<R, StoreError> {
        let _lock = FileLock::acquire(&self.root.join("images.lock"))?;
        let mut images = self.images()?;
        let result = change(&mut images);
        let path = self.root.join("images.json");
        let tmp_dir = self.tmp_dir();
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir).with_context(|| at(&tmp_dir))?;
        tmp.write_all(&serde_json::to_vec_pretty(&images).expect("images serialise"))
            .with_context(|| at(&path))?;
        tmp.as_file().sync_all().with_context(|| at(&path))?;
        tmp.persist(&path)
            .map_err(|e| e.error)
            .with_context(|| at(&path))?;
        Ok(result)
    }

    /// Holds the `images.json` lock while `work` runs (for removals that must not race a pull).
    pub fn with_images_lock<R>(&self, work: impl FnOnce() -> R) -> Result<R, StoreError> {
        let _lock = FileLock::acquire(&self.root.join("images.lock"))?;
        Ok(work())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGETS: [Placeholder; 4] = [
        Placeholder::Dir("proc"),
        Placeholder::File("etc/hosts"),
        Placeholder::File("etc/hostname"),
        Placeholder::File("run/resolv.conf"),
    ];

    #[test]
    fn an_init_layer_holds_only_what_no_layer_has_and_hides_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let chain = Digest::parse(&format!("sha256:{}", "ab".repeat(32))).unwrap();
        fs::create_dir_all(store.layer_dir(&chain)).unwrap();
        let (top, bottom) = (dir.path().join("top"), dir.path().join("bottom"));
        // The image: /etc (mode 0750, uid 7) with hostname in the lower layer, /run a symlink
        // in the upper one, no /proc and no /etc/hosts anywhere.
        fs::create_dir_all(bottom.join("etc")).unwrap();
        fs::set_permissions(bottom.join("etc"), fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::lchown(bottom.join("etc"), Some(7), Some(7)).unwrap();
        fs::write(bottom.join("etc/hostname"), "image").unwrap();
        fs::create_dir_all(&top).unwrap();
        std::os::unix::fs::symlink("var/run", top.join("run")).unwrap();

        let init = store
            .init_layer(&chain, &[top.clone(), bottom.clone()], &TARGETS)
            .unwrap();
        assert_eq!(init, store.layer_dir(&chain).join("init"));
        let mode = |p: &str| fs::symlink_metadata(init.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode("proc"), 0o755);
        assert_eq!(mode("etc"), 0o750, "the image's /etc keeps its mode");
        assert_eq!(fs::metadata(init.join("etc")).unwrap().uid(), 7);
        assert_eq!(mode("etc/hosts"), 0o644);
        assert_eq!(fs::read(init.join("etc/hosts")).unwrap(), b"");
        // The image's own file and symlink are not shadowed.
        assert!(!init.join("etc/hostname").exists());
        assert!(!init.join("run").exists());
        // Made once: a second call finds it, and no work directory is left in tmp/.
        fs::remove_file(bottom.join("etc/hostname")).unwrap();
        store.init_layer(&chain, &[top, bottom], &TARGETS).unwrap();
        assert!(!init.join("etc/hostname").exists());
        let work: Vec<_> = fs::read_dir(store.tmp_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".init"))
            .collect();
        assert!(work.is_empty(), "{work:?}");
        // A leftover of a berth killed while making one is cleared by the next.
        let layer2 = Digest::parse(&format!("sha256:{}", "cd".repeat(32))).unwrap();
        fs::create_dir_all(store.layer_dir(&layer2)).unwrap();
        let leftover = store.tmp_dir().join(format!("{}.init", layer2.hex()));
        fs::create_dir_all(leftover.join("etc/half")).unwrap();
        let init2 = store.init_layer(&layer2, &[], &TARGETS).unwrap();
        assert!(!init2.join("etc/half").exists());
        assert!(init2.join("etc/hosts").is_file());
        assert!(!leftover.exists());
    }

    #[test]
    fn a_store_error_names_the_path_and_keeps_the_os_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let missing = Digest::of(b"missing");
        let e = store.read_blob(&missing).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            e.raw_os_error(),
            Some(rustix::io::Errno::NOENT.raw_os_error())
        );
        let path = store.blob_path(&missing);
        assert_eq!(e.what(), format!("image store: {}", path.display()));
    }

    #[test]
    fn stale_work_is_removed_and_held_work_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let live = Digest::parse(&format!("sha256:{}", "11".repeat(32))).unwrap();
        let dead = Digest::parse(&format!("sha256:{}", "22".repeat(32))).unwrap();
        let held = store.lock_layer(&live).unwrap();
        let live_work = store.layer_work_dir(&live).unwrap();
        let dead_work = store.layer_work_dir(&dead).unwrap();
        fs::write(store.tmp_dir().join(format!("{}.lock", dead.hex())), "").unwrap();
        fs::write(store.tmp_dir().join("unrelated"), "").unwrap();
        store.remove_stale_work();
        assert!(live_work.is_dir());
        assert!(
            store
                .tmp_dir()
                .join(format!("{}.lock", live.hex()))
                .exists()
        );
        assert!(!dead_work.exists());
        assert!(
            !store
                .tmp_dir()
                .join(format!("{}.lock", dead.hex()))
                .exists()
        );
        assert!(store.tmp_dir().join("unrelated").exists());
        // Released, the lock's file goes; a new lock on the layer works.
        drop(held);
        assert!(
            !store
                .tmp_dir()
                .join(format!("{}.lock", live.hex()))
                .exists()
        );
        drop(store.lock_layer(&live).unwrap());
    }
}
