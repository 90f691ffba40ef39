//! cgroup v2: one directory in the unified hierarchy, its controllers delegated down from the
//! root, devices limited by an eBPF filter. Each writer takes the cgroup directory it writes
//! in.

use super::layout::CgroupLayout;
use super::limits::{BlockIo, Limits, THROTTLES};
use super::{
    CgroupError, at, existing, no_controller, write, write_hugepage_limit, write_pids_max,
    write_supported,
};
use crate::devices::{self, DeviceRule};
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The controllers each level above a container's cgroup delegates to its children, those the
/// host has.
const DELEGATED: [&str; 6] = ["cpu", "cpuset", "memory", "pids", "io", "hugetlb"];

/// A v2 cgroup's directory.
#[derive(Debug, Clone)]
pub(super) struct Dir {
    dir: PathBuf,
}

/// Makes each level of the cgroup at `relative`, each level above it delegating the
/// controllers to its children.
pub(super) fn make(layout: &CgroupLayout, relative: &Path) -> Result<(), CgroupError> {
    let mut level = layout.root.clone();
    for part in relative.components() {
        let wanted: Vec<String> = DELEGATED
            .iter()
            .filter(|c| layout.controllers.iter().any(|have| have == *c))
            .map(|c| format!("+{c}"))
            .collect();
        if !wanted.is_empty() {
            // Already enabled is fine; a level with processes of its own refuses, and then
            // the limit writes say what is missing.
            let _ = fs::write(level.join("cgroup.subtree_control"), wanted.join(" "));
        }
        level = level.join(part);
        match fs::create_dir(&level) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(at(&level)(e)),
            _ => {}
        }
    }
    Ok(())
}

impl Dir {
    /// The cgroup at `relative` below the hierarchy's `root`, without creating anything.
    pub(super) fn at(root: &Path, relative: &str) -> Dir {
        Dir {
            dir: root.join(relative),
        }
    }

    /// The directory.
    pub(super) fn path(&self) -> &Path {
        &self.dir
    }

    /// Refuses limits whose controller is not delegated down to the cgroup (its
    /// `cgroup.controllers` lacks it; `root`: where the hierarchy is): they would otherwise
    /// fail with the kernel's "permission denied" on a file that is not there.
    pub(super) fn check_controllers(
        &self,
        root: &Path,
        limits: &Limits,
    ) -> Result<(), CgroupError> {
        let needed = limits.controllers_needed();
        if needed.is_empty() {
            return Ok(());
        }
        let delegated = fs::read_to_string(self.dir.join("cgroup.controllers")).unwrap_or_default();
        match needed
            .into_iter()
            .find(|needed| !delegated.split_whitespace().any(|c| c == needed.v2))
        {
            Some(missing) => Err(no_controller(root, missing.v2, missing.what)),
            None => Ok(()),
        }
    }

    /// Writes `limits`; the device filter and an unset pids limit only when `creating`.
    pub(super) fn write_limits(&self, limits: &Limits, creating: bool) -> Result<(), CgroupError> {
        let dir = &self.dir;
        write_cpu(dir, limits)?;
        if let Some(cpus) = &limits.cpuset_cpus {
            write(&dir.join("cpuset.cpus"), cpus)?;
        }
        write_memory(dir, limits)?;
        write_io(dir, &limits.block_io)?;
        if creating {
            attach_device_filter(dir, limits)?;
        }
        if creating || limits.pids.is_some() {
            write_pids_max(dir, limits.pids)?;
        }
        Ok(())
    }

    /// The hugepage limits, `hugetlb.<size>.max`.
    pub(super) fn write_hugepages(&self, hugepages: &[(String, u64)]) -> Result<(), CgroupError> {
        for (size, limit) in hugepages {
            write_hugepage_limit(&self.dir.join(format!("hugetlb.{size}.max")), size, *limit)?;
        }
        Ok(())
    }

    /// The directory opened for `CLONE_INTO_CGROUP`.
    pub(super) fn open(&self) -> Result<OwnedFd, CgroupError> {
        rustix::fs::open(
            &self.dir,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| at(&self.dir)(e.into()))
    }

    /// The cgroup at `every` below this one, which must exist.
    pub(super) fn below(&self, every: Option<&Path>) -> Result<Dir, CgroupError> {
        let dir = match every {
            Some(sub) => self.dir.join(sub),
            None => self.dir.clone(),
        };
        Ok(Dir {
            dir: existing(dir)?,
        })
    }

    /// The file whose `oom_kill` line counts the OOM kills: `memory.events`.
    pub(super) fn oom_file(&self) -> PathBuf {
        self.dir.join("memory.events")
    }

    /// Freezes or thaws the cgroup (`cgroup.freeze`).
    pub(super) fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        write(
            &self.dir.join("cgroup.freeze"),
            if frozen { "1" } else { "0" },
        )
    }

    /// Whether the cgroup is frozen.
    pub(super) fn frozen(&self) -> bool {
        fs::read_to_string(self.dir.join("cgroup.freeze"))
            .unwrap_or_default()
            .trim()
            == "1"
    }

    /// CPU time in nanoseconds, from `cpu.stat`'s microseconds.
    pub(super) fn cpu_usage_ns(&self) -> Option<u64> {
        let stat = fs::read_to_string(self.dir.join("cpu.stat")).ok()?;
        let usec: u64 = stat
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))?
            .trim()
            .parse()
            .ok()?;
        Some(usec * 1000)
    }

    /// The files of the memory in use and its limit.
    pub(super) fn memory_files(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("memory.current"), self.dir.join("memory.max"))
    }
}

/// `cpu.max` (quota and period) and `cpu.weight`, converted from v1's shares as runc and crun
/// do.
fn write_cpu(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    if let Some(quota) = limits.cpu_quota {
        write(
            &dir.join("cpu.max"),
            &format!("{quota} {}", limits.cpu_period.unwrap_or(100_000)),
        )?;
    }
    if let Some(shares) = limits.cpu_shares {
        write(&dir.join("cpu.weight"), &cpu_weight(shares).to_string())?;
    }
    Ok(())
}

/// The v2 CPU weight (1-10000) of v1 `shares` (2-262144).
fn cpu_weight(shares: u64) -> u64 {
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// `memory.max`, `memory.swap.max` (the swap alone: v1's memory-plus-swap less the memory;
/// -1 for unlimited), `memory.low`.
fn write_memory(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    if let Some(memory) = limits.memory {
        write(&dir.join("memory.max"), &memory.to_string())?;
        match limits.memory_swap {
            Some(-1) => write(&dir.join("memory.swap.max"), "max")?,
            Some(swap) if swap >= memory => {
                write(&dir.join("memory.swap.max"), &(swap - memory).to_string())?
            }
            _ => {}
        }
    }
    if let Some(low) = limits.memory_reservation {
        write(&dir.join("memory.low"), &low.to_string())?;
    }
    Ok(())
}

/// The I/O weights (`io.weight`, or BFQ's `io.bfq.weight`, converted from v1's 10-1000 to
/// v2's 1-10000 as runc does) and `io.max`, one line per device with all its throttles.
fn write_io(dir: &Path, block_io: &BlockIo) -> Result<(), CgroupError> {
    let bfq = dir.join("io.bfq.weight");
    if let Some(weight) = block_io.weight {
        match bfq.exists() {
            true => write(&bfq, &weight.to_string())?,
            false => write_supported(
                &dir.join("io.weight"),
                &format!("default {}", io_weight(weight)),
                "io weight",
            )?,
        }
    }
    for (major, minor, weight) in &block_io.weight_devices {
        match bfq.exists() {
            true => write(&bfq, &format!("{major}:{minor} {weight}"))?,
            false => write_supported(
                &dir.join("io.weight"),
                &format!("{major}:{minor} {}", io_weight(*weight)),
                "io device weight",
            )?,
        }
    }
    let mut devices: Vec<(i64, i64)> = block_io
        .throttles
        .iter()
        .flatten()
        .map(|(major, minor, _)| (*major, *minor))
        .collect();
    devices.sort_unstable();
    devices.dedup();
    for (major, minor) in devices {
        let keys: Vec<String> = block_io
            .throttles
            .iter()
            .zip(THROTTLES)
            .filter_map(|(limits, (_, key))| {
                limits
                    .iter()
                    .find(|(ma, mi, _)| (*ma, *mi) == (major, minor))
                    .map(|(_, _, rate)| format!("{key}={rate}"))
            })
            .collect();
        write(
            &dir.join("io.max"),
            &format!("{major}:{minor} {}", keys.join(" ")),
        )?;
    }
    Ok(())
}

/// The v2 I/O weight (1-10000) of a v1 blkio weight (10-1000).
fn io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
}

/// Limits device access in the cgroup `dir` with an eBPF program.
fn attach_device_filter(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    let rules: Vec<DeviceRule> = limits
        .device_rules()
        .iter()
        .filter_map(|r| DeviceRule::parse(r))
        .collect();
    devices::attach_filter(dir, &rules).map_err(at(dir))
}
