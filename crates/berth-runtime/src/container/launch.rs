//! The launch of a container up to its command's exec, in stages: `prepare` (the host side's
//! pipes, sockets and namespaces), the cgroup made to be born in (v2), `clone`, the child's
//! setup (`inside`), then this process's half: the user namespace mapped, the cgroup made
//! (or finished) with its limits, and the `handshake`. What it makes is guarded (`guard`)
//! until the container runs: a failure at any stage kills and reaps the process and removes
//! the cgroup.

use super::clone::{clone_child, namespace_flags};
use super::config::ContainerConfig;
use super::guard::{CgroupGuard, ChildGuard, Launching};
use super::handshake::{self, CgroupEntry, release_child};
use super::inside::{self, ChildStart};
use super::prepare::{Capture, ParentEnds, Pipes, Prepared};
use super::terminal::{Pty, receive_terminal};
use crate::affinity::Affinity;
use crate::cgroup::Cgroup;
use crate::cgroups::{CgroupLayout, CgroupMode};
use crate::error::RuntimeError;
use crate::process::StartError;
use rustix::fd::OwnedFd;

/// A container whose command runs, and what berth holds of it.
pub(super) struct Launched {
    /// Its process.
    pub(super) pid: i32,
    /// Its stdout and stderr pipes (and stdin's), when captured.
    pub(super) output: Option<Pipes>,
    /// Its terminal.
    pub(super) pty: Option<Pty>,
    /// The signalfd of the forwarded signals.
    pub(super) signals: OwnedFd,
    /// Its cgroup, made with its limits.
    pub(super) cgroup: Cgroup,
    /// Its mount namespace (see `Remains`).
    pub(super) mount_namespace: Option<OwnedFd>,
}

/// Everything up to the command's exec: the host side's preparation, `clone`, the child's
/// setup, the cgroup, and the parent's half of the handshake.
pub(super) fn launch(
    config: &ContainerConfig,
    layout: &CgroupLayout,
    stdin: bool,
    capture: Capture,
    gate: Option<&OwnedFd>,
) -> Result<Launched, RuntimeError> {
    let prepared = Prepared::new(config, layout, capture)?;
    let joined_user = prepared.joined_user();
    // On v2 the cgroup's directory is made first and the child born in it
    // (`CLONE_INTO_CGROUP`): nothing to migrate, so no wait on the kernel's cgroup lock (an RCU
    // grace period after a quiet spell); where clone3 cannot do that, the child is moved in
    // after all. Its limits are written while the child sets up, before it may run.
    let born_in = match (layout.mode, joined_user) {
        (CgroupMode::V2, None) => {
            Some(CgroupGuard::new(Cgroup::make(layout, &config.cgroup_path)?))
        }
        _ => None,
    };
    // Read before the clone: this process moves the child off its own CPU while it makes the
    // cgroup, then gives it these CPUs back (see `affinity`).
    let affinity = Affinity::of_this_process();
    let (pid, born) = clone_child(namespace_flags(config), joined_user, born_in.as_deref())?;
    if pid == 0 {
        let joined_user = joined_user.is_some();
        let start = ChildStart {
            stdin,
            gate,
            joined_user,
        };
        inside::child_main(config, prepared, start);
    }
    if let Some(affinity) = &affinity {
        affinity.start_elsewhere(pid);
    }
    tracing::debug!(pid, born_in_cgroup = born, "cloned into new namespaces");
    // Declared after `born_in`, so dropped before it: killed and reaped before the cgroup it
    // was born in is removed.
    let child = ChildGuard::new(pid);
    let mut ends = prepared.into_parent();
    if let Some(mapped) = ends.mapped.take() {
        let ns = &config.namespaces;
        handshake::release_mapped(pid, &ns.uid_map, &ns.gid_map, mapped)?;
    }
    let cgroup = match born_in {
        Some(cgroup) => cgroup,
        None => CgroupGuard::new(Cgroup::make(layout, &config.cgroup_path)?),
    };
    let mut made = Launching { child, cgroup };
    made.cgroup.apply_limits(layout, &config.limits)?;
    tracing::debug!(path = config.cgroup_path, "cgroup created with its limits");
    start(config, made, ends, born, affinity)
}

/// The parent's half of the handshake once the cgroup has its limits: the way into the cgroup,
/// the hooks, the go-ahead and the verdict, then the terminal.
fn start(
    config: &ContainerConfig,
    made: Launching,
    ends: ParentEnds,
    born: bool,
    affinity: Option<Affinity>,
) -> Result<Launched, RuntimeError> {
    let pid = made.child.pid();
    let (entry, join) = match born {
        true => (CgroupEntry::Born, None),
        false => CgroupEntry::choose(&made.cgroup)?,
    };
    // The cgroup work that the child's setup overlapped is done, and this process waits from
    // here on: the child may run on any of berth's CPUs again, this one too.
    if let Some(affinity) = &affinity {
        affinity.give_back(pid);
    }
    if let (Some(join), Some(socket)) = (&join, &ends.cgroup_files) {
        handshake::send_cgroup_files(pid, join, socket);
    }
    drop(join);
    // Opened while the process waits for the go-ahead: it cannot have exited yet.
    let mount_namespace = rustix::fs::open(
        format!("/proc/{pid}/ns/mnt").as_str(),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok();
    let hooks = &config.hooks;
    release_child(pid, entry, ends.go, ends.verdict, 125, &mut || {
        crate::hooks::run(&hooks.prestart, &hooks.state_with(pid, "created"))
            .and_then(|()| {
                crate::hooks::run(&hooks.create_runtime, &hooks.state_with(pid, "creating"))
            })
            .map_err(|e| {
                StartError {
                    code: 125,
                    message: e,
                }
                .into()
            })
    })?;
    // The process made its terminal before its exec (or before it waits at the gate).
    let pty = ends.terminal.as_ref().map(receive_terminal).transpose()?;
    let (pid, cgroup) = made.keep();
    tracing::debug!(pid, "the container's process runs its command");
    Ok(Launched {
        pid,
        output: ends.output,
        pty,
        signals: ends.signals,
        cgroup,
        mount_namespace,
    })
}
