//! What a container is made of, in plain form: its configuration (see `spec`), hooks,
//! namespaces and network.

use crate::cgroup::Limits;
use crate::process::{CapabilitySets, Rlimit};
use crate::rootfs::{self, MountSpec, Overlay};
use crate::userns::IdMap;
use std::path::PathBuf;

/// Everything the runtime needs to start one container, in plain form (see `spec`).
#[derive(Debug, Clone, Default)]
pub struct ContainerConfig {
    /// The container id, for messages.
    pub id: String,
    /// The root file system's directory (a mount point once set up).
    pub rootfs: PathBuf,
    /// Mount an overlay there first.
    pub overlay: Option<Overlay>,
    /// The UTS hostname.
    pub hostname: Option<String>,
    /// The UTS (NIS) domain name.
    pub domainname: Option<String>,
    /// Mounts, in order, relative to the rootfs.
    pub mounts: Vec<MountSpec>,
    /// Remount the root read-only at the end.
    pub readonly_root: bool,
    /// The propagation of the container's root mount (`linux.rootfsPropagation`), set once
    /// it is the root.
    pub rootfs_propagation: Option<rustix::mount::MountPropagationFlags>,
    /// Paths hidden from the container.
    pub masked_paths: Vec<String>,
    /// Paths made read-only.
    pub readonly_paths: Vec<String>,
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `NAME=value` environment.
    pub env: Vec<String>,
    /// Working directory (created when missing, as Docker does).
    pub cwd: String,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// The process's umask (the runtime's own, 022 as a rule, when unset).
    pub umask: Option<u32>,
    /// Capability sets.
    pub capabilities: CapabilitySets,
    /// Resource limits.
    pub rlimits: Vec<Rlimit>,
    /// Set no_new_privs.
    pub no_new_privileges: bool,
    /// The seccomp filters, loaded in order (none: unconfined).
    pub seccomp: Vec<seccompiler::BpfProgram>,
    /// Where a filter with `SCMP_ACT_NOTIFY` rules sends its listener (`linux.seccomp`'s
    /// `listenerPath` and `listenerMetadata`).
    pub seccomp_listener: Option<SeccompListener>,
    /// The cgroup, relative to the hierarchy roots (`berth/<id>`).
    pub cgroup_path: String,
    /// Its limits.
    pub limits: Limits,
    /// Give the process a pseudo-terminal.
    pub terminal: bool,
    /// Run berth's small init as PID 1, with the command as its child.
    pub init: bool,
    /// The network namespace.
    pub network: NetworkNamespace,
    /// The other namespaces: which are new (`CLONE_NEW*` flags of `NEWNS`, `NEWUTS`,
    /// `NEWIPC`, `NEWPID`, `NEWCGROUP`) and which are joined by path; the rest are the host's.
    pub namespaces: Namespaces,
    /// Outlive the process that starts it (OCI `create`); otherwise it dies with that
    /// process (`PR_SET_PDEATHSIG`).
    pub outlive_parent: bool,
    /// Namespaced sysctls (`net.ipv4.ip_forward` = `1`), written after /proc is mounted.
    pub sysctls: Vec<(String, String)>,
    /// The process's OOM score adjustment.
    pub oom_score_adj: Option<i32>,
    /// Descriptors 3 to 3+N-1 stay open for the process (OCI `--preserve-fds`).
    pub preserve_fds: u32,
    /// The spec's hooks that run while the container is made and started.
    pub hooks: HookSet,
    /// Device nodes to create (`linux.devices`).
    pub devices: Vec<rootfs::DeviceNode>,
}

/// The hooks of a container's creation and start, and the state they are given.
#[derive(Debug, Clone, Default)]
pub struct HookSet {
    /// `prestart`: run by the parent before the child pivots, with the status `created`.
    pub prestart: Vec<oci_spec::runtime::Hook>,
    /// `createRuntime`: run by the parent after `prestart`, with the status `creating`.
    pub create_runtime: Vec<oci_spec::runtime::Hook>,
    /// `createContainer`: run by the child in its namespaces before it pivots.
    pub create_container: Vec<oci_spec::runtime::Hook>,
    /// `startContainer`: run by the child before its command.
    pub start_container: Vec<oci_spec::runtime::Hook>,
    /// The OCI state (id, bundle, annotations) that `pid` and `status` complete.
    pub state: serde_json::Value,
}

impl HookSet {
    /// The state JSON for a hook, with `pid` and `status`.
    pub fn state_with(&self, pid: i32, status: &str) -> String {
        let mut state = self.state.clone();
        if state.is_object() {
            state["pid"] = pid.into();
            state["status"] = status.into();
        }
        state.to_string()
    }
}

/// The unix socket of a seccomp supervisor (an agent) and what to tell it.
#[derive(Debug, Clone, Default)]
pub struct SeccompListener {
    /// The socket's path.
    pub path: PathBuf,
    /// Opaque text for the agent.
    pub metadata: String,
}

/// A container's namespaces besides the network's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// `CLONE_NEW*` flags of the namespaces made new.
    pub new: libc::c_int,
    /// Namespaces joined: their `CLONE_NEW*` type and path.
    pub join: Vec<(libc::c_int, PathBuf)>,
    /// A new user namespace's uid mappings.
    pub uid_map: Vec<IdMap>,
    /// A new user namespace's gid mappings.
    pub gid_map: Vec<IdMap>,
}

impl Namespaces {
    /// Whether the container has the namespace `kind` (a `CLONE_NEW*` flag) apart from the
    /// host's: a new one or one joined by path.
    pub fn has(&self, kind: libc::c_int) -> bool {
        self.new & kind != 0 || self.join.iter().any(|(k, _)| *k == kind)
    }

    /// Whether the container gets a user namespace of its own.
    pub fn new_user(&self) -> bool {
        self.new & libc::CLONE_NEWUSER != 0
    }

    /// The host uid and gid of the container's root: the mapped ones in a new user namespace,
    /// else 0.
    pub fn host_root(&self) -> (u32, u32) {
        match self.new_user() {
            true => (
                IdMap::to_host(&self.uid_map, 0).unwrap_or(0),
                IdMap::to_host(&self.gid_map, 0).unwrap_or(0),
            ),
            false => (0, 0),
        }
    }
}

/// Where a container's network comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// A new, empty namespace with only `lo` up.
    #[default]
    New,
    /// The namespace at this path (a prepared one, or another container's).
    Join(PathBuf),
    /// The host's own.
    Host,
}
