//! berth's Docker Engine API service (`berth system service`): HTTP/1.1 on a unix socket (or
//! TCP when asked), answering Docker's API with the engine's own calls, so that the docker
//! CLI, Compose and the SDKs drive berth. The only async crate: a single-threaded tokio
//! runtime accepts and parses, every request's engine work runs on the blocking pool, and
//! containers started through it are ordinary berth containers with their own supervisors.

mod body;
mod containers;
mod create;
mod images;
pub mod listen;
mod logs;
mod networks;
mod reaper;
mod reply;
mod request;
mod route;
mod service;
mod system;
mod system_data;
mod volumes;

pub use service::{ServiceError, serve};
