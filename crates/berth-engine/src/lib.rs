//! berth's engine: it ties images, the runtime and networks together into containers.

pub mod attach;
pub mod commit;
pub mod config;
pub mod connect;
pub mod container_filter;
pub mod containers;
pub mod cp;
pub mod diff;
pub mod disk_usage;
pub mod events;
pub mod exec;
pub mod health;
pub mod ids;
pub mod info;
pub mod inspect;
pub mod lifecycle;
pub mod networks;
pub mod notices;
pub mod options;
pub mod paths;
pub mod prune;
pub mod reclaim;
pub mod record;
pub mod relay_args;
pub mod rename;
pub mod run;
pub mod spec;
pub mod supervisor;
pub mod update;
pub mod users;
pub mod volumes;

/// RFC 3339 times (shared with the runtime).
pub use berth_runtime::time;
