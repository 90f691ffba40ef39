//! Spec generation, a pure function: image config + run options -> runtime spec, with Docker's
//! defaults (mounts, masked and read-only paths, capabilities, seccomp, environment).

use crate::options::{Mount, RunPlan};
use crate::users::User;
use oci_spec::runtime::Spec;
use serde_json::{Value, json};

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

fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Value {
    json!({ "destination": destination, "type": kind, "source": source, "options": options })
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
    let caps = capabilities(plan, ctx.host_capabilities);
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
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
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &[
                "nosuid",
                "noexec",
                "nodev",
                if plan.privileged { "rw" } else { "ro" },
            ],
        ),
    ];
    // The runtime lays out cgroupfs as the host has it (v1, v2 or hybrid).
    mounts.push(mount(
        "/sys/fs/cgroup",
        "cgroup",
        "cgroup",
        &[
            "nosuid",
            "noexec",
            "nodev",
            if plan.privileged { "rw" } else { "ro" },
        ],
    ));
    for (destination, source) in &ctx.etc_files {
        mounts.push(mount(destination, "bind", source, &["rbind", "rprivate"]));
    }
    for m in &plan.mounts {
        mounts.push(match m {
            Mount::Bind {
                source,
                target,
                readonly,
            } => {
                let mut options = vec!["rbind", "rprivate"];
                if *readonly {
                    options.push("ro");
                }
                mount(target, "bind", source, &options)
            }
            Mount::Tmpfs { target, options } => {
                let mut all = vec!["nosuid", "nodev", "noexec"];
                all.extend(options.iter().map(String::as_str));
                mount(target, "tmpfs", "tmpfs", &all)
            }
        });
    }
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        "berth.seccomp".into(),
        json!(plan.seccomp.clone().unwrap_or_else(|| if plan.privileged {
            "unconfined".into()
        } else {
            "default".into()
        })),
    );
    if plan.init {
        annotations.insert("berth.init".into(), json!("true"));
    }
    let mut resources = json!({});
    if let Some(memory) = plan.memory {
        resources["memory"] =
            json!({ "limit": memory, "swap": plan.memory_swap.unwrap_or(memory * 2) });
    }
    let mut cpu = json!({});
    if let Some(cpus) = plan.cpus {
        cpu["quota"] = json!((cpus * 100_000.0).round() as i64);
        cpu["period"] = json!(100_000);
    }
    if let Some(shares) = plan.cpu_shares {
        cpu["shares"] = json!(shares);
    }
    if let Some(set) = &plan.cpuset_cpus {
        cpu["cpus"] = json!(set);
    }
    if cpu.as_object().is_some_and(|o| !o.is_empty()) {
        resources["cpu"] = cpu;
    }
    if let Some(pids) = plan.pids_limit {
        resources["pids"] = json!({ "limit": pids });
    }
    if plan.privileged {
        resources["devices"] = json!([{ "allow": true, "access": "rwm" }]);
    }
    let mut namespaces = vec![json!({ "type": "pid" })];
    match ctx.network {
        NetworkNs::New => namespaces.push(json!({ "type": "network" })),
        NetworkNs::Path(path) => namespaces.push(json!({ "type": "network", "path": path })),
        NetworkNs::Host => {}
    }
    for kind in ["ipc", "uts", "mount", "cgroup"] {
        namespaces.push(json!({ "type": kind }));
    }
    let spec = json!({
        "ociVersion": "1.2.0",
        "hostname": ctx.hostname,
        "root": { "path": "rootfs", "readonly": plan.read_only },
        "process": {
            "terminal": plan.tty,
            "user": { "uid": ctx.user.uid, "gid": ctx.user.gid, "additionalGids": ctx.user.groups },
            "args": args,
            "env": environment(plan, ctx.image, ctx.hostname, &ctx.user.home),
            "cwd": cwd,
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": [] },
            "rlimits": plan.ulimits.iter().map(|(name, soft, hard)| json!({ "type": name, "soft": soft, "hard": hard })).collect::<Vec<_>>(),
            "noNewPrivileges": plan.no_new_privileges,
        },
        "mounts": mounts,
        "annotations": annotations,
        "linux": {
            "cgroupsPath": ctx.cgroup_path,
            "resources": resources,
            "namespaces": namespaces,
            "maskedPaths": if plan.privileged { Vec::new() } else { MASKED_PATHS.to_vec() },
            "readonlyPaths": if plan.privileged { Vec::new() } else { READONLY_PATHS.to_vec() },
        },
    });
    serde_json::from_value(spec).map_err(|e| format!("generated an invalid spec: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::RunOptions;

    fn caps(add: &[&str], drop: &[&str]) -> Vec<String> {
        let options = RunOptions {
            cap_add: add.iter().map(|c| (*c).to_owned()).collect(),
            cap_drop: drop.iter().map(|c| (*c).to_owned()).collect(),
            ..RunOptions::default()
        };
        let host = [
            "CAP_CHOWN",
            "CAP_NET_ADMIN",
            "CAP_NET_BIND_SERVICE",
            "CAP_SYS_ADMIN",
        ];
        let host: Vec<String> = host.iter().map(|c| (*c).to_owned()).collect();
        capabilities(&options.plan().unwrap(), &host)
    }

    // Docker (moby's TweakCapabilities): drops first, then adds; `--cap-drop ALL` keeps the
    // added ones, `--cap-add ALL` gives the host's all but the dropped ones.
    #[test]
    fn drops_apply_before_adds_as_in_docker() {
        assert_eq!(
            caps(&["NET_BIND_SERVICE"], &["ALL"]),
            ["CAP_NET_BIND_SERVICE"]
        );
        assert_eq!(caps(&["net_admin"], &["all"]), ["CAP_NET_ADMIN"]);
        assert!(caps(&[], &["ALL"]).is_empty());
        assert_eq!(
            caps(&["ALL"], &["SYS_ADMIN"]),
            ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"]
        );
        // A capability both dropped and added is kept: the add comes last.
        assert!(caps(&["CHOWN"], &["CHOWN"]).contains(&"CAP_CHOWN".to_owned()));
        let default = caps(&[], &["CHOWN"]);
        assert_eq!(default.len(), DEFAULT_CAPABILITIES.len() - 1);
        assert!(!default.contains(&"CAP_CHOWN".to_owned()));
        assert_eq!(
            caps(&["SYS_ADMIN"], &[]).len(),
            DEFAULT_CAPABILITIES.len() + 1
        );
    }
}
