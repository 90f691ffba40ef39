//! What a registry request can fail with, and the registry's own words for it.

use crate::digest::Digest;
use ureq::http::Response;

/// A registry request that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached.
    #[error("cannot reach registry {host}: {why}")]
    Unreachable {
        /// host[:port]
        host: String,
        /// The transport's complaint.
        why: String,
    },
    /// Credentials were refused, or there were none and they are needed.
    #[error(
        "{action} access denied for {repository} on {host}: {message}; the repository may not exist, or it may require 'berth login {host}'"
    )]
    Denied {
        /// `pull` or `push`.
        action: &'static str,
        /// The repository.
        repository: String,
        /// host[:port]
        host: String,
        /// What the registry said.
        message: String,
    },
    /// The token endpoint refused the credentials.
    #[error("login to {host} failed: {message}")]
    BadCredentials {
        /// host[:port]
        host: String,
        /// What the token endpoint said.
        message: String,
    },
    /// The manifest or blob does not exist.
    #[error("{what} not found: {message}")]
    NotFound {
        /// What was asked for.
        what: String,
        /// What the registry said.
        message: String,
    },
    /// Any other unexpected status.
    #[error("{what}: registry answered HTTP {status}: {message}")]
    Status {
        /// What was asked for.
        what: String,
        /// The HTTP status.
        status: u16,
        /// What the registry said.
        message: String,
    },
    /// Bytes that do not hash to the digest they were asked for.
    #[error("{what}: content does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// Anything else that is wrong with the exchange.
    #[error("{0}")]
    Protocol(String),
}

/// The registry's error text: `code: message` of its first error, or the body.
pub(super) fn error_message(mut response: Response<ureq::Body>) -> String {
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .unwrap_or_default();
    let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
    if let Some(first) = json.as_ref().and_then(|j| j["errors"].get(0)) {
        let code = first["code"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .replace('_', " ");
        let message = first["message"].as_str().unwrap_or("");
        return if code.is_empty() {
            message.to_owned()
        } else {
            format!("{code}: {message}")
        };
    }
    if let Some(details) = json.as_ref().and_then(|j| j["details"].as_str()) {
        return details.to_owned();
    }
    let body = body.trim();
    if body.is_empty() {
        format!("HTTP {}", response.status())
    } else {
        body.chars().take(300).collect()
    }
}
