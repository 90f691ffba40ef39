//! `update`: a container's resource limits and restart policy changed after its creation. The
//! new values go into its runtime spec (`config.json`, which every start reads, so a restart
//! keeps them) and its record; a running container's cgroup gets them at once, through the
//! runtime's cgroup writers (`Cgroup::update`). Docker's checks and messages (moby's
//! `verifyContainerSettings` for an update, then `Container.UpdateContainer`).

use crate::containers::{Containers, FindError, write_private};
use crate::options::MIN_MEMORY;
use crate::record::{Record, RestartPolicy};
use crate::spec::CPU_PERIOD;
use berth_error::{Context, IoContext};
use berth_runtime::cgroup::{Cgroup, CgroupError, Limits};
use serde_json::{Value, json};
use std::path::Path;

/// What to change; `None` leaves a value as it is. Sizes in bytes; a swap limit is memory
/// plus swap, -1 for unlimited; a pids limit of 0 or less is none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    /// `--cpus`
    pub cpus: Option<f64>,
    /// `--cpu-shares`
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`
    pub cpuset_mems: Option<String>,
    /// `--memory`
    pub memory: Option<i64>,
    /// `--memory-swap`
    pub memory_swap: Option<i64>,
    /// `--memory-reservation`
    pub memory_reservation: Option<i64>,
    /// `--pids-limit`
    pub pids_limit: Option<i64>,
    /// `--restart`
    pub restart: Option<RestartPolicy>,
}

/// An update refused or failed; the messages are Docker's.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// No such container, or an ambiguous prefix.
    #[error(transparent)]
    Find(#[from] FindError),
    /// Values refused before any container is looked at.
    #[error("{0}")]
    Invalid(String),
    /// This container cannot take the update (Docker's `errCannotUpdate`).
    #[error("Cannot update container {id}: {why}")]
    Cannot {
        /// The container's id.
        id: String,
        /// Why.
        why: String,
    },
    /// Its files could not be read or written.
    #[error(transparent)]
    Io(#[from] IoContext),
}

impl Update {
    /// Whether it changes anything (Docker's CLI wants at least one flag).
    pub fn is_empty(&self) -> bool {
        *self == Update::default()
    }

    /// Docker's checks of the values alone: at least 6MB of memory and of reservation, swap
    /// no smaller than memory, reservation no larger, CPUs from 0.01 to what this host has.
    pub fn check(&self) -> Result<(), UpdateError> {
        let invalid = |why: &str| Err(UpdateError::Invalid(why.to_owned()));
        let memory = self.memory.unwrap_or(0);
        let reservation = self.memory_reservation.unwrap_or(0);
        if memory != 0 && memory < MIN_MEMORY {
            return invalid("Minimum memory limit allowed is 6MB");
        }
        if memory > 0
            && self
                .memory_swap
                .is_some_and(|swap| swap > 0 && swap < memory)
        {
            return invalid(
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            );
        }
        if reservation != 0 && reservation < MIN_MEMORY {
            return invalid("Minimum memory reservation allowed is 6MB");
        }
        if memory > 0 && reservation > 0 && memory < reservation {
            return invalid(
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            );
        }
        if let Some(cpus) = self.cpus {
            crate::options::check_host_cpus(cpus).map_err(UpdateError::Invalid)?;
        }
        Ok(())
    }
}

/// Updates container `name` (checked with `Update::check` first): its spec and record under
/// its lock, and its cgroup when it runs. Returns its record as updated.
pub fn update(containers: &Containers, name: &str, update: &Update) -> Result<Record, UpdateError> {
    let id = containers.find(name)?.id;
    let _lock = containers.lock(&id).context("lock the container")?;
    let mut record = containers.get(&id).context("read the container's record")?;
    let cannot = |why: String| UpdateError::Cannot {
        id: id.clone(),
        why,
    };
    if record.auto_remove && update.restart.is_some_and(|p| p != RestartPolicy::No) {
        return Err(cannot(
            "Restart policy cannot be updated because AutoRemove is enabled for the container"
                .into(),
        ));
    }
    let spec_path = containers.dir(&id).join("config.json");
    let mut spec: Value = serde_json::from_slice(
        &std::fs::read(&spec_path).with_context(|| format!("read {}", spec_path.display()))?,
    )
    .map_err(|e| cannot(format!("{}: {e}", spec_path.display())))?;
    let merged = merge(&mut spec["linux"]["resources"], update).map_err(cannot)?;
    if record.is_running() {
        let layout = berth_runtime::cgroups::detect().context("find the cgroup layout")?;
        Cgroup::at(&layout, &record.cgroup_path)
            .update(&live_limits(update, &merged))
            .map_err(|e| cannot(refusal(&e, merged.limit)))?;
    }
    let bytes = serde_json::to_vec(&spec).expect("a spec serialises");
    let tmp = spec_path.with_extension(format!("json.{}", std::process::id()));
    write_private(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, &spec_path))
        .with_context(|| format!("write {}", spec_path.display()))?;
    if let Some(policy) = update.restart {
        record.restart = policy;
        containers
            .save(&record)
            .context("save the container's record")?;
    }
    Ok(record)
}

/// The memory limits after an update, as the spec has them then.
#[derive(Debug)]
struct Memory {
    limit: Option<i64>,
    swap: Option<i64>,
}

/// Puts `update` into the spec's `linux.resources`; refuses, as Docker does, a memory limit
/// above the swap limit already set unless the swap limit changes too.
fn merge(resources: &mut Value, update: &Update) -> Result<Memory, String> {
    if !resources.is_object() {
        *resources = json!({});
    }
    let number = |v: &Value| v.as_i64().filter(|n| *n != 0);
    let swap_now = number(&resources["memory"]["swap"]).unwrap_or(0);
    if let Some(memory) = update.memory
        && memory > swap_now
        && update.memory_swap.is_none()
    {
        return Err("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into());
    }
    let mut set = |section: &str, key: &str, value: Value| {
        if !resources[section].is_object() {
            resources[section] = json!({});
        }
        resources[section][key] = value;
    };
    if let Some(cpus) = update.cpus {
        set(
            "cpu",
            "quota",
            json!((cpus * CPU_PERIOD as f64).round() as i64),
        );
        set("cpu", "period", json!(CPU_PERIOD));
    }
    if let Some(shares) = update.cpu_shares {
        set("cpu", "shares", json!(shares));
    }
    if let Some(cpus) = &update.cpuset_cpus {
        set("cpu", "cpus", json!(cpus));
    }
    if let Some(mems) = &update.cpuset_mems {
        set("cpu", "mems", json!(mems));
    }
    if let Some(memory) = update.memory {
        set("memory", "limit", json!(memory));
    }
    if let Some(swap) = update.memory_swap {
        set("memory", "swap", json!(swap));
    }
    if let Some(reservation) = update.memory_reservation {
        set("memory", "reservation", json!(reservation));
    }
    if let Some(pids) = update.pids_limit {
        set("pids", "limit", json!(if pids > 0 { pids } else { -1 }));
    }
    let merged = Memory {
        limit: number(&resources["memory"]["limit"]),
        swap: number(&resources["memory"]["swap"]),
    };
    if let (Some(limit), Some(swap)) = (merged.limit, merged.swap)
        && swap != -1
        && swap < limit
    {
        return Err(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        );
    }
    Ok(merged)
}

/// The limits to write to a running container's cgroup: those the update sets (a swap limit
/// goes with the memory limit it is checked against).
fn live_limits(update: &Update, merged: &Memory) -> Limits {
    let memory_changes = update.memory.is_some() || update.memory_swap.is_some();
    Limits {
        cpu_quota: update
            .cpus
            .map(|cpus| (cpus * CPU_PERIOD as f64).round() as i64),
        cpu_period: update.cpus.map(|_| CPU_PERIOD),
        cpu_shares: update.cpu_shares,
        cpuset_cpus: update.cpuset_cpus.clone(),
        cpuset_mems: update.cpuset_mems.clone(),
        memory: if memory_changes { merged.limit } else { None },
        memory_swap: if memory_changes { merged.swap } else { None },
        memory_reservation: update.memory_reservation,
        pids: update.pids_limit.map(|n| if n > 0 { n } else { -1 }),
        ..Limits::default()
    }
}

/// What the kernel's refusal of a cgroup write means, in Docker's (runc's) words: a v1 memory
/// limit (`memory`) below what the container uses now (EBUSY: its memory cannot be
/// reclaimed) names that usage.
fn refusal(error: &CgroupError, memory: Option<i64>) -> String {
    let busy = error.raw_os_error() == Some(libc::EBUSY);
    // The cgroup writers name the file they wrote: "cgroup <path>".
    let path = Path::new(error.what().strip_prefix("cgroup ").unwrap_or_default());
    match (busy, path.file_name(), path.parent()) {
        (true, Some(file), Some(dir)) if file == "memory.limit_in_bytes" => {
            let read = |name: &str| read_number(&dir.join(name)).unwrap_or(0);
            format!(
                "unable to set memory limit to {} (current usage: {}, peak usage: {})",
                memory.unwrap_or(0),
                read("memory.usage_in_bytes"),
                read("memory.max_usage_in_bytes")
            )
        }
        _ => error.to_string(),
    }
}

/// A number alone in a cgroup file.
fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_as_docker_checks_them() {
        let refused = |update: Update| update.check().unwrap_err().to_string();
        assert_eq!(
            refused(Update {
                memory: Some(1 << 20),
                ..Update::default()
            }),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(
            refused(Update {
                memory: Some(64 << 20),
                memory_swap: Some(32 << 20),
                ..Update::default()
            }),
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        );
        assert_eq!(
            refused(Update {
                memory: Some(16 << 20),
                memory_reservation: Some(32 << 20),
                ..Update::default()
            }),
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        );
        assert!(
            Update {
                memory: Some(64 << 20),
                memory_swap: Some(-1),
                ..Update::default()
            }
            .check()
            .is_ok()
        );
        assert!(Update::default().is_empty());
    }

    #[test]
    fn a_merge_changes_only_what_is_given_and_keeps_memory_below_swap() {
        let mut resources =
            json!({ "memory": { "limit": 64 << 20, "swap": 128 << 20 }, "pids": { "limit": 10 } });
        let update = Update {
            memory: Some(32 << 20),
            cpu_shares: Some(512),
            pids_limit: Some(0),
            ..Update::default()
        };
        let merged = merge(&mut resources, &update).unwrap();
        assert_eq!(
            (merged.limit, merged.swap),
            (Some(32 << 20), Some(128 << 20))
        );
        assert_eq!(resources["cpu"]["shares"], 512);
        assert_eq!(resources["pids"]["limit"], -1);
        let limits = live_limits(&update, &merged);
        assert_eq!(limits.memory_swap, Some(128 << 20));
        assert_eq!(limits.pids, Some(-1));
        assert_eq!(limits.cpuset_cpus, None);
        // Above the swap limit without a new one: Docker's refusal.
        let above = Update {
            memory: Some(256 << 20),
            ..Update::default()
        };
        let e = merge(&mut resources, &above).unwrap_err();
        assert!(e.starts_with("Memory limit should be smaller"), "{e}");
        // A container without limits has no swap limit either: the same.
        assert!(merge(&mut json!({}), &above).is_err());
        // A swap limit alone below the memory limit.
        let swap = Update {
            memory_swap: Some(16 << 20),
            ..Update::default()
        };
        assert!(merge(&mut resources, &swap).is_err());
        let mut empty = Value::Null;
        let cpus = Update {
            cpus: Some(1.5),
            cpuset_mems: Some("0".into()),
            ..Update::default()
        };
        merge(&mut empty, &cpus).unwrap();
        assert_eq!(empty["cpu"]["quota"], 150_000);
        assert_eq!(empty["cpu"]["period"], CPU_PERIOD);
        assert_eq!(empty["cpu"]["mems"], "0");
    }
}
