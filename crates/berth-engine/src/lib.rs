//! berth's engine: it ties images, the runtime and networks together into containers.

pub mod config;
pub mod paths;
