//! berth's engine: it ties images, the runtime and networks together into containers.

pub mod attach;
pub mod config;
pub mod connect;
pub mod containers;
pub mod cp;
pub mod events;
pub mod exec;
pub mod health;
pub mod ids;
pub mod lifecycle;
pub mod networks;
pub mod notices;
pub mod options;
pub mod paths;
pub mod reclaim;
pub mod record;
pub mod relay_args;
pub mod run;
pub mod spec;
pub mod supervisor;
pub mod users;

/// RFC 3339 times (shared with the runtime).
pub use berth_runtime::time;
