//! `/_ping`, `/version` and `/info`: what clients ask first, to negotiate the API version.

use crate::body::Body;
use crate::reply::{ApiError, Reply, ok, with_type};
use crate::request::{API_VERSION, MIN_API_VERSION, Request};
use crate::service::State;
use hyper::{Method, Response, StatusCode};
use serde_json::json;

/// Adds the headers Docker's engine sends on every `_ping`.
fn ping_headers(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    for (name, value) in [
        ("api-version", API_VERSION),
        ("docker-experimental", "false"),
        ("ostype", std::env::consts::OS),
        ("server", "berth"),
        ("cache-control", "no-cache, no-store, must-revalidate"),
        ("pragma", "no-cache"),
    ] {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
}

/// `GET /_ping` (`OK`) and `HEAD /_ping` (no body), with the API version in `API-Version`.
pub fn ping(request: &Request) -> Reply {
    let body = if request.method == Method::HEAD {
        Body::empty()
    } else {
        Body::full("OK")
    };
    let mut response = with_type(StatusCode::OK, "text/plain; charset=utf-8", body);
    ping_headers(&mut response);
    Ok(response)
}

/// `GET /version`: Docker's `SystemVersion`.
pub fn version() -> Reply {
    let version = env!("CARGO_PKG_VERSION");
    // Go's name for the architecture, as Docker reports it (`amd64`, not `x86_64`).
    let arch = berth_image::manifest::Platform::host().architecture;
    let kernel = berth_runtime::host::kernel_release();
    ok(&json!({
        "Platform": { "Name": "berth" },
        "Components": [{
            "Name": "Engine",
            "Version": version,
            "Details": { "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": std::env::consts::OS, "Arch": arch, "KernelVersion": kernel },
        }],
        "Version": version,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": std::env::consts::OS,
        "Arch": arch,
        "KernelVersion": kernel,
        "BuildTime": "",
    }))
}

/// `GET /info`: the fields of `berth info`, by Docker's names.
pub fn info(state: &State) -> Reply {
    let mut info = berth_engine::info::system_info(&state.roots)
        .map_err(|e| ApiError::internal(format!("read the cgroup layout: {e}")))?;
    info["ID"] = json!("");
    info["IndexServerAddress"] = json!("https://index.docker.io/v1/");
    info["SecurityOptions"] = json!(["name=seccomp,profile=builtin"]);
    info["Runtimes"] = json!({ "berth": { "path": "berth" } });
    info["DefaultRuntime"] = json!("berth");
    info["LoggingDriver"] = json!("json-file");
    ok(&info)
}
