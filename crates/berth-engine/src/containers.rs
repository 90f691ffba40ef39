//! Container records and directories, and the reclaiming of what a killed berth left.
//!
//! ```text
//! <root>/containers/<id>/container.json   the record: the truth about the container
//! <root>/containers/<id>/config.json      its runtime spec
//! <root>/containers/<id>/{upper,work}/    its writable overlay layer
//! <root>/containers/<id>/rootfs/          the mount point (mounted only inside the container)
//! <root>/containers/<id>/{hostname,hosts,resolv.conf}
//! ```
//!
//! A record names the berth process that runs the container, with that process's start time, so
//! a later berth command can tell a live owner from a dead one (or a reused pid).

use berth_runtime::cgroup::Cgroup;
use berth_runtime::cgroups::CgroupLayout;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What berth knows about a container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image id.
    pub image_id: String,
    /// `created`, `running` or `exited`.
    pub status: String,
    /// The exit code, once exited.
    pub exit_code: Option<i32>,
    /// Whether the OOM killer struck.
    pub oom_killed: bool,
    /// Remove it when it ends (`--rm`).
    pub auto_remove: bool,
    /// The cgroup, relative to the hierarchy roots.
    pub cgroup_path: String,
    /// The signal that stops it (`--stop-signal`, else the image's StopSignal, else SIGTERM).
    pub stop_signal: String,
    /// The berth process that runs it, and that process's start time (clock ticks after boot).
    pub owner: Option<(i32, u64)>,
    /// The container's init, as the host sees it.
    pub pid: Option<i32>,
}

/// The containers under a data root.
pub struct Containers {
    dir: PathBuf,
}

impl Containers {
    /// The containers of data root `root`.
    pub fn new(root: &Path) -> Containers {
        Containers {
            dir: root.join("containers"),
        }
    }

    /// A container's directory.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Every record (unreadable ones are skipped with a warning).
    pub fn list(&self) -> Vec<Record> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let path = e.path().join("container.json");
                let bytes = fs::read(&path).ok()?;
                serde_json::from_slice(&bytes).map_err(|err| tracing::warn!(path = %path.display(), %err, "unreadable container record")).ok()
            })
            .collect()
    }

    /// Writes a record atomically.
    pub fn save(&self, record: &Record) -> io::Result<()> {
        let dir = self.dir(&record.id);
        let tmp = dir.join("container.json.tmp");
        fs::write(
            &tmp,
            serde_json::to_vec_pretty(record).expect("a record serialises"),
        )?;
        fs::rename(tmp, dir.join("container.json"))
    }

    /// Removes a container's directory and everything in it.
    pub fn remove(&self, id: &str) -> io::Result<()> {
        match fs::remove_dir_all(self.dir(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Cleans up after containers whose berth process died (`kill -9`): their cgroups go, the
    /// `--rm` ones go entirely, the others are recorded as exited.
    pub fn reclaim(&self, layout: &CgroupLayout) {
        for mut record in self.list() {
            let owner_alive = record
                .owner
                .is_some_and(|(pid, start)| process_start_time(pid) == Some(start));
            let orphaned = record.status == "running" && !owner_alive;
            if !orphaned {
                continue;
            }
            tracing::info!(
                id = record.id,
                "reclaiming a container whose berth process died"
            );
            Cgroup::at(layout, &record.cgroup_path).remove();
            if record.auto_remove {
                if let Err(e) = self.remove(&record.id) {
                    tracing::warn!(id = record.id, %e, "cannot remove a reclaimed container");
                }
                continue;
            }
            record.status = "exited".into();
            record.exit_code.get_or_insert(137);
            record.owner = None;
            record.pid = None;
            let _ = self.save(&record);
        }
    }
}

/// The start time of process `pid` (field 22 of /proc/PID/stat), if it exists.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after it follow its closing ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(19)?.parse().ok()
}
