//! Talking to registries: credentials and the API client.

pub mod client;
pub mod credentials;
