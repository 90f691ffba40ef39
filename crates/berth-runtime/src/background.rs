//! Work that outlives the berth command that hands it over: done by a child process in a
//! session of its own, holding nobody's pipe or terminal, so that the command can report and
//! exit at once.

use rustix::fd::{AsRawFd, BorrowedFd};

/// Runs `work` in a child process that outlives this one. The child keeps descriptor `keep`
/// open (and so a `flock` taken on it) until `work` is done; its standard streams are
/// /dev/null and every other descriptor is closed. Returns once the child exists, or why it
/// could not be made (then `work` was not done).
pub fn in_background(keep: BorrowedFd<'_>, work: impl FnOnce()) -> std::io::Result<()> {
    // SAFETY: the child makes system calls, allocates (glibc's fork leaves malloc usable in
    // the child) and ends with `_exit`; it never returns into the parent's code.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            detach(keep.as_raw_fd());
            work();
            // SAFETY: ends the child without the parent's exit handlers, which would write
            // output the parent buffered a second time.
            unsafe { libc::_exit(0) }
        }
        _ => Ok(()),
    }
}

/// Leaves the caller's session and terminal, points the standard streams at /dev/null and
/// closes every descriptor above them but `keep`.
fn detach(keep: i32) {
    let _ = rustix::process::setsid();
    if let Ok(null) = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        for target in 0..3 {
            // SAFETY: dup2 of a valid descriptor onto a standard descriptor number.
            unsafe { libc::dup2(null.as_raw_fd(), target) };
        }
    }
    let keep = keep as u32;
    for (first, last) in [(3, keep.saturating_sub(1)), (keep + 1, u32::MAX)] {
        if first <= last {
            // SAFETY: close_range closes descriptors; none of the closed ones is used again.
            unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn the_work_runs_in_a_child_that_holds_only_the_kept_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let done = dir.path().join("done");
        let kept = std::fs::File::open(dir.path()).unwrap();
        let (read, write) = rustix::pipe::pipe().unwrap();
        let (kept_fd, write_fd) = (kept.as_raw_fd(), write.as_raw_fd());
        in_background(kept.as_fd(), || {
            // SAFETY: fcntl(F_GETFD) on a descriptor number only asks whether it is open.
            let open = |fd: i32| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
            let leads_a_session = rustix::process::getsid(None) == Ok(rustix::process::getpid());
            let report = format!("{} {} {leads_a_session}", open(kept_fd), open(write_fd));
            std::fs::write(done.with_extension("new"), report).unwrap();
            std::fs::rename(done.with_extension("new"), &done).unwrap();
        })
        .unwrap();
        // The child closed its copy of the pipe's write end: once ours is closed, EOF.
        drop(write);
        let mut byte = [0u8];
        assert_eq!(rustix::io::read(&read, &mut byte).unwrap(), 0);
        while !done.exists() {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(std::fs::read_to_string(&done).unwrap(), "true false true");
    }
}
