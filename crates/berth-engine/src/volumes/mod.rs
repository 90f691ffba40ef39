//! Volumes: named and anonymous directories under the data root that outlive the containers
//! that mount them, as Docker's `local` driver keeps them.
//!
//! ```text
//! <root>/volumes/NAME/volume.json    the record: driver, creation time, labels, options
//! <root>/volumes/NAME/_data/         the data, bound into containers (the Mountpoint)
//! <root>/volumes/.tmp-<id>/          a volume being made, locked by its maker, then renamed
//! <root>/volumes/.removing-<id>/     a volume being removed, locked by its remover
//! <root>/volumes/NAME/.copy-<id>/    an image's content being copied in, then renamed to _data
//! ```
//!
//! A volume appears by one `rename` and leaves by one, so a killed berth leaves no volume
//! half-made or half-removed: what it left is a dot-named directory that nobody locks, which
//! the next `Volumes::list` removes. Who uses a volume is what the container records say
//! (`Record::mounts`); `remove` and `prune` decide under the containers' names lock, under
//! which a new container's record is written once its volumes are checked to exist
//! (`attach::still_there`), so that a volume in use is never removed.

mod attach;
mod copy;

pub use attach::{Attached, attach, remove_anonymous, remove_made, still_there};

use crate::containers::Containers;
use crate::ids::new_id;
use crate::options::check_volume_name;
use crate::record::Record;
use berth_error::{Context, IoContext};
use berth_image::store::FileLock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The label Docker puts on anonymous volumes (those `volume prune` removes without `-a`).
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// The only driver.
pub const LOCAL: &str = "local";

/// The option keys of the local driver, and the ones each needs beside it (moby's
/// `validOpts` and `mandatoryOpts`).
const OPTION_KEYS: [(&str, &[&str]); 3] = [
    ("type", &["device"]),
    ("device", &["type"]),
    ("o", &["device", "type"]),
];

/// A volume operation failed; the messages are Docker's.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// No volume has the name.
    #[error("get {0}: no such volume")]
    NoSuch(String),
    /// Containers (their ids) use it.
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    InUse {
        /// The volume.
        name: String,
        /// The containers' full ids.
        users: Vec<String>,
    },
    /// A bad name, driver, option or filter.
    #[error("{0}")]
    Invalid(String),
    /// The host refused something.
    #[error(transparent)]
    Io(#[from] IoContext),
}

/// What `volume.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Volume {
    /// Its name (64 hex digits for an anonymous one).
    pub name: String,
    /// `local`.
    pub driver: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// `--label`s; `None` for one made by a container's mount (Docker shows `null`).
    pub labels: Option<BTreeMap<String, String>>,
    /// The driver's options (`-o type=tmpfs`, `device=`, `o=`); `None` as for `labels`.
    pub options: Option<BTreeMap<String, String>>,
}

impl Volume {
    /// Whether it was made for one container alone (`-v /path`, an image's VOLUME).
    pub fn is_anonymous(&self) -> bool {
        self.labels
            .as_ref()
            .is_some_and(|l| l.contains_key(ANONYMOUS_LABEL))
    }

    /// The option `key`, when given.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.as_ref()?.get(key).map(String::as_str)
    }
}

/// A volume as `volume inspect` shows it (Docker's fields and order).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeInspect {
    /// When it was made.
    pub created_at: String,
    /// `local`.
    pub driver: String,
    /// Its labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Its data directory.
    pub mountpoint: String,
    /// Its name.
    pub name: String,
    /// The driver's options.
    pub options: Option<BTreeMap<String, String>>,
    /// `local`.
    pub scope: String,
}

/// A line of `volume ls` (the fields of Docker's `--format json`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeRow {
    /// `N/A` (a cluster volume's).
    pub availability: String,
    /// `local`.
    pub driver: String,
    /// `N/A` (a cluster volume's).
    pub group: String,
    /// `k=v,k2=v2`.
    pub labels: String,
    /// How many containers use it.
    pub links: String,
    /// Its data directory.
    pub mountpoint: String,
    /// Its name.
    pub name: String,
    /// `local`.
    pub scope: String,
    /// `N/A` (Docker computes it only for `system df`).
    pub size: String,
    /// `N/A` (a cluster volume's).
    pub status: String,
}

/// What `volume create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `--driver` (`local` only).
    pub driver: String,
    /// `--opt key=value`.
    pub options: Vec<String>,
    /// `--label key[=value]`.
    pub labels: Vec<String>,
}

/// The volumes under a data root.
pub struct Volumes {
    dir: PathBuf,
}

/// `key=value` (or `key` alone, an empty value) into a map.
fn key_values(entries: &[String]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|e| {
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The local driver's options, checked as moby's `validateOpts` does.
fn check_options(options: &BTreeMap<String, String>) -> Result<(), VolumeError> {
    for key in options.keys() {
        if !OPTION_KEYS.iter().any(|(k, _)| k == key) {
            return Err(VolumeError::Invalid(format!(
                "invalid option key: \"{key}\""
            )));
        }
    }
    for (key, needs) in OPTION_KEYS {
        if options.contains_key(key)
            && let Some(missing) = needs.iter().find(|n| !options.contains_key(**n))
        {
            return Err(VolumeError::Invalid(format!(
                "missing required option: \"{missing}\""
            )));
        }
    }
    Ok(())
}

impl Volumes {
    /// The volumes of data root `root`.
    pub fn new(root: &Path) -> Volumes {
        Volumes {
            dir: root.join("volumes"),
        }
    }

    /// Volume `name`'s directory.
    fn dir_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Volume `name`'s data directory (Docker's `Mountpoint`).
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir_of(name).join("_data")
    }

    /// Volume `name`, when it exists.
    pub fn get(&self, name: &str) -> Result<Volume, VolumeError> {
        if name.starts_with('.') || name.contains('/') || name.is_empty() {
            return Err(VolumeError::NoSuch(name.to_owned()));
        }
        match fs::read(self.dir_of(name).join("volume.json")) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)
                .map_err(io::Error::other)
                .with_context(|| format!("read volume {name}"))?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(VolumeError::NoSuch(name.to_owned()))
            }
            Err(e) => Err(IoContext::new(format!("read volume {name}"), e).into()),
        }
    }

    /// Makes volume `name` (a new anonymous one when `None`), or returns the existing one of
    /// that name, as Docker's `volume create` does. Whether it was made is the second value.
    pub fn create(
        &self,
        name: Option<&str>,
        request: &CreateOptions,
    ) -> Result<(Volume, bool), VolumeError> {
        if !request.driver.is_empty() && request.driver != LOCAL {
            return Err(VolumeError::Invalid(format!(
                "error looking up volume plugin {}: plugin \"{}\" not found",
                request.driver, request.driver
            )));
        }
        let options = key_values(&request.options);
        check_options(&options)?;
        let labels = key_values(&request.labels);
        self.make(
            name,
            Volume {
                driver: LOCAL.into(),
                labels: Some(labels),
                options: Some(options),
                ..Volume::default()
            },
        )
    }

    /// Makes volume `name` (anonymous when `None`) as `volume` says, or returns the existing
    /// one: in a locked directory of its own, renamed into place once complete.
    fn make(&self, name: Option<&str>, volume: Volume) -> Result<(Volume, bool), VolumeError> {
        let name = match name {
            Some(name) => {
                check_volume_name(name).map_err(VolumeError::Invalid)?;
                if let Ok(existing) = self.get(name) {
                    return Ok((existing, false));
                }
                name.to_owned()
            }
            None => new_id().context("make a volume name")?,
        };
        let volume = Volume {
            name: name.clone(),
            created_at: crate::time::now(),
            ..volume
        };
        let failed = || format!("create volume {name}");
        let tmp = self
            .dir
            .join(format!(".tmp-{}", &new_id().context("make a name")?[..16]));
        let made = (|| {
            fs::create_dir_all(&self.dir)?;
            fs::create_dir(&tmp)?;
            let _lock = FileLock::on_directory(&tmp).map_err(|e| io::Error::new(e.kind(), e))?;
            fs::create_dir(tmp.join("_data"))?;
            crate::containers::write_private(
                &tmp.join("volume.json"),
                &serde_json::to_vec(&volume).expect("a volume serialises"),
            )?;
            fs::rename(&tmp, self.dir_of(&name))
        })();
        match made {
            Ok(()) => {
                self.event("create", &name);
                Ok((volume, true))
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                // Made meanwhile by another berth command.
                match self.get(&name) {
                    Ok(existing) => Ok((existing, false)),
                    Err(_) => Err(IoContext::new(failed(), e).into()),
                }
            }
        }
    }

    /// Every volume, by name; what killed berth commands left is removed first.
    pub fn list(&self) -> Vec<Volume> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut volumes = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                remove_unlocked(&entry.path());
                continue;
            }
            if let Ok(volume) = self.get(&name) {
                attach::remove_unlocked_copies(&entry.path());
                volumes.push(volume);
            }
        }
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
        volumes
    }

    /// The volume as `volume inspect` shows it.
    pub fn inspect(&self, volume: &Volume) -> VolumeInspect {
        VolumeInspect {
            created_at: volume.created_at.clone(),
            driver: volume.driver.clone(),
            labels: volume.labels.clone(),
            mountpoint: self.data_dir(&volume.name).display().to_string(),
            name: volume.name.clone(),
            options: volume.options.clone(),
            scope: LOCAL.into(),
        }
    }

    /// The lines of `volume ls` that pass every `filters` entry (`dangling=true|false`,
    /// `name=PART`, `label=KEY[=VALUE]`, `driver=NAME`), by name; `records`: every container.
    pub fn rows(
        &self,
        records: &[Record],
        filters: &[String],
    ) -> Result<Vec<VolumeRow>, VolumeError> {
        let mut volumes = self.list();
        for filter in filters {
            let bad = || VolumeError::Invalid(format!("invalid filter '{filter}'"));
            let (key, value) = filter.split_once('=').ok_or_else(bad)?;
            match key {
                "dangling" => {
                    let dangling = match value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(bad()),
                    };
                    volumes.retain(|v| users(records, &v.name).is_empty() == dangling);
                }
                "name" => volumes.retain(|v| v.name.contains(value)),
                "driver" => volumes.retain(|v| v.driver == value),
                "label" => {
                    let (k, wanted) = value
                        .split_once('=')
                        .map_or((value, None), |(k, v)| (k, Some(v)));
                    volumes.retain(|v| {
                        let found = v.labels.as_ref().and_then(|l| l.get(k));
                        found.is_some_and(|found| wanted.is_none_or(|w| w == found))
                    });
                }
                _ => return Err(VolumeError::Invalid(format!("invalid filter '{key}'"))),
            }
        }
        Ok(volumes
            .iter()
            .map(|v| VolumeRow {
                availability: "N/A".into(),
                driver: v.driver.clone(),
                group: "N/A".into(),
                labels: v
                    .labels
                    .iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
                links: "N/A".into(),
                mountpoint: self.data_dir(&v.name).display().to_string(),
                name: v.name.clone(),
                scope: LOCAL.into(),
                size: "N/A".into(),
                status: "N/A".into(),
            })
            .collect())
    }

    /// Removes volume `name` unless a container (running or not) uses it; a missing one is
    /// no error when `force`.
    pub fn remove(
        &self,
        containers: &Containers,
        name: &str,
        force: bool,
    ) -> Result<(), VolumeError> {
        let _names = containers.lock_names().context("lock container names")?;
        match self.get(name) {
            Err(VolumeError::NoSuch(_)) if force => return Ok(()),
            found => found?,
        };
        let users = users(&containers.list(), name);
        if !users.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_owned(),
                users,
            });
        }
        self.remove_unused(name).map(drop)
    }

    /// Removes every volume no container uses: the anonymous ones, or all with `all` (Docker
    /// 23's `volume prune [-a]`). Their names and the bytes their data held.
    pub fn prune(
        &self,
        containers: &Containers,
        all: bool,
    ) -> Result<Vec<(String, u64)>, VolumeError> {
        let _names = containers.lock_names().context("lock container names")?;
        let records = containers.list();
        let mut removed = Vec::new();
        for volume in self.list() {
            if (all || volume.is_anonymous()) && users(&records, &volume.name).is_empty() {
                let size = self.remove_unused(&volume.name)?;
                removed.push((volume.name, size));
            }
        }
        Ok(removed)
    }

    /// Removes volume `name`, which nothing uses: renamed out of the way in one step, then
    /// removed. The bytes its data held.
    fn remove_unused(&self, name: &str) -> Result<u64, VolumeError> {
        let failed = || format!("remove volume {name}");
        let id = new_id().context("make a name")?;
        let removing = self.dir.join(format!(".removing-{}", &id[..16]));
        let lock = FileLock::on_directory(&self.dir_of(name))?;
        fs::rename(self.dir_of(name), &removing).with_context(failed)?;
        let size = disk_usage(&removing.join("_data"));
        let removed = fs::remove_dir_all(&removing);
        drop(lock);
        removed.with_context(failed)?;
        self.event("destroy", name);
        Ok(size)
    }

    /// Records a volume event (`create`, `destroy`) in the data root's event log.
    fn event(&self, action: &str, name: &str) {
        if let Some(root) = self.dir.parent() {
            crate::events::record(
                root,
                crate::events::Kind::Volume,
                action,
                name,
                &[("driver", LOCAL)],
            );
        }
    }
}

/// The containers (full ids) whose records mount volume `name`.
pub fn users(records: &[Record], name: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.mounts.iter().any(|m| m.is_volume(name)))
        .map(|r| r.id.clone())
        .collect()
}

/// Removes directory `path` (what a killed berth left) unless its maker still holds its lock.
fn remove_unlocked(path: &Path) {
    if let Ok(Some(_lock)) = FileLock::try_on_directory(path) {
        tracing::info!(dir = %path.display(), "removing what a killed berth left");
        if let Err(e) = fs::remove_dir_all(path) {
            tracing::warn!(dir = %path.display(), %e, "cannot remove");
        }
    }
}

/// The bytes the regular files below `dir` hold.
fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_usage(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(entries: &[&str]) -> Result<(), VolumeError> {
        check_options(&key_values(
            &entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>(),
        ))
    }

    // moby's local driver: type, device and o only; type and device each need the other, o
    // needs both.
    #[test]
    fn driver_options_are_checked_as_docker_does() {
        assert!(options(&["type=tmpfs", "device=tmpfs", "o=size=1m"]).is_ok());
        assert!(options(&[]).is_ok());
        assert_eq!(
            options(&["size=1m"]).unwrap_err().to_string(),
            "invalid option key: \"size\""
        );
        assert_eq!(
            options(&["type=tmpfs"]).unwrap_err().to_string(),
            "missing required option: \"device\""
        );
        assert!(options(&["o=bind", "device=/x"]).is_err());
    }

    #[test]
    fn volumes_are_made_once_listed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let volumes = Volumes::new(dir.path());
        let containers = Containers::new(dir.path());
        let request = CreateOptions {
            labels: vec!["a=b".into(), "c".into()],
            ..CreateOptions::default()
        };
        let (made, new) = volumes.create(Some("data"), &request).unwrap();
        assert!(new && volumes.data_dir("data").is_dir());
        let (again, new) = volumes
            .create(Some("data"), &CreateOptions::default())
            .unwrap();
        assert!(!new);
        assert_eq!(again, made);
        assert!(volumes.create(Some("a/b"), &request).is_err());
        let bad_driver = CreateOptions {
            driver: "nfs".into(),
            ..CreateOptions::default()
        };
        assert!(volumes.create(Some("x1"), &bad_driver).is_err());
        // A killed maker's work, and one in progress (locked).
        std::fs::create_dir_all(dir.path().join("volumes/.tmp-dead/_data")).unwrap();
        let live = dir.path().join("volumes/.tmp-live");
        std::fs::create_dir(&live).unwrap();
        let _held = FileLock::on_directory(&live).unwrap();
        let names: Vec<String> = volumes.list().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["data"]);
        assert!(!dir.path().join("volumes/.tmp-dead").exists() && live.exists());
        let rows = volumes.rows(&[], &["label=a=b".into()]).unwrap();
        assert_eq!(rows[0].labels, "a=b,c=");
        assert!(volumes.rows(&[], &["label=a=c".into()]).unwrap().is_empty());
        assert!(volumes.rows(&[], &["dangling=maybe".into()]).is_err());
        assert!(volumes.rows(&[], &["colour=red".into()]).is_err());
        volumes.remove(&containers, "data", false).unwrap();
        assert!(matches!(
            volumes.remove(&containers, "data", false),
            Err(VolumeError::NoSuch(_))
        ));
        volumes.remove(&containers, "data", true).unwrap();
        assert!(!dir.path().join("volumes/data").exists());
    }
}
