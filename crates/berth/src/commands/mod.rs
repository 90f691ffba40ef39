//! One module per berth command.

pub mod info;
pub mod version;
