//! Undoing what containers that run no more hold on the host: `Containers::tear_down`, and
//! `Containers::reclaim` after a killed berth. Above both the store of records
//! (`containers.rs`) and the networks (`connect.rs`), which it ties together, so that neither
//! needs the other.

use crate::connect;
use crate::containers::Containers;
use crate::paths::Roots;
use crate::record::{Record, Status};
use berth_runtime::cgroup::Cgroup;
use berth_runtime::cgroups::CgroupLayout;
use std::io;
use std::path::Path;

impl Containers {
    /// The roots this data root belongs to, with run root `run_root`.
    fn roots(&self, run_root: &Path) -> Roots {
        Roots {
            root: self.data_root().to_path_buf(),
            run_root: run_root.to_path_buf(),
        }
    }

    /// Removes what a container that runs no more may still hold on the host: its network
    /// (namespace, interfaces, leases, firewall rules) and its cgroups. Harmless when there
    /// is nothing left.
    pub fn tear_down(&self, run_root: &Path, layout: &CgroupLayout, record: &Record) {
        connect::release(&self.roots(run_root), record);
        if let Some(cgroup) = record.own_cgroup() {
            Cgroup::at(layout, cgroup).remove();
        }
    }

    /// Cleans up after containers whose berth process died (`kill -9`): their network and
    /// cgroups go, the `--rm` ones go entirely, the others are recorded as exited; removes
    /// what a killed removal left in `removing/`, and the directories without a record that
    /// killed commands left. Returns the records as they are afterwards (from the same
    /// reading of the records).
    pub fn reclaim(&self, run_root: &Path, layout: &CgroupLayout) -> Vec<Record> {
        self.reclaim_removals(layout);
        let (records, unrecorded) = self.read_records();
        self.reclaim_unrecorded(&unrecorded);
        let mut remaining = Vec::new();
        for record in records {
            if record.status != Status::Running || record.is_running() {
                remaining.push(record);
                continue;
            }
            match self.reclaim_one(run_root, layout, &record.id) {
                Ok(true) => tracing::info!(
                    id = record.id,
                    "reclaimed a container whose berth process died"
                ),
                Ok(false) => {}
                Err(e) => tracing::warn!(id = record.id, %e, "cannot reclaim a container"),
            }
            // Read again: reclaimed (or not, when another process got there first), or gone.
            if let Ok(now) = self.get(&record.id) {
                remaining.push(now);
            }
        }
        remaining
    }

    /// Reclaims container `id` if its berth process died, under its lock (a supervisor may
    /// have started it meanwhile): what it holds on the host is torn down first, and only then
    /// is it recorded as exited (or removed, with `--rm`), so that a reclaim killed half-way
    /// leaves it recorded as running, for the next one to do it all again. Whether it was
    /// reclaimed.
    fn reclaim_one(&self, run_root: &Path, layout: &CgroupLayout, id: &str) -> io::Result<bool> {
        let _lock = self.lock(id)?;
        let mut record = self.get(id)?;
        if record.status != Status::Running || record.is_running() {
            return Ok(false);
        }
        self.tear_down(run_root, layout, &record);
        if record.auto_remove {
            self.remove(id)?;
            crate::volumes::remove_anonymous(self, &record);
            return Ok(true);
        }
        record.status = Status::Exited;
        record.exit_code = Some(record.exit_code.unwrap_or(137));
        record.finished_at = Some(crate::time::now());
        record.owner = None;
        record.clear_endpoints();
        self.save(&record)?;
        Ok(true)
    }
}

/// The containers as every container command starts from them: what killed berth processes
/// left reclaimed first, with the records as the reclaim read them, and the attach sockets
/// whose relay is gone (a killed relay cannot remove its own) removed.
pub fn reclaimed(roots: &Roots) -> (Containers, Vec<Record>) {
    let containers = Containers::new(&roots.root);
    let records = match berth_runtime::cgroups::detect() {
        Ok(layout) => containers.reclaim(&roots.run_root, &layout),
        Err(_) => containers.list(),
    };
    if let Ok(entries) = std::fs::read_dir(&roots.run_root) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".attach")
                && !containers.get(id).is_ok_and(|r| r.is_running())
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    (containers, records)
}
