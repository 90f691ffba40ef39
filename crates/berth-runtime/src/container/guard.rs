//! Guards for what the launch makes on the host side: each undoes its resource when dropped,
//! on every error path, unless it is kept once ownership passes on (to `Launched`, the caller,
//! or a detached container's reaper). Descriptors need none: `OwnedFd` closes itself.

use super::config::ContainerConfig;
use crate::cgroup::Cgroup;
use crate::child::wait_for;
use crate::rootfs;
use std::ops::{Deref, DerefMut};

/// A cgroup made for the container: removed when dropped, unless kept.
pub(super) struct CgroupGuard(Option<Cgroup>);

impl CgroupGuard {
    /// Guards `cgroup`.
    pub(super) fn new(cgroup: Cgroup) -> CgroupGuard {
        CgroupGuard(Some(cgroup))
    }

    /// The cgroup, no longer removed by this guard.
    pub(super) fn keep(mut self) -> Cgroup {
        match self.0.take() {
            Some(cgroup) => cgroup,
            None => unreachable!("a guard holds its cgroup until kept"),
        }
    }
}

impl Deref for CgroupGuard {
    type Target = Cgroup;

    fn deref(&self) -> &Cgroup {
        match &self.0 {
            Some(cgroup) => cgroup,
            None => unreachable!("a guard holds its cgroup until kept"),
        }
    }
}

impl DerefMut for CgroupGuard {
    fn deref_mut(&mut self) -> &mut Cgroup {
        match &mut self.0 {
            Some(cgroup) => cgroup,
            None => unreachable!("a guard holds its cgroup until kept"),
        }
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Some(cgroup) = self.0.take() {
            cgroup.remove();
        }
    }
}

/// A child this process cloned (or forked) and has not handed on: killed and reaped when
/// dropped, unless kept.
pub(crate) struct ChildGuard {
    pid: i32,
}

impl ChildGuard {
    /// Guards child `pid`.
    pub(crate) fn new(pid: i32) -> ChildGuard {
        ChildGuard { pid }
    }

    /// The child's pid.
    pub(crate) fn pid(&self) -> i32 {
        self.pid
    }

    /// The child's pid, no longer killed by this guard.
    pub(crate) fn keep(self) -> i32 {
        let pid = self.pid;
        std::mem::forget(self);
        pid
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SAFETY: kill our own child (not yet reaped: only this guard reaps it), then reap it.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let _ = wait_for(self.pid);
    }
}

/// A container being made: its process and its cgroup. Undone when dropped: the fields drop
/// in this order, so the process is killed and reaped before its cgroup is removed.
pub(super) struct Launching {
    /// The container's process.
    pub(super) child: ChildGuard,
    /// Its cgroup.
    pub(super) cgroup: CgroupGuard,
}

impl Launching {
    /// The process's pid and its cgroup, both handed on.
    pub(super) fn keep(self) -> (i32, Cgroup) {
        let Launching { child, cgroup } = self;
        (child.keep(), cgroup.keep())
    }
}

/// The mounts that a container without a mount namespace of its own makes in the host's,
/// below its rootfs: detached when dropped (once it has ended or failed to start), unless
/// kept for a container that runs on.
pub(super) struct HostMounts<'a> {
    config: &'a ContainerConfig,
}

impl<'a> HostMounts<'a> {
    /// Guards the host mounts of `config`'s container.
    pub(super) fn new(config: &'a ContainerConfig) -> HostMounts<'a> {
        HostMounts { config }
    }

    /// Leaves the mounts in place (the container runs on; `delete` or its reaper undoes them).
    pub(super) fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for HostMounts<'_> {
    fn drop(&mut self) {
        undo_host_mounts(self.config);
    }
}

/// A container without a mount namespace of its own made its mounts in the host's: detach
/// them once it has ended (or failed to start).
pub fn undo_host_mounts(config: &ContainerConfig) {
    if !config.namespaces.has(libc::CLONE_NEWNS)
        && let Err(e) = rootfs::unmount_below(&config.rootfs)
    {
        tracing::warn!(%e, "the container's mounts could not all be removed");
    }
}
