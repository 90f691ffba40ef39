//! `berth run` options, checked and put in the engine's terms. Pure: no I/O but reading
//! `--env-file`s.

use crate::record::{LogDriver, NetworkMode, RestartPolicy};
use berth_net::ports::{PortRequest, parse_publish};
use std::net::Ipv4Addr;

/// The smallest memory limit Docker accepts.
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// A mount asked for with `-v`, `--mount` or `--tmpfs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A host path bound into the container.
    Bind {
        /// Host path (absolute).
        source: String,
        /// Container path (absolute).
        target: String,
        /// Read-only.
        readonly: bool,
    },
    /// A tmpfs.
    Tmpfs {
        /// Container path (absolute).
        target: String,
        /// tmpfs options (`size=64m`, `mode=1777`).
        options: Vec<String>,
    },
    /// A volume, named or (`name` `None`) anonymous, as asked for; the engine resolves it
    /// (`volumes::attach`) into a `Bind` of its data or a `Filesystem` before the spec is made.
    Volume {
        /// The volume's name; `None` for a new anonymous one.
        name: Option<String>,
        /// Container path (absolute).
        target: String,
        /// Read-only.
        readonly: bool,
        /// Do not fill a new, empty volume from the image (`nocopy`, `volume-nocopy`).
        nocopy: bool,
        /// The mode as `inspect` shows it (`z` for `-v` without one, as Docker's).
        mode: String,
    },
    /// A file system of its own mounted at `target`: a volume made with `-o type=...`.
    Filesystem {
        /// File system type (`tmpfs`, `ext4`, ...).
        kind: String,
        /// The device (or the type's name for a virtual one).
        source: String,
        /// Container path (absolute).
        target: String,
        /// Mount options (`o=...`), `ro` among them when read-only.
        options: Vec<String>,
    },
}

impl Mount {
    /// Where it goes in the container.
    pub fn target(&self) -> &str {
        match self {
            Mount::Bind { target, .. }
            | Mount::Tmpfs { target, .. }
            | Mount::Volume { target, .. }
            | Mount::Filesystem { target, .. } => target,
        }
    }
}

/// The options of `berth run` as the user gave them (the CLI fills this in).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Image reference.
    pub image: String,
    /// Command and arguments after the image.
    pub command: Vec<String>,
    /// `--entrypoint`
    pub entrypoint: Option<String>,
    /// `--name`
    pub name: Option<String>,
    /// `--hostname`
    pub hostname: Option<String>,
    /// `-e`
    pub env: Vec<String>,
    /// `--env-file`
    pub env_files: Vec<String>,
    /// `-w`
    pub workdir: Option<String>,
    /// `-u`
    pub user: Option<String>,
    /// `-v`
    pub volumes: Vec<String>,
    /// `--mount`
    pub mounts: Vec<String>,
    /// `--tmpfs`
    pub tmpfs: Vec<String>,
    /// `--volumes-from`
    pub volumes_from: Vec<String>,
    /// `--read-only`
    pub read_only: bool,
    /// `--cpus`
    pub cpus: Option<f64>,
    /// `--cpu-shares`
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`
    pub cpuset_cpus: Option<String>,
    /// `-m`
    pub memory: Option<String>,
    /// `--memory-swap`
    pub memory_swap: Option<String>,
    /// `--pids-limit`
    pub pids_limit: Option<i64>,
    /// `--ulimit`
    pub ulimits: Vec<String>,
    /// `--cap-add`
    pub cap_add: Vec<String>,
    /// `--cap-drop`
    pub cap_drop: Vec<String>,
    /// `--privileged`
    pub privileged: bool,
    /// `--security-opt`
    pub security_opts: Vec<String>,
    /// `--init`
    pub init: bool,
    /// `--stop-signal`
    pub stop_signal: Option<String>,
    /// `-i`
    pub interactive: bool,
    /// `-t`
    pub tty: bool,
    /// `--rm`
    pub remove: bool,
    /// `--network`
    pub network: String,
    /// `-p`
    pub publish: Vec<String>,
    /// `-P`
    pub publish_all: bool,
    /// `--ip`
    pub ip: Option<String>,
    /// `--network-alias`
    pub network_aliases: Vec<String>,
    /// `--dns`
    pub dns: Vec<String>,
    /// `--dns-search`
    pub dns_search: Vec<String>,
    /// `--dns-option`
    pub dns_options: Vec<String>,
    /// `--add-host`
    pub add_hosts: Vec<String>,
    /// `--platform`
    pub platform: Option<String>,
    /// `--restart`
    pub restart: Option<String>,
    /// `--log-driver`
    pub log_driver: Option<String>,
    /// `-d`: nothing attaches now.
    pub detach: bool,
    /// `--label` and `--label-file`, read and checked by the CLI.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--health-*` and `--no-healthcheck`.
    pub health: crate::health::HealthOptions,
}

/// The options, checked and parsed.
#[derive(Debug, Clone, Default)]
pub struct RunPlan {
    /// Command and arguments after the image.
    pub command: Vec<String>,
    /// `--entrypoint` ("" clears the image's).
    pub entrypoint: Option<String>,
    /// Environment entries `KEY=value`, in order.
    pub env: Vec<String>,
    /// Absolute working directory.
    pub workdir: Option<String>,
    /// Mounts in order.
    pub mounts: Vec<Mount>,
    /// `--volumes-from`: containers whose mounts it gets, each with `Some(readonly)` when
    /// `:ro` or `:rw` says.
    pub volumes_from: Vec<(String, Option<bool>)>,
    /// `--read-only`
    pub read_only: bool,
    /// CPUs.
    pub cpus: Option<f64>,
    /// CPU shares.
    pub cpu_shares: Option<u64>,
    /// cpuset.
    pub cpuset_cpus: Option<String>,
    /// Bytes.
    pub memory: Option<i64>,
    /// Bytes, -1 unlimited.
    pub memory_swap: Option<i64>,
    /// Max processes.
    pub pids_limit: Option<i64>,
    /// (`RLIMIT_*`, soft, hard)
    pub ulimits: Vec<(String, u64, u64)>,
    /// `CAP_*` names.
    pub cap_add: Vec<String>,
    /// `CAP_*` names.
    pub cap_drop: Vec<String>,
    /// `--privileged`
    pub privileged: bool,
    /// `no-new-privileges`
    pub no_new_privileges: bool,
    /// `unconfined` or a profile path; Docker's default when `None`.
    pub seccomp: Option<String>,
    /// `--init`
    pub init: bool,
    /// `-t`
    pub tty: bool,
    /// `--restart`
    pub restart: RestartPolicy,
    /// `--log-driver`
    pub log_driver: LogDriver,
    /// How the container is networked.
    pub network: NetworkPlan,
}

/// The network options, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPlan {
    /// `--network`
    pub mode: NetworkMode,
    /// Published ports (`-p`).
    pub ports: Vec<PortRequest>,
    /// Publish every port the image exposes (`-P`).
    pub publish_all: bool,
    /// `--ip`
    pub ip: Option<Ipv4Addr>,
    /// `--network-alias`
    pub aliases: Vec<String>,
    /// `--add-host` entries, `name:ip`.
    pub extra_hosts: Vec<String>,
    /// `--dns`
    pub dns: Vec<Ipv4Addr>,
    /// `--dns-search`
    pub dns_search: Vec<String>,
    /// `--dns-option`
    pub dns_options: Vec<String>,
}

impl RunOptions {
    /// Checks the network options.
    fn network_plan(&self) -> Result<NetworkPlan, String> {
        let mode: NetworkMode = self.network.parse()?;
        let user_network = mode.is_user_network();
        let mut ports = Vec::new();
        for spec in &self.publish {
            ports.extend(parse_publish(spec)?);
        }
        if matches!(mode, NetworkMode::Container(_)) {
            if !ports.is_empty() || self.publish_all {
                return Err(
                    "conflicting options: port publishing and the container type network mode"
                        .into(),
                );
            }
            if self.hostname.is_some() {
                return Err("conflicting options: hostname and the network mode".into());
            }
        }
        // Discarded, as Docker does (`run::make` says so).
        if mode == NetworkMode::Host {
            ports.clear();
        }
        let ip = self
            .ip
            .as_deref()
            .map(|ip| {
                ip.parse::<Ipv4Addr>()
                    .map_err(|_| format!("invalid IPv4 address: {ip}"))
            })
            .transpose()?;
        if ip.is_some() && !user_network {
            return Err(
                "user specified IP address is supported on user defined networks only".into(),
            );
        }
        if !self.network_aliases.is_empty() && !user_network {
            return Err(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            );
        }
        for entry in &self.add_hosts {
            let valid = entry.split_once(':').is_some_and(|(name, ip)| {
                !name.is_empty() && (ip == "host-gateway" || ip.parse::<Ipv4Addr>().is_ok())
            });
            if !valid {
                return Err(format!(
                    "invalid argument \"{entry}\" for \"--add-host\" flag: want HOST:IP (IPv4 or host-gateway)"
                ));
            }
        }
        let dns = self
            .dns
            .iter()
            .map(|d| {
                d.parse::<Ipv4Addr>()
                    .map_err(|_| format!("{d} is not an IPv4 address"))
            })
            .collect::<Result<_, _>>()?;
        Ok(NetworkPlan {
            mode,
            ports,
            publish_all: self.publish_all,
            ip,
            aliases: self.network_aliases.clone(),
            extra_hosts: self.add_hosts.clone(),
            dns,
            dns_search: self.dns_search.clone(),
            dns_options: self.dns_options.clone(),
        })
    }
}

/// Docker's rule for the characters of a container name or a network alias.
pub const NAME_CHARS: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

/// Whether `name` is a valid container name or network alias: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
/// Nothing else reaches the /etc/hosts of other containers (a newline would add entries).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Docker's refusal of a container name.
pub fn check_name(name: &str) -> Result<(), String> {
    match valid_name(name) {
        true => Ok(()),
        false => Err(format!(
            "Invalid container name ({name}), only {NAME_CHARS} are allowed"
        )),
    }
}

/// A network alias, by the rule of container names.
pub fn check_alias(alias: &str) -> Result<(), String> {
    match valid_name(alias) {
        true => Ok(()),
        false => Err(format!(
            "Invalid network alias ({alias}), only {NAME_CHARS} are allowed"
        )),
    }
}

/// A `--hostname` as Docker checks it (moby's `verifyContainerSettings`): 63 bytes at most of
/// ASCII letters, digits and punctuation, beginning and ending with a letter or digit. No space
/// or control character can reach /etc/hosts through it.
fn check_hostname(hostname: &str) -> Result<(), String> {
    let bytes = hostname.as_bytes();
    let ok = match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= 63
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation())
        }
        _ => false,
    };
    match ok {
        true => Ok(()),
        false => Err(format!("invalid hostname format: {hostname}")),
    }
}

/// A `--cpus` count (of `run` or `update`) checked against the CPUs this process may run on,
/// as Docker counts them (Go's runtime.NumCPU); not a cgroup quota, which
/// `available_parallelism` would also apply.
pub(crate) fn check_host_cpus(cpus: f64) -> Result<(), String> {
    let available = rustix::thread::sched_getaffinity(None)
        .map_or(1, |set| set.count() as usize)
        .max(1);
    check_cpus(cpus, available)
}

/// A `--cpus` count: from 0.01 to the CPUs this host has, as Docker allows.
fn check_cpus(cpus: f64, available: usize) -> Result<(), String> {
    match (0.01..=available as f64).contains(&cpus) {
        true => Ok(()),
        false => Err(format!(
            "range of CPUs is from 0.01 to {available}.00, as there are only {available} CPUs available"
        )),
    }
}

/// Parses `512`, `64k`, `512m`, `2g` (Docker's binary units).
pub fn parse_size(text: &str) -> Result<i64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower
        .strip_suffix('b')
        .filter(|s| s.ends_with(['k', 'm', 'g', 't']))
        .unwrap_or(&lower);
    let (number, unit) = match lower.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&lower[..i], c),
        _ => (lower, 'b'),
    };
    let multiplier: i64 = match unit {
        'b' => 1,
        'k' => 1 << 10,
        'm' => 1 << 20,
        'g' => 1 << 30,
        't' => 1 << 40,
        _ => return Err(format!("invalid size: '{text}'")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid size: '{text}'"))?;
    if value < 0.0 {
        return Err(format!("invalid size: '{text}'"));
    }
    Ok((value * multiplier as f64) as i64)
}

fn absolute(path: &str, what: &str) -> Result<String, String> {
    if path.starts_with('/') {
        Ok(path.to_owned())
    } else {
        Err(format!(
            "invalid {what} \"{path}\": it must be an absolute path"
        ))
    }
}

/// Docker's refusal of a volume name (moby's local driver: two characters at least, of
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]`), in the words of its `create` error.
pub fn check_volume_name(name: &str) -> Result<(), String> {
    if name.chars().count() == 1 {
        return Err(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        ));
    }
    match valid_name(name) {
        true => Ok(()),
        false => Err(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"{NAME_CHARS}\" are allowed. If you intended to pass a host directory, use absolute path"
        )),
    }
}

/// `-v /host:/ctr[:MODE]`, `-v NAME:/ctr[:MODE]` or `-v /ctr` (an anonymous volume); MODE is a
/// comma-separated list of `ro`, `rw`, `nocopy` (volumes), `z`, `Z` and the consistency
/// words, which change nothing on Linux.
fn parse_volume(text: &str) -> Result<Mount, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => ("", *target, ""),
        [source, target] => (*source, *target, ""),
        [source, target, mode] => (*source, *target, *mode),
        _ => return Err(format!("invalid volume specification: '{text}'")),
    };
    let (mut readonly, mut nocopy) = (false, false);
    for word in mode.split(',').filter(|w| !w.is_empty()) {
        match word {
            "ro" => readonly = true,
            "rw" => readonly = false,
            "nocopy" if !source.starts_with('/') => nocopy = true,
            "z" | "Z" | "consistent" | "cached" | "delegated" => {}
            _ => return Err(format!("invalid mode: {mode}")),
        }
    }
    let target = absolute(target, "volume destination")?;
    if source.starts_with('/') {
        return Ok(Mount::Bind {
            source: source.to_owned(),
            target,
            readonly,
        });
    }
    let name = (!source.is_empty()).then(|| source.to_owned());
    if let Some(name) = &name {
        check_volume_name(name)?;
    }
    // Docker's CLI makes `-v /ctr` an entry of Config.Volumes, as an image's VOLUME (mode "");
    // the engine gives a local volume of `-v` without a mode "z" (moby's `setBindModeIfNull`).
    let mode = match (mode, parts.len()) {
        ("", 1) => "",
        ("", _) => "z",
        (mode, _) => mode,
    };
    Ok(Mount::Volume {
        name,
        target,
        readonly,
        nocopy,
        mode: mode.into(),
    })
}

/// `--volumes-from CONTAINER[:ro|:rw]`
fn parse_volumes_from(text: &str) -> Result<(String, Option<bool>), String> {
    let (name, mode) = match text.split_once(':') {
        Some((name, "ro")) => (name, Some(true)),
        Some((name, "rw")) => (name, Some(false)),
        Some((_, mode)) => return Err(format!("invalid mode: {mode}")),
        None => (text, None),
    };
    match name.is_empty() {
        true => Err(format!(
            "invalid --volumes-from \"{text}\": a container is required"
        )),
        false => Ok((name.to_owned(), mode)),
    }
}

/// `--mount type=bind,source=/a,target=/b[,readonly]`, `type=tmpfs,target=/t[,tmpfs-size=..][,tmpfs-mode=..]`
/// or `type=volume[,source=NAME],target=/v[,readonly][,volume-nocopy]` (the default type).
fn parse_mount(text: &str) -> Result<Mount, String> {
    let mut kind = "volume";
    let (mut source, mut target, mut readonly, mut options) = (None, None, false, Vec::new());
    let mut nocopy = false;
    for field in text.split(',') {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        match key {
            "type" => kind = value,
            "source" | "src" => source = Some(value),
            "target" | "destination" | "dst" => target = Some(value),
            "readonly" | "ro" => readonly = value.is_empty() || value == "true" || value == "1",
            "tmpfs-size" => options.push(format!("size={}", parse_size(value)?)),
            "tmpfs-mode" => options.push(format!("mode={value}")),
            "volume-nocopy" => nocopy = value.is_empty() || value == "true" || value == "1",
            "volume-driver" if value == "local" => {}
            other => {
                return Err(format!(
                    "invalid --mount \"{text}\": unknown field \"{other}\""
                ));
            }
        }
    }
    let target = absolute(
        target.ok_or_else(|| format!("invalid --mount \"{text}\": target is required"))?,
        "mount target",
    )?;
    match kind {
        "bind" => {
            let source =
                source.ok_or_else(|| format!("invalid --mount \"{text}\": source is required"))?;
            Ok(Mount::Bind {
                source: absolute(source, "mount source")?,
                target,
                readonly,
            })
        }
        "tmpfs" => Ok(Mount::Tmpfs { target, options }),
        "volume" => {
            let name = source.filter(|s| !s.is_empty()).map(str::to_owned);
            if let Some(name) = &name {
                check_volume_name(name)?;
            }
            Ok(Mount::Volume {
                name,
                target,
                readonly,
                nocopy,
                mode: String::new(),
            })
        }
        other => Err(format!(
            "invalid --mount \"{text}\": type \"{other}\" is not supported (bind, tmpfs, volume)"
        )),
    }
}

/// `--tmpfs /path[:opts]`
fn parse_tmpfs(text: &str) -> Result<Mount, String> {
    let (target, options) = text.split_once(':').unwrap_or((text, ""));
    Ok(Mount::Tmpfs {
        target: absolute(target, "tmpfs destination")?,
        options: options
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// `--ulimit nofile=1024[:2048]`
fn parse_ulimit(text: &str) -> Result<(String, u64, u64), String> {
    let (name, values) = text
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit \"{text}\": use name=soft[:hard]"))?;
    let parse = |v: &str| -> Result<u64, String> {
        if v == "-1" || v == "unlimited" {
            Ok(u64::MAX)
        } else {
            v.parse()
                .map_err(|_| format!("invalid ulimit \"{text}\": {v} is not a number"))
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (parse(s)?, parse(h)?),
        None => (parse(values)?, parse(values)?),
    };
    if soft > hard {
        return Err(format!(
            "invalid ulimit \"{text}\": the soft limit {soft} is above the hard limit {hard}"
        ));
    }
    let known = [
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    if !known.contains(&name) {
        return Err(format!(
            "invalid ulimit \"{text}\": unknown limit \"{name}\""
        ));
    }
    Ok((format!("RLIMIT_{}", name.to_uppercase()), soft, hard))
}

/// `chown` or `CAP_CHOWN` -> `CAP_CHOWN`; `ALL` -> `CAP_ALL`.
fn capability_name(text: &str) -> Result<String, String> {
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if name == "CAP_ALL" || name.parse::<caps::Capability>().is_ok() {
        Ok(name)
    } else {
        Err(format!("unknown capability: \"{text}\""))
    }
}

fn parse_env_file(path: &str) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read env file {path}: {e}"))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// `KEY` takes the value from berth's own environment (and is dropped when unset), as Docker does.
fn resolve_env(entry: &str) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_owned());
    }
    std::env::var(entry).ok().map(|v| format!("{entry}={v}"))
}

impl RunOptions {
    /// Checks and parses the options.
    pub fn plan(&self) -> Result<RunPlan, String> {
        let mut env = Vec::new();
        for file in &self.env_files {
            env.extend(parse_env_file(file)?.iter().filter_map(|e| resolve_env(e)));
        }
        env.extend(self.env.iter().filter_map(|e| resolve_env(e)));
        if let Some(bad) = env.iter().find(|e| e.starts_with('=')) {
            return Err(format!("invalid environment variable: {bad}"));
        }
        let workdir = self
            .workdir
            .as_deref()
            .map(|w| absolute(w, "working directory"))
            .transpose()?;
        let mut mounts = Vec::new();
        for v in &self.volumes {
            mounts.push(parse_volume(v)?);
        }
        for m in &self.mounts {
            mounts.push(parse_mount(m)?);
        }
        for t in &self.tmpfs {
            mounts.push(parse_tmpfs(t)?);
        }
        let volumes_from = (self.volumes_from.iter())
            .map(|v| parse_volumes_from(v))
            .collect::<Result<_, _>>()?;
        let memory = self.memory.as_deref().map(parse_size).transpose()?;
        if let Some(m) = memory
            && m < MIN_MEMORY
        {
            return Err(format!(
                "minimum memory limit allowed is 6MB (asked for {m} bytes)"
            ));
        }
        let memory_swap = match self.memory_swap.as_deref() {
            None => None,
            Some("-1") => Some(-1),
            Some(text) => Some(parse_size(text)?),
        };
        match (memory, memory_swap) {
            (None, Some(_)) => {
                return Err(
                    "you should always set the memory limit when using the memory-swap limit"
                        .into(),
                );
            }
            (Some(m), Some(s)) if s != -1 && s < m => {
                return Err(
                    "minimum memory-swap limit should be larger than the memory limit".into(),
                );
            }
            _ => {}
        }
        if let Some(cpus) = self.cpus {
            check_host_cpus(cpus)?;
        }
        if let Some(name) = &self.name {
            check_name(name)?;
        }
        for alias in &self.network_aliases {
            check_alias(alias)?;
        }
        if let Some(hostname) = &self.hostname {
            check_hostname(hostname)?;
        }
        if let Some(signal) = &self.stop_signal {
            crate::lifecycle::parse_signal(signal)
                .map_err(|_| format!("Invalid signal: {signal}"))?;
        }
        let mut no_new_privileges = false;
        let mut seccomp = None;
        for opt in &self.security_opts {
            let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt, ""));
            match key {
                "no-new-privileges" => no_new_privileges = value.is_empty() || value == "true",
                "seccomp" if value == "unconfined" => seccomp = Some("unconfined".into()),
                "seccomp" if !value.is_empty() => seccomp = Some(value.to_owned()),
                "apparmor" | "label" => {
                    return Err(format!(
                        "invalid --security-opt \"{opt}\": this host has no AppArmor or SELinux support in berth"
                    ));
                }
                _ => return Err(format!("invalid --security-opt: \"{opt}\"")),
            }
        }
        let restart = (self.restart.as_deref()).map_or(Ok(RestartPolicy::No), str::parse)?;
        if restart != RestartPolicy::No && self.remove {
            return Err("conflicting options: --restart and --rm".into());
        }
        let log_driver =
            (self.log_driver.as_deref()).map_or(Ok(LogDriver::JsonFile), str::parse)?;
        Ok(RunPlan {
            network: self.network_plan()?,
            restart,
            log_driver,
            command: self.command.clone(),
            entrypoint: self.entrypoint.clone(),
            env,
            workdir,
            mounts,
            volumes_from,
            read_only: self.read_only,
            cpus: self.cpus,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            memory,
            memory_swap,
            pids_limit: self.pids_limit,
            ulimits: self
                .ulimits
                .iter()
                .map(|u| parse_ulimit(u))
                .collect::<Result<_, _>>()?,
            cap_add: self
                .cap_add
                .iter()
                .map(|c| capability_name(c))
                .collect::<Result<_, _>>()?,
            cap_drop: self
                .cap_drop
                .iter()
                .map(|c| capability_name(c))
                .collect::<Result<_, _>>()?,
            privileged: self.privileged,
            no_new_privileges,
            seccomp,
            init: self.init,
            tty: self.tty,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("10mb").unwrap(), 10 << 20);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1m").is_err());
    }

    #[test]
    fn volumes_and_mounts() {
        assert_eq!(
            parse_volume("/a:/b:ro").unwrap(),
            Mount::Bind {
                source: "/a".into(),
                target: "/b".into(),
                readonly: true
            }
        );
        assert!(parse_volume("/a:b").unwrap_err().contains("absolute"));
        assert!(parse_volume("/a:/b:zz").is_err());
        assert_eq!(
            parse_mount("type=bind,source=/a,target=/b,readonly").unwrap(),
            Mount::Bind {
                source: "/a".into(),
                target: "/b".into(),
                readonly: true
            }
        );
        assert_eq!(
            parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap(),
            Mount::Tmpfs {
                target: "/t".into(),
                options: vec!["size=1048576".into()]
            }
        );
        assert!(parse_mount("type=image,target=/t").is_err());
        assert_eq!(
            parse_tmpfs("/run:size=1m,mode=700").unwrap(),
            Mount::Tmpfs {
                target: "/run".into(),
                options: vec!["size=1m".into(), "mode=700".into()]
            }
        );
    }

    // Docker: `-v NAME:/dst[:ro]` a named volume, `-v /dst` an anonymous one, `--mount
    // type=volume,src=,dst=,readonly,volume-nocopy`; names by the local driver's rule.
    #[test]
    fn volumes_are_parsed_as_docker_does() {
        let volume =
            |name: Option<&str>, target: &str, readonly, nocopy, mode: &str| Mount::Volume {
                name: name.map(str::to_owned),
                target: target.into(),
                readonly,
                nocopy,
                mode: mode.into(),
            };
        assert_eq!(
            parse_volume("data:/var/lib/db").unwrap(),
            volume(Some("data"), "/var/lib/db", false, false, "z")
        );
        assert_eq!(
            parse_volume("data:/d:ro,nocopy").unwrap(),
            volume(Some("data"), "/d", true, true, "ro,nocopy")
        );
        assert_eq!(
            parse_volume("/cache").unwrap(),
            volume(None, "/cache", false, false, "")
        );
        assert!(parse_volume("cache").unwrap_err().contains("absolute"));
        assert!(parse_volume("/a:/b:nocopy").is_err());
        assert!(
            parse_volume("data:/d:bogus")
                .unwrap_err()
                .contains("invalid mode")
        );
        assert_eq!(
            parse_volume("a/b:/d").unwrap_err(),
            "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
        assert!(parse_volume("x:/d").unwrap_err().contains("too short"));
        assert!(parse_volume("-x:/d").is_err() && parse_volume(".x:/d").is_err());
        assert_eq!(
            parse_mount("type=volume,src=data,dst=/d,readonly,volume-nocopy").unwrap(),
            volume(Some("data"), "/d", true, true, "")
        );
        assert_eq!(
            parse_mount("target=/d").unwrap(),
            volume(None, "/d", false, false, "")
        );
        assert!(parse_mount("type=volume,src=a/b,dst=/d").is_err());
        assert_eq!(
            parse_volumes_from("web:ro").unwrap(),
            ("web".into(), Some(true))
        );
        assert_eq!(parse_volumes_from("web").unwrap(), ("web".into(), None));
        assert!(parse_volumes_from("web:zz").is_err() && parse_volumes_from(":ro").is_err());
    }

    #[test]
    fn network_options() {
        let with = |change: &dyn Fn(&mut RunOptions)| {
            let mut options = RunOptions {
                network: "bridge".into(),
                ..RunOptions::default()
            };
            change(&mut options);
            options.network_plan()
        };
        let plan = with(&|o| o.publish = vec!["8080:80".into(), "53/udp".into()]).unwrap();
        assert_eq!(plan.mode.to_string(), "bridge");
        assert_eq!(plan.ports.len(), 2);
        assert_eq!(
            with(&|o| o.network = String::new())
                .unwrap()
                .mode
                .to_string(),
            "bridge"
        );
        assert!(with(&|o| o.ip = Some("10.0.0.2".into())).is_err());
        let user = with(&|o| {
            o.network = "app".into();
            o.ip = Some("10.0.0.2".into());
            o.network_aliases = vec!["db".into()];
        })
        .unwrap();
        assert_eq!(user.ip, Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert!(with(&|o| o.network_aliases = vec!["db".into()]).is_err());
        let shared = |o: &mut RunOptions| {
            o.network = "container:web".into();
            o.publish = vec!["80".into()];
        };
        assert!(with(&shared).unwrap_err().contains("port publishing"));
        assert!(
            with(&|o| {
                o.network = "container:web".into();
                o.hostname = Some("h".into());
            })
            .is_err()
        );
        assert!(with(&|o| o.add_hosts = vec!["db:10.0.0.9".into()]).is_ok());
        assert!(with(&|o| o.add_hosts = vec!["gw:host-gateway".into()]).is_ok());
        assert!(with(&|o| o.add_hosts = vec!["db".into()]).is_err());
        assert!(with(&|o| o.dns = vec!["dns.example".into()]).is_err());
        assert!(with(&|o| o.network = "container:".into()).is_err());
    }

    #[test]
    fn limits_and_capabilities() {
        assert_eq!(
            parse_ulimit("nofile=1024:2048").unwrap(),
            ("RLIMIT_NOFILE".into(), 1024, 2048)
        );
        assert!(parse_ulimit("nofile=2048:1024").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
        assert_eq!(capability_name("net_admin").unwrap(), "CAP_NET_ADMIN");
        assert_eq!(capability_name("ALL").unwrap(), "CAP_ALL");
        assert!(capability_name("flying").is_err());
        let too_small = RunOptions {
            memory: Some("1m".into()),
            ..RunOptions::default()
        };
        assert!(too_small.plan().unwrap_err().contains("minimum memory"));
        let swap_only = RunOptions {
            memory_swap: Some("1g".into()),
            ..RunOptions::default()
        };
        assert!(swap_only.plan().is_err());
        let relative = RunOptions {
            workdir: Some("tmp".into()),
            ..RunOptions::default()
        };
        assert!(relative.plan().unwrap_err().contains("absolute"));
        assert_eq!(
            "on-failure:3".parse::<RestartPolicy>().unwrap().to_string(),
            "on-failure:3"
        );
        assert!("sometimes".parse::<RestartPolicy>().is_err());
        let both = RunOptions {
            restart: Some("always".into()),
            remove: true,
            ..RunOptions::default()
        };
        assert!(both.plan().unwrap_err().contains("--restart and --rm"));
    }

    // Docker: names and aliases match [a-zA-Z0-9][a-zA-Z0-9_.-]; else "Invalid container
    // name (NAME), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed".
    #[test]
    fn names_aliases_and_hostnames_are_checked_as_docker_does() {
        for good in ["web", "w", "db_1.a-b", "9lives"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "-x",
            ".x",
            "_x",
            "a b",
            "a\n10.0.0.1 evil",
            "a/b",
            "é",
            "a:b",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert_eq!(
            check_name("a\nb").unwrap_err(),
            "Invalid container name (a\nb), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
        let plan = |o: RunOptions| o.plan();
        assert!(
            plan(RunOptions {
                name: Some("x y".into()),
                ..RunOptions::default()
            })
            .is_err()
        );
        let alias = RunOptions {
            network: "mynet".into(),
            network_aliases: vec!["db\n1.2.3.4 evil".into()],
            ..RunOptions::default()
        };
        assert!(
            plan(alias)
                .unwrap_err()
                .starts_with("Invalid network alias")
        );
        for good in ["h", "my-host", "my_host", "a.b.c", "A1"] {
            assert!(check_hostname(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-h",
            "h-",
            ".h",
            "a b",
            "a\nb",
            "a\tb",
            "é",
            &"x".repeat(64),
        ] {
            assert!(check_hostname(bad).is_err(), "{bad:?}");
        }
    }

    // Docker: "Invalid signal: SIGBOGUS"; "range of CPUs is from 0.01 to N.00, as there are
    // only N CPUs available".
    #[test]
    fn stop_signals_and_cpus_are_checked_as_docker_does() {
        let signal = |s: &str| {
            RunOptions {
                stop_signal: Some(s.into()),
                ..RunOptions::default()
            }
            .plan()
        };
        assert_eq!(signal("SIGBOGUS").unwrap_err(), "Invalid signal: SIGBOGUS");
        assert!(signal("SIGUSR1").is_ok() && signal("9").is_ok());
        assert!(check_cpus(2.0, 2).is_ok() && check_cpus(0.01, 2).is_ok());
        assert_eq!(
            check_cpus(1000.0, 2).unwrap_err(),
            "range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        assert!(check_cpus(0.0, 2).is_err() && check_cpus(-1.0, 4).is_err());
    }
}
