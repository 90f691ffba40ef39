//! The clone itself: a fork with namespace flags, born in its v2 cgroup where clone3 allows.

use crate::cgroup::Cgroup;
use crate::error::RuntimeError;
use rustix::fd::AsRawFd;

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
pub(super) fn clone_into(flags: libc::c_int, cgroup: &Cgroup) -> Result<i32, RuntimeError> {
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
        return Err(RuntimeError::Host {
            what: "clone3",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(pid as i32)
}
