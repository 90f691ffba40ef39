//! A container's claim and end: claimed and connected before it runs, its exit recorded (or
//! the container removed) after.

use super::error::RunError;
use crate::connect::{self, HeldPorts};
use crate::containers::{Containers, process_start_time};
use crate::paths::Roots;
use crate::record::{Record, Status};
use berth_error::Context;
use berth_runtime::cgroups;
use berth_runtime::container::{self as runtime, Remains};
use berth_runtime::rootfs::Overlay;
use oci_spec::runtime::Spec;
use std::fs;
use std::path::PathBuf;

/// A claimed container, ready for the runtime.
pub(super) struct Prepared {
    pub(super) record: Record,
    pub(super) config: berth_runtime::container::ContainerConfig,
    pub(super) layout: berth_runtime::cgroups::CgroupLayout,
    pub(super) held: HeldPorts,
}

/// Claims the container (under its lock: two starts at once run it once), connects it to its
/// networks and builds the runtime's configuration from its spec.
pub(super) fn prepare(
    roots: &Roots,
    containers: &Containers,
    id: &str,
    created: Option<(Record, Spec)>,
) -> Result<Prepared, RunError> {
    let dir = containers.dir(id);
    let layout = cgroups::detect().context("read the cgroup layout")?;
    let mount_point = containers
        .make_mount_point()
        .context("create the containers' mount point")?;
    let started_again = created.is_none();
    let (record, spec) = match created {
        Some(created) => created,
        None => {
            let spec = serde_json::from_slice(
                &fs::read(dir.join("config.json")).context("read config.json")?,
            )
            .map_err(|e| RunError::Options(format!("config.json of {id}: {e}")))?;
            let record = containers
                .update(id, |r| {
                    if r.is_running() {
                        return None;
                    }
                    *r = claim(std::mem::take(r));
                    Some(r.clone())
                })
                .context("write the container record")?
                .ok_or_else(|| RunError::Options(format!("container {id} is already running")))?;
            (record, spec)
        }
    };
    let overlay = Overlay {
        lower: record.layers.iter().map(PathBuf::from).collect(),
        upper: dir.join("upper"),
        work: dir.join("work"),
        // An `--rm` container's layer goes with it: nothing to sync when it ends.
        volatile: record.auto_remove,
    };
    // An `--rm` container started again (`restart`): its layer was mounted volatile before,
    // and unmounted cleanly with the container (after a crash the next berth command removes
    // an `--rm` container).
    let cleared = match started_again && overlay.volatile {
        true => overlay
            .clear_volatile_mark()
            .context("clear the writable layer's volatile mark")
            .map_err(RunError::from),
        false => Ok(()),
    };
    let configured = cleared
        .and_then(|()| {
            berth_runtime::spec::container_config(id, &spec, &mount_point, Some(overlay))
                .map_err(|e| RunError::Options(e.to_string()))
        })
        .and_then(|config| {
            let (network, held) = connect::connect(roots, &record)?;
            tracing::debug!("network connected");
            Ok((config, network, held))
        });
    match configured {
        Ok((config, network, held)) => Ok(Prepared {
            record,
            config: berth_runtime::container::ContainerConfig { network, ..config },
            layout,
            held,
        }),
        Err(e) => {
            // Claimed but never started: end it like any other failed start.
            record_exit(roots, containers, &record, Err(e.exit_code()), None)?;
            Err(e)
        }
    }
}

/// After the container's start (its init `pid`, a child of this process): the `start` event,
/// and the monitor of its healthcheck when it has one.
pub(super) fn started(roots: &Roots, record: &Record, pid: i32) {
    crate::events::container(&roots.root, record, "start", &[]);
    if record.healthcheck.is_some() {
        crate::health::watch(roots, &record.id, pid);
    }
}

/// `record` as this process runs it: running, owned by this process, started now, with no
/// outcome of an earlier run.
pub(super) fn claim(record: Record) -> Record {
    let me = std::process::id() as i32;
    Record {
        status: Status::Running,
        owner: process_start_time(me).map(|start| (me, start)),
        started_at: Some(crate::time::now()),
        exit_code: None,
        oom_killed: false,
        stopped_by_user: false,
        restarting: false,
        ..record
    }
}

/// Records how the container ended and returns its exit code, or why it could not run.
/// `remains`: what is left of the container to remove, if anything.
pub(super) fn conclude(
    roots: &Roots,
    containers: &Containers,
    record: &Record,
    result: Result<runtime::Exit, RunError>,
    remains: Option<Remains>,
) -> Result<i32, RunError> {
    record_exit(
        roots,
        containers,
        record,
        result
            .as_ref()
            .map(|e| (e.code, e.oom_killed))
            .map_err(RunError::exit_code),
        remains,
    )?;
    result.map(|exit| exit.code)
}

/// Disconnects the container from its networks and records how it ended (exit code and OOM
/// kill, or the code of a failed start), or removes it when it was made with `--rm`; removes
/// `remains`, what is left of the container when anything is (an `--rm` container's after
/// this process has exited, see `Containers::remove_soon`).
pub(super) fn record_exit(
    roots: &Roots,
    containers: &Containers,
    record: &Record,
    outcome: Result<(i32, bool), i32>,
    remains: Option<Remains>,
) -> Result<(), RunError> {
    let id = &record.id;
    tracing::debug!(?outcome, "container ended");
    connect::disconnect(roots, record);
    tracing::debug!("network disconnected");
    if let Ok((code, _)) = outcome {
        let code = code.to_string();
        crate::events::container(&roots.root, record, "die", &[("exitCode", &code)]);
    }
    // An `--rm` container goes, unless `restart` stopped it (the record on disk says so).
    if record.auto_remove && !containers.get(id).is_ok_and(|r| r.restarting) {
        if let Err(e) = containers.remove_soon(id, remains) {
            tracing::warn!(id, %e, "cannot remove the container's directory");
        }
        crate::volumes::remove_anonymous(containers, record);
        crate::events::container(&roots.root, record, "destroy", &[]);
        return Ok(());
    }
    if let Some(remains) = remains {
        remains.remove();
    }
    let (code, oom) = outcome.unwrap_or_else(|code| (code, false));
    containers
        .update(id, |r| {
            r.status = Status::Exited;
            r.exit_code = Some(code);
            r.oom_killed = oom;
            r.finished_at = Some(crate::time::now());
            r.owner = None;
        })
        .context("write the container record")?;
    Ok(())
}
