//! What a cloned child and its parent share, below `container`, `exec`, `init` and `userns`:
//! the fork-style `clone`, the waits for a child, the child's report of a failed start, and the
//! small steps of its setup that every kind of child takes (standard descriptors, signals,
//! joining namespaces).

use crate::error::RuntimeError;
use crate::process::StartError;
use rustix::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::io::Write;

/// `clone` with namespace flags and no new stack: a fork. Returns 0 in the child.
pub(crate) fn clone(flags: libc::c_int) -> Result<i32, RuntimeError> {
    // SAFETY: clone without a new stack is fork with namespace flags. The process is
    // single-threaded (no thread is started before this point), so the child's copy of memory
    // is consistent; the caller's child never returns from `child_main`.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(berth_error::IoContext::new("clone", std::io::Error::last_os_error()).into());
    }
    Ok(pid as i32)
}

/// The exit code of `pid` if it has ended (128 + N for a signal).
pub(crate) fn try_wait(pid: i32) -> Result<Option<i32>, RuntimeError> {
    let mut status = 0;
    // SAFETY: waitpid writes the status into our integer.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if r < 0 {
        return Err(berth_error::IoContext::new("waitpid", std::io::Error::last_os_error()).into());
    }
    if r == 0 {
        return Ok(None);
    }
    if libc::WIFEXITED(status) {
        Ok(Some(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Ok(Some(128 + libc::WTERMSIG(status)))
    } else {
        Ok(None)
    }
}

/// Waits for child `pid` to end (polling every 5 ms) and returns its exit code.
pub(crate) fn wait_for(pid: i32) -> Result<i32, RuntimeError> {
    loop {
        if let Some(code) = try_wait(pid)? {
            return Ok(code);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Writes a start failure to the error pipe (or, once nobody reads that, to stderr) and exits
/// with its code.
pub(crate) fn report_and_exit(err: Option<OwnedFd>, error: &StartError) -> ! {
    match err {
        Some(err) => {
            let _ = write!(std::fs::File::from(err), "{}:{}", error.code, error.message);
        }
        None => {
            let _ = writeln!(std::io::stderr(), "berth: {}", error.message);
        }
    }
    // SAFETY: _exit ends the process at once; nothing of the parent's state must be flushed
    // from this copy of it.
    unsafe { libc::_exit(error.code) }
}

/// Makes `fd` the child's descriptor `target` (0, 1 or 2).
pub(crate) fn dup_onto(fd: BorrowedFd<'_>, target: i32) -> Result<(), StartError> {
    // SAFETY: dup2 onto a standard descriptor number; both are valid.
    if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
        return Err(StartError::setup(format!(
            "dup2 onto {target}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// In the child: every signal unblocked and at its default action (Rust ignores SIGPIPE; a
/// container must not inherit that).
pub(crate) fn unblock_signals() {
    // SAFETY: as in `block_signals`; SIG_DFL is a valid disposition for these signals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Whether `fd` is this process's own namespace `name` (`user`, `mnt`, ...): joining it again
/// is needless, and for some (a user namespace, or the host's from inside one) refused.
pub(crate) fn is_current(fd: &OwnedFd, name: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::metadata(format!("/proc/self/ns/{name}")),
        rustix::fs::fstat(fd),
    ) {
        (Ok(own), Ok(other)) => own.ino() == other.st_ino && own.dev() == other.st_dev,
        _ => false,
    }
}

/// Joins the namespace `fd` of type `kind` (a `CLONE_NEW*` flag).
pub(crate) fn setns(fd: &OwnedFd, kind: libc::c_int) -> std::io::Result<()> {
    // SAFETY: setns with a namespace descriptor we own and its matching type.
    if unsafe { libc::setns(fd.as_raw_fd(), kind) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
