//! From a runtime-spec `config.json` (`oci_spec::runtime::Spec`) to the plain
//! [`ContainerConfig`] the runtime executes.
//!
//! Annotations berth reads: `berth.seccomp` = `default` (Docker's default filter for the
//! process's capabilities) or a path to a Docker-format profile; `berth.init` = `true`.

use crate::cgroup::{BlockIo, Limits, NetworkLimits};
use crate::container::{ContainerConfig, Namespaces, NetworkNamespace};
use crate::hooks;
use crate::process::{CapabilitySets, Rlimit, rlimit_resource};
use crate::rootfs::{self, MountSpec, Overlay};
use crate::seccomp;
use crate::userns::IdMap;
use caps::Capability;
use oci_spec::runtime::{Linux, LinuxSeccomp, Process, Spec};
use seccompiler::BpfProgram;
use std::collections::HashMap;
use std::path::Path;

/// The spec asks for something berth cannot do.
#[derive(Debug, thiserror::Error)]
#[error("invalid runtime spec: {0}")]
pub struct SpecError(pub String);

fn capabilities(
    set: &Option<oci_spec::runtime::Capabilities>,
) -> Result<Vec<caps::Capability>, SpecError> {
    let mut out = Vec::new();
    for cap in set.iter().flatten() {
        let name = serde_json::to_value(cap)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let parsed: caps::Capability = name
            .parse()
            .map_err(|_| SpecError(format!("unknown capability {name}")))?;
        out.push(parsed);
    }
    out.sort_by_key(|c| c.index());
    Ok(out)
}

/// A `cgroup` mount as the host's cgroups are laid out: cgroup2 on a v2 host; on a v1 or
/// hybrid host a tmpfs with one mount per v1 hierarchy under it (the runtime turns the tmpfs
/// read-only once those are in, when the mount asks for `ro`). Other mounts pass unchanged.
fn expand_cgroup_mount(m: MountSpec) -> Vec<MountSpec> {
    const CONTROLLERS: [&str; 14] = [
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "net_cls",
        "net_prio",
        "blkio",
        "perf_event",
        "hugetlb",
        "pids",
        "rdma",
        "misc",
    ];
    let named_controller = m
        .options
        .iter()
        .any(|o| o.starts_with("name=") || o.split(',').any(|part| CONTROLLERS.contains(&part)));
    if m.kind != "cgroup" || named_controller {
        return vec![m];
    }
    let layout = match crate::cgroups::detect() {
        Ok(layout) if layout.mode != crate::cgroups::CgroupMode::V2 => layout,
        _ => {
            return vec![MountSpec {
                kind: "cgroup2".into(),
                ..m
            }];
        }
    };
    let mut options = m.options.clone();
    options.push("mode=755".into());
    let mut out = vec![MountSpec {
        kind: "tmpfs".into(),
        source: "tmpfs".into(),
        options,
        ..m.clone()
    }];
    for controller in layout.v1_hierarchies() {
        let mut options = m.options.clone();
        options.push(controller.clone());
        out.push(MountSpec {
            destination: format!("{}/{controller}", m.destination.trim_end_matches('/')),
            kind: "cgroup".into(),
            source: "cgroup".into(),
            options,
        });
    }
    out
}

/// The network namespace the spec asks for: a `network` entry with a path joins it, one
/// without makes a new one, and none at all shares the host's (as the runtime spec says).
fn network_namespace(spec: &Spec) -> NetworkNamespace {
    let entry = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|all| {
            all.iter()
                .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
        });
    match entry {
        None => NetworkNamespace::Host,
        Some(n) => match n.path() {
            Some(path) => NetworkNamespace::Join(path.clone()),
            None => NetworkNamespace::New,
        },
    }
}

/// The cgroup limits of the spec's `linux.resources` (for `create`, and for `update`).
pub fn limits_of(resources: Option<&oci_spec::runtime::LinuxResources>) -> Limits {
    let memory = resources.and_then(|r| r.memory().as_ref());
    let cpu = resources.and_then(|r| r.cpu().as_ref());
    Limits {
        // 0 means unset, as runc reads these (Docker's specs carry zeros).
        cpu_quota: cpu.and_then(|c| c.quota()).filter(|q| *q != 0),
        cpu_period: cpu.and_then(|c| c.period()).filter(|p| *p != 0),
        cpu_shares: cpu.and_then(|c| c.shares()).filter(|s| *s != 0),
        cpuset_cpus: cpu.and_then(|c| c.cpus().clone()),
        cpuset_mems: cpu.and_then(|c| c.mems().clone()),
        memory: memory.and_then(|m| m.limit()),
        memory_swap: memory.and_then(|m| m.swap()),
        memory_reservation: memory.and_then(|m| m.reservation()),
        memory_swappiness: memory.and_then(|m| m.swappiness()),
        memory_kernel_tcp: memory.and_then(|m| m.kernel_tcp()),
        oom_kill_disable: memory.and_then(|m| m.disable_oom_killer()).unwrap_or(false),
        pids: resources.and_then(|r| r.pids().as_ref()).map(|p| p.limit()),
        device_rules: resources
            .and_then(|r| r.devices().as_ref())
            .map(|devices| {
                // Allow entries; everything else is denied, as in Docker's specs.
                devices
                    .iter()
                    .filter(|d| d.allow())
                    .map(|d| {
                        let kind = d
                            .typ()
                            .map(|t| t.as_str().to_owned())
                            .unwrap_or_else(|| "a".into());
                        let number =
                            |n: Option<i64>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
                        format!(
                            "{kind} {}:{} {}",
                            number(d.major()),
                            number(d.minor()),
                            d.access().clone().unwrap_or_else(|| "rwm".into())
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        block_io: resources
            .and_then(|r| r.block_io().as_ref())
            .map(block_io)
            .unwrap_or_default(),
        hugepages: resources
            .and_then(|r| r.hugepage_limits().as_ref())
            .map(|limits| {
                limits
                    .iter()
                    .map(|l| (l.page_size().clone(), l.limit().max(0) as u64))
                    .collect()
            })
            .unwrap_or_default(),
        network: resources
            .and_then(|r| r.network().as_ref())
            .map(|network| NetworkLimits {
                class_id: network.class_id(),
                priorities: network
                    .priorities()
                    .iter()
                    .flatten()
                    .map(|p| (p.name().clone(), p.priority()))
                    .collect(),
            })
            .unwrap_or_default(),
    }
}

/// The spec's block I/O limits.
fn block_io(spec: &oci_spec::runtime::LinuxBlockIo) -> BlockIo {
    let throttles = |devices: &Option<Vec<oci_spec::runtime::LinuxThrottleDevice>>| {
        devices
            .iter()
            .flatten()
            .map(|d| (d.major(), d.minor(), d.rate()))
            .collect()
    };
    // A weight of 0 means none (Docker's specs carry it), as runc reads it.
    let set = |weight: Option<u16>| weight.filter(|w| *w != 0);
    BlockIo {
        weight: set(spec.weight()),
        leaf_weight: set(spec.leaf_weight()),
        weight_devices: spec
            .weight_device()
            .iter()
            .flatten()
            .filter_map(|d| set(d.weight()).map(|w| (d.major(), d.minor(), w)))
            .collect(),
        throttles: [
            throttles(spec.throttle_read_bps_device()),
            throttles(spec.throttle_write_bps_device()),
            throttles(spec.throttle_read_iops_device()),
            throttles(spec.throttle_write_iops_device()),
        ],
    }
}

/// The namespaces besides the network's: new, joined by path, or the host's (absent). Without
/// a mount namespace the container's mounts are made in the host's (as runc does), so masked
/// and read-only paths are refused there.
fn other_namespaces(spec: &Spec) -> Result<Namespaces, SpecError> {
    use oci_spec::runtime::LinuxNamespaceType as Type;
    let mut namespaces = Namespaces::default();
    let listed = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    for entry in listed.into_iter().flatten() {
        let flag = match entry.typ() {
            Type::Mount => libc::CLONE_NEWNS,
            Type::Uts => libc::CLONE_NEWUTS,
            Type::Ipc => libc::CLONE_NEWIPC,
            Type::Pid => libc::CLONE_NEWPID,
            Type::Cgroup => libc::CLONE_NEWCGROUP,
            Type::User => libc::CLONE_NEWUSER,
            Type::Network => continue,
            other => {
                return Err(SpecError(format!(
                    "the {other:?} namespace is not supported by berth yet"
                )));
            }
        };
        match entry.path() {
            Some(path) => namespaces.join.push((flag, path.clone())),
            None => namespaces.new |= flag,
        }
    }
    let linux = spec.linux().as_ref();
    let maps = |entries: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| -> Vec<IdMap> {
        entries
            .into_iter()
            .flatten()
            .map(|m| IdMap {
                container: m.container_id(),
                host: m.host_id(),
                size: m.size(),
            })
            .collect()
    };
    namespaces.uid_map = maps(linux.and_then(|l| l.uid_mappings().as_ref()));
    namespaces.gid_map = maps(linux.and_then(|l| l.gid_mappings().as_ref()));
    let mapped = !namespaces.uid_map.is_empty() || !namespaces.gid_map.is_empty();
    if namespaces.new_user() && (namespaces.uid_map.is_empty() || namespaces.gid_map.is_empty()) {
        return Err(SpecError(
            "a new user namespace needs linux.uidMappings and linux.gidMappings".into(),
        ));
    }
    if mapped && !namespaces.new_user() {
        return Err(SpecError(
            "linux.uidMappings and gidMappings need a new user namespace (linux.namespaces: user)"
                .into(),
        ));
    }
    let hostname = spec.hostname().as_ref().is_some_and(|h| !h.is_empty());
    if hostname && !namespaces.has(libc::CLONE_NEWUTS) {
        return Err(SpecError(
            "unable to set hostname without a private UTS namespace".into(),
        ));
    }
    let domainname = spec.domainname().as_ref().is_some_and(|d| !d.is_empty());
    if domainname && !namespaces.has(libc::CLONE_NEWUTS) {
        return Err(SpecError(
            "unable to set domainname without a private UTS namespace".into(),
        ));
    }
    if !namespaces.has(libc::CLONE_NEWNS) {
        let linux = spec.linux().as_ref();
        let restricted = linux.is_some_and(|l| {
            l.masked_paths().as_ref().is_some_and(|p| !p.is_empty())
                || l.readonly_paths().as_ref().is_some_and(|p| !p.is_empty())
        });
        if restricted {
            return Err(SpecError(
                "unable to restrict sys entries without a private MNT namespace".into(),
            ));
        }
    }
    Ok(namespaces)
}

/// Builds the runtime's configuration from `spec`, with the rootfs at `rootfs` and, when
/// given, an overlay to mount there.
pub fn container_config(
    id: &str,
    spec: &Spec,
    rootfs: &Path,
    overlay: Option<Overlay>,
) -> Result<ContainerConfig, SpecError> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| SpecError("no process".into()))?;
    let user = process.user();
    let caps_sets = capability_sets(process)?;
    let rlimits = rlimits(process)?;
    let mounts = mounts(spec);
    let linux = spec.linux().as_ref();
    let limits = limits_of(linux.and_then(|l| l.resources().as_ref()));
    let annotations = spec.annotations().clone().unwrap_or_default();
    let oci_seccomp = linux.and_then(|l| l.seccomp().as_ref());
    let seccomp = seccomp_filters(
        annotations.get("berth.seccomp").map(String::as_str),
        oci_seccomp,
        &caps_sets.effective,
    )?;
    Ok(ContainerConfig {
        id: id.to_owned(),
        rootfs: rootfs.to_path_buf(),
        overlay,
        hostname: spec.hostname().clone(),
        domainname: spec.domainname().clone().filter(|d| !d.is_empty()),
        mounts,
        rootfs_propagation: match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
            None | Some("") => None,
            Some(mode) => Some(rootfs::propagation(mode).ok_or_else(|| {
                SpecError(format!("linux.rootfsPropagation: unknown mode {mode:?}"))
            })?),
        },
        readonly_root: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        masked_paths: linux
            .and_then(|l| l.masked_paths().clone())
            .unwrap_or_default(),
        readonly_paths: linux
            .and_then(|l| l.readonly_paths().clone())
            .unwrap_or_default(),
        args: process.args().clone().unwrap_or_default(),
        env: process.env().clone().unwrap_or_default(),
        cwd: process.cwd().display().to_string(),
        uid: user.uid(),
        gid: user.gid(),
        groups: user.additional_gids().clone().unwrap_or_default(),
        umask: user.umask(),
        capabilities: caps_sets,
        rlimits,
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        seccomp,
        seccomp_listener: oci_seccomp
            .and_then(|s| s.listener_path().as_ref())
            .map(|path| crate::container::SeccompListener {
                path: path.clone(),
                metadata: oci_seccomp
                    .and_then(|s| s.listener_metadata().clone())
                    .unwrap_or_default(),
            }),
        cgroup_path: linux
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| format!("berth/{id}")),
        limits,
        terminal: process.terminal().unwrap_or(false),
        init: annotations.get("berth.init").is_some_and(|v| v == "true"),
        network: network_namespace(spec),
        namespaces: other_namespaces(spec)?,
        outlive_parent: false,
        sysctls: linux
            .and_then(|l| l.sysctl().clone())
            .map(|all| all.into_iter().collect())
            .unwrap_or_default(),
        oom_score_adj: process.oom_score_adj(),
        preserve_fds: 0,
        devices: devices(linux),
        hooks: hook_set(id, spec, process, &annotations),
    })
}

/// The process's capability sets.
fn capability_sets(process: &Process) -> Result<CapabilitySets, SpecError> {
    Ok(match process.capabilities() {
        Some(c) => CapabilitySets {
            bounding: capabilities(c.bounding())?,
            effective: capabilities(c.effective())?,
            permitted: capabilities(c.permitted())?,
            inheritable: capabilities(c.inheritable())?,
            ambient: capabilities(c.ambient())?,
        },
        None => CapabilitySets::default(),
    })
}

/// The process's resource limits.
fn rlimits(process: &Process) -> Result<Vec<Rlimit>, SpecError> {
    let mut rlimits = Vec::new();
    for limit in process.rlimits().iter().flatten() {
        let name = serde_json::to_value(limit.typ())
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let (resource, name) =
            rlimit_resource(&name).ok_or_else(|| SpecError(format!("unknown rlimit {name}")))?;
        rlimits.push(Rlimit {
            resource,
            name,
            soft: limit.soft(),
            hard: limit.hard(),
        });
    }
    Ok(rlimits)
}

/// The spec's mounts, a cgroup mount expanded to the host's hierarchies.
fn mounts(spec: &Spec) -> Vec<MountSpec> {
    spec.mounts()
        .iter()
        .flatten()
        .map(|m| MountSpec {
            destination: m.destination().display().to_string(),
            kind: m.typ().clone().unwrap_or_else(|| "bind".into()),
            source: m
                .source()
                .as_ref()
                .map(|s| s.display().to_string())
                .unwrap_or_default(),
            options: m.options().clone().unwrap_or_default(),
        })
        .flat_map(expand_cgroup_mount)
        .collect()
}

/// The seccomp filters: the `berth.seccomp` annotation's (`unconfined`, `default` or a
/// profile's path), else the spec's own `linux.seccomp`, else none.
fn seccomp_filters(
    annotation: Option<&str>,
    oci_seccomp: Option<&LinuxSeccomp>,
    effective: &[Capability],
) -> Result<Vec<BpfProgram>, SpecError> {
    Ok(match annotation {
        // The runtime spec's own filter (the same shape as Docker's profiles).
        None if oci_seccomp.is_some() => {
            let json = serde_json::to_vec(&oci_seccomp).map_err(|e| SpecError(e.to_string()))?;
            seccomp::profile_filters(&json, effective)
                .map_err(|e| SpecError(format!("linux.seccomp: {e}")))?
        }
        None | Some("unconfined") => Vec::new(),
        Some("default") => {
            vec![seccomp::default_filter(effective).map_err(|e| SpecError(e.to_string()))?]
        }
        Some(path) => {
            let json = std::fs::read(path)
                .map_err(|e| SpecError(format!("seccomp profile {path}: {e}")))?;
            seccomp::profile_filters(&json, effective)
                .map_err(|e| SpecError(format!("seccomp profile {path}: {e}")))?
        }
    })
}

/// The device nodes to create.
fn devices(linux: Option<&Linux>) -> Vec<crate::rootfs::DeviceNode> {
    linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .map(|d| crate::rootfs::DeviceNode {
            path: d.path().display().to_string(),
            kind: d.typ().as_str().chars().next().unwrap_or('c'),
            major: d.major() as u32,
            minor: d.minor() as u32,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        })
        .collect()
}

/// The hooks, and the state they are given.
fn hook_set(
    id: &str,
    spec: &Spec,
    process: &Process,
    annotations: &HashMap<String, String>,
) -> crate::container::HookSet {
    crate::container::HookSet {
        prestart: hooks::of(spec, hooks::Point::Prestart),
        create_runtime: hooks::of(spec, hooks::Point::CreateRuntime),
        create_container: hooks::of(spec, hooks::Point::CreateContainer),
        // A startContainer hook runs as part of the container's process: without an env of
        // its own it gets the process's.
        start_container: hooks::of(spec, hooks::Point::StartContainer)
            .into_iter()
            .map(|mut hook| {
                if hook.env().is_none() {
                    hook.set_env(process.env().clone());
                }
                hook
            })
            .collect(),
        state: serde_json::json!({ "ociVersion": "1.2.0", "id": id, "annotations": annotations }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_io_weights_of_zero_are_unset() {
        // Docker's specs carry `"weight": 0`; written, the kernel refuses it.
        let spec: oci_spec::runtime::LinuxBlockIo = serde_json::from_value(serde_json::json!({
            "weight": 0,
            "weightDevice": [{ "major": 8, "minor": 0, "weight": 0 }, { "major": 8, "minor": 16, "weight": 300 }],
            "throttleReadBpsDevice": [{ "major": 8, "minor": 0, "rate": 1024 }],
        }))
        .unwrap();
        let limits = block_io(&spec);
        assert_eq!(limits.weight, None);
        assert_eq!(limits.weight_devices, vec![(8, 16, 300)]);
        assert_eq!(limits.throttles[0], vec![(8, 0, 1024)]);
    }
}
