//! Which handler answers a request, by method and path (the version already taken off).
//! Image names have slashes, so image routes take the segments between `images` and the
//! last one.

use crate::reply::{ApiError, Reply};
use crate::request::Request;
use crate::service::State;
use crate::{containers, create, images, logs, networks, system, system_data, volumes};
use hyper::Method;

/// Answers `request`. Runs on the blocking pool: every handler calls the engine directly.
pub fn route(state: &State, request: &Request) -> Reply {
    let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    let method = &request.method;
    match (method, segments.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => system::ping(request),
        (&Method::GET, ["version"]) => system::version(),
        (&Method::GET, ["info"]) => system::info(state),
        (&Method::GET, ["events"]) => system_data::events(state, request),
        (&Method::GET, ["system", "df"]) => system_data::df(state),
        (&Method::GET, ["containers", "json"]) => containers::list(state, request),
        (&Method::POST, ["containers", "create"]) => create::create(state, request),
        (&Method::GET, ["containers", id, "json"]) => containers::inspect(state, id),
        (&Method::GET, ["containers", id, "logs"]) => logs::logs(state, id, request),
        (&Method::POST, ["containers", id, action]) => container_action(state, id, action, request),
        (&Method::DELETE, ["containers", id]) => containers::remove(state, id, request),
        (&Method::GET, ["images", "json"]) => images::list(state),
        (&Method::POST, ["images", "create"]) => images::create(state, request),
        (&Method::GET, ["images", name @ .., "json"]) if !name.is_empty() => {
            images::inspect(state, &name.join("/"))
        }
        (&Method::POST, ["images", name @ .., "tag"]) if !name.is_empty() => {
            images::tag(state, &name.join("/"), request)
        }
        (&Method::DELETE, ["images", name @ ..]) if !name.is_empty() => {
            images::remove(state, &name.join("/"), request)
        }
        (&Method::GET, ["networks"]) => networks::list(state, request),
        (&Method::POST, ["networks", "create"]) => networks::create(state, request),
        (&Method::GET, ["networks", id]) => networks::get(state, id),
        (&Method::DELETE, ["networks", id]) => networks::remove(state, id),
        (&Method::POST, ["networks", id, "connect"]) => networks::connect(state, id, request, true),
        (&Method::POST, ["networks", id, "disconnect"]) => {
            networks::connect(state, id, request, false)
        }
        (&Method::GET, ["volumes"]) => volumes::list(state, request),
        (&Method::POST, ["volumes", "create"]) => volumes::create(state, request),
        (&Method::GET, ["volumes", name]) => volumes::get(state, name),
        (&Method::DELETE, ["volumes", name]) => volumes::remove(state, name, request),
        _ => Err(not_found(request)),
    }
}

/// `POST /containers/{id}/ACTION`
fn container_action(state: &State, id: &str, action: &str, request: &Request) -> Reply {
    match action {
        "start" => containers::start(state, id),
        "stop" => containers::stop(state, id, request),
        "restart" => containers::restart(state, id, request),
        "kill" => containers::kill(state, id, request),
        "pause" => containers::pause(state, id, true),
        "unpause" => containers::pause(state, id, false),
        "wait" => containers::wait(state, id, request),
        _ => Err(not_found(request)),
    }
}

/// Docker's answer to a path it has no route for.
fn not_found(request: &Request) -> ApiError {
    ApiError::not_found(format!(
        "page not found: {} /{}",
        request.method,
        request.segments.join("/")
    ))
}
