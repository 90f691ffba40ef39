//! The clone itself: a fork with namespace flags, born in its v2 cgroup where clone3 allows,
//! or cloned from inside a user namespace joined by path (`userns::clone_in`).

use super::config::{ContainerConfig, NetworkNamespace};
use crate::cgroup::Cgroup;
use crate::child::clone;
use crate::error::RuntimeError;
use rustix::fd::{AsRawFd, OwnedFd};

/// The clone's namespace flags: the new namespaces but the cgroup's (made or joined by the
/// child once it is in its cgroup), and a new network namespace where it gets one.
pub(super) fn namespace_flags(config: &ContainerConfig) -> libc::c_int {
    let mut flags = config.namespaces.new & !libc::CLONE_NEWCGROUP;
    if config.network == NetworkNamespace::New {
        flags |= libc::CLONE_NEWNET;
    }
    flags
}

/// Clones the container's process with namespace `flags`: into the user namespace
/// `joined_user`, or else born in the v2 cgroup `born_in` where clone3 can do that (moved in
/// after all where not). Returns, like fork, 0 in the child; in this process the child's pid
/// and whether it was born in its cgroup.
pub(super) fn clone_child(
    flags: libc::c_int,
    joined_user: Option<&OwnedFd>,
    born_in: Option<&Cgroup>,
) -> Result<(i32, bool), RuntimeError> {
    Ok(match (joined_user, born_in) {
        (Some(userns), _) => (crate::userns::clone_in(userns, flags)?, false),
        (None, Some(cgroup)) => match clone_into(flags, cgroup) {
            Ok(pid) => (pid, true),
            Err(e) => {
                tracing::debug!(%e, "clone3 into the cgroup: moving the process in instead");
                (clone(flags)?, false)
            }
        },
        (None, None) => (clone(flags)?, false),
    })
}

/// `clone_args` of `clone3(2)`, up to `cgroup` (the kernel's `CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7): the child starts in the cgroup2 directory `cgroup`.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// A fork with namespace `flags`, as `clone`, whose child is born in the v2 `cgroup`. Fails
/// where the kernel (before 5.7) or a seccomp filter around berth refuses clone3, and the
/// caller falls back.
fn clone_into(flags: libc::c_int, cgroup: &Cgroup) -> Result<i32, RuntimeError> {
    let dir = cgroup.open_v2_dir()?;
    let args = CloneArgs {
        flags: u64::from(flags as u32) | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: dir.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: as in `clone`: no new stack (stack and stack_size 0: the child runs on a copy of
    // this one, as after fork) in a single-threaded process; `args` outlives the call and its
    // size is passed with it.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid < 0 {
        return Err(berth_error::IoContext::new("clone3", std::io::Error::last_os_error()).into());
    }
    Ok(pid as i32)
}
