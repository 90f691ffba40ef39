//! Spec generation, a pure function: image config + run options -> runtime spec, built with
//! `oci_spec::runtime`'s builders, with Docker's defaults (mounts, masked and read-only paths,
//! capabilities, seccomp, environment). What the runtime spec has no field for goes in
//! annotations berth's runtime reads (`berth.seccomp`, `berth.init`).

use crate::options::RunPlan;
use crate::users::User;
use oci_spec::OciSpecError;
use oci_spec::runtime::{
    Capabilities, Capability, Linux, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder,
    LinuxDeviceCgroupBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, Mount, MountBuilder,
    PosixRlimitBuilder, PosixRlimitType, Process, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};
use serde_json::Value;
use std::collections::HashMap;

/// Docker's default capabilities.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Paths Docker hides from containers.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The CFS period of `--cpus`, in microseconds (Docker's).
pub const CPU_PERIOD: u64 = 100_000;

/// The PATH a container gets when its image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the spec needs from the host and the container's files.
pub struct Context<'a> {
    /// The container id.
    pub id: &'a str,
    /// Its hostname.
    pub hostname: &'a str,
    /// The resolved user.
    pub user: &'a User,
    /// The image config's `config` object (Env, Cmd, Entrypoint, WorkingDir, ...).
    pub image: &'a Value,
    /// The host's capabilities (for `--privileged`).
    pub host_capabilities: &'a [String],
    /// Per-container files bound at /etc/hostname, /etc/hosts and /etc/resolv.conf.
    pub etc_files: [(&'a str, String); 3],
    /// The cgroup path, relative to the hierarchy roots.
    pub cgroup_path: &'a str,
    /// The network namespace.
    pub network: NetworkNs<'a>,
}

/// The network namespace a spec names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkNs<'a> {
    /// A new one, with only `lo`.
    New,
    /// The one kept at this path.
    Path(&'a str),
    /// The host's.
    Host,
}

/// The command: `--entrypoint` or the image's Entrypoint, then the arguments or the image's Cmd.
pub fn command(plan: &RunPlan, image: &Value) -> Vec<String> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (entrypoint, cmd) = match &plan.entrypoint {
        // An explicit --entrypoint drops the image's Cmd, as in Docker.
        Some(e) if e.is_empty() => (Vec::new(), plan.command.clone()),
        Some(e) => (vec![e.clone()], plan.command.clone()),
        None => (
            strings(&image["Entrypoint"]),
            if plan.command.is_empty() {
                strings(&image["Cmd"])
            } else {
                plan.command.clone()
            },
        ),
    };
    entrypoint.into_iter().chain(cmd).collect()
}

/// The environment: the image's, then the run's, with PATH, HOSTNAME, HOME and TERM filled in.
pub fn environment(plan: &RunPlan, image: &Value, hostname: &str, home: &str) -> Vec<String> {
    let mut env: Vec<String> = image["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let mut set = |entry: String| {
        let key = entry.split('=').next().unwrap_or("").to_owned();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(entry);
    };
    set(format!("HOSTNAME={hostname}"));
    for entry in &plan.env {
        set(entry.clone());
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_owned());
    }
    if plan.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

/// The capabilities the container gets, by Docker's rule (moby's `TweakCapabilities`):
/// `--cap-add ALL` gives every capability of the host but the dropped ones; else
/// `--cap-drop ALL` keeps only the added ones; else the defaults lose the dropped ones first,
/// then gain the added ones.
pub fn capabilities(plan: &RunPlan, host: &[String]) -> Vec<String> {
    let all = |list: &[String]| list.iter().any(|c| c == "CAP_ALL");
    let mut caps: Vec<String> = if plan.privileged {
        host.to_vec()
    } else if all(&plan.cap_add) {
        host.iter()
            .filter(|c| !plan.cap_drop.contains(c))
            .cloned()
            .collect()
    } else {
        let kept = DEFAULT_CAPABILITIES
            .iter()
            .map(|c| (*c).to_owned())
            .filter(|c| !all(&plan.cap_drop) && !plan.cap_drop.contains(c));
        kept.chain(plan.cap_add.iter().cloned()).collect()
    };
    caps.sort();
    caps.dedup();
    caps
}

/// Generates the runtime spec.
pub fn generate(plan: &RunPlan, ctx: &Context<'_>) -> Result<Spec, String> {
    let args = command(plan, ctx.image);
    if args.is_empty() {
        return Err("no command specified".into());
    }
    build(plan, ctx, args).map_err(|e| format!("generated an invalid spec: {e}"))
}

fn build(plan: &RunPlan, ctx: &Context<'_>, args: Vec<String>) -> Result<Spec, OciSpecError> {
    SpecBuilder::default()
        .version("1.2.0")
        .hostname(ctx.hostname)
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(plan.read_only)
                .build()?,
        )
        .process(process(plan, ctx, args)?)
        .mounts(mounts(plan, ctx)?)
        .annotations(annotations(plan))
        .linux(linux(plan, ctx)?)
        .build()
}

/// The process: command, environment, working directory, user, capabilities and rlimits.
fn process(plan: &RunPlan, ctx: &Context<'_>, args: Vec<String>) -> Result<Process, OciSpecError> {
    let cwd = plan
        .workdir
        .clone()
        .or_else(|| {
            ctx.image["WorkingDir"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "/".into());
    let caps = capability_set(&capabilities(plan, ctx.host_capabilities))?;
    let rlimits = plan
        .ulimits
        .iter()
        .map(|(name, soft, hard)| {
            let typ: PosixRlimitType = name
                .parse()
                .map_err(|_| OciSpecError::Other(format!("unknown rlimit {name}")))?;
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(*soft)
                .hard(*hard)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    ProcessBuilder::default()
        .terminal(plan.tty)
        .user(
            UserBuilder::default()
                .uid(ctx.user.uid)
                .gid(ctx.user.gid)
                .additional_gids(ctx.user.groups.clone())
                .build()?,
        )
        .args(args)
        .env(environment(plan, ctx.image, ctx.hostname, &ctx.user.home))
        .cwd(cwd)
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                .effective(caps.clone())
                .permitted(caps)
                .inheritable(Capabilities::new())
                .ambient(Capabilities::new())
                .build()?,
        )
        .rlimits(rlimits)
        .no_new_privileges(plan.no_new_privileges)
        .build()
}

/// `CAP_*` names as the spec's capabilities.
fn capability_set(names: &[String]) -> Result<Capabilities, OciSpecError> {
    names
        .iter()
        .map(|name| {
            name.strip_prefix("CAP_")
                .and_then(|short| short.parse::<Capability>().ok())
                .ok_or_else(|| OciSpecError::Other(format!("unknown capability {name}")))
        })
        .collect()
}

/// One mount of `kind` from `source` at `destination`.
fn mount(
    destination: &str,
    kind: &str,
    source: &str,
    options: &[&str],
) -> Result<Mount, OciSpecError> {
    MountBuilder::default()
        .destination(destination)
        .typ(kind)
        .source(source)
        .options(options.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>())
        .build()
}

/// Docker's mounts (/proc, /dev and its filesystems, /sys, cgroupfs), then the per-container
/// files under /etc and the run's binds and tmpfs mounts, the shallower first.
fn mounts(plan: &RunPlan, ctx: &Context<'_>) -> Result<Vec<Mount>, OciSpecError> {
    let sys = if plan.privileged { "rw" } else { "ro" };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys],
        )?,
        // The runtime lays out cgroupfs as the host has it (v1, v2 or hybrid).
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", sys],
        )?,
    ];
    let mut own = Vec::new();
    for (destination, source) in &ctx.etc_files {
        own.push(mount(destination, "bind", source, &["rbind", "rprivate"])?);
    }
    for m in &plan.mounts {
        own.push(match m {
            crate::options::Mount::Bind {
                source,
                target,
                readonly,
            } => {
                let mut options = vec!["rbind", "rprivate"];
                if *readonly {
                    options.push("ro");
                }
                mount(target, "bind", source, &options)?
            }
            crate::options::Mount::Tmpfs { target, options } => {
                let mut all = vec!["nosuid", "nodev", "noexec"];
                all.extend(options.iter().map(String::as_str));
                mount(target, "tmpfs", "tmpfs", &merge_tmpfs_options(&all))?
            }
            crate::options::Mount::Filesystem {
                kind,
                source,
                target,
                options,
            } => {
                let options: Vec<&str> = options.iter().map(String::as_str).collect();
                mount(target, kind, source, &options)?
            }
            // The engine resolves volumes before it makes the spec (`volumes::attach`).
            crate::options::Mount::Volume { target, .. } => {
                return Err(OciSpecError::Other(format!(
                    "the volume at {target} was not resolved"
                )));
            }
        });
    }
    // Shallower destinations first, else in order (moby's `sortMounts`): a mount at /data
    // does not hide one at /data/sub given before it, nor one at /etc the /etc files.
    own.sort_by_key(|m| m.destination().components().count());
    mounts.extend(own);
    Ok(mounts)
}

/// tmpfs options merged as Docker merges them (moby's `MergeTmpfsOptions`): of a flag and its
/// opposite (`exec` after the default `noexec`), of the propagation modes, and of the
/// `key=value`s with one key, the last one given stays, in its place; `defaults` goes.
fn merge_tmpfs_options<'a>(options: &[&'a str]) -> Vec<&'a str> {
    fn family(option: &str) -> &str {
        match option {
            "ro" | "rw" => "ro",
            "suid" | "nosuid" => "suid",
            "dev" | "nodev" => "dev",
            "exec" | "noexec" => "exec",
            "sync" | "async" => "sync",
            "mand" | "nomand" => "mand",
            "atime" | "noatime" => "atime",
            "diratime" | "nodiratime" => "diratime",
            "relatime" | "norelatime" => "relatime",
            "strictatime" | "nostrictatime" => "strictatime",
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => "propagation",
            other => other.split_once('=').map_or(other, |(key, _)| key),
        }
    }
    let mut kept: Vec<&str> = Vec::new();
    for option in options.iter().rev().filter(|o| **o != "defaults") {
        if !kept.iter().any(|k| family(k) == family(option)) {
            kept.push(option);
        }
    }
    kept.reverse();
    kept
}

/// What berth's runtime reads besides the spec: the seccomp choice and `--init`.
fn annotations(plan: &RunPlan) -> HashMap<String, String> {
    let seccomp = plan.seccomp.clone().unwrap_or_else(|| {
        if plan.privileged {
            "unconfined".into()
        } else {
            "default".into()
        }
    });
    let mut annotations = HashMap::from([("berth.seccomp".to_owned(), seccomp)]);
    if plan.init {
        annotations.insert("berth.init".into(), "true".into());
    }
    annotations
}

/// The cgroup limits: memory (swap twice the memory unless given), CPU, pids, and every
/// device for `--privileged`.
fn resources(plan: &RunPlan) -> Result<LinuxResources, OciSpecError> {
    let mut resources = LinuxResourcesBuilder::default();
    if let Some(memory) = plan.memory {
        resources = resources.memory(
            LinuxMemoryBuilder::default()
                .limit(memory)
                .swap(plan.memory_swap.unwrap_or(memory * 2))
                .build()?,
        );
    }
    if plan.cpus.is_some() || plan.cpu_shares.is_some() || plan.cpuset_cpus.is_some() {
        let mut cpu = LinuxCpuBuilder::default();
        if let Some(cpus) = plan.cpus {
            cpu = cpu
                .quota((cpus * CPU_PERIOD as f64).round() as i64)
                .period(CPU_PERIOD);
        }
        if let Some(shares) = plan.cpu_shares {
            cpu = cpu.shares(shares);
        }
        if let Some(set) = &plan.cpuset_cpus {
            cpu = cpu.cpus(set);
        }
        resources = resources.cpu(cpu.build()?);
    }
    if let Some(pids) = plan.pids_limit {
        resources = resources.pids(LinuxPidsBuilder::default().limit(pids).build()?);
    }
    if plan.privileged {
        resources = resources.devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .access("rwm")
                .build()?,
        ]);
    }
    resources.build()
}

/// The Linux part: cgroup, namespaces, limits, masked and read-only paths.
fn linux(plan: &RunPlan, ctx: &Context<'_>) -> Result<Linux, OciSpecError> {
    let namespace = |typ: LinuxNamespaceType| LinuxNamespaceBuilder::default().typ(typ);
    let mut namespaces = vec![namespace(LinuxNamespaceType::Pid).build()?];
    match ctx.network {
        NetworkNs::New => namespaces.push(namespace(LinuxNamespaceType::Network).build()?),
        NetworkNs::Path(path) => {
            namespaces.push(namespace(LinuxNamespaceType::Network).path(path).build()?)
        }
        NetworkNs::Host => {}
    }
    for typ in [
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ] {
        namespaces.push(namespace(typ).build()?);
    }
    let paths = |all: &[&str]| -> Vec<String> {
        if plan.privileged {
            Vec::new()
        } else {
            all.iter().map(|p| (*p).to_owned()).collect()
        }
    };
    LinuxBuilder::default()
        .cgroups_path(ctx.cgroup_path)
        .resources(resources(plan)?)
        .namespaces(namespaces)
        .masked_paths(paths(&MASKED_PATHS))
        .readonly_paths(paths(&READONLY_PATHS))
        .build()
}

#[cfg(test)]
mod tests;
