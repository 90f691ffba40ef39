//! A container's cgroup: created with its limits before the process runs, joined by the
//! process, read for OOM kills, removed when the container ends. Works on v1, hybrid (v1
//! controllers) and v2 hierarchies.

use crate::cgroups::{CgroupLayout, CgroupMode};
use crate::devices::{self, DeviceRule};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The v1 controllers berth puts a container in (those the host mounts).
const V1_CONTROLLERS: [&str; 11] = [
    "cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio", "hugetlb",
    "net_cls", "net_prio",
];

/// The device nodes a container may use (Docker's default list): `type major minor access`.
pub const DEFAULT_DEVICE_RULES: [&str; 11] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

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

/// Limits (`what`) asked of a host without the controller that keeps them.
fn no_controller(root: &Path, controller: &str, what: &str) -> CgroupError {
    CgroupError {
        path: root.join(controller),
        source: io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{what} is not supported on this host (no {controller} controller)"),
        ),
    }
}

/// A cgroup operation failed.
#[derive(Debug, thiserror::Error)]
#[error("cgroup {path}: {source}")]
pub struct CgroupError {
    /// The file or directory.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
    move |source| CgroupError {
        path: path.to_path_buf(),
        source,
    }
}

/// Limits for a container, in the runtime spec's units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// CFS quota in microseconds per `cpu_period`.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds (100000 when a quota is set without one).
    pub cpu_period: Option<u64>,
    /// Relative CPU weight, v1 `cpu.shares` (2..262144).
    pub cpu_shares: Option<u64>,
    /// CPUs the container may run on (`0-1`, `0,2`).
    pub cpuset_cpus: Option<String>,
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Memory plus swap limit in bytes (-1: unlimited swap).
    pub memory_swap: Option<i64>,
    /// Soft memory limit in bytes (v1 `memory.soft_limit_in_bytes`, v2 `memory.low`).
    pub memory_reservation: Option<i64>,
    /// v1 `memory.swappiness` (0-100).
    pub memory_swappiness: Option<u64>,
    /// v1 `memory.kmem.tcp.limit_in_bytes`: the TCP buffers' limit in bytes (`kernelTCP`;
    /// cgroup v2 has none, and there it is ignored, as runc does).
    pub memory_kernel_tcp: Option<i64>,
    /// Keep the OOM killer away (v1 `memory.oom_control`).
    pub oom_kill_disable: bool,
    /// Maximum number of processes.
    pub pids: Option<i64>,
    /// Device access rules for v1's devices controller, Docker's default when empty.
    pub device_rules: Vec<String>,
    /// Block I/O weights and throttles.
    pub block_io: BlockIo,
    /// Hugepage limits in bytes, by page size as the kernel names it (`2MB`, `1GB`).
    pub hugepages: Vec<(String, u64)>,
    /// Traffic class and priorities of the container's sockets.
    pub network: NetworkLimits,
}

/// Network limits (`linux.resources.network`): v1's net_cls and net_prio controllers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkLimits {
    /// The class id tagged on the container's packets (`net_cls.classid`), for tc and
    /// firewall rules to match.
    pub class_id: Option<u32>,
    /// Per-interface priorities of the container's traffic (`net_prio.ifpriomap`).
    pub priorities: Vec<(String, u32)>,
}

impl NetworkLimits {
    /// Writes the limits to a v1 `controller`'s directory.
    fn write_v1(&self, controller: &str, dir: &Path) -> Result<(), CgroupError> {
        match controller {
            "net_cls" => {
                if let Some(class_id) = self.class_id {
                    write(&dir.join("net_cls.classid"), &class_id.to_string())?;
                }
            }
            "net_prio" => {
                for (interface, priority) in &self.priorities {
                    write(
                        &dir.join("net_prio.ifpriomap"),
                        &format!("{interface} {priority}"),
                    )?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Block I/O limits (`linux.resources.blockIO`): v1's blkio controller, v2's io.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockIo {
    /// Relative weight (10-1000).
    pub weight: Option<u16>,
    /// v1: the weight of the cgroup's own tasks against its children (10-1000).
    pub leaf_weight: Option<u16>,
    /// Per-device weights: `major`, `minor`, weight.
    pub weight_devices: Vec<(i64, i64, u16)>,
    /// Per-device limits, each `major`, `minor`, rate, in the order of `THROTTLES`: read and
    /// write bytes per second, read and write operations per second.
    pub throttles: [Vec<(i64, i64, u64)>; 4],
}

/// The throttles' v1 files and v2 `io.max` keys, in `BlockIo::throttles`' order.
const THROTTLES: [(&str, &str); 4] = [
    ("blkio.throttle.read_bps_device", "rbps"),
    ("blkio.throttle.write_bps_device", "wbps"),
    ("blkio.throttle.read_iops_device", "riops"),
    ("blkio.throttle.write_iops_device", "wiops"),
];

impl BlockIo {
    /// v1: writes the limits into the blkio cgroup `dir` (BFQ's weight files when the
    /// scheduler is BFQ).
    fn write_v1(&self, dir: &Path) -> Result<(), CgroupError> {
        let weight_file = |name: &str| {
            let bfq = dir.join(format!("blkio.bfq.{name}"));
            match bfq.exists() {
                true => bfq,
                false => dir.join(format!("blkio.{name}")),
            }
        };
        if let Some(weight) = self.weight {
            write_supported(&weight_file("weight"), &weight.to_string(), "blkio weight")?;
        }
        if let Some(weight) = self.leaf_weight {
            write_supported(
                &dir.join("blkio.leaf_weight"),
                &weight.to_string(),
                "blkio leaf weight",
            )?;
        }
        for (major, minor, weight) in &self.weight_devices {
            write_supported(
                &weight_file("weight_device"),
                &format!("{major}:{minor} {weight}"),
                "blkio device weight",
            )?;
        }
        for (limits, (file, _)) in self.throttles.iter().zip(THROTTLES) {
            for (major, minor, rate) in limits {
                write(&dir.join(file), &format!("{major}:{minor} {rate}"))?;
            }
        }
        Ok(())
    }

    /// v2: writes the limits into the cgroup `dir` (`io.weight` or BFQ's `io.bfq.weight`,
    /// `io.max`), weights converted from v1's 10-1000 to v2's 1-10000 as runc does.
    fn write_v2(&self, dir: &Path) -> Result<(), CgroupError> {
        let v2_weight = |w: u16| 1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990;
        let bfq = dir.join("io.bfq.weight");
        if let Some(weight) = self.weight {
            match bfq.exists() {
                true => write(&bfq, &weight.to_string())?,
                false => write_supported(
                    &dir.join("io.weight"),
                    &format!("default {}", v2_weight(weight)),
                    "io weight",
                )?,
            }
        }
        for (major, minor, weight) in &self.weight_devices {
            match bfq.exists() {
                true => write(&bfq, &format!("{major}:{minor} {weight}"))?,
                false => write_supported(
                    &dir.join("io.weight"),
                    &format!("{major}:{minor} {}", v2_weight(*weight)),
                    "io device weight",
                )?,
            }
        }
        let mut devices: Vec<(i64, i64)> = self
            .throttles
            .iter()
            .flatten()
            .map(|(major, minor, _)| (*major, *minor))
            .collect();
        devices.sort_unstable();
        devices.dedup();
        for (major, minor) in devices {
            let keys: Vec<String> = self
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
}

/// Writes `value` to `path`, a file that only some hosts have: a missing file is an error that
/// says the host does not support `what`.
fn write_supported(path: &Path, value: &str, what: &str) -> Result<(), CgroupError> {
    if !path.exists() {
        return Err(CgroupError {
            path: path.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{what} is not supported on this host (its I/O scheduler has no weights)"),
            ),
        });
    }
    write(path, value)
}

/// A container's cgroup, in one directory per v1 controller or one v2 directory.
#[derive(Debug, Clone)]
pub struct Cgroup {
    /// (v1 controller or "" on v2, directory)
    dirs: Vec<(&'static str, PathBuf)>,
    mode: CgroupMode,
    relative: PathBuf,
    /// Where the host's cgroups are mounted (`/sys/fs/cgroup`).
    root: PathBuf,
}

impl Cgroup {
    /// The cgroup at `relative` (e.g. `berth/<id>`) in this layout, without creating anything.
    pub fn at(layout: &CgroupLayout, relative: &str) -> Cgroup {
        let relative = relative.trim_start_matches('/');
        let dirs = match layout.mode {
            CgroupMode::V2 => vec![("", layout.root.join(relative))],
            CgroupMode::V1 | CgroupMode::Hybrid => {
                let mut dirs: Vec<(&'static str, PathBuf)> = V1_CONTROLLERS
                    .iter()
                    .filter(|c| layout.root.join(c).is_dir())
                    .map(|c| (*c, layout.root.join(c).join(relative)))
                    .collect();
                // A hybrid host's cgroup2 holds a container's cgroup only for what its v1
                // hierarchies lack (hugetlb), when the container asked for that.
                let unified = layout.root.join("unified").join(relative);
                if layout.mode == CgroupMode::Hybrid && !relative.is_empty() && unified.is_dir() {
                    dirs.push(("", unified));
                }
                dirs
            }
        };
        Cgroup {
            dirs,
            mode: layout.mode,
            relative: PathBuf::from(relative),
            root: layout.root.clone(),
        }
    }

    /// Creates the cgroup's directories, without limits yet (see `apply_limits`). The levels
    /// above it (`berth/`) are made when missing and stay, as Docker's `docker/` does.
    pub fn make(layout: &CgroupLayout, relative: &str) -> Result<Cgroup, CgroupError> {
        let cgroup = Cgroup::at(layout, relative);
        let made = match cgroup.mode {
            CgroupMode::V2 => cgroup.make_v2(layout),
            _ => cgroup.make_v1(),
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
        let v2 = self.mode == CgroupMode::V2;
        if !v2 && !limits.hugepages.is_empty() && !self.has("hugetlb") {
            let dir = self.create_hybrid_hugetlb(layout)?;
            self.dirs.push(("", dir));
        }
        self.check_controllers(limits)?;
        match v2 {
            true => self.write_v2(limits, true)?,
            false => self.write_v1(limits, true)?,
        }
        self.write_hugepages(&limits.hugepages)
    }

    fn make_v1(&self) -> Result<(), CgroupError> {
        for (controller, dir) in &self.dirs {
            match *controller {
                // Makes each level, with CPUs and memory nodes.
                "cpuset" => self.prepare_v1_cpuset(dir)?,
                _ => fs::create_dir_all(dir).map_err(at(dir))?,
            }
        }
        Ok(())
    }

    /// Hugepage limits without a v1 hugetlb hierarchy: on a hybrid host whose cgroup2 has the
    /// controller, the container also gets a cgroup there (hugetlb delegated down to it), whose
    /// directory this returns.
    fn create_hybrid_hugetlb(&self, layout: &CgroupLayout) -> Result<PathBuf, CgroupError> {
        let root = layout.root.join("unified");
        let available = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        if layout.mode != CgroupMode::Hybrid
            || !available.split_whitespace().any(|c| c == "hugetlb")
        {
            return Err(no_controller(&layout.root, "hugetlb", "hugepage limits"));
        }
        let mut level = root;
        for part in self.relative.components() {
            write(&level.join("cgroup.subtree_control"), "+hugetlb")?;
            level = level.join(part);
            match fs::create_dir(&level) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(at(&level)(e)),
                _ => {}
            }
        }
        Ok(level)
    }

    /// The hugepage limits: v1's `hugetlb.<size>.limit_in_bytes`, cgroup2's
    /// `hugetlb.<size>.max`. A size the host does not have is refused by name.
    fn write_hugepages(&self, hugepages: &[(String, u64)]) -> Result<(), CgroupError> {
        for (size, limit) in hugepages {
            for (controller, dir) in &self.dirs {
                let file = match *controller {
                    "hugetlb" => dir.join(format!("hugetlb.{size}.limit_in_bytes")),
                    "" => dir.join(format!("hugetlb.{size}.max")),
                    _ => continue,
                };
                if !file.exists() {
                    return Err(CgroupError {
                        path: file,
                        source: io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("invalid hugepage size {size}: this host has no such pages"),
                        ),
                    });
                }
                write(&file, &limit.to_string())?;
            }
        }
        Ok(())
    }

    /// Writes `limits` to the v1 controllers; the device rules and an unset pids limit only
    /// when `creating`.
    fn write_v1(&self, limits: &Limits, creating: bool) -> Result<(), CgroupError> {
        for (controller, dir) in &self.dirs {
            match *controller {
                "cpu" => {
                    if let Some(quota) = limits.cpu_quota {
                        write(
                            &dir.join("cpu.cfs_period_us"),
                            &limits.cpu_period.unwrap_or(100_000).to_string(),
                        )?;
                        write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                    }
                    if let Some(shares) = limits.cpu_shares {
                        write(&dir.join("cpu.shares"), &shares.to_string())?;
                    }
                }
                "cpuset" => {
                    if let Some(cpus) = &limits.cpuset_cpus {
                        write(&dir.join("cpuset.cpus"), cpus)?;
                    }
                }
                "memory" => {
                    if let Some(memory) = limits.memory {
                        write(&dir.join("memory.limit_in_bytes"), &memory.to_string())?;
                        if let Some(swap) = limits.memory_swap {
                            let file = dir.join("memory.memsw.limit_in_bytes");
                            if file.exists() {
                                write(&file, &swap.to_string())?;
                            }
                        }
                    }
                    if let Some(soft) = limits.memory_reservation {
                        write(&dir.join("memory.soft_limit_in_bytes"), &soft.to_string())?;
                    }
                    if let Some(swappiness) = limits.memory_swappiness {
                        write(&dir.join("memory.swappiness"), &swappiness.to_string())?;
                    }
                    if let Some(tcp) = limits.memory_kernel_tcp {
                        write(
                            &dir.join("memory.kmem.tcp.limit_in_bytes"),
                            &tcp.to_string(),
                        )?;
                    }
                    if limits.oom_kill_disable {
                        write(&dir.join("memory.oom_control"), "1")?;
                    }
                }
                "pids" if creating || limits.pids.is_some() => {
                    write_pids_max(dir, limits.pids)?;
                }
                "blkio" => limits.block_io.write_v1(dir)?,
                "net_cls" | "net_prio" => limits.network.write_v1(controller, dir)?,
                "devices" if creating => {
                    write(&dir.join("devices.deny"), "a")?;
                    // One rule per write(2), all through one open file.
                    let allow = dir.join("devices.allow");
                    let mut file = fs::OpenOptions::new()
                        .write(true)
                        .open(&allow)
                        .map_err(at(&allow))?;
                    for rule in limits.device_rules() {
                        std::io::Write::write_all(&mut file, rule.as_bytes())
                            .map_err(at(&allow))?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A v1 cpuset cgroup starts with no CPUs and no memory nodes: give each new level its
    /// parent's, or no process can join it.
    fn prepare_v1_cpuset(&self, dir: &Path) -> Result<(), CgroupError> {
        let depth = self.relative.components().count();
        let mut level = dir.ancestors().nth(depth).unwrap_or(dir).to_path_buf();
        for part in self.relative.components() {
            let parent = level.clone();
            level = level.join(part);
            let made = match fs::create_dir(&level) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(at(&level)(e)),
                result => result.is_ok(),
            };
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if fs::read_to_string(level.join(file))
                    .unwrap_or_default()
                    .trim()
                    .is_empty()
                {
                    let value =
                        fs::read_to_string(parent.join(file)).map_err(at(&parent.join(file)))?;
                    write(&level.join(file), value.trim())?;
                }
            }
            // A level above the container's, just made, hands its CPUs and memory nodes to
            // the cgroups made in it from now on: the next container's needs no copy.
            if made && level != dir {
                write(&level.join("cgroup.clone_children"), "1")?;
            }
        }
        Ok(())
    }

    /// Makes each level of the v2 cgroup, each level above it delegating the controllers to
    /// its children.
    fn make_v2(&self, layout: &CgroupLayout) -> Result<(), CgroupError> {
        let mut level = layout.root.clone();
        for part in self.relative.components() {
            let wanted: Vec<String> = ["cpu", "cpuset", "memory", "pids", "io", "hugetlb"]
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

    /// Writes `limits` to the v2 cgroup; the device filter and an unset pids limit only when
    /// `creating`.
    fn write_v2(&self, limits: &Limits, creating: bool) -> Result<(), CgroupError> {
        let dir = &self.dirs[0].1;
        if let Some(quota) = limits.cpu_quota {
            write(
                &dir.join("cpu.max"),
                &format!("{quota} {}", limits.cpu_period.unwrap_or(100_000)),
            )?;
        }
        if let Some(shares) = limits.cpu_shares {
            // The conversion runc and crun use from v1 shares to v2 weight.
            let weight = 1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142;
            write(&dir.join("cpu.weight"), &weight.to_string())?;
        }
        if let Some(cpus) = &limits.cpuset_cpus {
            write(&dir.join("cpuset.cpus"), cpus)?;
        }
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
        limits.block_io.write_v2(dir)?;
        if creating {
            attach_device_filter(dir, limits)?;
        }
        if creating || limits.pids.is_some() {
            write_pids_max(dir, limits.pids)?;
        }
        Ok(())
    }

    /// Changes the limits of a cgroup that exists (OCI `update`): only those `limits` sets.
    pub fn update(&self, limits: &Limits) -> Result<(), CgroupError> {
        self.check_controllers(limits)?;
        match self.mode {
            CgroupMode::V2 => self.write_v2(limits, false),
            _ => self.write_v1(limits, false),
        }?;
        self.write_hugepages(&limits.hugepages)
    }

    /// Refuses limits whose controller this cgroup lacks (a v1 hierarchy the host does not
    /// mount, a v2 controller not delegated down to it): they would otherwise go unset, or
    /// fail with the kernel's "permission denied" on a file that is not there.
    fn check_controllers(&self, limits: &Limits) -> Result<(), CgroupError> {
        let needed = limits.controllers_needed();
        if needed.is_empty() {
            return Ok(());
        }
        let v2 = self.mode == CgroupMode::V2;
        let delegated = match v2 {
            true => {
                fs::read_to_string(self.dirs[0].1.join("cgroup.controllers")).unwrap_or_default()
            }
            false => String::new(),
        };
        for (v1_name, v2_name, what) in needed {
            let present = match v2 {
                true => delegated.split_whitespace().any(|c| c == v2_name),
                false => self.has(v1_name),
            };
            if !present {
                let controller = if v2 { v2_name } else { v1_name };
                return Err(no_controller(&self.root, controller, what));
            }
        }
        Ok(())
    }

    /// Whether a v1 cgroup has a part for `controller` (hugetlb: also the cgroup2 part of a
    /// hybrid host).
    fn has(&self, controller: &str) -> bool {
        self.dirs
            .iter()
            .any(|(c, _)| *c == controller || (controller == "hugetlb" && c.is_empty()))
    }

    /// The directory of a v2 cgroup, opened for `CLONE_INTO_CGROUP`.
    pub fn open_v2_dir(&self) -> Result<std::os::fd::OwnedFd, CgroupError> {
        let dir = &self.dirs[0].1;
        rustix::fs::open(
            dir,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| at(dir)(e.into()))
    }

    /// Moves process `pid` into this cgroup's cgroup2 part on a hybrid host (v1 hierarchies
    /// are joined by the process itself: see `SelfJoin`).
    pub fn add_to_unified(&self, pid: i32) -> Result<(), CgroupError> {
        if self.mode != CgroupMode::Hybrid {
            return Ok(());
        }
        for (_, dir) in self.dirs.iter().filter(|(c, _)| c.is_empty()) {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// A cgroup below this one that already exists, as runc's `exec --cgroup` names it: each
    /// entry `[controller:]path`, the path relative to this cgroup (no `..`); an entry without a
    /// controller applies to every controller (v2 has only those).
    pub fn below(&self, entries: &[String]) -> Result<Cgroup, CgroupError> {
        let invalid = |entry: &str, why: &str| CgroupError {
            path: self.relative.join(entry),
            source: io::Error::new(io::ErrorKind::InvalidInput, why.to_owned()),
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
            match controller {
                None | Some("") => every = Some(path.to_path_buf()),
                Some(_) if self.mode == CgroupMode::V2 => {
                    return Err(invalid(entry, "cgroup v2 has no controller paths"));
                }
                Some(names) => {
                    for name in names.split(',') {
                        if !self.dirs.iter().any(|(c, _)| *c == name) {
                            return Err(invalid(entry, "no such cgroup controller"));
                        }
                        per_controller.push((name, path.to_path_buf()));
                    }
                }
            }
        }
        let mut dirs = Vec::with_capacity(self.dirs.len());
        for (controller, dir) in &self.dirs {
            let sub = per_controller
                .iter()
                .rev()
                .find(|(c, _)| c == controller)
                .map(|(_, p)| p)
                .or(every.as_ref());
            let dir = match sub {
                Some(sub) => dir.join(sub),
                None => dir.clone(),
            };
            if !dir.is_dir() {
                return Err(CgroupError {
                    path: dir,
                    source: io::Error::new(io::ErrorKind::NotFound, "no such sub-cgroup"),
                });
            }
            dirs.push((*controller, dir));
        }
        Ok(Cgroup {
            dirs,
            mode: self.mode,
            relative: self.relative.join(every.unwrap_or_default()),
            root: self.root.clone(),
        })
    }

    /// On v1 hierarchies, the cgroup's `tasks` files opened for a new process to move itself
    /// in with `SelfJoin::join` (the files are opened here, before the process exists). None
    /// on v2, where `add` moves it. See `SelfJoin` for why.
    pub fn open_self_join(&self) -> Result<Option<SelfJoin>, CgroupError> {
        if self.mode == CgroupMode::V2 {
            return Ok(None);
        }
        let tasks = self
            .dirs
            .iter()
            .filter(|(controller, _)| !controller.is_empty())
            .map(|(_, dir)| {
                let path = dir.join("tasks");
                fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map(std::os::fd::OwnedFd::from)
                    .map_err(at(&path))
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(SelfJoin { tasks }))
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: i32) -> Result<(), CgroupError> {
        for (_, dir) in &self.dirs {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        let file = match self.mode {
            CgroupMode::V2 => self.dirs.first().map(|(_, d)| d.join("memory.events")),
            _ => self
                .dirs
                .iter()
                .find(|(c, _)| *c == "memory")
                .map(|(_, d)| d.join("memory.oom_control")),
        };
        let Some(text) = file.and_then(|f| fs::read_to_string(f).ok()) else {
            return false;
        };
        text.lines()
            .any(|l| l.strip_prefix("oom_kill ").is_some_and(|n| n.trim() != "0"))
    }

    /// Freezes (pauses) or thaws every process of the cgroup: v1's freezer, v2's cgroup.freeze.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        match self.mode {
            CgroupMode::V2 => write(
                &self.dirs[0].1.join("cgroup.freeze"),
                if frozen { "1" } else { "0" },
            ),
            _ => match self.dirs.iter().find(|(c, _)| *c == "freezer") {
                Some((_, dir)) => write(
                    &dir.join("freezer.state"),
                    if frozen { "FROZEN" } else { "THAWED" },
                ),
                None => Err(CgroupError {
                    path: PathBuf::from("freezer"),
                    source: io::Error::other("this host has no freezer controller"),
                }),
            },
        }
    }

    /// Whether the freezer holds the cgroup's processes.
    pub fn frozen(&self) -> bool {
        let read = |path: PathBuf| fs::read_to_string(path).unwrap_or_default();
        match self.mode {
            CgroupMode::V2 => read(self.dirs[0].1.join("cgroup.freeze")).trim() == "1",
            _ => self
                .dirs
                .iter()
                .find(|(c, _)| *c == "freezer")
                .is_some_and(|(_, dir)| read(dir.join("freezer.state")).trim() == "FROZEN"),
        }
    }

    /// CPU time used, in nanoseconds.
    pub fn cpu_usage_ns(&self) -> Option<u64> {
        match self.mode {
            CgroupMode::V2 => {
                let stat = fs::read_to_string(self.dirs[0].1.join("cpu.stat")).ok()?;
                let usec: u64 = stat
                    .lines()
                    .find_map(|l| l.strip_prefix("usage_usec "))?
                    .trim()
                    .parse()
                    .ok()?;
                Some(usec * 1000)
            }
            _ => {
                let (_, dir) = self.dirs.iter().find(|(c, _)| *c == "cpuacct")?;
                fs::read_to_string(dir.join("cpuacct.usage"))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            }
        }
    }

    /// Memory in use and the limit, in bytes (`None` for no limit).
    pub fn memory(&self) -> Option<(u64, Option<u64>)> {
        let read = |path: PathBuf| fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
        let (usage, limit) = match self.mode {
            CgroupMode::V2 => (
                read(self.dirs[0].1.join("memory.current"))?,
                read(self.dirs[0].1.join("memory.max"))?,
            ),
            _ => {
                let (_, dir) = self.dirs.iter().find(|(c, _)| *c == "memory")?;
                (
                    read(dir.join("memory.usage_in_bytes"))?,
                    read(dir.join("memory.limit_in_bytes"))?,
                )
            }
        };
        // v1 says "no limit" with a huge number.
        let limit = limit.parse::<u64>().ok().filter(|l| *l < (1 << 62));
        Some((usage.parse().ok()?, limit))
    }

    /// The number of processes.
    pub fn pids_current(&self) -> Option<u64> {
        let dir = match self.mode {
            CgroupMode::V2 => &self.dirs[0].1,
            _ => &self.dirs.iter().find(|(c, _)| *c == "pids")?.1,
        };
        fs::read_to_string(dir.join("pids.current"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The pids in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let Some((_, dir)) = self.dirs.first() else {
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
            for (_, dir) in &self.dirs {
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
        tracing::warn!(dirs = ?self.dirs, "cgroup still busy; the next berth command reclaims it");
    }
}

impl Limits {
    /// The controllers these limits need: v1 name, v2 name (cgroup v2 has no net_cls or
    /// net_prio: no v2 cgroup lists them), what they keep.
    fn controllers_needed(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        let memory = self.memory.is_some()
            || self.memory_swap.is_some()
            || self.memory_reservation.is_some()
            || self.memory_swappiness.is_some()
            || self.memory_kernel_tcp.is_some()
            || self.oom_kill_disable;
        [
            (
                self.cpu_quota.is_some() || self.cpu_shares.is_some(),
                ("cpu", "cpu", "a CPU limit"),
            ),
            (
                self.cpuset_cpus.is_some(),
                ("cpuset", "cpuset", "a CPU set"),
            ),
            (memory, ("memory", "memory", "a memory limit")),
            (
                self.pids.is_some_and(|n| n > 0),
                ("pids", "pids", "a process limit"),
            ),
            (
                self.block_io != BlockIo::default(),
                ("blkio", "io", "block I/O limits"),
            ),
            (
                !self.hugepages.is_empty(),
                ("hugetlb", "hugetlb", "hugepage limits"),
            ),
            (
                self.network.class_id.is_some(),
                ("net_cls", "net_cls", "a network class id"),
            ),
            (
                !self.network.priorities.is_empty(),
                ("net_prio", "net_prio", "network priorities"),
            ),
        ]
        .into_iter()
        .filter_map(|(wanted, controller)| wanted.then_some(controller))
        .collect()
    }

    /// The device rules in v1's text form: the container's, or Docker's defaults.
    pub fn device_rules(&self) -> Vec<String> {
        if self.device_rules.is_empty() {
            DEFAULT_DEVICE_RULES
                .iter()
                .map(|r| (*r).to_owned())
                .collect()
        } else {
            self.device_rules.clone()
        }
    }
}

/// Limits device access in the cgroup2 directory `dir` with an eBPF program.
fn attach_device_filter(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    let rules: Vec<DeviceRule> = limits
        .device_rules()
        .iter()
        .filter_map(|r| DeviceRule::parse(r))
        .collect();
    devices::attach_filter(dir, &rules).map_err(at(dir))
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

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(at(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_controllers_they_need() {
        let names = |limits: &Limits| -> Vec<&str> {
            limits
                .controllers_needed()
                .iter()
                .map(|(v1, _, _)| *v1)
                .collect()
        };
        assert!(names(&Limits::default()).is_empty());
        // No process limit (0 or -1) needs no pids controller.
        let unlimited = Limits {
            pids: Some(-1),
            ..Limits::default()
        };
        assert!(names(&unlimited).is_empty());
        let limits = Limits {
            memory: Some(64 << 20),
            cpu_shares: Some(512),
            pids: Some(10),
            block_io: BlockIo {
                weight: Some(300),
                ..BlockIo::default()
            },
            ..Limits::default()
        };
        assert_eq!(names(&limits), ["cpu", "memory", "pids", "blkio"]);
        let v2: Vec<&str> = limits.controllers_needed().iter().map(|c| c.1).collect();
        assert_eq!(v2, ["cpu", "memory", "pids", "io"]);
        let others = Limits {
            hugepages: vec![("2MB".into(), 4 << 20)],
            network: NetworkLimits {
                class_id: Some(0x10001),
                priorities: vec![("lo".into(), 5)],
            },
            ..Limits::default()
        };
        assert_eq!(names(&others), ["hugetlb", "net_cls", "net_prio"]);
    }

    #[test]
    fn v1_memory_limits_include_the_tcp_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let cgroup = Cgroup {
            dirs: vec![("memory", dir.path().to_path_buf())],
            mode: CgroupMode::V1,
            relative: PathBuf::from("berth/t"),
            root: dir.path().to_path_buf(),
        };
        let limits = Limits {
            memory: Some(50 << 20),
            memory_kernel_tcp: Some(48 << 20),
            ..Limits::default()
        };
        assert_eq!(
            limits
                .controllers_needed()
                .iter()
                .map(|c| c.0)
                .collect::<Vec<_>>(),
            ["memory"]
        );
        cgroup.write_v1(&limits, false).unwrap();
        let read = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("memory.limit_in_bytes"), (50 << 20).to_string());
        assert_eq!(
            read("memory.kmem.tcp.limit_in_bytes"),
            (48 << 20).to_string()
        );
    }
}
