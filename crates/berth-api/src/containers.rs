//! `/containers/...`: list, inspect, start, stop, kill, restart, pause, unpause, wait and
//! remove, each through the engine call its CLI command makes.

use crate::body::Body;
use crate::reply::{ApiError, Reply, empty, no_content, ok, with_type};
use crate::request::Request;
use crate::service::State;
use berth_engine::container_filter::{self, FilterError, Filters};
use berth_engine::containers::{Containers, FindError};
use berth_engine::inspect::{state, status_text};
use berth_engine::lifecycle::{self, LifecycleError};
use berth_engine::notices::Notices;
use berth_engine::record::Record;
use berth_engine::{disk_usage, reclaim, supervisor, time};
use hyper::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// A lifecycle error as Docker's status: 404 for a missing container, 409 for a state that
/// refuses the request, 400 for a bad signal, 500 otherwise.
pub fn lifecycle_error(e: LifecycleError) -> ApiError {
    match e {
        LifecycleError::Find(FindError::NoSuch(_)) => ApiError::not_found(e.to_string()),
        LifecycleError::Find(FindError::Ambiguous(_)) => ApiError::bad(e.to_string()),
        LifecycleError::NotRunning(..)
        | LifecycleError::Running(_)
        | LifecycleError::NotRunningFor(..)
        | LifecycleError::PauseState(..) => ApiError::conflict(e.to_string()),
        LifecycleError::BadSignal(_) => ApiError::bad(e.to_string()),
        LifecycleError::Io(_) => ApiError::internal(e.to_string()),
    }
}

/// The record `name` names, or 404.
pub fn find(all: &Containers, name: &str) -> Result<Record, ApiError> {
    all.find(name)
        .map_err(|e| lifecycle_error(LifecycleError::from(e)))
}

/// Warnings and notes of engine calls the API makes: logged (the API has no terminal).
pub struct Logged;

impl berth_image::pull::Progress for Logged {
    fn layer_waiting(&self, _: &berth_image::digest::Digest, _: u64) {}
    fn layer_exists(&self, _: &berth_image::digest::Digest) {}
    fn layer_bytes(&self, _: &berth_image::digest::Digest, _: u64) {}
    fn layer_done(&self, _: &berth_image::digest::Digest) {}
}

impl Notices for Logged {
    fn warning(&self, text: &str) {
        tracing::warn!("{text}");
    }
    fn note(&self, text: &str) {
        tracing::info!("{text}");
    }
}

/// `GET /containers/json?all=&filters=&size=&limit=`: Docker's `ContainerSummary` list,
/// newest first.
pub fn list(state: &State, request: &Request) -> Reply {
    let filters = Filters::parse(&request.filters()?).map_err(filter_error)?;
    let (all, mut records) = reclaim::reclaimed(&state.roots);
    records.sort_by(|a, b| b.created.cmp(&a.created));
    let mut records =
        container_filter::keep(&state.roots, records, &filters).map_err(filter_error)?;
    if !request.flag("all") && !filters.has("status") {
        records.retain(Record::is_running);
    }
    if let Some(limit) = request.int("limit")?.filter(|&n| n > 0) {
        records.truncate(limit as usize);
    }
    let size = request.flag("size");
    let image_sizes = if size {
        image_sizes(state)
    } else {
        Default::default()
    };
    let now = time::unix_now();
    let rows: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut row = summary(&all, r, now);
            if size {
                let rw = disk_usage::container_size(&all, &r.id);
                let image = image_sizes.get(&r.image_id).copied().unwrap_or(0);
                row["SizeRw"] = json!(rw);
                row["SizeRootFs"] = json!(rw + image);
            }
            row
        })
        .collect();
    ok(&rows)
}

/// Image sizes by id, for `size=true`.
fn image_sizes(state: &State) -> std::collections::BTreeMap<String, u64> {
    berth_image::store::Store::open(&state.roots.root)
        .and_then(|s| s.images())
        .map(|images| {
            images
                .images
                .iter()
                .map(|(id, image)| (id.to_string(), image.size))
                .collect()
        })
        .unwrap_or_default()
}

/// A filter error: 404 for a `before=`/`since=` that names nothing, else 400.
fn filter_error(e: FilterError) -> ApiError {
    match e {
        FilterError::NoSuchContainer(_) => ApiError::not_found(e.to_string()),
        FilterError::Invalid(_) => ApiError::bad(e.to_string()),
        FilterError::Store(_) => ApiError::internal(e.to_string()),
    }
}

/// One container as Docker's `ContainerSummary`.
fn summary(all: &Containers, r: &Record, now: i64) -> Value {
    let ports: Vec<Value> = r
        .port_bindings
        .iter()
        .map(|b| {
            json!({
                "IP": b.host_ip.map_or_else(|| "0.0.0.0".to_owned(), |ip| ip.to_string()),
                "PrivatePort": b.container_port,
                "PublicPort": b.host_port,
                "Type": b.protocol.to_string(),
            })
        })
        .collect();
    let networks: serde_json::Map<String, Value> = container_filter::network_names(r)
        .into_iter()
        .map(|name| {
            let ip = r
                .networks
                .iter()
                .find(|e| e.network == name)
                .and_then(|e| e.ip)
                .map(|ip| ip.to_string())
                .unwrap_or_default();
            (name, json!({ "IPAddress": ip }))
        })
        .collect();
    let health = berth_engine::health::status(all, r);
    json!({
        "Id": r.id,
        "Names": [format!("/{}", r.name)],
        "Image": r.image,
        "ImageID": r.image_id,
        "Command": r.command.join(" "),
        "Created": time::parse(&r.created).unwrap_or(0),
        "Ports": ports,
        "Labels": r.labels,
        "State": state(r),
        "Status": status_text(r, health, now),
        "HostConfig": { "NetworkMode": r.network_mode.to_string() },
        "NetworkSettings": { "Networks": networks },
        "Mounts": r.mounts.iter().map(|m| m.inspect()).collect::<Vec<_>>(),
    })
}

/// `GET /containers/{id}/json`
pub fn inspect(state: &State, name: &str) -> Reply {
    let (all, _) = reclaim::reclaimed(&state.roots);
    let record = find(&all, name)?;
    ok(&berth_engine::inspect::container(
        &state.roots,
        &all,
        &record,
    ))
}

/// `POST /containers/{id}/start`: 304 when it already runs.
pub fn start(state: &State, name: &str) -> Reply {
    let (all, _) = reclaim::reclaimed(&state.roots);
    let record = find(&all, name)?;
    if record.is_running() {
        return not_modified();
    }
    if let Err(e) = supervisor::start_detached(&state.roots, &record.id) {
        // Another start won the race: running is what was asked for.
        if !all.get(&record.id).is_ok_and(|r| r.is_running()) {
            return Err(ApiError::internal(e.to_string()));
        }
    }
    crate::reaper::adopt(&all, &record.id);
    no_content()
}

/// 304 Not Modified: the container is already in the state asked for.
fn not_modified() -> Reply {
    empty(StatusCode::NOT_MODIFIED)
}

/// The `t` parameter: seconds to wait before SIGKILL (10 by default).
fn stop_timeout(request: &Request) -> Result<Duration, ApiError> {
    Ok(Duration::from_secs(
        request.int("t")?.unwrap_or(10).max(0) as u64
    ))
}

/// `POST /containers/{id}/stop?t=`: 304 when it does not run.
pub fn stop(state: &State, name: &str, request: &Request) -> Reply {
    let all = Containers::new(&state.roots.root);
    if !find(&all, name)?.is_running() {
        return not_modified();
    }
    lifecycle::stop(&all, name, stop_timeout(request)?, &Logged).map_err(lifecycle_error)?;
    no_content()
}

/// `POST /containers/{id}/restart?t=`
pub fn restart(state: &State, name: &str, request: &Request) -> Reply {
    let all = Containers::new(&state.roots.root);
    let record = lifecycle::stop_to_restart(&all, name, stop_timeout(request)?, &Logged)
        .map_err(lifecycle_error)?;
    supervisor::start_detached(&state.roots, &record.id)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    crate::reaper::adopt(&all, &record.id);
    no_content()
}

/// `POST /containers/{id}/kill?signal=`: 409 when it does not run.
pub fn kill(state: &State, name: &str, request: &Request) -> Reply {
    let all = Containers::new(&state.roots.root);
    let signal = lifecycle::parse_signal(request.param("signal").unwrap_or("SIGKILL"))
        .map_err(lifecycle_error)?;
    lifecycle::kill(&all, name, signal).map_err(lifecycle_error)?;
    no_content()
}

/// `POST /containers/{id}/pause` and `unpause`.
pub fn pause(state: &State, name: &str, paused: bool) -> Reply {
    let all = Containers::new(&state.roots.root);
    lifecycle::set_paused(&all, name, paused).map_err(lifecycle_error)?;
    no_content()
}

/// `DELETE /containers/{id}?force=&v=`
pub fn remove(state: &State, name: &str, request: &Request) -> Reply {
    let (all, _) = reclaim::reclaimed(&state.roots);
    let record = lifecycle::remove(&all, &state.roots.run_root, name, request.flag("force"))
        .map_err(|e| match e {
            LifecycleError::Running(_) => ApiError::conflict(format!(
                "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                find(&all, name).map(|r| r.name).unwrap_or_else(|_| name.to_owned())
            )),
            e => lifecycle_error(e),
        })?;
    if request.flag("v") {
        berth_engine::volumes::remove_anonymous(&all, &record);
    }
    no_content()
}

/// `POST /containers/{id}/wait?condition=`: the headers at once, then
/// `{"StatusCode": N, "Error": null}` once the condition holds (`not-running`, the default;
/// `next-exit`: the next exit of a container that runs or is about to; `removed`).
pub fn wait(state: &State, name: &str, request: &Request) -> Reply {
    let condition = request.param("condition").unwrap_or("not-running");
    if !["not-running", "next-exit", "removed", ""].contains(&condition) {
        return Err(ApiError::bad(format!("invalid condition: {condition:?}")));
    }
    let all = Containers::new(&state.roots.root);
    let record = find(&all, name)?;
    let (tx, body) = Body::channel();
    let removed = condition == "removed";
    let next_exit = condition == "next-exit";
    state.runtime.spawn_blocking(move || {
        if next_exit && !record.is_running() {
            // Its next exit comes after a start: one that changes `started_at`.
            while !tx.is_closed()
                && all
                    .get(&record.id)
                    .is_ok_and(|r| !r.is_running() && r.started_at == record.started_at)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // In steps, so that a client that went away ends the wait.
        while !lifecycle::wait_not_running(&all, &record.id, Duration::from_millis(200)) {
            if tx.is_closed() {
                return;
            }
        }
        let code = all
            .get(&record.id)
            .ok()
            .and_then(|r| r.exit_code)
            .unwrap_or(0);
        if removed {
            while all.get(&record.id).is_ok() && !tx.is_closed() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let answer = json!({ "StatusCode": code, "Error": null }).to_string();
        let _ = tx.blocking_send(answer.into());
    });
    Ok(with_type(StatusCode::OK, "application/json", body))
}
