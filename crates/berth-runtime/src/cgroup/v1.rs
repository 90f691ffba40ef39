//! cgroup v1 (and a hybrid host's v1 controllers): one directory per controller hierarchy,
//! plus, on a hybrid host, a cgroup2 part for what the v1 hierarchies lack (hugetlb). Each
//! writer takes the controller directory it writes in.

use super::layout::{CgroupLayout, CgroupMode};
use super::limits::{BlockIo, Limits, NetworkLimits, THROTTLES};
use super::{
    CgroupError, at, existing, no_controller, read_number, write, write_hugepage_limit,
    write_pids_max, write_supported,
};
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The v1 controllers berth puts a container in (those the host mounts).
const CONTROLLERS: [&str; 11] = [
    "cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio", "hugetlb",
    "net_cls", "net_prio",
];

/// A v1 cgroup's directories: (controller, directory), the controller `""` for a hybrid
/// host's cgroup2 part, which comes last.
#[derive(Debug, Clone)]
pub(super) struct Dirs {
    dirs: Vec<(&'static str, PathBuf)>,
}

impl Dirs {
    /// The cgroup at `relative` in each v1 hierarchy the host mounts (and, on a hybrid host,
    /// in its cgroup2 when the container has a part there), without creating anything.
    pub(super) fn at(layout: &CgroupLayout, relative: &str) -> Dirs {
        let mut dirs: Vec<(&'static str, PathBuf)> = CONTROLLERS
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
        Dirs { dirs }
    }

    /// Every directory, in order.
    pub(super) fn all(&self) -> &[(&'static str, PathBuf)] {
        &self.dirs
    }

    /// The directory of `controller`'s hierarchy, if the host mounts it.
    pub(super) fn part(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(c, _)| *c == controller)
            .map(|(_, dir)| dir.as_path())
    }

    /// Whether the cgroup has a directory named `controller` (`""`: the cgroup2 part).
    pub(super) fn has_part(&self, controller: &str) -> bool {
        self.part(controller).is_some()
    }

    /// Whether the cgroup can keep `controller`'s limits (hugetlb: also in the cgroup2 part of
    /// a hybrid host).
    pub(super) fn has(&self, controller: &str) -> bool {
        self.dirs
            .iter()
            .any(|(c, _)| *c == controller || (controller == "hugetlb" && c.is_empty()))
    }

    /// Creates the directories at `relative` below each hierarchy's root.
    pub(super) fn make(&self, relative: &Path) -> Result<(), CgroupError> {
        for (controller, dir) in &self.dirs {
            match *controller {
                // Makes each level, with CPUs and memory nodes.
                "cpuset" => prepare_cpuset(dir, relative)?,
                _ => fs::create_dir_all(dir).map_err(at(dir))?,
            }
        }
        Ok(())
    }

    /// Hugepage limits without a v1 hugetlb hierarchy: on a hybrid host whose cgroup2 has the
    /// controller, the container also gets a cgroup there (hugetlb delegated down to it), which
    /// becomes its cgroup2 part.
    pub(super) fn add_hybrid_hugetlb(
        &mut self,
        layout: &CgroupLayout,
        relative: &Path,
    ) -> Result<(), CgroupError> {
        let root = layout.root.join("unified");
        let available = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        if layout.mode != CgroupMode::Hybrid
            || !available.split_whitespace().any(|c| c == "hugetlb")
        {
            return Err(no_controller(&layout.root, "hugetlb", "hugepage limits"));
        }
        let mut level = root;
        for part in relative.components() {
            write(&level.join("cgroup.subtree_control"), "+hugetlb")?;
            level = level.join(part);
            match fs::create_dir(&level) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(at(&level)(e)),
                _ => {}
            }
        }
        self.dirs.push(("", level));
        Ok(())
    }

    /// Refuses limits whose controller's hierarchy the host does not mount (`root`: where the
    /// hierarchies are): they would otherwise go unset.
    pub(super) fn check_controllers(
        &self,
        root: &Path,
        limits: &Limits,
    ) -> Result<(), CgroupError> {
        match limits
            .controllers_needed()
            .into_iter()
            .find(|needed| !self.has(needed.v1))
        {
            Some(missing) => Err(no_controller(root, missing.v1, missing.what)),
            None => Ok(()),
        }
    }

    /// Writes `limits` to the controllers; the device rules and an unset pids limit only when
    /// `creating`.
    pub(super) fn write_limits(&self, limits: &Limits, creating: bool) -> Result<(), CgroupError> {
        for (controller, dir) in &self.dirs {
            match *controller {
                "cpu" => write_cpu(dir, limits)?,
                "cpuset" => write_cpuset(dir, limits)?,
                "memory" => write_memory(dir, limits)?,
                "pids" if creating || limits.pids.is_some() => write_pids_max(dir, limits.pids)?,
                "blkio" => write_blkio(dir, &limits.block_io)?,
                "net_cls" => write_net_cls(dir, &limits.network)?,
                "net_prio" => write_net_prio(dir, &limits.network)?,
                "devices" if creating => write_devices(dir, &limits.device_rules())?,
                _ => {}
            }
        }
        Ok(())
    }

    /// The hugepage limits: the hugetlb hierarchy's `hugetlb.<size>.limit_in_bytes`, the
    /// cgroup2 part's `hugetlb.<size>.max`.
    pub(super) fn write_hugepages(&self, hugepages: &[(String, u64)]) -> Result<(), CgroupError> {
        for (size, limit) in hugepages {
            for (controller, dir) in &self.dirs {
                let file = match *controller {
                    "hugetlb" => dir.join(format!("hugetlb.{size}.limit_in_bytes")),
                    "" => dir.join(format!("hugetlb.{size}.max")),
                    _ => continue,
                };
                write_hugepage_limit(&file, size, *limit)?;
            }
        }
        Ok(())
    }

    /// Moves process `pid` into the cgroup2 part, if any.
    pub(super) fn add_to_unified(&self, pid: i32) -> Result<(), CgroupError> {
        for (_, dir) in self.dirs.iter().filter(|(c, _)| c.is_empty()) {
            write(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// The directories of a cgroup below this one that exists: each controller's own path from
    /// `per_controller` (the last entry for it), else `every`'s, else this one's.
    pub(super) fn below(
        &self,
        per_controller: &[(&str, PathBuf)],
        every: Option<&Path>,
    ) -> Result<Dirs, CgroupError> {
        let mut dirs = Vec::with_capacity(self.dirs.len());
        for (controller, dir) in &self.dirs {
            let sub = per_controller
                .iter()
                .rev()
                .find(|(c, _)| c == controller)
                .map(|(_, p)| p.as_path())
                .or(every);
            let dir = match sub {
                Some(sub) => dir.join(sub),
                None => dir.clone(),
            };
            dirs.push((*controller, existing(dir)?));
        }
        Ok(Dirs { dirs })
    }

    /// The v1 hierarchies' `tasks` files, opened for writing (see `SelfJoin`).
    pub(super) fn open_tasks(&self) -> Result<Vec<OwnedFd>, CgroupError> {
        self.dirs
            .iter()
            .filter(|(controller, _)| !controller.is_empty())
            .map(|(_, dir)| {
                let path = dir.join("tasks");
                fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map(OwnedFd::from)
                    .map_err(at(&path))
            })
            .collect()
    }

    /// The file whose `oom_kill` line counts the OOM kills: `memory.oom_control`.
    pub(super) fn oom_file(&self) -> Option<PathBuf> {
        self.part("memory")
            .map(|dir| dir.join("memory.oom_control"))
    }

    /// Freezes or thaws the cgroup through the freezer hierarchy.
    pub(super) fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        match self.part("freezer") {
            Some(dir) => write(
                &dir.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            ),
            None => Err(CgroupError {
                path: PathBuf::from("freezer"),
                source: io::Error::other("this host has no freezer controller"),
            }),
        }
    }

    /// Whether the freezer holds the cgroup.
    pub(super) fn frozen(&self) -> bool {
        self.part("freezer").is_some_and(|dir| {
            fs::read_to_string(dir.join("freezer.state"))
                .unwrap_or_default()
                .trim()
                == "FROZEN"
        })
    }

    /// `cpuacct.usage`: CPU time in nanoseconds.
    pub(super) fn cpu_usage_ns(&self) -> Option<u64> {
        read_number(&self.part("cpuacct")?.join("cpuacct.usage"))
    }

    /// The files of the memory in use and its limit.
    pub(super) fn memory_files(&self) -> Option<(PathBuf, PathBuf)> {
        let dir = self.part("memory")?;
        Some((
            dir.join("memory.usage_in_bytes"),
            dir.join("memory.limit_in_bytes"),
        ))
    }
}

/// A v1 cpuset cgroup starts with no CPUs and no memory nodes: give each new level of `dir`
/// (the cgroup at `relative` below its hierarchy's root) its parent's, or no process can join
/// it.
fn prepare_cpuset(dir: &Path, relative: &Path) -> Result<(), CgroupError> {
    let depth = relative.components().count();
    let mut level = dir.ancestors().nth(depth).unwrap_or(dir).to_path_buf();
    for part in relative.components() {
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

/// The CFS quota and period, and the shares.
fn write_cpu(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
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
    Ok(())
}

/// The CPUs.
fn write_cpuset(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    if let Some(cpus) = &limits.cpuset_cpus {
        write(&dir.join("cpuset.cpus"), cpus)?;
    }
    Ok(())
}

/// The memory limits: hard (with swap, where the host accounts swap), soft, swappiness, TCP
/// buffers, the OOM killer.
fn write_memory(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
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
    Ok(())
}

/// The block I/O weights (BFQ's weight files when the scheduler is BFQ) and throttles.
fn write_blkio(dir: &Path, block_io: &BlockIo) -> Result<(), CgroupError> {
    let weight_file = |name: &str| {
        let bfq = dir.join(format!("blkio.bfq.{name}"));
        match bfq.exists() {
            true => bfq,
            false => dir.join(format!("blkio.{name}")),
        }
    };
    if let Some(weight) = block_io.weight {
        write_supported(&weight_file("weight"), &weight.to_string(), "blkio weight")?;
    }
    if let Some(weight) = block_io.leaf_weight {
        write_supported(
            &dir.join("blkio.leaf_weight"),
            &weight.to_string(),
            "blkio leaf weight",
        )?;
    }
    for (major, minor, weight) in &block_io.weight_devices {
        write_supported(
            &weight_file("weight_device"),
            &format!("{major}:{minor} {weight}"),
            "blkio device weight",
        )?;
    }
    for (limits, (file, _)) in block_io.throttles.iter().zip(THROTTLES) {
        for (major, minor, rate) in limits {
            write(&dir.join(file), &format!("{major}:{minor} {rate}"))?;
        }
    }
    Ok(())
}

/// The class id of the container's packets.
fn write_net_cls(dir: &Path, network: &NetworkLimits) -> Result<(), CgroupError> {
    if let Some(class_id) = network.class_id {
        write(&dir.join("net_cls.classid"), &class_id.to_string())?;
    }
    Ok(())
}

/// The per-interface priorities, one write each.
fn write_net_prio(dir: &Path, network: &NetworkLimits) -> Result<(), CgroupError> {
    for (interface, priority) in &network.priorities {
        write(
            &dir.join("net_prio.ifpriomap"),
            &format!("{interface} {priority}"),
        )?;
    }
    Ok(())
}

/// Denies every device, then allows `rules`: one rule per write(2), all through one open file.
fn write_devices(dir: &Path, rules: &[String]) -> Result<(), CgroupError> {
    write(&dir.join("devices.deny"), "a")?;
    let allow = dir.join("devices.allow");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(&allow)
        .map_err(at(&allow))?;
    for rule in rules {
        std::io::Write::write_all(&mut file, rule.as_bytes()).map_err(at(&allow))?;
    }
    Ok(())
}
