//! Work that outlives the berth command that hands it over: done by a child process in a
//! session of its own, holding nobody's pipe or terminal, so that the command can report and
//! exit at once.

use rustix::fd::{AsRawFd, RawFd};

/// Runs `work` in a child process that outlives this one. The child keeps the descriptors in
/// `keep` open (and so a `flock` taken on one) until `work` is done, and they must be all that
/// `work` owns; its standard streams are /dev/null and every other descriptor is closed.
/// Returns once the child exists; where no child can be made, runs `work` here first.
pub fn in_background(keep: &[RawFd], work: impl FnOnce()) {
    // SAFETY: the child makes system calls, allocates (glibc's fork leaves malloc usable in
    // the child) and ends with `_exit`; it never returns into the parent's code.
    match unsafe { libc::fork() } {
        -1 => {
            let e = std::io::Error::last_os_error();
            tracing::debug!(%e, "no process for work that could wait: done now");
            work();
        }
        0 => {
            let mut keep: Vec<u32> = keep.iter().map(|&fd| fd as u32).collect();
            keep.sort_unstable();
            detach(&keep);
            work();
            // SAFETY: ends the child without the parent's exit handlers, which would write
            // output the parent buffered a second time.
            unsafe { libc::_exit(0) }
        }
        _ => {}
    }
}

/// Leaves the caller's session and terminal, points the standard streams at /dev/null and
/// closes every descriptor above them but those in `keep` (sorted).
fn detach(keep: &[u32]) {
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
    let mut first = 3;
    for &kept in keep.iter().chain(&[u32::MAX]) {
        if first < kept {
            // SAFETY: close_range closes descriptors that nothing in this process uses
            // again: the child runs only `work`, which owns nothing but `keep`.
            unsafe { libc::syscall(libc::SYS_close_range, first, kept - 1, 0u32) };
        }
        first = first.max(kept.saturating_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_runs_in_a_child_that_holds_only_the_kept_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let done = dir.path().join("done");
        let kept = std::fs::File::open(dir.path()).unwrap();
        // Owned by the work, which drops it: it must still be open then.
        let owned = std::fs::File::open(dir.path()).unwrap();
        let (read, write) = rustix::pipe::pipe().unwrap();
        let (kept_fd, owned_fd, write_fd) =
            (kept.as_raw_fd(), owned.as_raw_fd(), write.as_raw_fd());
        let report_to = done.clone();
        in_background(&[kept_fd, owned_fd], move || {
            // SAFETY: fcntl(F_GETFD) on a descriptor number only asks whether it is open.
            let open = |fd: i32| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
            let leads_a_session = rustix::process::getsid(None) == Ok(rustix::process::getpid());
            let report = format!(
                "{} {} {} {leads_a_session}",
                open(kept_fd),
                open(owned_fd),
                open(write_fd)
            );
            drop(owned);
            std::fs::write(report_to.with_extension("new"), report).unwrap();
            std::fs::rename(report_to.with_extension("new"), &report_to).unwrap();
        });
        // The child closed its copy of the pipe's write end: once ours is closed, EOF.
        drop(write);
        let mut byte = [0u8];
        assert_eq!(rustix::io::read(&read, &mut byte).unwrap(), 0);
        let waited = std::time::Instant::now();
        while !done.exists() {
            assert!(
                waited.elapsed() < std::time::Duration::from_secs(10),
                "the work never finished"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(
            std::fs::read_to_string(&done).unwrap(),
            "true true false true"
        );
    }
}
