//! `/volumes...`: list, inspect, create and remove, through the engine's volume store (the
//! calls of `berth volume`).

use crate::reply::{ApiError, Reply, json, no_content, ok};
use crate::request::Request;
use crate::service::State;
use berth_engine::reclaim;
use berth_engine::volumes::{CreateOptions, VolumeError, Volumes};
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// A volume error as Docker's status.
fn volume_error(e: VolumeError) -> ApiError {
    match e {
        VolumeError::NoSuch(_) => ApiError::not_found(e.to_string()),
        VolumeError::InUse { .. } => ApiError::conflict(e.to_string()),
        VolumeError::Invalid(_) => ApiError::bad(e.to_string()),
        e => ApiError::internal(e.to_string()),
    }
}

/// `GET /volumes?filters=`: `{"Volumes": [...], "Warnings": []}`, filtered as `volume ls`.
pub fn list(state: &State, request: &Request) -> Reply {
    let (_, records) = reclaim::reclaimed(&state.roots);
    let volumes = Volumes::new(&state.roots.root);
    let rows = volumes
        .rows(&records, &request.filters()?)
        .map_err(volume_error)?;
    let found: Vec<_> = rows
        .iter()
        .filter_map(|row| volumes.get(&row.name).ok())
        .map(|volume| volumes.inspect(&volume))
        .collect();
    ok(&json!({ "Volumes": found, "Warnings": [] }))
}

/// `GET /volumes/{name}`
pub fn get(state: &State, name: &str) -> Reply {
    let volumes = Volumes::new(&state.roots.root);
    let volume = volumes.get(name).map_err(volume_error)?;
    ok(&volumes.inspect(&volume))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// `POST /volumes/create`: 201 with the volume (an existing name is returned as it is).
pub fn create(state: &State, request: &Request) -> Reply {
    let body: CreateBody = request.json::<Option<CreateBody>>()?.unwrap_or_default();
    let pairs = |map: Option<BTreeMap<String, String>>| -> Vec<String> {
        map.unwrap_or_default()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    };
    let options = CreateOptions {
        driver: body.driver,
        options: pairs(body.driver_opts),
        labels: pairs(body.labels),
    };
    let volumes = Volumes::new(&state.roots.root);
    let name = (!body.name.is_empty()).then_some(body.name.as_str());
    let (volume, _) = volumes.create(name, &options).map_err(volume_error)?;
    json(StatusCode::CREATED, &volumes.inspect(&volume))
}

/// `DELETE /volumes/{name}?force=`: 204; 409 while a container uses it.
pub fn remove(state: &State, name: &str, request: &Request) -> Reply {
    let (containers, _) = reclaim::reclaimed(&state.roots);
    Volumes::new(&state.roots.root)
        .remove(&containers, name, request.flag("force"))
        .map_err(volume_error)?;
    no_content()
}
