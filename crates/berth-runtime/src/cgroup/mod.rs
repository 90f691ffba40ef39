//! A container's cgroup: created with its limits before the process runs, joined by the
//! process, read for OOM kills, removed when the container ends. Works on v1, hybrid (v1
//! controllers) and v2 hierarchies: `layout` finds which the host has at run time, `Cgroup` is
//! the one interface over both, and `v1` and `v2` hold what differs (the directories, the
//! limit writers, the statistics), each writer taking the directory it writes in.

pub mod layout;
mod limits;
mod v1;
mod v2;

use berth_error::{Context, IoContext};
use layout::{CgroupLayout, CgroupMode};
pub use limits::{BlockIo, DEFAULT_DEVICE_RULES, Limits, NetworkLimits};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A v1 cgroup's `tasks` files, open for writing: a single-threaded process moves itself in by
/// writing `0` to each. The kernel moves a thread that moves itself without its global
/// threadgroup lock; writing a pid to `cgroup.procs` takes that lock, and its first taking
/// after a quiet spell waits out an RCU grace period (5 to 15 ms on a test VM, most of a
/// container's start).
pub struct SelfJoin {
    tasks: Vec<std::os::fd::OwnedFd>,
}

impl SelfJoin {
    /// The `tasks` files received from the process that opened them.
    pub fn from_files(tasks: Vec<std::os::fd::OwnedFd>) -> SelfJoin {
        SelfJoin { tasks }
    }

    /// The files, to hand to another process.
    pub fn files(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.tasks.iter().map(|f| f.as_fd()).collect()
    }

    /// Moves the calling thread, which must be its process's only one, into the cgroup.
    pub fn join(&self) -> Result<(), rustix::io::Errno> {
        for file in &self.tasks {
            rustix::io::write(file, b"0")?;
        }
        Ok(())
    }
}

/// A cgroup operation failed: on which file or directory (`cgroup <path>`), and why.
pub type CgroupError = IoContext;

/// A container's cgroup, in one directory per v1 controller or one v2 directory.
#[derive(Debug, Clone)]
pub struct Cgroup {
    hierarchy: Hierarchy,
    /// Where the cgroup sits below each hierarchy's root (`berth/<id>`).
    relative: PathBuf,
    /// Where the host's cgroups are mounted (`/sys/fs/cgroup`).
    root: PathBuf,
}

/// The cgroup's directories, by the version of the hierarchy they are in.
#[derive(Debug, Clone)]
enum Hierarchy {
    /// v1 and hybrid hosts.
    V1(v1::Dirs),
    /// v2 hosts.
    V2(v2::Dir),
}

impl Cgroup {
    /// The cgroup at `relative` (e.g. `berth/<id>`) in this layout, without creating anything.
    pub fn at(layout: &CgroupLayout, relative: &str) -> Cgroup {
        let relative = relative.trim_start_matches('/');
        let hierarchy = match layout.mode {
            CgroupMode::V2 => Hierarchy::V2(v2::Dir::at(&layout.root, relative)),
            CgroupMode::V1 | CgroupMode::Hybrid => Hierarchy::V1(v1::Dirs::at(layout, relative)),
        };
        Cgroup {
            hierarchy,
            relative: PathBuf::from(relative),
            root: layout.root.clone(),
        }
    }

    /// Creates the cgroup's directories, without limits yet (see `apply_limits`). The levels
    /// above it (`berth/`) are made when missing and stay, as Docker's `docker/` does.
    pub fn make(layout: &CgroupLayout, relative: &str) -> Result<Cgroup, CgroupError> {
        let cgroup = Cgroup::at(layout, relative);
        let made = match &cgroup.hierarchy {
            Hierarchy::V1(dirs) => dirs.make(&cgroup.relative),
            Hierarchy::V2(_) => v2::make(layout, &cgroup.relative),
        };
        match made {
            Ok(()) => Ok(cgroup),
            Err(e) => {
                cgroup.remove();
                Err(e)
            }
        }
    }

    /// Writes the limits of a cgroup just made, and on v2 attaches its device filter; on a
    /// hybrid host adds the cgroup2 part that hugepage limits need. Refuses limits whose
    /// controller is missing. The caller removes the cgroup when this fails.
    pub fn apply_limits(
        &mut self,
        layout: &CgroupLayout,
        limits: &Limits,
    ) -> Result<(), CgroupError> {
        if let Hierarchy::V1(dirs) = &mut self.hierarchy
            && !limits.hugepages.is_empty()
            && !dirs.has("hugetlb")
        {
            dirs.add_hybrid_hugetlb(layout, &self.relative)?;
        }
        self.write_limits(limits, true)
    }

    /// Changes the limits of a cgroup that exists (OCI `update`): only those `limits` sets.
    pub fn update(&self, limits: &Limits) -> Result<(), CgroupError> {
        self.write_limits(limits, false)
    }

    /// Refuses limits whose controller this cgroup lacks, then writes them and the hugepage
    /// limits; the device rules and an unset pids limit only when `creating`.
    fn write_limits(&self, limits: &Limits, creating: bool) -> Result<(), CgroupError> {
        match &self.hierarchy {
            Hierarchy::V1(dirs) => {
                dirs.check_controllers(&self.root, limits)?;
                dirs.write_limits(limits, creating)?;
                dirs.write_hugepages(&limits.hugepages)
            }
            Hierarchy::V2(dir) => {
                dir.check_controllers(&self.root, limits)?;
                dir.write_limits(limits, creating)?;
                dir.write_hugepages(&limits.hugepages)
            }
        }
    }

    /// The directory of a v2 cgroup, opened for `CLONE_INTO_CGROUP`.
    pub fn open_v2_dir(&self) -> Result<std::os::fd::OwnedFd, CgroupError> {
        match &self.hierarchy {
            Hierarchy::V2(dir) => dir.open(),
            Hierarchy::V1(_) => Err(IoContext::new(
                what_at(&self.relative),
                io::Error::new(io::ErrorKind::Unsupported, "not a cgroup v2 cgroup"),
            )),
        }
    }

    /// Moves process `pid` into this cgroup's cgroup2 part on a hybrid host (v1 hierarchies
    /// are joined by the process itself: see `SelfJoin`).
    pub fn add_to_unified(&self, pid: i32) -> Result<(), CgroupError> {
        match &self.hierarchy {
            Hierarchy::V1(dirs) => dirs.add_to_unified(pid),
            Hierarchy::V2(_) => Ok(()),
        }
    }

    /// A cgroup below this one that already exists, as runc's `exec --cgroup` names it: each
    /// entry `[controller:]path`, the path relative to this cgroup (no `..`); an entry without a
    /// controller applies to every controller (v2 has only those).
    pub fn below(&self, entries: &[String]) -> Result<Cgroup, CgroupError> {
        let invalid = |entry: &str, why: &str| {
            IoContext::new(
                what_at(&self.relative.join(entry)),
                io::Error::new(io::ErrorKind::InvalidInput, why.to_owned()),
            )
        };
        let mut every: Option<PathBuf> = None;
        let mut per_controller: Vec<(&str, PathBuf)> = Vec::new();
        for entry in entries {
            let (controller, path) = match entry.split_once(':') {
                Some((controller, path)) => (Some(controller), path),
                None => (None, entry.as_str()),
            };
            let path = Path::new(path.trim_start_matches('/'));
            if path
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(invalid(
                    entry,
                    "a sub-cgroup path must stay below the container's",
                ));
            }
            match (controller, &self.hierarchy) {
                (None | Some(""), _) => every = Some(path.to_path_buf()),
                (Some(_), Hierarchy::V2(_)) => {
                    return Err(invalid(entry, "cgroup v2 has no controller paths"));
                }
                (Some(names), Hierarchy::V1(dirs)) => {
                    for name in names.split(',') {
                        if !dirs.has_part(name) {
                            return Err(invalid(entry, "no such cgroup controller"));
                        }
                        per_controller.push((name, path.to_path_buf()));
                    }
                }
            }
        }
        let hierarchy = match &self.hierarchy {
            Hierarchy::V1(dirs) => Hierarchy::V1(dirs.below(&per_controller, every.as_deref())?),
            Hierarchy::V2(dir) => Hierarchy::V2(dir.below(every.as_deref())?),
        };
        Ok(Cgroup {
            hierarchy,
            relative: self.relative.join(every.unwrap_or_default()),
            root: self.root.clone(),
        })
    }

    /// On v1 hierarchies, the cgroup's `tasks` files opened for a new process to move itself
    /// in with `SelfJoin::join` (the files are opened here, before the process exists). None
    /// on v2, where `add` moves it. See `SelfJoin` for why.
    pub fn open_self_join(&self) -> Result<Option<SelfJoin>, CgroupError> {
        match &self.hierarchy {
            Hierarchy::V1(dirs) => dirs.open_tasks().map(|tasks| Some(SelfJoin { tasks })),
            Hierarchy::V2(_) => Ok(None),
        }
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in self.dirs() {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        let file = match &self.hierarchy {
            Hierarchy::V1(dirs) => dirs.oom_file(),
            Hierarchy::V2(dir) => Some(dir.oom_file()),
        };
        let Some(text) = file.and_then(|f| fs::read_to_string(f).ok()) else {
            return false;
        };
        text.lines()
            .any(|l| l.strip_prefix("oom_kill ").is_some_and(|n| n.trim() != "0"))
    }

    /// Freezes (pauses) or thaws every process of the cgroup: v1's freezer, v2's cgroup.freeze.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        match &self.hierarchy {
            Hierarchy::V1(dirs) => dirs.freeze(frozen),
            Hierarchy::V2(dir) => dir.freeze(frozen),
        }
    }

    /// Whether the freezer holds the cgroup's processes.
    pub fn frozen(&self) -> bool {
        match &self.hierarchy {
            Hierarchy::V1(dirs) => dirs.frozen(),
            Hierarchy::V2(dir) => dir.frozen(),
        }
    }

    /// CPU time used, in nanoseconds.
    pub fn cpu_usage_ns(&self) -> Option<u64> {
        match &self.hierarchy {
            Hierarchy::V1(dirs) => dirs.cpu_usage_ns(),
            Hierarchy::V2(dir) => dir.cpu_usage_ns(),
        }
    }

    /// Memory in use and the limit, in bytes (`None` for no limit).
    pub fn memory(&self) -> Option<(u64, Option<u64>)> {
        let (usage, limit) = match &self.hierarchy {
            Hierarchy::V1(dirs) => dirs.memory_files()?,
            Hierarchy::V2(dir) => dir.memory_files(),
        };
        let read = |path: PathBuf| fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
        let (usage, limit) = (read(usage)?, read(limit)?);
        // v1 says "no limit" with a huge number.
        let limit = limit.parse::<u64>().ok().filter(|l| *l < (1 << 62));
        Some((usage.parse().ok()?, limit))
    }

    /// The number of processes.
    pub fn pids_current(&self) -> Option<u64> {
        let dir = match &self.hierarchy {
            Hierarchy::V1(dirs) => dirs.part("pids")?,
            Hierarchy::V2(dir) => dir.path(),
        };
        read_number(&dir.join("pids.current"))
    }

    /// The pids in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let Some(dir) = self.dirs().next() else {
            return Vec::new();
        };
        fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Kills what is left in the cgroup and removes its directories; missing is fine.
    pub fn remove(&self) {
        for _ in 0..50 {
            for pid in self
                .pids()
                .into_iter()
                .filter_map(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            let mut busy = false;
            for dir in self.dirs() {
                match fs::remove_dir(dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(_) => busy = true,
                }
            }
            if !busy {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let dirs: Vec<&Path> = self.dirs().collect();
        tracing::warn!(
            ?dirs,
            "cgroup still busy; the next berth command reclaims it"
        );
    }

    /// Every directory of the cgroup, in order: v1's controllers then a hybrid host's cgroup2
    /// part, or the v2 directory.
    fn dirs(&self) -> impl Iterator<Item = &Path> {
        let (v1, v2) = match &self.hierarchy {
            Hierarchy::V1(dirs) => (dirs.all(), None),
            Hierarchy::V2(dir) => (&[][..], Some(dir.path())),
        };
        v1.iter().map(|(_, dir)| dir.as_path()).chain(v2)
    }
}

/// Limits (`what`) asked of a host without the controller that keeps them.
fn no_controller(root: &Path, controller: &str, what: &str) -> CgroupError {
    IoContext::new(
        what_at(&root.join(controller)),
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{what} is not supported on this host (no {controller} controller)"),
        ),
    )
}

/// What was being done when an operation on the cgroup file or directory `path` failed.
fn what_at(path: &Path) -> String {
    format!("cgroup {}", path.display())
}

/// Writes `value` to the cgroup file `path`.
fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).with_context(|| what_at(path))
}

/// Writes `value` to `path`, a file that only some hosts have: a missing file is the error
/// `missing` makes.
fn write_present(
    path: &Path,
    value: &str,
    missing: impl FnOnce() -> io::Error,
) -> Result<(), CgroupError> {
    if !path.exists() {
        return Err(IoContext::new(what_at(path), missing()));
    }
    write(path, value)
}

/// Writes an I/O weight `value` to `path`: a missing file is an error that says the host does
/// not support `what`.
fn write_supported(path: &Path, value: &str, what: &str) -> Result<(), CgroupError> {
    write_present(path, value, || {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{what} is not supported on this host (its I/O scheduler has no weights)"),
        )
    })
}

/// `pids.max` (the same file on v1 and v2); 0 or less means no limit.
fn write_pids_max(dir: &Path, pids: Option<i64>) -> Result<(), CgroupError> {
    match pids {
        Some(n) if n > 0 => write(&dir.join("pids.max"), &n.to_string()),
        // No limit needs no controller: nothing to lift where there is none.
        Some(_) if !dir.join("pids.max").exists() => Ok(()),
        Some(_) => write(&dir.join("pids.max"), "max"),
        None => Ok(()),
    }
}

/// A hugepage limit of `size` pages into `file` (v1's `hugetlb.<size>.limit_in_bytes`,
/// cgroup2's `hugetlb.<size>.max`); a size the host does not have is refused by name.
fn write_hugepage_limit(file: &Path, size: &str, limit: u64) -> Result<(), CgroupError> {
    write_present(file, &limit.to_string(), || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid hugepage size {size}: this host has no such pages"),
        )
    })
}

/// `dir` when it is a directory, else the error that says there is no such sub-cgroup.
fn existing(dir: PathBuf) -> Result<PathBuf, CgroupError> {
    match dir.is_dir() {
        true => Ok(dir),
        false => Err(IoContext::new(
            what_at(&dir),
            io::Error::new(io::ErrorKind::NotFound, "no such sub-cgroup"),
        )),
    }
}

/// A number alone in a cgroup file (`pids.current`, `cpuacct.usage`).
fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A scratch hierarchy for the writers' tests: a temporary directory standing in for
/// `/sys/fs/cgroup`, no root and no cgroupfs needed.
#[cfg(test)]
mod scratch {
    use super::layout::{CgroupLayout, CgroupMode};
    use std::fs;
    use std::path::Path;

    /// A layout of `mode` at a new temporary directory holding the directories `dirs` (v1
    /// hierarchies, `unified`), whose controllers are `controllers`.
    pub(super) fn layout(
        mode: CgroupMode,
        dirs: &[&str],
        controllers: &[&str],
    ) -> (tempfile::TempDir, CgroupLayout) {
        let root = tempfile::tempdir().unwrap();
        for dir in dirs {
            fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let layout = CgroupLayout {
            mode,
            root: root.path().to_path_buf(),
            controllers: controllers.iter().map(|c| (*c).to_owned()).collect(),
        };
        (root, layout)
    }

    /// Makes the files a kernel would have made, empty.
    pub(super) fn touch(dir: &Path, files: &[&str]) {
        for file in files {
            fs::write(dir.join(file), "").unwrap();
        }
    }

    /// The text of a file.
    pub(super) fn read(path: &Path) -> String {
        fs::read_to_string(path).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::scratch::{layout, read};
    use super::*;

    #[test]
    fn pids_max_is_written_unless_unlimited_without_a_controller() {
        let dir = tempfile::tempdir().unwrap();
        let pids_max = dir.path().join("pids.max");
        write_pids_max(dir.path(), None).unwrap();
        assert!(!pids_max.exists());
        // No limit where there is no pids controller: nothing to lift.
        write_pids_max(dir.path(), Some(0)).unwrap();
        assert!(!pids_max.exists());
        write_pids_max(dir.path(), Some(10)).unwrap();
        assert_eq!(read(&pids_max), "10");
        write_pids_max(dir.path(), Some(-1)).unwrap();
        assert_eq!(read(&pids_max), "max");
    }

    #[test]
    fn a_hugepage_size_the_host_lacks_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hugetlb.1GB.max");
        let e = write_hugepage_limit(&file, "1GB", 1 << 30).unwrap_err();
        assert_eq!(e.what(), what_at(&file));
        assert!(
            e.to_string()
                .contains("invalid hugepage size 1GB: this host has no such pages"),
            "{e}"
        );
        fs::write(&file, "").unwrap();
        write_hugepage_limit(&file, "1GB", 1 << 30).unwrap();
        assert_eq!(read(&file), (1u64 << 30).to_string());
    }

    #[test]
    fn a_sub_cgroup_must_exist_below_the_container_s() {
        for mode in [CgroupMode::V1, CgroupMode::V2] {
            let (root, layout) = layout(mode, &["memory", "pids"], &[]);
            let cgroup = Cgroup::make(&layout, "berth/t").unwrap();
            let below = |entries: &[&str]| {
                let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
                cgroup.below(&entries).map(|c| c.relative)
            };
            let e = below(&["../other"]).unwrap_err();
            assert!(e.to_string().contains("must stay below"), "{e}");
            let e = below(&["sub"]).unwrap_err();
            assert!(e.to_string().contains("no such sub-cgroup"), "{e}");
            let made: Vec<PathBuf> = match mode {
                CgroupMode::V2 => vec![root.path().join("berth/t/sub")],
                _ => ["memory", "pids"]
                    .iter()
                    .map(|c| root.path().join(c).join("berth/t/sub"))
                    .collect(),
            };
            for dir in &made {
                fs::create_dir(dir).unwrap();
            }
            assert_eq!(below(&["sub"]).unwrap(), Path::new("berth/t/sub"));
            let sub = cgroup.below(&["sub".to_owned()]).unwrap();
            assert_eq!(sub.dirs().collect::<Vec<_>>(), made);
        }
    }
}
