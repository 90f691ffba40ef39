//! Talking to registries: credentials and the API client.

mod auth;
pub mod blob;
pub mod client;
pub mod credentials;
mod error;
mod transport;
pub mod upload;
