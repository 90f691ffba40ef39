//! cgroup v1 (and a hybrid host's v1 controllers): one directory per controller hierarchy,
//! plus, on a hybrid host, a cgroup2 part for what the v1 hierarchies lack (hugetlb). Each
//! writer takes the controller directory it writes in.

use super::layout::{CgroupLayout, CgroupMode};
use super::limits::{BlockIo, Limits, NetworkLimits, THROTTLES};
use super::{
    CgroupError, existing, no_controller, read_number, what_at, write, write_hugepage_limit,
    write_pids_max, write_supported,
};
use berth_error::{Context, IoContext};
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
                _ => fs::create_dir_all(dir).with_context(|| what_at(dir))?,
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
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                    return Err(IoContext::new(what_at(&level), e));
                }
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
                    .with_context(|| what_at(&path))
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
            None => Err(IoContext::new(
                what_at(Path::new("freezer")),
                io::Error::other("this host has no freezer controller"),
            )),
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
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(IoContext::new(what_at(&level), e));
            }
            result => result.is_ok(),
        };
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if fs::read_to_string(level.join(file))
                .unwrap_or_default()
                .trim()
                .is_empty()
            {
                let value = fs::read_to_string(parent.join(file))
                    .with_context(|| what_at(&parent.join(file)))?;
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

/// The CPUs and memory nodes.
fn write_cpuset(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    if let Some(cpus) = &limits.cpuset_cpus {
        write(&dir.join("cpuset.cpus"), cpus)?;
    }
    if let Some(mems) = &limits.cpuset_mems {
        write(&dir.join("cpuset.mems"), mems)?;
    }
    Ok(())
}

/// The memory limits: hard (with swap, where the host accounts swap), soft, swappiness, TCP
/// buffers, the OOM killer.
fn write_memory(dir: &Path, limits: &Limits) -> Result<(), CgroupError> {
    if let Some(memory) = limits.memory {
        let limit = dir.join("memory.limit_in_bytes");
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        match limits.memory_swap.filter(|_| memsw.exists()) {
            // The kernel keeps the memory limit at most the memory-plus-swap one: a swap
            // limit above the memory limit now (an update that raises both) goes first.
            Some(swap)
                if swap == -1 || read_number(&limit).is_some_and(|now| now < swap as u64) =>
            {
                write(&memsw, &swap.to_string())?;
                write(&limit, &memory.to_string())?;
            }
            Some(swap) => {
                write(&limit, &memory.to_string())?;
                write(&memsw, &swap.to_string())?;
            }
            None => write(&limit, &memory.to_string())?,
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
        .with_context(|| what_at(&allow))?;
    for rule in rules {
        std::io::Write::write_all(&mut file, rule.as_bytes()).with_context(|| what_at(&allow))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::scratch::{layout, read, touch};
    use super::super::{Cgroup, CgroupMode, Limits};
    use super::*;

    /// The v1 hierarchies of a scratch host with every controller berth uses.
    const ALL: [&str; 11] = CONTROLLERS;

    /// A v1 cgroup `berth/t` made in a scratch hierarchy with `hierarchies`, its root cpuset
    /// holding CPUs 0-1 and memory node 0.
    fn made(mode: CgroupMode, hierarchies: &[&str]) -> (tempfile::TempDir, CgroupLayout, Cgroup) {
        let (root, layout) = layout(mode, hierarchies, &[]);
        if hierarchies.contains(&"cpuset") {
            fs::write(root.path().join("cpuset/cpuset.cpus"), "0-1\n").unwrap();
            fs::write(root.path().join("cpuset/cpuset.mems"), "0\n").unwrap();
        }
        let cgroup = Cgroup::make(&layout, "berth/t").unwrap();
        (root, layout, cgroup)
    }

    #[test]
    fn each_level_of_a_v1_cpuset_gets_its_parents_cpus_and_memory_nodes() {
        let (root, _, _) = made(CgroupMode::V1, &["cpuset", "memory"]);
        let cpuset = root.path().join("cpuset");
        for level in ["berth", "berth/t"] {
            assert_eq!(read(&cpuset.join(level).join("cpuset.cpus")), "0-1");
            assert_eq!(read(&cpuset.join(level).join("cpuset.mems")), "0");
        }
        // The level above the container's hands them down from now on; the container's not.
        assert_eq!(read(&cpuset.join("berth/cgroup.clone_children")), "1");
        assert!(!cpuset.join("berth/t/cgroup.clone_children").exists());
        assert!(root.path().join("memory/berth/t").is_dir());
    }

    #[test]
    fn v1_writers_put_each_limit_in_its_controllers_file() {
        let (root, layout, mut cgroup) = made(CgroupMode::V1, &ALL);
        let dir = |controller: &str| root.path().join(controller).join("berth/t");
        // The files only some hosts have, or that must exist to be opened.
        touch(&dir("memory"), &["memory.memsw.limit_in_bytes"]);
        touch(
            &dir("blkio"),
            &["blkio.weight", "blkio.leaf_weight", "blkio.weight_device"],
        );
        touch(&dir("hugetlb"), &["hugetlb.2MB.limit_in_bytes"]);
        touch(&dir("devices"), &["devices.allow"]);
        let limits = Limits {
            cpu_quota: Some(50_000),
            // A quota without a period gets the kernel's default period.
            cpu_period: None,
            cpu_shares: Some(512),
            cpuset_cpus: Some("1".into()),
            cpuset_mems: Some("0-1".into()),
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            memory_reservation: Some(32 << 20),
            memory_swappiness: Some(10),
            memory_kernel_tcp: Some(16 << 20),
            oom_kill_disable: true,
            pids: Some(20),
            device_rules: vec!["c 1:3 rwm".into(), "c 1:5 rwm".into()],
            block_io: BlockIo {
                weight: Some(300),
                leaf_weight: Some(200),
                weight_devices: vec![(8, 0, 400)],
                throttles: [
                    vec![(8, 0, 1 << 20)],
                    vec![(8, 16, 2 << 20)],
                    vec![(8, 0, 100)],
                    vec![(8, 0, 50)],
                ],
            },
            hugepages: vec![("2MB".into(), 4 << 20)],
            network: NetworkLimits {
                class_id: Some(0x10001),
                priorities: vec![("lo".into(), 5)],
            },
        };
        cgroup.apply_limits(&layout, &limits).unwrap();
        let expected = [
            ("cpu", "cpu.cfs_period_us", "100000".to_owned()),
            ("cpu", "cpu.cfs_quota_us", "50000".to_owned()),
            ("cpu", "cpu.shares", "512".to_owned()),
            ("cpuset", "cpuset.cpus", "1".to_owned()),
            ("cpuset", "cpuset.mems", "0-1".to_owned()),
            ("memory", "memory.limit_in_bytes", (64 << 20).to_string()),
            (
                "memory",
                "memory.memsw.limit_in_bytes",
                (128 << 20).to_string(),
            ),
            (
                "memory",
                "memory.soft_limit_in_bytes",
                (32 << 20).to_string(),
            ),
            ("memory", "memory.swappiness", "10".to_owned()),
            (
                "memory",
                "memory.kmem.tcp.limit_in_bytes",
                (16 << 20).to_string(),
            ),
            ("memory", "memory.oom_control", "1".to_owned()),
            ("pids", "pids.max", "20".to_owned()),
            ("blkio", "blkio.weight", "300".to_owned()),
            ("blkio", "blkio.leaf_weight", "200".to_owned()),
            ("blkio", "blkio.weight_device", "8:0 400".to_owned()),
            (
                "blkio",
                "blkio.throttle.read_bps_device",
                "8:0 1048576".to_owned(),
            ),
            (
                "blkio",
                "blkio.throttle.write_bps_device",
                "8:16 2097152".to_owned(),
            ),
            (
                "blkio",
                "blkio.throttle.read_iops_device",
                "8:0 100".to_owned(),
            ),
            (
                "blkio",
                "blkio.throttle.write_iops_device",
                "8:0 50".to_owned(),
            ),
            (
                "hugetlb",
                "hugetlb.2MB.limit_in_bytes",
                (4 << 20).to_string(),
            ),
            ("net_cls", "net_cls.classid", "65537".to_owned()),
            ("net_prio", "net_prio.ifpriomap", "lo 5".to_owned()),
            ("devices", "devices.deny", "a".to_owned()),
            // Every rule through the one open file, one write each.
            ("devices", "devices.allow", "c 1:3 rwmc 1:5 rwm".to_owned()),
        ];
        for (controller, file, value) in expected {
            assert_eq!(
                read(&dir(controller).join(file)),
                value,
                "{controller}/{file}"
            );
        }
    }

    #[test]
    fn v1_defaults_are_dockers_device_rules_and_no_swap_file_where_none_is_accounted() {
        let (root, layout, mut cgroup) = made(CgroupMode::V1, &["memory", "devices"]);
        let dir = |controller: &str| root.path().join(controller).join("berth/t");
        touch(&dir("devices"), &["devices.allow"]);
        let limits = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            ..Limits::default()
        };
        cgroup.apply_limits(&layout, &limits).unwrap();
        assert_eq!(
            read(&dir("devices").join("devices.allow")),
            super::super::DEFAULT_DEVICE_RULES.concat()
        );
        assert!(!dir("memory").join("memory.memsw.limit_in_bytes").exists());
    }

    #[test]
    fn a_v1_update_writes_only_what_it_is_given() {
        let (root, _, cgroup) = made(CgroupMode::V1, &["cpu", "pids", "devices"]);
        let dir = |controller: &str| root.path().join(controller).join("berth/t");
        let limits = Limits {
            cpu_shares: Some(256),
            ..Limits::default()
        };
        cgroup.update(&limits).unwrap();
        assert_eq!(read(&dir("cpu").join("cpu.shares")), "256");
        assert!(!dir("cpu").join("cpu.cfs_quota_us").exists());
        assert!(!dir("pids").join("pids.max").exists());
        assert!(!dir("devices").join("devices.deny").exists());
        let unlimited = Limits {
            pids: Some(-1),
            ..Limits::default()
        };
        touch(&dir("pids"), &["pids.max"]);
        cgroup.update(&unlimited).unwrap();
        assert_eq!(read(&dir("pids").join("pids.max")), "max");
    }

    #[test]
    fn v1_refuses_limits_whose_hierarchy_is_missing_by_name() {
        let (root, layout, mut cgroup) = made(CgroupMode::V1, &["memory", "blkio"]);
        let refusal = |limits: &Limits| cgroup.update(limits).unwrap_err();
        let cases = [
            (
                Limits {
                    cpu_shares: Some(512),
                    ..Limits::default()
                },
                "cpu",
                "a CPU limit is not supported on this host (no cpu controller)",
            ),
            (
                Limits {
                    cpuset_cpus: Some("0".into()),
                    ..Limits::default()
                },
                "cpuset",
                "a CPU set is not supported on this host (no cpuset controller)",
            ),
            (
                Limits {
                    pids: Some(5),
                    ..Limits::default()
                },
                "pids",
                "a process limit is not supported on this host (no pids controller)",
            ),
            (
                Limits {
                    network: NetworkLimits {
                        class_id: Some(1),
                        ..NetworkLimits::default()
                    },
                    ..Limits::default()
                },
                "net_cls",
                "a network class id is not supported on this host (no net_cls controller)",
            ),
        ];
        for (limits, controller, why) in cases {
            let e = refusal(&limits);
            assert_eq!(e.what(), what_at(&root.path().join(controller)));
            assert_eq!(e.io().to_string(), why);
        }
        // A weight needs its scheduler's file.
        let weight = Limits {
            block_io: BlockIo {
                weight: Some(300),
                ..BlockIo::default()
            },
            ..Limits::default()
        };
        let e = refusal(&weight);
        assert!(
            e.to_string().contains("blkio weight is not supported"),
            "{e}"
        );
        // Hugepages without a hugetlb hierarchy, on a host without a cgroup2 to hold them.
        let hugepages = Limits {
            hugepages: vec![("2MB".into(), 4 << 20)],
            ..Limits::default()
        };
        let e = cgroup.apply_limits(&layout, &hugepages).unwrap_err();
        assert_eq!(e.what(), what_at(&root.path().join("hugetlb")));
        assert!(e.to_string().contains("no hugetlb controller"), "{e}");
    }

    #[test]
    fn a_hybrid_host_keeps_hugepage_limits_in_its_cgroup2() {
        let (root, layout, mut cgroup) = made(CgroupMode::Hybrid, &["memory", "unified"]);
        let unified = root.path().join("unified");
        fs::write(unified.join("cgroup.controllers"), "hugetlb pids").unwrap();
        fs::create_dir_all(unified.join("berth/t")).unwrap();
        touch(&unified.join("berth/t"), &["hugetlb.2MB.max"]);
        touch(&root.path().join("memory/berth/t"), &["tasks"]);
        let limits = Limits {
            hugepages: vec![("2MB".into(), 4 << 20)],
            ..Limits::default()
        };
        cgroup.apply_limits(&layout, &limits).unwrap();
        for level in ["", "berth"] {
            assert_eq!(
                read(&unified.join(level).join("cgroup.subtree_control")),
                "+hugetlb"
            );
        }
        assert_eq!(
            read(&unified.join("berth/t/hugetlb.2MB.max")),
            (4 << 20).to_string()
        );
        // The process moves itself into the v1 hierarchies; this process adds it to the
        // cgroup2 part.
        assert_eq!(cgroup.open_self_join().unwrap().unwrap().files().len(), 1);
        cgroup.add_to_unified(42).unwrap();
        assert_eq!(read(&unified.join("berth/t/cgroup.procs")), "42");
        assert!(!root.path().join("memory/berth/t/cgroup.procs").exists());
        // Found again from the layout, with its cgroup2 part.
        let again = Cgroup::at(&layout, "berth/t");
        assert_eq!(again.dirs().count(), 2);
    }

    #[test]
    fn v1_controller_paths_below_name_hierarchies_the_cgroup_has() {
        let (root, _, cgroup) = made(CgroupMode::V1, &["memory", "pids"]);
        fs::create_dir(root.path().join("memory/berth/t/m")).unwrap();
        let below = |entries: &[&str]| {
            let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
            cgroup.below(&entries)
        };
        let e = below(&["cpu:m"]).unwrap_err();
        assert!(e.to_string().contains("no such cgroup controller"), "{e}");
        let sub = below(&["memory:m"]).unwrap();
        assert_eq!(
            sub.dirs().collect::<Vec<_>>(),
            [
                root.path().join("memory/berth/t/m"),
                root.path().join("pids/berth/t")
            ]
        );
    }

    #[test]
    fn v1_reads_the_freezer_memory_cpu_and_oom_files() {
        let (root, _, cgroup) = made(CgroupMode::V1, &["freezer", "memory", "cpuacct", "pids"]);
        let dir = |controller: &str| root.path().join(controller).join("berth/t");
        cgroup.freeze(true).unwrap();
        assert_eq!(read(&dir("freezer").join("freezer.state")), "FROZEN");
        assert!(cgroup.frozen());
        cgroup.freeze(false).unwrap();
        assert!(!cgroup.frozen());
        fs::write(dir("memory").join("memory.usage_in_bytes"), "4096\n").unwrap();
        // v1's "no limit".
        fs::write(
            dir("memory").join("memory.limit_in_bytes"),
            "9223372036854771712\n",
        )
        .unwrap();
        assert_eq!(cgroup.memory(), Some((4096, None)));
        fs::write(dir("cpuacct").join("cpuacct.usage"), "123456\n").unwrap();
        assert_eq!(cgroup.cpu_usage_ns(), Some(123_456));
        fs::write(dir("pids").join("pids.current"), "3\n").unwrap();
        assert_eq!(cgroup.pids_current(), Some(3));
        fs::write(dir("memory").join("memory.oom_control"), "oom_kill 0\n").unwrap();
        assert!(!cgroup.oom_killed());
        fs::write(dir("memory").join("memory.oom_control"), "oom_kill 1\n").unwrap();
        assert!(cgroup.oom_killed());
        let (_, _, without) = made(CgroupMode::V1, &["memory"]);
        let e = without.freeze(true).unwrap_err();
        assert!(e.to_string().contains("no freezer controller"), "{e}");
    }
}
