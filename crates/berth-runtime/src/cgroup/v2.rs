//! cgroup v2: one directory in the unified hierarchy, its controllers delegated down from the
//! root, devices limited by an eBPF filter. Each writer takes the cgroup directory it writes
//! in.

use super::layout::CgroupLayout;
use super::limits::{BlockIo, Limits, THROTTLES};
use super::{
    CgroupError, existing, no_controller, what_at, write, write_hugepage_limit, write_pids_max,
    write_supported,
};
use crate::devices::{self, DeviceRule};
use berth_error::{Context, IoContext};
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
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(IoContext::new(what_at(&level), e));
            }
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
        if let Some(mems) = &limits.cpuset_mems {
            write(&dir.join("cpuset.mems"), mems)?;
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
        .with_context(|| what_at(&self.dir))
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
    devices::attach_filter(dir, &rules).with_context(|| what_at(dir))
}

#[cfg(test)]
mod tests {
    use super::super::layout::CgroupMode;
    use super::super::scratch::{layout, read, touch};
    use super::super::{Cgroup, NetworkLimits};
    use super::*;

    /// A v2 cgroup `berth/t` made in a scratch hierarchy whose root has `controllers`, with
    /// `delegated` listed in its `cgroup.controllers`.
    fn made(controllers: &[&str], delegated: &str) -> (tempfile::TempDir, Cgroup) {
        let (root, layout) = layout(CgroupMode::V2, &[], controllers);
        let cgroup = Cgroup::make(&layout, "berth/t").unwrap();
        fs::write(root.path().join("berth/t/cgroup.controllers"), delegated).unwrap();
        (root, cgroup)
    }

    #[test]
    fn each_level_above_a_v2_cgroup_delegates_the_hosts_controllers() {
        let (root, _) = made(&["cpu", "io", "memory", "misc", "pids"], "");
        for level in ["", "berth"] {
            assert_eq!(
                read(&root.path().join(level).join("cgroup.subtree_control")),
                "+cpu +memory +pids +io"
            );
        }
        assert!(!root.path().join("berth/t/cgroup.subtree_control").exists());
    }

    #[test]
    fn v2_writers_put_each_limit_in_its_file() {
        let (root, cgroup) = made(&[], "cpu cpuset io memory pids hugetlb");
        let dir = root.path().join("berth/t");
        touch(&dir, &["io.weight", "hugetlb.2MB.max"]);
        let limits = Limits {
            cpu_quota: Some(50_000),
            cpu_period: Some(200_000),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            memory: Some(64 << 20),
            memory_swap: Some(96 << 20),
            memory_reservation: Some(32 << 20),
            // v1 only: ignored, as runc does.
            memory_kernel_tcp: Some(16 << 20),
            pids: Some(20),
            block_io: BlockIo {
                weight: Some(500),
                throttles: [
                    vec![(8, 0, 1 << 20)],
                    vec![],
                    vec![(8, 16, 30)],
                    vec![(8, 0, 100)],
                ],
                ..BlockIo::default()
            },
            hugepages: vec![("2MB".into(), 4 << 20)],
            ..Limits::default()
        };
        cgroup.update(&limits).unwrap();
        let expected = [
            ("cpu.max", "50000 200000".to_owned()),
            ("cpu.weight", "20".to_owned()),
            ("cpuset.cpus", "0-1".to_owned()),
            ("cpuset.mems", "0".to_owned()),
            ("memory.max", (64 << 20).to_string()),
            // The swap alone: v1's memory plus swap, less the memory.
            ("memory.swap.max", (32 << 20).to_string()),
            ("memory.low", (32 << 20).to_string()),
            ("pids.max", "20".to_owned()),
            ("io.weight", "default 4950".to_owned()),
            // One line per device, the last written.
            ("io.max", "8:16 riops=30".to_owned()),
            ("hugetlb.2MB.max", (4 << 20).to_string()),
        ];
        for (file, value) in expected {
            assert_eq!(read(&dir.join(file)), value, "{file}");
        }
        assert!(!dir.join("memory.kmem.tcp.limit_in_bytes").exists());
        let unlimited_swap = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(-1),
            ..Limits::default()
        };
        cgroup.update(&unlimited_swap).unwrap();
        assert_eq!(read(&dir.join("memory.swap.max")), "max");
    }

    #[test]
    fn v2_io_max_holds_every_throttle_of_a_device_on_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let block_io = BlockIo {
            throttles: [
                vec![(8, 0, 1 << 20)],
                vec![(8, 0, 2 << 20)],
                vec![],
                vec![(8, 0, 100)],
            ],
            ..BlockIo::default()
        };
        write_io(dir.path(), &block_io).unwrap();
        assert_eq!(
            read(&dir.path().join("io.max")),
            "8:0 rbps=1048576 wbps=2097152 wiops=100"
        );
        // BFQ takes v1's weights as they are.
        touch(dir.path(), &["io.bfq.weight"]);
        let weighted = BlockIo {
            weight_devices: vec![(8, 0, 300)],
            ..BlockIo::default()
        };
        write_io(dir.path(), &weighted).unwrap();
        assert_eq!(read(&dir.path().join("io.bfq.weight")), "8:0 300");
    }

    #[test]
    fn v2_weights_are_converted_from_v1s_ranges_as_runc_does() {
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(262_144), 10_000);
        // Out of range: clamped.
        assert_eq!(cpu_weight(0), 1);
        assert_eq!(cpu_weight(1 << 30), 10_000);
        assert_eq!(io_weight(10), 1);
        assert_eq!(io_weight(500), 4950);
        assert_eq!(io_weight(1000), 10_000);
        assert_eq!(io_weight(5000), 10_000);
    }

    #[test]
    fn v2_refuses_limits_whose_controller_is_not_delegated_by_name() {
        let (root, cgroup) = made(&[], "memory pids");
        let cases = [
            (
                Limits {
                    cpu_quota: Some(1000),
                    ..Limits::default()
                },
                "cpu",
                "a CPU limit is not supported on this host (no cpu controller)",
            ),
            (
                Limits {
                    block_io: BlockIo {
                        weight: Some(100),
                        ..BlockIo::default()
                    },
                    ..Limits::default()
                },
                "io",
                "block I/O limits is not supported on this host (no io controller)",
            ),
            (
                Limits {
                    hugepages: vec![("2MB".into(), 1 << 21)],
                    ..Limits::default()
                },
                "hugetlb",
                "hugepage limits is not supported on this host (no hugetlb controller)",
            ),
            // cgroup v2 has no net_cls or net_prio.
            (
                Limits {
                    network: NetworkLimits {
                        priorities: vec![("lo".into(), 1)],
                        ..NetworkLimits::default()
                    },
                    ..Limits::default()
                },
                "net_prio",
                "network priorities is not supported on this host (no net_prio controller)",
            ),
        ];
        for (limits, controller, why) in cases {
            let e = cgroup.update(&limits).unwrap_err();
            assert_eq!(e.what(), what_at(&root.path().join(controller)));
            assert_eq!(e.io().to_string(), why);
        }
        // What is delegated is written.
        let memory = Limits {
            memory: Some(1 << 30),
            ..Limits::default()
        };
        cgroup.update(&memory).unwrap();
        assert_eq!(
            read(&root.path().join("berth/t/memory.max")),
            (1u64 << 30).to_string()
        );
    }

    #[test]
    fn v2_has_no_controller_paths_and_reads_its_own_files() {
        let (root, cgroup) = made(&[], "");
        let dir = root.path().join("berth/t");
        let e = cgroup.below(&["memory:sub".to_owned()]).unwrap_err();
        assert!(
            e.to_string().contains("cgroup v2 has no controller paths"),
            "{e}"
        );
        cgroup.freeze(true).unwrap();
        assert_eq!(read(&dir.join("cgroup.freeze")), "1");
        assert!(cgroup.frozen());
        cgroup.freeze(false).unwrap();
        assert!(!cgroup.frozen());
        fs::write(dir.join("memory.current"), "8192\n").unwrap();
        fs::write(dir.join("memory.max"), "max\n").unwrap();
        assert_eq!(cgroup.memory(), Some((8192, None)));
        fs::write(dir.join("memory.max"), "65536\n").unwrap();
        assert_eq!(cgroup.memory(), Some((8192, Some(65536))));
        fs::write(dir.join("cpu.stat"), "usage_usec 250\nuser_usec 200\n").unwrap();
        assert_eq!(cgroup.cpu_usage_ns(), Some(250_000));
        fs::write(dir.join("pids.current"), "2\n").unwrap();
        assert_eq!(cgroup.pids_current(), Some(2));
        fs::write(dir.join("cgroup.procs"), "7\n9\n").unwrap();
        assert_eq!(cgroup.pids(), [7, 9]);
        fs::write(dir.join("memory.events"), "oom 1\noom_kill 1\n").unwrap();
        assert!(cgroup.oom_killed());
        // No tasks files: the parent adds the process, or it is born in the cgroup.
        assert!(cgroup.open_self_join().unwrap().is_none());
        cgroup.add_to_unified(7).unwrap();
        assert_eq!(read(&dir.join("cgroup.procs")), "7\n9\n");
    }
}
