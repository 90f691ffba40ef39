//! The runtime's error: why a container, or a process exec'd into one, could not start.

use crate::process::StartError;
use berth_error::IoContext;

/// Starting the container failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A host-side system call failed (the cgroup's too).
    #[error(transparent)]
    Io(#[from] IoContext),
    /// The container's own setup or exec failed (its message and Docker's code).
    #[error(transparent)]
    Start(#[from] StartError),
}
