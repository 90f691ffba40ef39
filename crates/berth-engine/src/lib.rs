//! berth's engine: it ties images, the runtime and networks together into containers.

pub mod attach;
pub mod config;
pub mod connect;
pub mod containers;
pub mod cp;
pub mod exec;
pub mod lifecycle;
pub mod networks;
pub mod options;
pub mod paths;
pub mod run;
pub mod spec;
pub mod supervisor;
pub mod time;
pub mod users;
