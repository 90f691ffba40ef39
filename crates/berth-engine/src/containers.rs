//! Container records (what one holds: `record.rs`) and directories, and the reclaiming of
//! what killed removals and commands left (a killed berth's containers: `reclaim.rs`).
//!
//! ```text
//! <root>/containers/<id>/container.json   the record: the truth about the container
//! <root>/containers/<id>/config.json      its runtime spec
//! <root>/containers/<id>/{upper,work}/    its writable overlay layer
//! <root>/containers/<id>/{hostname,hosts,resolv.conf}
//! <root>/rootfs/                          every container's mount point (each mounts its root
//!                                         there inside a mount namespace of its own)
//! <root>/containers/.spare/{upper,work}/  a directory made ahead for the next container
//! <root>/removing/<id>/                   an ended `--rm` container's directory, being removed
//! ```
//!
//! A directory is locked (`flock`) by the command that makes it until its record is written,
//! so that a directory without a record that nobody locks is what a killed command left.
//!
//! A record names the berth process that runs the container, with that process's start time, so
//! a later berth command can tell a live owner from a dead one (or a reused pid).

use crate::ids::lookup;
use crate::record::Record;
use berth_image::store::FileLock;
use berth_runtime::cgroup::Cgroup;
use berth_runtime::cgroups::CgroupLayout;
use berth_runtime::container::Remains;
use rustix::fd::{AsFd, AsRawFd};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The name in `containers/` of the spare directory (see `Containers::make_dir`).
const SPARE: &str = ".spare";

/// How old an unlocked directory without a record must be for `reclaim` to remove it: its
/// maker locks it a few system calls after making it, and writes to it (which sets its
/// modification time) until the record is written.
const UNRECORDED_AGE: std::time::Duration = std::time::Duration::from_secs(30);

/// The containers under a data root.
pub struct Containers {
    dir: PathBuf,
}

impl Containers {
    /// The containers of data root `root`.
    pub fn new(root: &Path) -> Containers {
        Containers {
            dir: root.join("containers"),
        }
    }

    /// The data root they are under.
    pub(crate) fn data_root(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    /// A container's directory.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Makes container `id`'s directory with its empty writable layer (`upper/`, `work/`),
    /// and returns it with its lock, to be held until its record is written (see `reclaim`).
    /// `containers/` is marked as the top of directory trees of their own (`FS_TOPDIR_FL`,
    /// `chattr +T`), so that ext4 places each container's directory in a block group of its
    /// own choosing, as it does top-level directories, rather than all in the group of
    /// `containers/`: without a journal, ext4 will not reuse an inode freed in the last
    /// minutes and walks past every such inode of the group at each new one, which a stream
    /// of short-lived containers makes thousands.
    ///
    /// The spare directory that the removal of an `--rm` container makes ahead (`make_spare`)
    /// is taken where there is one: one rename instead of three `mkdir`s (on this ext4 with
    /// +T, ~0.3 ms of a run, the Orlov walk included). It is locked before it is renamed.
    pub fn make_dir(&self, id: &str) -> io::Result<(PathBuf, FileLock)> {
        let dir = self.dir(id);
        if let Some(lock) = self.take_spare(&dir)? {
            // Its maker may still be making these.
            for layer in ["upper", "work"] {
                match fs::create_dir(dir.join(layer)) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
            }
            return Ok((dir, lock));
        }
        match fs::create_dir(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&self.dir)?;
                fs::create_dir(&dir)?;
            }
            made => made?,
        }
        let lock = self.lock(id)?;
        mark_top_of_trees(&self.dir);
        for layer in ["upper", "work"] {
            fs::create_dir(dir.join(layer))?;
        }
        Ok((dir, lock))
    }

    /// Renames the spare directory, locked, to `dir`; `None` when there is none free.
    fn take_spare(&self, dir: &Path) -> io::Result<Option<FileLock>> {
        let spare = self.dir.join(SPARE);
        let Ok(Some(lock)) = FileLock::try_on_directory(&spare) else {
            return Ok(None);
        };
        if fs::rename(&spare, dir).is_err() {
            return Ok(None);
        }
        // Another command may have taken the one locked, and a removal made another, between
        // the lock and the rename: then the one renamed is locked now.
        let locked = rustix::fs::fstat(&lock)?;
        let renamed = fs::symlink_metadata(dir)?;
        if (locked.st_dev, locked.st_ino) == (renamed.dev(), renamed.ino()) {
            return Ok(Some(lock));
        }
        // Made fresh first: unlocked and without a record for a moment, a directory with the
        // old mtime of a spare made ahead would look like a killed command's leftover to a
        // concurrent reclaim (`reclaim_unrecorded`).
        let now = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_NOW,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_NOW,
            },
        };
        rustix::fs::utimensat(rustix::fs::CWD, dir, &now, rustix::fs::AtFlags::empty())?;
        drop(lock);
        FileLock::on_directory(dir)
            .map(Some)
            .map_err(|e| io::Error::new(e.kind(), e))
    }

    /// Makes the spare directory (with its empty `upper/` and `work/`) that the next
    /// `make_dir` takes, unless there is one: done by the removal of an `--rm` container, off
    /// the next container's start.
    fn make_spare(&self) {
        let spare = self.dir.join(SPARE);
        if fs::create_dir(&spare).is_ok() {
            for layer in ["upper", "work"] {
                // Taken meanwhile: its taker makes what is missing.
                let _ = fs::create_dir(spare.join(layer));
            }
        }
    }

    /// Every record (unreadable ones are skipped with a warning). Each is opened relative to
    /// `containers/` and read without asking its size first: a run reads them all, and with
    /// many containers the system calls per record are what it costs.
    pub fn list(&self) -> Vec<Record> {
        self.read_records().0
    }

    /// Every record, and the names of the directories that have none (see `list`).
    pub(crate) fn read_records(&self) -> (Vec<Record>, Vec<String>) {
        use rustix::fs::{Dir, Mode, OFlags};
        let opened = rustix::fs::open(
            &self.dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        );
        let Ok(mut dir) = opened.and_then(Dir::new) else {
            return (Vec::new(), Vec::new());
        };
        let (mut records, mut unrecorded) = (Vec::new(), Vec::new());
        while let Some(Ok(entry)) = dir.read() {
            let name = entry.file_name().to_bytes();
            if name.starts_with(b".") {
                continue;
            }
            let path = Path::new(std::ffi::OsStr::from_bytes(name)).join("container.json");
            let bytes = match dir
                .fd()
                .map_err(io::Error::from)
                .and_then(|fd| read_at(fd, &path))
            {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    unrecorded.push(String::from_utf8_lossy(name).into_owned());
                    continue;
                }
                Err(_) => continue,
            };
            match serde_json::from_slice(&bytes) {
                Ok(record) => records.push(record),
                Err(err) => {
                    let path = self.dir.join(&path);
                    tracing::warn!(path = %path.display(), %err, "unreadable container record");
                }
            }
        }
        (records, unrecorded)
    }

    /// Reads one record.
    pub fn get(&self, id: &str) -> io::Result<Record> {
        let bytes = read_at(rustix::fs::CWD, &self.dir(id).join("container.json"))?;
        serde_json::from_slice(&bytes).map_err(io::Error::other)
    }

    /// Finds a container as Docker does: by full id, by name, or by a unique id prefix.
    pub fn find(&self, name: &str) -> Result<Record, FindError> {
        let name = name.strip_prefix('/').unwrap_or(name);
        lookup(self.list(), name, |r| (&r.id, &r.name)).map_err(|found| match found {
            0 => FindError::NoSuch(name.to_owned()),
            _ => FindError::Ambiguous(name.to_owned()),
        })
    }

    /// Changes a record under the container's lock, so that two berth commands never overwrite
    /// each other's change.
    pub fn update<R>(&self, id: &str, change: impl FnOnce(&mut Record) -> R) -> io::Result<R> {
        let _lock = self.lock(id)?;
        let mut record = self.get(id)?;
        let result = change(&mut record);
        self.save(&record)?;
        Ok(result)
    }

    /// Takes the lock that makes checking and taking a name one step.
    pub fn lock_names(&self) -> io::Result<FileLock> {
        FileLock::acquire(&self.dir.with_file_name("containers.lock"))
            .map_err(|e| io::Error::new(e.kind(), e))
    }

    /// Takes the container's lock (a `flock` on its directory).
    pub fn lock(&self, id: &str) -> io::Result<FileLock> {
        FileLock::on_directory(&self.dir(id)).map_err(|e| io::Error::new(e.kind(), e))
    }

    /// The empty directory every container's root file system is mounted on, each in a
    /// mount namespace of its own (the container's, or a helper's), so that a container
    /// needs no mount point of its own.
    pub fn mount_point(&self) -> PathBuf {
        self.dir.with_file_name("rootfs")
    }

    /// `mount_point`, made where missing (a data root from before it has none).
    pub fn make_mount_point(&self) -> io::Result<PathBuf> {
        let path = self.mount_point();
        fs::create_dir_all(&path)?;
        Ok(path)
    }

    /// Writes a record atomically (readable by its owner only, as is the container's spec).
    pub fn save(&self, record: &Record) -> io::Result<()> {
        let dir = self.dir(&record.id);
        let tmp = dir.join(format!("container.json.{}", std::process::id()));
        let written = write_private(
            &tmp,
            &serde_json::to_vec(record).expect("a record serialises"),
        )
        .and_then(|()| fs::rename(&tmp, dir.join("container.json")));
        if written.is_err() {
            // A full disk leaves no half-written copy behind.
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("write {}: {e}", dir.join("container.json").display()),
            )
        })
    }

    /// Removes a container's directory and everything in it.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        match fs::remove_dir_all(self.dir(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes an ended `--rm` container, and `remains`, what is left of it in the kernel
    /// (its mount namespace, held open, and its empty cgroup), without making the container's
    /// end wait for them: each directory freed on ext4 mounted `discard` waits for the trim of
    /// its block, the namespace's thirty mounts go one by one, and the cgroup from each of the
    /// v1 hierarchies. The container's directory leaves `containers/` at once, renamed into
    /// `removing/`: from then on no berth command sees the container and its name is free. A
    /// child process that outlives this one removes the remains, then the directory, holding
    /// the directory's lock until it is done; what a killed one leaves, the next `reclaim`
    /// removes (the record in the directory names the cgroup; the namespace goes with the
    /// process). containerd's snapshotters defer removals in the same way. Where no child can
    /// be made, the work is done here.
    pub fn remove_soon(&self, id: &str, remains: Option<Remains>) -> io::Result<()> {
        let removing = self.removing_dir().join(id);
        let moved = self.lock(id).and_then(|lock| {
            match fs::rename(self.dir(id), &removing) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir_all(self.removing_dir())?;
                    fs::rename(self.dir(id), &removing)?;
                }
                renamed => renamed?,
            }
            Ok(lock)
        });
        match moved {
            Ok(lock) => {
                let namespace = remains.as_ref().and_then(|r| r.mount_namespace.as_ref());
                let keep: Vec<_> = [lock.as_fd().as_raw_fd()]
                    .into_iter()
                    .chain(namespace.map(|fd| fd.as_raw_fd()))
                    .collect();
                berth_runtime::background::in_background(&keep, || {
                    self.make_spare();
                    remains.into_iter().for_each(Remains::remove);
                    remove_tree(&removing);
                })
            }
            Err(e) => {
                remains.into_iter().for_each(Remains::remove);
                // Gone already is no error.
                if e.kind() != io::ErrorKind::NotFound {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Where ended `--rm` containers' directories are removed (see `remove_soon`).
    fn removing_dir(&self) -> PathBuf {
        self.dir.with_file_name("removing")
    }

    /// Removes what the processes that `remove_soon` made and that were killed left in
    /// `removing/` (directories whose lock nobody holds), their cgroups first.
    pub(crate) fn reclaim_removals(&self, layout: &CgroupLayout) {
        let Ok(entries) = fs::read_dir(self.removing_dir()) else {
            return;
        };
        for path in entries.flatten().map(|entry| entry.path()) {
            let Ok(Some(_lock)) = FileLock::try_on_directory(&path) else {
                continue;
            };
            tracing::info!(dir = %path.display(), "removing what a killed removal left");
            let record = read_at(rustix::fs::CWD, &path.join("container.json"))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok());
            if let Some(record) = record {
                Cgroup::at(layout, &record.cgroup_path).remove();
            }
            remove_tree(&path);
        }
    }

    /// Removes the directories without a record that nobody locks and that nobody has
    /// written to for `UNRECORDED_AGE`: what a berth command killed between making a
    /// container's directory and writing its record left.
    pub(crate) fn reclaim_unrecorded(&self, names: &[String]) {
        for name in names {
            let path = self.dir.join(name);
            let Ok(Some(_lock)) = FileLock::try_on_directory(&path) else {
                continue;
            };
            let idle = fs::symlink_metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= UNRECORDED_AGE));
            if idle && !path.join("container.json").exists() {
                tracing::info!(dir = %path.display(), "removing a directory without a record");
                remove_tree(&path);
            }
        }
    }
}

/// Writes file `path` (made or truncated), readable and writable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(bytes)
}

/// Removes directory `dir` and everything in it, warning when it cannot.
fn remove_tree(dir: &Path) {
    if let Err(e) = fs::remove_dir_all(dir) {
        tracing::warn!(dir = %dir.display(), %e, "cannot remove a container's directory");
    }
}

/// The whole of file `path` below directory `dir` (or `CWD`): open, reads until end of file,
/// close; no `statx` for its size first, as `fs::read` makes.
fn read_at(dir: impl rustix::fd::AsFd, path: &Path) -> io::Result<Vec<u8>> {
    use rustix::fs::{Mode, OFlags};
    let file = rustix::fs::openat(dir, path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut bytes = vec![0; 4096];
    let mut len = 0;
    loop {
        if len == bytes.len() {
            bytes.resize(2 * len, 0);
        }
        match rustix::io::read(&file, &mut bytes[len..])? {
            0 => break,
            n => len += n,
        }
    }
    bytes.truncate(len);
    Ok(bytes)
}

/// Sets `FS_TOPDIR_FL` on directory `dir` where it is missing; a file system without the flag
/// (not ext2/3/4) is left as it is.
fn mark_top_of_trees(dir: &Path) {
    use rustix::fs::{IFlags, Mode, OFlags, ioctl_getflags, ioctl_setflags};
    let marked = rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .and_then(|fd| match ioctl_getflags(&fd)? {
        flags if flags.contains(IFlags::TOPDIR) => Ok(()),
        flags => ioctl_setflags(&fd, flags | IFlags::TOPDIR),
    });
    if let Err(e) = marked {
        tracing::debug!(dir = %dir.display(), %e, "not marked as the top of directory trees");
    }
}

/// A container name or id that matches nothing, or more than one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FindError {
    /// Nothing matches.
    #[error("No such container: {0}")]
    NoSuch(String),
    /// An id prefix matches several.
    #[error("multiple containers match \"{0}\": give more of the id")]
    Ambiguous(String),
}

/// The start time of process `pid`, if it exists.
pub use berth_runtime::host::process_start_time;

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{IFlags, ioctl_getflags};

    fn flags(dir: &Path) -> rustix::io::Result<IFlags> {
        ioctl_getflags(fs::File::open(dir).unwrap())
    }

    /// Waits until the process removing `dir` is done (it holds the directory's lock).
    fn await_removal(dir: &Path) {
        if let Ok(opened) = fs::File::open(dir) {
            rustix::fs::flock(&opened, rustix::fs::FlockOperation::LockExclusive).unwrap();
        }
    }

    #[test]
    fn an_ended_rm_container_leaves_at_once_and_a_child_removes_its_directory() {
        let root = tempfile::tempdir().unwrap();
        let containers = Containers::new(root.path());
        let dir = containers.make_dir("a").unwrap().0;
        containers
            .save(&Record {
                id: "a".into(),
                ..Record::default()
            })
            .unwrap();
        fs::write(dir.join("upper/written"), "x").unwrap();
        containers.remove_soon("a", None).unwrap();
        assert!(!dir.exists() && containers.list().is_empty());
        let removing = root.path().join("removing/a");
        await_removal(&removing);
        assert!(
            !removing.exists(),
            "the remover left {}",
            removing.display()
        );
        // A container already gone is no error.
        containers.remove_soon("a", None).unwrap();
    }

    #[test]
    fn a_new_container_takes_the_spare_directory_a_removal_made() {
        let root = tempfile::tempdir().unwrap();
        let containers = Containers::new(root.path());
        containers.make_dir("a").unwrap();
        containers.remove_soon("a", None).unwrap();
        let spare = root.path().join("containers/.spare");
        // The remover makes the spare first, then removes.
        await_removal(&root.path().join("removing/a"));
        assert!(spare.join("upper").is_dir() && spare.join("work").is_dir());
        assert!(containers.list().is_empty(), "the spare is no container");
        let spare_inode = fs::metadata(&spare).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        let dir = containers.make_dir("b").unwrap().0;
        assert_eq!(
            fs::metadata(&dir)
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .ok(),
            spare_inode.ok()
        );
        assert!(dir.join("upper").is_dir() && dir.join("work").is_dir() && !spare.exists());
        // Taken half made (its maker not done): what is missing is made.
        fs::create_dir(&spare).unwrap();
        let dir = containers.make_dir("c").unwrap().0;
        assert!(dir.join("upper").is_dir() && dir.join("work").is_dir());
        // None left: made as before.
        assert!(containers.make_dir("d").unwrap().0.join("work").is_dir());
    }

    #[test]
    fn a_directory_is_locked_by_its_maker_made_or_taken_from_the_spare() {
        let root = tempfile::tempdir().unwrap();
        let containers = Containers::new(root.path());
        let (made, lock) = containers.make_dir("a").unwrap();
        containers.make_spare();
        let (taken, spare_lock) = containers.make_dir("b").unwrap();
        assert!(!root.path().join("containers").join(SPARE).exists());
        for dir in [&made, &taken] {
            assert!(FileLock::try_on_directory(dir).unwrap().is_none());
        }
        drop((lock, spare_lock));
        // Another test of this binary that forks work into the background (`remove_soon`)
        // holds every descriptor of this process for the moment before its child closes them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        for dir in [&made, &taken] {
            while FileLock::try_on_directory(dir).unwrap().is_none() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{} still locked",
                    dir.display()
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }

    #[test]
    fn reclaim_removes_what_a_killed_removal_left_and_leaves_a_live_ones_work() {
        let root = tempfile::tempdir().unwrap();
        let containers = Containers::new(root.path());
        for id in ["left", "being-deleted"] {
            fs::create_dir_all(root.path().join("removing").join(id).join("upper")).unwrap();
        }
        let remover =
            berth_image::store::FileLock::on_directory(&root.path().join("removing/being-deleted"))
                .unwrap();
        let layout = berth_runtime::cgroups::detect().unwrap();
        containers.reclaim_removals(&layout);
        assert!(!root.path().join("removing/left").exists());
        assert!(root.path().join("removing/being-deleted/upper").exists());
        drop(remover);
        containers.reclaim_removals(&layout);
        assert!(!root.path().join("removing/being-deleted").exists());
    }

    #[test]
    fn container_directories_start_trees_of_their_own() {
        // On the disk's file system (ext4 here): containers/ gets the flag, made or found.
        let root = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let containers = Containers::new(root.path());
        let dir = containers.make_dir("a").unwrap().0;
        assert!(dir.join("upper").is_dir() && dir.join("work").is_dir());
        let top = root.path().join("containers");
        if flags(root.path()).is_ok() {
            assert!(flags(&top).unwrap().contains(IFlags::TOPDIR));
            rustix::fs::ioctl_setflags(fs::File::open(&top).unwrap(), IFlags::empty()).unwrap();
            containers.make_dir("b").unwrap();
            assert!(flags(&top).unwrap().contains(IFlags::TOPDIR));
        }
        // A file system without such flags (tmpfs) still gets its directories.
        let shm = tempfile::tempdir_in("/dev/shm").unwrap();
        let on_tmpfs = Containers::new(shm.path());
        assert!(on_tmpfs.make_dir("c").unwrap().0.join("upper").is_dir());
        assert!(on_tmpfs.make_dir("c").is_err(), "an id is made once");
    }
}
