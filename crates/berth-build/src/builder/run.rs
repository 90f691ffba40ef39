//! `RUN`: the command in a berth container of the step's image (made and run by the engine's
//! `run` path, so with the same namespaces, cgroups and security), its upper directory then
//! stored as the step's layer, and the container removed whatever happened.

use crate::builder::error::BuildError;
use crate::builder::layer::store_tar;
use berth_engine::config::EngineConfig;
use berth_engine::containers::Containers;
use berth_engine::lifecycle;
use berth_engine::notices::Notices;
use berth_engine::options::RunOptions;
use berth_engine::paths::Roots;
use berth_image::digest::Digest;
use berth_image::layer_in::StoredLayer;
use berth_image::layer_out;
use berth_image::store::Store;
use berth_runtime::container::StdioMode;
use std::os::fd::{AsFd, OwnedFd};

/// What one `RUN` runs.
pub struct RunStep<'a> {
    /// The image it runs in (recorded in the store).
    pub image: &'a Digest,
    /// The command, shell prepended for the shell form.
    pub argv: Vec<String>,
    /// `KEY=value` entries added to the image's environment (the build args).
    pub env: Vec<String>,
    /// `--network`: `bridge`, `none` or `host`.
    pub network: &'a str,
    /// Hide the command's output (`-q`).
    pub quiet: bool,
    /// The command as Docker's error names it (`/bin/sh -c false`).
    pub shown: &'a str,
}

/// Runs the step (telling `on_created` its container's short id); returns the layer of what
/// it changed on top of `parent`, or Docker's error when the command fails.
pub fn run(
    roots: &Roots,
    config: &EngineConfig,
    store: &Store,
    step: &RunStep<'_>,
    parent: Option<&StoredLayer>,
    notices: &dyn Notices,
    on_created: &mut dyn FnMut(&str),
) -> Result<StoredLayer, BuildError> {
    let options = RunOptions {
        image: step.image.to_string(),
        command: step.argv.clone(),
        entrypoint: Some(String::new()),
        env: step.env.clone(),
        network: step.network.to_owned(),
        ..RunOptions::default()
    };
    let (record, _) = berth_engine::run::create(roots, config, &options, notices)
        .map_err(|e| BuildError::failed("create the step's container", e))?;
    let containers = Containers::new(&roots.root);
    let _removed = Removed {
        containers: &containers,
        roots,
        id: record.id.clone(),
    };
    on_created(&record.id[..12]);
    let code = {
        let _muted = match step.quiet {
            true => Some(Muted::new().map_err(|e| BuildError::failed("silence the output", e))?),
            false => None,
        };
        berth_engine::run::execute(
            roots,
            &record.id,
            None,
            StdioMode { stdin: false },
            &mut || {},
        )
        .map_err(|e| BuildError::failed("run the step's container", e))?
    };
    if code != 0 {
        return Err(BuildError::Run {
            command: step.shown.to_owned(),
            code,
        });
    }
    let upper = containers.dir(&record.id).join("upper");
    store_tar(store, parent, config.made_layers(), |out| {
        layer_out::write_layer(&upper, out).map(drop)
    })
}

/// Removes the step's container (and what it holds on the host) when dropped.
struct Removed<'a> {
    containers: &'a Containers,
    roots: &'a Roots,
    id: String,
}

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        if let Err(e) = lifecycle::remove(self.containers, &self.roots.run_root, &self.id, true) {
            tracing::warn!(container = %self.id, error = %e, "cannot remove the step's container");
        }
    }
}

/// Standard output and error sent to /dev/null until dropped (the container inherits them).
struct Muted {
    saved: (OwnedFd, OwnedFd),
}

impl Muted {
    fn new() -> std::io::Result<Muted> {
        let saved = (
            rustix::io::dup(std::io::stdout().as_fd())?,
            rustix::io::dup(std::io::stderr().as_fd())?,
        );
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
        rustix::stdio::dup2_stdout(&null)?;
        rustix::stdio::dup2_stderr(&null)?;
        Ok(Muted { saved })
    }
}

impl Drop for Muted {
    fn drop(&mut self) {
        let _ = rustix::stdio::dup2_stdout(&self.saved.0);
        let _ = rustix::stdio::dup2_stderr(&self.saved.1);
    }
}
