//! `/images/...`: list, inspect, pull (`POST /images/create`, with Docker's JSON progress
//! stream), tag and remove, through the image crate's calls that `berth images`, `inspect`,
//! `pull`, `tag` and `rmi` make.

use crate::body::Body;
use crate::reply::{ApiError, Reply, empty, ok, with_type};
use crate::request::Request;
use crate::service::State;
use base64::Engine;
use berth_engine::containers::Containers;
use berth_engine::events;
use berth_image::digest::Digest;
use berth_image::local::{self, LocalError, Removal};
use berth_image::pull::Progress;
use berth_image::reference::Reference;
use berth_image::registry::credentials::{Credentials, DockerConfig};
use berth_image::store::Store;
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc::Sender;

/// The image store, or a 500.
fn store(state: &State) -> Result<Store, ApiError> {
    Store::open(&state.roots.root).map_err(|e| ApiError::internal(e.to_string()))
}

/// A local image error as Docker's status.
fn local_error(e: LocalError) -> ApiError {
    match e {
        LocalError::NoSuchImage(_) => ApiError::not_found(e.to_string()),
        LocalError::InUse { .. } | LocalError::MultipleTags(_) => ApiError::conflict(e.to_string()),
        LocalError::Ambiguous(_) | LocalError::Reference(_) => ApiError::bad(e.to_string()),
        LocalError::Io(_) => ApiError::internal(e.to_string()),
    }
}

/// A stored tag (`docker.io/library/busybox:latest`) as Docker shows it (`busybox:latest`).
pub fn familiar(tag: &str) -> String {
    Reference::parse(tag).map_or_else(|_| tag.to_owned(), |r| r.familiar())
}

/// `GET /images/json`: Docker's `ImageSummary` list.
pub fn list(state: &State) -> Reply {
    let store = store(state)?;
    let images = store
        .images()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let rows: Vec<Value> = images
        .images
        .iter()
        .map(|(id, record)| {
            let config: Value = store
                .read_blob(id)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let created = config["created"]
                .as_str()
                .and_then(berth_engine::time::parse)
                .unwrap_or(0);
            let tags: Vec<String> = images.tags_of(id).iter().map(|t| familiar(t)).collect();
            let digests: Vec<String> = record.repo_digests.iter().map(|d| familiar(d)).collect();
            json!({
                "Id": id.to_string(),
                "ParentId": "",
                "RepoTags": tags,
                "RepoDigests": digests,
                "Created": created,
                "Size": record.size,
                "VirtualSize": record.size,
                "SharedSize": -1,
                "Labels": config["config"]["Labels"],
                "Containers": -1,
            })
        })
        .collect();
    ok(&rows)
}

/// `GET /images/{name}/json`
pub fn inspect(state: &State, name: &str) -> Reply {
    ok(&local::inspect(&store(state)?, name).map_err(local_error)?)
}

/// `POST /images/{name}/tag?repo=&tag=`: 201.
pub fn tag(state: &State, name: &str, request: &Request) -> Reply {
    let repo = request
        .param("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad("repository name must have at least one component"))?;
    let target = match request.param("tag").filter(|t| !t.is_empty()) {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo.to_owned(),
    };
    let store = store(state)?;
    local::tag(&store, name, &target).map_err(local_error)?;
    if let Ok(id) = store
        .images()
        .map_err(|e| e.to_string())
        .and_then(|images| local::resolve(&images, name).map_err(|e| e.to_string()))
    {
        events::image(&state.roots.root, "tag", &id.to_string(), &target);
    }
    empty(StatusCode::CREATED)
}

/// `DELETE /images/{name}?force=`: Docker's list of `{"Untagged": ...}` and `{"Deleted": ...}`.
pub fn remove(state: &State, name: &str, request: &Request) -> Reply {
    let store = store(state)?;
    let in_use: BTreeSet<Digest> = Containers::new(&state.roots.root)
        .list()
        .iter()
        .filter_map(|r| Digest::parse(&r.image_id).ok())
        .collect();
    let id = store
        .images()
        .ok()
        .and_then(|images| local::resolve(&images, name).ok());
    let removals =
        local::remove(&store, name, request.flag("force"), &in_use).map_err(local_error)?;
    let rows: Vec<Value> = removals
        .iter()
        .map(|removal| {
            let (action, row) = match removal {
                Removal::Untagged(tag) => ("untag", json!({ "Untagged": familiar(tag) })),
                Removal::Deleted(digest) => ("delete", json!({ "Deleted": digest.to_string() })),
            };
            if let Some(id) = &id {
                events::image(&state.roots.root, action, &id.to_string(), &id.to_string());
            }
            row
        })
        .collect();
    ok(&rows)
}

/// A pull's progress as Docker's JSON messages, one per line, on the response body.
struct JsonProgress {
    tx: Sender<Bytes>,
    /// Bytes received per layer, and its size.
    layers: Mutex<Vec<(Digest, u64, u64)>>,
}

impl JsonProgress {
    fn send(&self, message: Value) {
        let mut line = message.to_string();
        line.push_str("\r\n");
        let _ = self.tx.blocking_send(Bytes::from(line));
    }

    fn status(&self, layer: &Digest, status: &str) {
        self.send(json!({ "status": status, "progressDetail": {}, "id": layer.short() }));
    }
}

impl Progress for JsonProgress {
    fn layer_waiting(&self, layer: &Digest, size: u64) {
        if let Ok(mut layers) = self.layers.lock() {
            layers.push((layer.clone(), 0, size));
        }
        self.status(layer, "Pulling fs layer");
    }

    fn layer_exists(&self, layer: &Digest) {
        self.status(layer, "Already exists");
    }

    fn layer_bytes(&self, layer: &Digest, bytes: u64) {
        let Some((current, total)) = self.layers.lock().ok().and_then(|mut layers| {
            let entry = layers.iter_mut().find(|(d, _, _)| d == layer)?;
            entry.1 += bytes;
            Some((entry.1, entry.2))
        }) else {
            return;
        };
        self.send(json!({
            "status": "Downloading",
            "progressDetail": { "current": current, "total": total },
            "id": layer.short(),
        }));
    }

    fn layer_done(&self, layer: &Digest) {
        self.status(layer, "Pull complete");
    }
}

/// Docker's `X-Registry-Auth`: base64url JSON with `username` and `password` (or
/// `identitytoken`); `None` when empty or without credentials.
fn registry_auth(header: Option<&str>) -> Option<(String, String)> {
    let text = header?.trim();
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    let bytes = engines.iter().find_map(|e| e.decode(text).ok())?;
    let auth: Value = serde_json::from_slice(&bytes).ok()?;
    let username = auth["username"].as_str().unwrap_or_default();
    let password = auth["password"].as_str().unwrap_or_default();
    (!username.is_empty()).then(|| (username.to_owned(), password.to_owned()))
}

/// A Docker config file in a private directory holding the request's credentials for
/// `registry`, so that the pull reads them as it reads `docker login`'s; removed when dropped.
struct RequestCredentials {
    dir: std::path::PathBuf,
}

impl RequestCredentials {
    fn write(
        state: &State,
        registry: &str,
        (username, password): (String, String),
    ) -> std::io::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = state
            .roots
            .run_root
            .join(format!("api-auth-{}-{n}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&dir)?;
        let made = RequestCredentials { dir };
        DockerConfig::at(made.path())
            .store(registry, &Credentials { username, password })
            .map_err(std::io::Error::other)?;
        Ok(made)
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.join("config.json")
    }
}

impl Drop for RequestCredentials {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `POST /images/create?fromImage=&tag=`: a pull, its progress streamed as Docker's JSON
/// messages; a failure after the headers is an `error` message, as Docker's.
pub fn create(state: &State, request: &Request) -> Reply {
    let Some(from) = request.param("fromImage").filter(|f| !f.is_empty()) else {
        return Err(ApiError::bad(
            "importing an image (fromSrc) is not supported: give fromImage",
        ));
    };
    let name = match request.param("tag").filter(|t| !t.is_empty()) {
        Some(tag) if tag.starts_with("sha256:") => format!("{from}@{tag}"),
        Some(tag) => format!("{from}:{tag}"),
        None => from.to_owned(),
    };
    let reference = Reference::parse(&name).map_err(|e| ApiError::bad(e.to_string()))?;
    let platform = match request.param("platform").filter(|p| !p.is_empty()) {
        Some(text) => Some(berth_image::manifest::Platform::parse(text).ok_or_else(|| {
            ApiError::bad(format!(
                "invalid platform \"{text}\": expected os/arch[/variant]"
            ))
        })?),
        None => None,
    };
    let store = store(state)?;
    let mut options = state.config.pull_options(platform);
    let credentials = match registry_auth(request.header("x-registry-auth")) {
        Some(auth) => {
            let file = RequestCredentials::write(state, &reference.registry, auth)
                .map_err(|e| ApiError::internal(format!("keep the request's credentials: {e}")))?;
            options.credentials = DockerConfig::at(file.path());
            Some(file)
        }
        None => None,
    };
    let (tx, body) = Body::channel();
    let root = state.roots.root.clone();
    state.runtime.spawn_blocking(move || {
        let _credentials = credentials;
        let progress = JsonProgress {
            tx,
            layers: Mutex::new(Vec::new()),
        };
        let tag = reference.tag.clone().unwrap_or_else(|| "latest".to_owned());
        progress.send(
            json!({ "status": format!("Pulling from {}", reference.familiar_name()), "id": tag }),
        );
        match berth_image::pull::pull(&store, &reference, &options, &progress) {
            Ok(pulled) => {
                let familiar = reference.familiar();
                events::image(&root, "pull", &familiar, &reference.familiar_name());
                progress.send(json!({ "status": format!("Digest: {}", pulled.digest) }));
                let status = if pulled.downloaded {
                    format!("Status: Downloaded newer image for {familiar}")
                } else {
                    format!("Status: Image is up to date for {familiar}")
                };
                progress.send(json!({ "status": status }));
            }
            Err(e) => {
                let message = e.to_string();
                progress.send(json!({ "errorDetail": { "message": message }, "error": message }));
            }
        }
    });
    Ok(with_type(StatusCode::OK, "application/json", body))
}

/// Whether `name` is in the store (for a create that must not pull).
pub fn exists(state: &State, name: &str) -> Result<bool, ApiError> {
    let images = store(state)?
        .images()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(local::resolve(&images, name).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_auth_reads_dockers_header() {
        let header = base64::engine::general_purpose::URL_SAFE
            .encode(r#"{"username":"u","password":"p","serveraddress":"127.0.0.1:5000"}"#);
        assert_eq!(registry_auth(Some(&header)), Some(("u".into(), "p".into())));
        // The docker CLI sends `{}` when it has no credentials.
        assert_eq!(registry_auth(Some("e30=")), None);
        assert_eq!(registry_auth(Some("!!")), None);
        assert_eq!(registry_auth(None), None);
    }
}
