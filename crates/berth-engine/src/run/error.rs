//! The error of `berth run` and `berth create`, with Docker's exit code for each.

use crate::networks::NetworkError;
use crate::users;
use berth_error::IoContext;
use berth_image::local::LocalError;
use berth_image::pull::PullError;
use berth_runtime::container::RuntimeError;

/// `berth run` failed before the container's own exit code could be had.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An option is wrong.
    #[error("{0}")]
    Options(String),
    /// The image could not be found or pulled.
    #[error(transparent)]
    Pull(#[from] PullError),
    /// The local image store failed.
    #[error(transparent)]
    Image(#[from] LocalError),
    /// The user does not exist in the image.
    #[error(transparent)]
    User(#[from] users::UserError),
    /// Starting the container failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Its network could not be set up.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// `-it` without a terminal on standard input.
    #[error("the input device is not a TTY")]
    NotATty,
    /// The host refused something.
    #[error(transparent)]
    Io(#[from] IoContext),
}

impl RunError {
    /// Docker's exit code for this failure: 126/127 when the command cannot run, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Runtime(RuntimeError::Start(e)) => e.code,
            // Docker's client refuses it with 1, before anything is made.
            RunError::NotATty => 1,
            _ => 125,
        }
    }
}
