//! Docker-shaped events (`berth events`): what happened to containers, images, networks and
//! volumes, one JSON object a line in `<root>/events/events.log`. A record is one `O_APPEND`
//! write of one line, so that concurrent berth processes never interleave; the log starts
//! over past 1 MiB, keeping one older file (`events.log.1`). With no daemon to ask, `berth
//! events` reads the log and follows it (`follow`).

mod filter;
mod follow;

pub use filter::{EventFilter, FilterError};
pub use follow::{Replay, replay};

use crate::record::Record;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The log starts over past this size, keeping one older file.
const MAX_LOG_BYTES: u64 = 1 << 20;

/// What kind of object an event is about (Docker's `Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A container.
    Container,
    /// An image.
    Image,
    /// A network.
    Network,
    /// A volume.
    Volume,
}

impl Kind {
    /// Docker's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Network => "network",
            Kind::Volume => "volume",
        }
    }
}

/// The object of an event: its id and attributes (`name`, `image`, `exitCode`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Its id (a container's or network's full id, an image's reference or id, a volume's
    /// name).
    #[serde(rename = "ID")]
    pub id: String,
    /// What else the event says about it.
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event, as Docker's `events.Message` (with its deprecated `status`, `id` and `from`
/// for containers and images, which Docker still fills).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The action (deprecated copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The actor's id (deprecated copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A container's image (deprecated copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `container`, `image`, `network` or `volume`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `health_status: healthy`, ...
    #[serde(rename = "Action")]
    pub action: String,
    /// What it happened to.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always `local`.
    pub scope: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// Nanoseconds since the epoch.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// An event of now.
    pub fn new(kind: Kind, action: &str, id: &str, attributes: &[(&str, &str)]) -> Event {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let attributes: BTreeMap<String, String> = attributes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let legacy = matches!(kind, Kind::Container | Kind::Image);
        Event {
            status: legacy.then(|| action.to_owned()),
            id: legacy.then(|| id.to_owned()),
            from: match kind {
                Kind::Container => attributes.get("image").cloned(),
                _ => None,
            },
            kind: kind.as_str().to_owned(),
            action: action.to_owned(),
            actor: Actor {
                id: id.to_owned(),
                attributes,
            },
            scope: "local".into(),
            time: now.as_secs() as i64,
            time_nano: now.as_nanos() as i64,
        }
    }

    /// Docker's text line: `2024-01-01T00:00:00.000000000Z container start ID (image=...,
    /// name=...)`, the attributes sorted by name.
    pub fn text(&self) -> String {
        let when = crate::time::format_unix(
            self.time_nano.div_euclid(1_000_000_000),
            self.time_nano.rem_euclid(1_000_000_000) as u32,
        );
        let mut line = format!("{when} {} {} {}", self.kind, self.action, self.actor.id);
        if !self.actor.attributes.is_empty() {
            let attributes: Vec<String> = self
                .actor
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            line.push_str(&format!(" ({})", attributes.join(", ")));
        }
        line
    }
}

/// The directory of the events log under data root `root`.
pub fn dir(root: &Path) -> PathBuf {
    root.join("events")
}

/// The events log under data root `root`.
pub fn log_path(root: &Path) -> PathBuf {
    dir(root).join("events.log")
}

/// Records an event of `kind` about `id` under data root `root`: one line appended to the
/// log. Best effort: an event that cannot be written (a full disk) is logged and dropped, as
/// the action it reports has happened.
pub fn record(root: &Path, kind: Kind, action: &str, id: &str, attributes: &[(&str, &str)]) {
    append(root, &Event::new(kind, action, id, attributes));
}

/// Records a container event: its `image` and `name` attributes, then `extra`.
pub fn container(root: &Path, record: &Record, action: &str, extra: &[(&str, &str)]) {
    let mut attributes = vec![
        ("image", record.image.as_str()),
        ("name", record.name.as_str()),
    ];
    attributes.extend_from_slice(extra);
    self::record(root, Kind::Container, action, &record.id, &attributes);
}

/// Records an image event: `id` (a reference or an image id) with its `name` attribute.
pub fn image(root: &Path, action: &str, id: &str, name: &str) {
    record(root, Kind::Image, action, id, &[("name", name)]);
}

/// Records a network event about network `id` named `name`, for `container` when one is
/// concerned (`connect`, `disconnect`).
pub fn network(root: &Path, action: &str, id: &str, name: &str, container: Option<&str>) {
    let mut attributes = vec![("name", name), ("type", "bridge")];
    attributes.extend(container.map(|c| ("container", c)));
    record(root, Kind::Network, action, id, &attributes);
}

/// Appends `event` to the log, starting it over when it grew past its size.
pub fn append(root: &Path, event: &Event) {
    let mut line = serde_json::to_vec(event).expect("an event serialises");
    line.push(b'\n');
    let path = log_path(root);
    let written = open_log(&path).and_then(|mut file| {
        file.write_all(&line)?;
        Ok(file.metadata()?.len())
    });
    match written {
        Ok(size) if size > MAX_LOG_BYTES => rotate(root, &path),
        Ok(_) => {}
        Err(e) => tracing::warn!(path = %path.display(), %e, "cannot record an event"),
    }
}

/// The log opened for appending, made (with its directory) when missing.
fn open_log(path: &Path) -> std::io::Result<File> {
    let open = || {
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            open()
        }
        other => other,
    }
}

/// Moves a full log to `events.log.1`, under a lock and after a second look, so that of two
/// processes that filled it only one moves it (the other would move the new, short one over
/// the old).
fn rotate(root: &Path, path: &Path) {
    let Ok(lock) = File::create(dir(root).join("rotate.lock")) else {
        return;
    };
    if rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).is_err() {
        return;
    }
    if fs::metadata(path).is_ok_and(|m| m.size() > MAX_LOG_BYTES) {
        let _ = fs::rename(path, path.with_extension("log.1"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_docker_shaped_lines() {
        let mut event = Event::new(
            Kind::Container,
            "start",
            "abc",
            &[("name", "web"), ("image", "busybox")],
        );
        event.time = 1_700_000_000;
        event.time_nano = 1_700_000_000_123_456_789;
        assert_eq!(
            event.text(),
            "2023-11-14T22:13:20.123456789Z container start abc (image=busybox, name=web)"
        );
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"status":"start","id":"abc","from":"busybox","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"busybox","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}"#
        );
        let network = Event::new(Kind::Network, "create", "n1", &[("name", "net")]);
        let json = serde_json::to_value(&network).unwrap();
        assert!(json.get("status").is_none() && json.get("from").is_none());
    }

    #[test]
    fn a_full_log_starts_over_keeping_one_older_file() {
        let root = tempfile::tempdir().unwrap();
        let big = "x".repeat(1000);
        for _ in 0..1100 {
            record(root.path(), Kind::Volume, "create", &big, &[]);
        }
        let path = log_path(root.path());
        let old = fs::metadata(path.with_extension("log.1")).unwrap().len();
        assert!(old > MAX_LOG_BYTES && old < MAX_LOG_BYTES + 2000);
        assert!(fs::metadata(&path).unwrap().len() < MAX_LOG_BYTES);
    }
}
