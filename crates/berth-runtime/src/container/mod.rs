//! Running a container: `clone` into new namespaces, the parent/child handshake, the child's
//! setup up to `execve`, then the parent's wait with signals forwarded and the pty relayed.
//!
//! The parent creates the cgroup with its limits first, then clones. The child waits on a pipe
//! until the parent has moved it into the cgroup, then enters a cgroup namespace of its own,
//! builds its file system and credentials, and execs. Any setup failure is written to a
//! close-on-exec error pipe, so the parent gets the message (and Docker's exit code) instead of
//! a silent exit; end of file on that pipe means the exec succeeded. Nothing here starts a
//! thread: `clone` without a new stack is a fork, which is sound in a single-threaded process.
//!
//! The launch goes in stages, one module each: `prepare` (the host side's descriptors),
//! `clone`, `inside` (the child's setup), `handshake` (the go-ahead and the verdict), driven by
//! `launch`; `guard` undoes what the host side made when a stage fails. Then `wait` (or the
//! `terminal`'s relay) until the end. `config` holds the plain data they share, `signals` the
//! relayed signals.

mod clone;
mod config;
pub(crate) mod guard;
pub(crate) mod handshake;
pub(crate) mod inside;
mod launch;
mod prepare;
mod signals;
pub(crate) mod terminal;
pub(crate) mod wait;

pub use crate::error::RuntimeError;
pub use config::{ContainerConfig, HookSet, Namespaces, NetworkNamespace, SeccompListener};
pub use guard::undo_host_mounts;
pub use prepare::Pipes;
pub use signals::{block_signals, forward, read_signal, signal_fd};
pub use terminal::Pty;
pub use wait::{OutputSink, Stream};

use crate::cgroup::Cgroup;
use crate::cgroups::CgroupLayout;
use crate::child::{try_wait, unblock_signals};
use berth_error::Context;
use guard::HostMounts;
use launch::{Launched, launch};
use prepare::Capture;
use rustix::fd::OwnedFd;
use std::path::Path;
use wait::{wait_capturing, wait_forwarding};

/// Where a foreground container's standard streams go: stdout and stderr are berth's own (or
/// the pty's); stdin is berth's or /dev/null. (Detached containers: `launch_detached`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdioMode {
    /// Give the container this process's stdin (else /dev/null).
    pub stdin: bool,
}

/// How the container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// Exit code; 128 + N when killed by signal N.
    pub code: i32,
    /// The kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
}

/// A container that ran to its end.
pub struct Ended {
    /// How it ended.
    pub exit: Exit,
    /// What is left of it for the caller to remove, which it may do after it has reported the
    /// exit.
    pub remains: Remains,
}

/// What a container that ended leaves: its cgroup, empty, and its mount namespace, held open
/// by this process. Without the hold, the kernel unmounts everything in the namespace (the
/// overlay, /proc, /dev, /sys, the cgroup file systems, the masked paths: some thirty mounts,
/// and a wait for an RCU grace period) as part of the container's exit, before its parent
/// learns the exit code.
pub struct Remains {
    /// The cgroup.
    pub cgroup: Cgroup,
    /// The mount namespace, where it could be opened.
    pub mount_namespace: Option<OwnedFd>,
}

impl Remains {
    /// Unmounts everything in the mount namespace (closing the last hold of it) and removes
    /// the cgroup.
    pub fn remove(self) {
        drop(self.mount_namespace);
        self.cgroup.remove();
    }
}

/// Runs the container to its end: returns how it ended, or why it could not start (its cgroup
/// then removed). `on_started` is called with the container's host pid once it runs.
pub fn run(
    config: &ContainerConfig,
    layout: &CgroupLayout,
    stdio: StdioMode,
    on_started: &mut dyn FnMut(i32),
) -> Result<Ended, RuntimeError> {
    // Detached when this returns: the container has ended, or failed to start.
    let _mounts = HostMounts::new(config);
    let launched = launch(config, layout, stdio.stdin, Capture::Nothing, None)?;
    let exit = wait_launched(&launched, stdio, on_started);
    let remains = Remains {
        cgroup: launched.cgroup,
        mount_namespace: launched.mount_namespace,
    };
    match exit {
        Ok(exit) => Ok(Ended { exit, remains }),
        Err(e) => {
            remains.remove();
            Err(e)
        }
    }
}

fn wait_launched(
    launched: &Launched,
    stdio: StdioMode,
    on_started: &mut dyn FnMut(i32),
) -> Result<Exit, RuntimeError> {
    let pid = launched.pid;
    on_started(pid);
    let code = match &launched.pty {
        Some(pty) => pty.relay(pid, &launched.signals, stdio.stdin)?,
        None => wait_forwarding(pid, &launched.signals)?,
    };
    Ok(Exit {
        code,
        oom_killed: launched.cgroup.oom_killed(),
    })
}

/// What berth holds of a detached container's streams.
pub enum DetachedIo {
    /// Its pipes.
    Pipes(Pipes),
    /// The master side of its pseudo-terminal (`-t`): output to read, input to write.
    Terminal(OwnedFd),
}

/// Starts a container with its output on pipes (or a pty with `-t`) and returns at once with its
/// pid: this process stays its parent and must reap it (`wait_detached` or `reap`), possibly
/// after an exec into a leaner program. The cgroup stays until then. With `open_stdin` (and no
/// terminal) its stdin is a pipe too, whose write end comes back with the others.
pub fn launch_detached(
    config: &ContainerConfig,
    layout: &CgroupLayout,
    open_stdin: bool,
) -> Result<(i32, DetachedIo), RuntimeError> {
    let capture = match (config.terminal, open_stdin) {
        (true, _) => Capture::Nothing,
        (false, false) => Capture::Output,
        (false, true) => Capture::OutputAndInput,
    };
    let mounts = HostMounts::new(config);
    let launched = match launch(config, layout, config.terminal, capture, None)? {
        Launched {
            pid,
            output: Some(pipes),
            ..
        } => (pid, DetachedIo::Pipes(pipes)),
        Launched {
            pid,
            pty: Some(pty),
            ..
        } => (pid, DetachedIo::Terminal(pty.master)),
        _ => unreachable!("launched with pipes or a pty"),
    };
    mounts.keep();
    Ok(launched)
}

/// OCI `create`: sets the container up (its cgroup made) up to the exec, its process waiting
/// at `gate` (a FIFO) until `start` opens it, and returns its pid and, for a terminal, the
/// pty's master. The process inherits this one's standard streams (unless it has a terminal)
/// and outlives it.
pub fn create_gated(
    config: &ContainerConfig,
    layout: &CgroupLayout,
    gate: &Path,
) -> Result<(i32, Option<OwnedFd>), RuntimeError> {
    let gate = rustix::fs::open(
        gate,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .context("open the start gate")?;
    let mounts = HostMounts::new(config);
    let launched = launch(config, layout, true, Capture::Nothing, Some(&gate))?;
    mounts.keep();
    unblock_signals();
    Ok((launched.pid, launched.pty.map(|pty| pty.master)))
}

/// The exit code of child `pid` once it has ended (128 + N for a signal), without waiting.
pub fn reap(pid: i32) -> Result<Option<i32>, RuntimeError> {
    try_wait(pid)
}

/// After a detached container's end: whether the OOM killer struck, and its cgroup removed.
pub fn finish_cgroup(layout: &CgroupLayout, cgroup_path: &str) -> bool {
    let cgroup = Cgroup::at(layout, cgroup_path);
    let oom_killed = cgroup.oom_killed();
    cgroup.remove();
    oom_killed
}

/// Waits for a container started by `launch_detached` (this process being its parent), its
/// output going to `sink`; returns its exit code. Its cgroup is left to `finish_cgroup`: what
/// this touches before the wait stays touched for as long as the container runs.
pub fn wait_detached(
    pid: i32,
    out: OwnedFd,
    err: OwnedFd,
    sink: &mut OutputSink<'_>,
) -> Result<i32, RuntimeError> {
    let signals = block_signals()?;
    wait_capturing(pid, &signals, out, err, sink)
}
