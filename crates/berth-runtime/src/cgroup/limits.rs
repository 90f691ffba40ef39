//! What a container's cgroup limits: the runtime spec's `linux.resources` in plain fields, the
//! controllers each limit needs, and Docker's default device rules.

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
    /// Memory nodes the container may use (`0`, `0-1`).
    pub cpuset_mems: Option<String>,
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
pub(super) const THROTTLES: [(&str, &str); 4] = [
    ("blkio.throttle.read_bps_device", "rbps"),
    ("blkio.throttle.write_bps_device", "wbps"),
    ("blkio.throttle.read_iops_device", "riops"),
    ("blkio.throttle.write_iops_device", "wiops"),
];

/// A controller a limit needs: its v1 name, its v2 name, and what it keeps (for the refusal).
pub(super) struct Needed {
    /// The v1 hierarchy's name.
    pub(super) v1: &'static str,
    /// The v2 controller's name.
    pub(super) v2: &'static str,
    /// What the limit is, as the refusal says it.
    pub(super) what: &'static str,
}

impl Limits {
    /// The controllers these limits need (cgroup v2 has no net_cls or net_prio: no v2 cgroup
    /// lists them).
    pub(super) fn controllers_needed(&self) -> Vec<Needed> {
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
                self.cpuset_cpus.is_some() || self.cpuset_mems.is_some(),
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
        .filter_map(|(wanted, (v1, v2, what))| wanted.then_some(Needed { v1, v2, what }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_controllers_they_need() {
        let names = |limits: &Limits| -> Vec<&str> {
            limits.controllers_needed().iter().map(|c| c.v1).collect()
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
        let v2: Vec<&str> = limits.controllers_needed().iter().map(|c| c.v2).collect();
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
        let tcp = Limits {
            memory_kernel_tcp: Some(48 << 20),
            ..Limits::default()
        };
        assert_eq!(names(&tcp), ["memory"]);
    }

    #[test]
    fn the_device_rules_are_dockers_unless_the_container_has_its_own() {
        assert_eq!(Limits::default().device_rules(), DEFAULT_DEVICE_RULES);
        let own = Limits {
            device_rules: vec!["c 10:200 rwm".into()],
            ..Limits::default()
        };
        assert_eq!(own.device_rules(), ["c 10:200 rwm"]);
    }
}
