//! What can stop a build.

/// A build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A `RUN` exited non-zero: Docker's words, and the build exits 1.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    Run {
        /// The command as Docker prints it (`/bin/sh -c false`).
        command: String,
        /// Its exit code.
        code: i32,
    },
    /// The Dockerfile asks for something it cannot have (a missing stage, a bad flag).
    #[error("{0}")]
    Dockerfile(String),
    /// A `COPY` or `ADD` source is missing or outside the context.
    #[error("{0}")]
    Source(String),
    /// Anything else, in words (the store, a container that could not be made).
    #[error("{0}")]
    Failed(String),
}

impl BuildError {
    /// A failure of `what`, with its cause.
    pub fn failed(what: &str, why: impl std::fmt::Display) -> BuildError {
        BuildError::Failed(format!("{what}: {why}"))
    }
}
