//! What berth records about a container (`containers/<id>/container.json`), and the typed values
//! in it: its status, restart policy, log driver and network mode. Each serialises as the
//! string Docker uses for it, so records written before these types still parse and `inspect`
//! prints the same JSON. Below the modules that store, connect and run containers, which all
//! use it.

use crate::networks::DEFAULT;
use berth_net::ports::{PortBinding, PortRequest};
use berth_runtime::host::process_start_time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// What berth knows about a container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image id.
    pub image_id: String,
    /// The command it runs.
    pub command: Vec<String>,
    /// When it was created (RFC 3339).
    pub created: String,
    /// When it last started.
    pub started_at: Option<String>,
    /// When it last ended.
    pub finished_at: Option<String>,
    /// Created, running or exited, as last recorded (see `Record::is_running`).
    pub status: Status,
    /// The exit code, once exited.
    pub exit_code: Option<i32>,
    /// Whether the OOM killer struck.
    pub oom_killed: bool,
    /// Remove it when it ends (`--rm`).
    pub auto_remove: bool,
    /// Its restart policy (`--restart`).
    pub restart: RestartPolicy,
    /// How many times the supervisor restarted it.
    pub restart_count: u32,
    /// A user stopped it: no restart.
    pub stopped_by_user: bool,
    /// `restart` stopped it to start it again: an `--rm` container is not removed for that
    /// stop (as with Docker); its next start clears this.
    pub restarting: bool,
    /// Where its output goes (`--log-driver`).
    pub log_driver: LogDriver,
    /// Overlay lower directories, topmost first.
    pub layers: Vec<String>,
    /// `-i`
    pub interactive: bool,
    /// `-t`
    pub tty: bool,
    /// Frozen by `pause`.
    pub paused: bool,
    /// The cgroup, relative to the hierarchy roots.
    pub cgroup_path: String,
    /// The signal that stops it (`--stop-signal`, else the image's StopSignal, else SIGTERM).
    pub stop_signal: String,
    /// The berth process that runs it, and that process's start time (clock ticks after boot).
    /// The container's init is that process's child (see `Record::init_pid`).
    pub owner: Option<(i32, u64)>,
    /// Its network mode: `bridge` or a user network's name, `none`, `host`, or
    /// `container:<id>`.
    pub network_mode: NetworkMode,
    /// The networks it is connected to, with its addresses while it runs.
    pub networks: Vec<Endpoint>,
    /// The ports to publish (`-p`, `-P`).
    pub ports: Vec<PortRequest>,
    /// The host ports they got, while it runs.
    pub port_bindings: Vec<PortBinding>,
    /// Its hostname.
    pub hostname: String,
    /// `--add-host` entries, `name:ip` (`host-gateway` is the gateway's address).
    pub extra_hosts: Vec<String>,
    /// Its volumes and bind mounts, as `inspect` shows them (`Mounts`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountPoint>,
    /// Its labels: the image's, then `--label` and `--label-file` over them (as Docker merges
    /// them into `Config.Labels`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Its healthcheck (the run's options over the image's), when it has one (a record
    /// without one does not name it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<crate::health::Healthcheck>,
}

/// A volume or bind mount of a container, and whether the volume was made for this container
/// alone (anonymous: `rm -v` and `run --rm` remove it).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct MountPoint {
    /// `volume` or `bind`.
    pub kind: String,
    /// The volume's name (empty for a bind).
    pub name: String,
    /// The host path: a volume's data directory, or the bound path.
    pub source: String,
    /// The path in the container.
    pub destination: String,
    /// The mode as given (`z`, `ro`, ...).
    pub mode: String,
    /// Writable.
    pub rw: bool,
    /// An anonymous volume.
    pub anonymous: bool,
}

/// A mount as Docker's `inspect` shows it (`Mounts`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct InspectMount {
    /// `volume` or `bind`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name (a bind has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The host path.
    pub source: String,
    /// The path in the container.
    pub destination: String,
    /// `local` for a volume (a bind has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The mode as given.
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// `rprivate` for a bind, empty for a volume.
    pub propagation: String,
}

impl MountPoint {
    /// Whether it is volume `name`.
    pub fn is_volume(&self, name: &str) -> bool {
        self.kind == "volume" && self.name == name
    }

    /// The mount as `inspect` shows it.
    pub fn inspect(&self) -> InspectMount {
        let volume = self.kind == "volume";
        InspectMount {
            kind: self.kind.clone(),
            name: volume.then(|| self.name.clone()),
            source: self.source.clone(),
            destination: self.destination.clone(),
            driver: volume.then(|| "local".to_owned()),
            mode: self.mode.clone(),
            rw: self.rw,
            propagation: if volume { "" } else { "rprivate" }.into(),
        }
    }
}

/// A container's connection to a network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Endpoint {
    /// The network's name.
    pub network: String,
    /// `--network-alias`es: more names it has on the network.
    pub aliases: Vec<String>,
    /// The address asked for with `--ip`.
    pub requested_ip: Option<Ipv4Addr>,
    /// Its address, while it runs.
    pub ip: Option<Ipv4Addr>,
    /// Its interface in the container (`eth0`), while it runs.
    pub interface: Option<String>,
    /// The host's end of its veth pair, while it runs.
    pub host_interface: Option<String>,
}

impl Record {
    /// The container's own cgroup path (`PARENT/ID`), when the record names one: a relative
    /// path without `.` or `..` that ends in the container's id. Removing a cgroup kills what
    /// is in it, so a record that names another (a damaged or foreign one: an empty path is a
    /// hierarchy's root) gets nothing removed.
    pub fn own_cgroup(&self) -> Option<&str> {
        let path = std::path::Path::new(&self.cgroup_path);
        let plain = path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        let ends_in_id = path
            .file_name()
            .is_some_and(|name| name == self.id.as_str());
        (plain && ends_in_id && !self.id.is_empty()).then_some(self.cgroup_path.as_str())
    }

    /// Whether the container runs now: recorded as running by a berth process that is alive.
    pub fn is_running(&self) -> bool {
        self.status == Status::Running
            && self
                .owner
                .is_some_and(|(pid, start)| process_start_time(pid) == Some(start))
    }

    /// The container's init as the host sees it, while the container runs: the child of the
    /// berth process that runs it which is PID 1 of a namespace of its own (not a helper such
    /// as `nft`). It is not recorded, which saves each start a rewrite of the record.
    pub fn init_pid(&self) -> Option<i32> {
        let (owner, _) = self.owner.filter(|_| self.is_running())?;
        berth_runtime::host::children_of(owner)
            .into_iter()
            .find(|&child| berth_runtime::host::is_namespace_init(child))
    }

    /// Forgets what the container had on its networks while it ran (addresses, interfaces,
    /// host ports), keeping what it asked for.
    pub fn clear_endpoints(&mut self) {
        for endpoint in &mut self.networks {
            endpoint.ip = None;
            endpoint.interface = None;
            endpoint.host_interface = None;
        }
        self.port_bindings.clear();
    }
}

/// A container's recorded status (Docker's `State.Status` adds `paused`, which berth keeps
/// apart in `Record::paused`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Made, never started.
    #[default]
    Created,
    /// Started by a berth process (alive or not: see `Record::is_running`).
    Running,
    /// Ended.
    Exited,
}

/// A restart policy, as `--restart` names it: `no`, `on-failure[:N]`, `always` or
/// `unless-stopped`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RestartPolicy {
    /// Never restarted.
    #[default]
    No,
    /// Restarted after a non-zero exit, at most this many times when given.
    OnFailure(Option<u32>),
    /// Always restarted.
    Always,
    /// Restarted unless a user stopped it.
    UnlessStopped,
}

impl RestartPolicy {
    /// Its name without the retry count (Docker's `RestartPolicy.Name`).
    pub fn name(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure(_) => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// The retry count of `on-failure:N`, else 0 (Docker's `RestartPolicy.MaximumRetryCount`).
    pub fn maximum_retry_count(self) -> u32 {
        match self {
            RestartPolicy::OnFailure(Some(max)) => max,
            _ => 0,
        }
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestartPolicy::OnFailure(Some(max)) => write!(f, "on-failure:{max}"),
            policy => f.write_str(policy.name()),
        }
    }
}

impl FromStr for RestartPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<RestartPolicy, String> {
        let policy = match text.split_once(':') {
            Some(("on-failure", n)) => n.parse().ok().map(|n| RestartPolicy::OnFailure(Some(n))),
            Some(_) => None,
            None => match text {
                "no" => Some(RestartPolicy::No),
                "on-failure" => Some(RestartPolicy::OnFailure(None)),
                "always" => Some(RestartPolicy::Always),
                "unless-stopped" => Some(RestartPolicy::UnlessStopped),
                _ => None,
            },
        };
        policy.ok_or_else(|| {
            format!(
                "invalid restart policy \"{text}\": use no, on-failure[:max-retries], always or unless-stopped"
            )
        })
    }
}

impl TryFrom<String> for RestartPolicy {
    type Error = String;

    fn try_from(text: String) -> Result<RestartPolicy, String> {
        text.parse()
    }
}

impl From<RestartPolicy> for String {
    fn from(policy: RestartPolicy) -> String {
        policy.to_string()
    }
}

/// Where a container's output goes, as `--log-driver` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogDriver {
    /// Docker's json-file log (see `supervisor::log_path`).
    #[default]
    #[serde(rename = "json-file")]
    JsonFile,
    /// Nowhere.
    #[serde(rename = "none")]
    None,
}

impl LogDriver {
    /// Its name (`json-file`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogDriver::JsonFile => "json-file",
            LogDriver::None => "none",
        }
    }
}

impl fmt::Display for LogDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogDriver {
    type Err = String;

    fn from_str(text: &str) -> Result<LogDriver, String> {
        match text {
            "json-file" => Ok(LogDriver::JsonFile),
            "none" => Ok(LogDriver::None),
            _ => Err(format!(
                "log driver \"{text}\" is not supported: use json-file or none"
            )),
        }
    }
}

/// How a container is networked, as `--network` names it: `bridge` or a user network's name,
/// `none`, `host`, or `container:NAME` (recorded with the other container's id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum NetworkMode {
    /// On bridge network(s): the default one or a user network, by name.
    Network(String),
    /// A network namespace of its own with only `lo`.
    None,
    /// The host's network namespace.
    Host,
    /// Another container's network namespace.
    Container(String),
}

impl NetworkMode {
    /// Whether it puts the container on bridge networks (rather than none, host or another
    /// container's namespace).
    pub fn on_bridges(&self) -> bool {
        matches!(self, NetworkMode::Network(_))
    }

    /// Whether it names a user network (not the default one).
    pub fn is_user_network(&self) -> bool {
        matches!(self, NetworkMode::Network(name) if name != DEFAULT)
    }
}

impl Default for NetworkMode {
    fn default() -> NetworkMode {
        NetworkMode::Network(DEFAULT.into())
    }
}

impl fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkMode::Network(name) => f.write_str(name),
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Container(other) => write!(f, "container:{other}"),
        }
    }
}

impl FromStr for NetworkMode {
    type Err = String;

    /// `""` and `default` are the default network, as with Docker.
    fn from_str(text: &str) -> Result<NetworkMode, String> {
        Ok(match text {
            "" | "default" => NetworkMode::default(),
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            "container:" => return Err("--network container: needs a container name".into()),
            other => match other.strip_prefix("container:") {
                Some(other) => NetworkMode::Container(other.to_owned()),
                None => NetworkMode::Network(other.to_owned()),
            },
        })
    }
}

impl TryFrom<String> for NetworkMode {
    type Error = String;

    fn try_from(text: String) -> Result<NetworkMode, String> {
        text.parse()
    }
}

impl From<NetworkMode> for String {
    fn from(mode: NetworkMode) -> String {
        mode.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `value` serialises as the JSON string `text`, and `text` parses back to it, as JSON and
    /// (where the CLI names it) with `FromStr`.
    fn round_trips<T>(value: T, text: &str)
    where
        T: Serialize + for<'de> Deserialize<'de> + FromStr + fmt::Display + PartialEq + fmt::Debug,
    {
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value);
        assert_eq!(value.to_string(), text);
        assert!(text.parse::<T>().is_ok_and(|parsed| parsed == value));
    }

    #[test]
    fn serde_names_are_dockers_strings() {
        for (status, text) in [
            (Status::Created, "created"),
            (Status::Running, "running"),
            (Status::Exited, "exited"),
        ] {
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{text}\"")
            );
            assert_eq!(
                serde_json::from_str::<Status>(&format!("\"{text}\"")).unwrap(),
                status
            );
        }
        round_trips(RestartPolicy::No, "no");
        round_trips(RestartPolicy::OnFailure(None), "on-failure");
        round_trips(RestartPolicy::OnFailure(Some(3)), "on-failure:3");
        round_trips(RestartPolicy::Always, "always");
        round_trips(RestartPolicy::UnlessStopped, "unless-stopped");
        round_trips(LogDriver::JsonFile, "json-file");
        round_trips(LogDriver::None, "none");
        round_trips(NetworkMode::Network("bridge".into()), "bridge");
        round_trips(NetworkMode::Network("mynet".into()), "mynet");
        round_trips(NetworkMode::None, "none");
        round_trips(NetworkMode::Host, "host");
        round_trips(
            NetworkMode::Container("0123abcd".into()),
            "container:0123abcd",
        );
    }

    #[test]
    fn what_docker_refuses_does_not_parse() {
        for bad in [
            "",
            "never",
            "on-failure:",
            "on-failure:x",
            "always:2",
            "On-Failure",
        ] {
            assert!(bad.parse::<RestartPolicy>().is_err(), "{bad}");
        }
        let error = "syslog".parse::<LogDriver>().unwrap_err();
        assert_eq!(
            error,
            "log driver \"syslog\" is not supported: use json-file or none"
        );
        assert!("container:".parse::<NetworkMode>().is_err());
        assert_eq!("".parse::<NetworkMode>(), Ok(NetworkMode::default()));
        assert_eq!("default".parse::<NetworkMode>(), Ok(NetworkMode::default()));
        assert!(serde_json::from_str::<Status>("\"paused\"").is_err());
    }

    #[test]
    fn policies_give_dockers_name_and_retry_count() {
        let policy: RestartPolicy = "on-failure:5".parse().unwrap();
        assert_eq!(
            (policy.name(), policy.maximum_retry_count()),
            ("on-failure", 5)
        );
        assert_eq!(RestartPolicy::Always.maximum_retry_count(), 0);
        assert!(NetworkMode::Network("mynet".into()).is_user_network());
        assert!(!NetworkMode::default().is_user_network());
        assert!(NetworkMode::default().on_bridges());
        assert!(!NetworkMode::Container("x".into()).on_bridges());
    }

    /// A record as the berth before these types wrote it (the field values were strings).
    const OLD_RECORD: &str = r#"{"id":"6f1c0b3e9a2d4c5b8e7f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5","name":"web","image":"busybox","image_id":"sha256:abc","command":["sleep","60"],"created":"2026-12-01T10:00:00.000000000Z","started_at":"2026-12-01T10:00:01.000000000Z","finished_at":"2026-12-01T10:01:01.000000000Z","status":"exited","exit_code":137,"oom_killed":false,"auto_remove":false,"restart":"on-failure:3","restart_count":1,"stopped_by_user":true,"restarting":false,"log_driver":"none","layers":["/var/lib/berth/layers/x/diff"],"interactive":false,"tty":false,"paused":false,"cgroup_path":"berth/6f1c","stop_signal":"SIGTERM","owner":null,"network_mode":"container:0123abcd","networks":[{"network":"bridge","aliases":[],"requested_ip":null,"ip":null,"interface":null,"host_interface":null}],"ports":[],"port_bindings":[],"hostname":"6f1c0b3e9a2d","extra_hosts":[]}"#;

    #[test]
    fn a_record_written_by_the_old_code_still_parses_and_writes_the_same() {
        let record: Record = serde_json::from_str(OLD_RECORD).unwrap();
        assert_eq!(record.status, Status::Exited);
        assert_eq!(record.restart, RestartPolicy::OnFailure(Some(3)));
        assert_eq!(record.log_driver, LogDriver::None);
        assert_eq!(
            record.network_mode,
            NetworkMode::Container("0123abcd".into())
        );
        let written: serde_json::Value = serde_json::to_value(&record).unwrap();
        let old: serde_json::Value = serde_json::from_str(OLD_RECORD).unwrap();
        assert_eq!(written, old);
        for (mode, expected) in [
            ("bridge", NetworkMode::default()),
            ("host", NetworkMode::Host),
            ("none", NetworkMode::None),
            ("mynet", NetworkMode::Network("mynet".into())),
        ] {
            let text = OLD_RECORD.replace("container:0123abcd", mode);
            let record: Record = serde_json::from_str(&text).unwrap();
            assert_eq!(record.network_mode, expected);
        }
    }

    #[test]
    fn a_record_missing_fields_takes_the_defaults() {
        let record: Record = serde_json::from_str(r#"{"id":"x","status":"running"}"#).unwrap();
        assert_eq!(record.status, Status::Running);
        assert_eq!(record.restart, RestartPolicy::No);
        assert_eq!(record.log_driver, LogDriver::JsonFile);
        assert!(record.network_mode.on_bridges());
        // ...and names no cgroup to remove: an empty path is a hierarchy's root.
        assert_eq!(record.own_cgroup(), None);
    }

    #[test]
    fn only_the_containers_own_cgroup_is_named_for_removal() {
        let with = |path: &str| Record {
            id: "abc".into(),
            cgroup_path: path.into(),
            ..serde_json::from_str(r#"{"id":"abc","status":"exited"}"#).unwrap()
        };
        assert_eq!(with("berth/abc").own_cgroup(), Some("berth/abc"));
        assert_eq!(with("a/b/abc").own_cgroup(), Some("a/b/abc"));
        for bad in [
            "",
            "/",
            "abc/..",
            "berth/../abc",
            "/berth/abc",
            "berth/other",
        ] {
            assert_eq!(with(bad).own_cgroup(), None, "{bad:?}");
        }
    }
}
