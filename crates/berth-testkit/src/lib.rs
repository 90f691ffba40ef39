//! berth's test harness, shared by every end-to-end test and by `scripts/try`.
//!
//! - [`registry::Registry`] runs Debian's `docker-registry` (the CNCF distribution registry) on a
//!   free 127.0.0.1 port, open, behind htpasswd basic auth, or behind bearer tokens issued the way
//!   Docker Hub issues them, optionally over TLS with a CA made on the spot.
//! - [`image`] builds images from trees described in code and [`client::RegistryClient`] pushes
//!   them (and reads them back) through the registry API; [`host_image`] makes a
//!   distribution-like image of this host's files for the pull benchmark.
//! - [`peers`] runs the real Docker daemon, Podman and skopeo privately, for interoperability
//!   tests.
//! - [`busybox`] makes a busybox image from Debian's `busybox-static`, for tests that need a shell.

pub mod busybox;
pub mod certs;
pub mod client;
pub mod host_image;
pub mod image;
pub mod peers;
pub mod proxy;
pub mod registry;
mod token;

/// Errors of the harness: it is test code, so one boxed error type is enough.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The harness's result type.
pub type Result<T> = std::result::Result<T, Error>;
