//! `GET /events` (the events log replayed and followed, one JSON message a line) and
//! `GET /system/df` (what images, containers and volumes take on disk).

use crate::body::Body;
use crate::reply::{ApiError, Reply, ok, with_type};
use crate::request::Request;
use crate::service::State;
use berth_engine::disk_usage::{container_size, image_usage, volumes};
use berth_engine::events::{self, EventFilter, Replay};
use berth_engine::{reclaim, time};
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};

/// A time as the API sends it, in nanoseconds since the epoch: Unix seconds with an
/// optional fraction (`1700000000.5`; the docker CLI turns durations into that) or RFC 3339.
fn timestamp(text: &str) -> Result<i64, ApiError> {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
        let secs: i64 = secs.parse().unwrap_or(0);
        let nanos: i64 = format!("{fraction:0<9}")
            .get(..9)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        return Ok(secs.saturating_mul(1_000_000_000).saturating_add(nanos));
    }
    time::parse(text)
        .map(|secs| secs * 1_000_000_000)
        .ok_or_else(|| ApiError::bad(format!("failed to parse value as time: {text:?}")))
}

/// `GET /events?since=&until=&filters=`: past events in the span first, then new ones as
/// they are written, until `until` or the client goes away.
pub fn events(state: &State, request: &Request) -> Reply {
    let filter =
        EventFilter::parse(&request.filters()?).map_err(|e| ApiError::bad(e.to_string()))?;
    let stamp = |key: &str| {
        request
            .param(key)
            .filter(|t| !t.is_empty())
            .map(timestamp)
            .transpose()
    };
    let replay = Replay {
        since: stamp("since")?,
        until: stamp("until")?,
        filter,
    };
    let (tx, body) = Body::channel();
    let root = state.roots.root.clone();
    state.runtime.spawn_blocking(move || {
        let mut show = |event: &events::Event| {
            let mut line = serde_json::to_string(event).unwrap_or_default();
            line.push('\n');
            tx.blocking_send(Bytes::from(line)).is_ok()
        };
        if let Err(e) = events::replay(&root, &replay, &mut show) {
            tracing::warn!(error = %e, "read the events log");
        }
    });
    Ok(with_type(StatusCode::OK, "application/json", body))
}

/// `GET /system/df`: Docker's `LayersSize`, `Images`, `Containers`, `Volumes` and an empty
/// `BuildCache`.
pub fn df(state: &State) -> Reply {
    let (containers, mut records) = reclaim::reclaimed(&state.roots);
    records.sort_by(|a, b| b.created.cmp(&a.created));
    let (images, layers_size) =
        image_usage(&state.roots.root, &records).map_err(|e| ApiError::internal(e.to_string()))?;
    let images: Vec<Value> = images
        .iter()
        .map(|image| {
            json!({
                "Id": image.id.to_string(),
                "ParentId": "",
                "RepoTags": image.tags.iter().map(|t| crate::images::familiar(t)).collect::<Vec<_>>(),
                "RepoDigests": [],
                "Created": time::parse(&image.created).unwrap_or(0),
                "Size": image.size,
                "SharedSize": image.shared,
                "VirtualSize": image.size,
                "Labels": {},
                "Containers": image.containers,
            })
        })
        .collect();
    let container_rows: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "Id": r.id,
                "Names": [format!("/{}", r.name)],
                "Image": r.image,
                "ImageID": r.image_id,
                "Command": r.command.join(" "),
                "Created": time::parse(&r.created).unwrap_or(0),
                "State": berth_engine::inspect::state(r),
                "SizeRw": container_size(&containers, &r.id),
                "Labels": r.labels,
            })
        })
        .collect();
    let volume_rows: Vec<Value> = volumes(&state.roots.root, &containers, &records)
        .iter()
        .map(|v| {
            json!({
                "Name": v.name,
                "Driver": "local",
                "Scope": "local",
                "UsageData": { "Size": v.size, "RefCount": v.links },
            })
        })
        .collect();
    ok(&json!({
        "LayersSize": layers_size,
        "Images": images,
        "Containers": container_rows,
        "Volumes": volume_rows,
        "BuildCache": [],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_times_are_unix_seconds_or_rfc3339() {
        assert_eq!(timestamp("1700000000").unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(
            timestamp("1700000000.5").unwrap(),
            1_700_000_000_500_000_000
        );
        assert_eq!(
            timestamp("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(timestamp("soon").unwrap_err().status, 400);
    }
}
