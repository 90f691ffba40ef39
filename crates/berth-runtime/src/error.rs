//! The runtime's error: why a container, or a process exec'd into one, could not start.

use crate::cgroup::CgroupError;
use crate::process::StartError;

/// Starting the container failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The cgroup could not be made.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// A host-side system call failed.
    #[error("{what}: {source}")]
    Host {
        /// What was being done.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The container's own setup or exec failed (its message and Docker's code).
    #[error(transparent)]
    Start(#[from] StartError),
}

/// Turns a failed system call into `RuntimeError::Host`, saying what was being done.
pub(crate) fn host(what: &'static str) -> impl FnOnce(rustix::io::Errno) -> RuntimeError {
    move |e| RuntimeError::Host {
        what,
        source: e.into(),
    }
}
