//! The wait for a container's end: signals relayed, and with captured output its pipes
//! drained into a sink. (A terminal's relay is `terminal`'s.)

use super::signals::{forward, read_signal};
use crate::child::try_wait;
use crate::error::RuntimeError;
use berth_error::IoContext;
use rustix::fd::OwnedFd;

/// Which output stream a captured chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Receives captured output: the stream and the bytes.
pub type OutputSink<'a> = dyn FnMut(Stream, &[u8]) + 'a;

/// Waits for `pid` without a pty: relays signals until it exits.
pub(crate) fn wait_forwarding(pid: i32, signals: &OwnedFd) -> Result<i32, RuntimeError> {
    loop {
        if let Some(code) = try_wait(pid)? {
            return Ok(code);
        }
        match read_signal(signals) {
            Some(libc::SIGCHLD) | Some(libc::SIGWINCH) | None => {}
            Some(signal) => forward(pid, signal),
        }
    }
}

/// Waits for `pid` while its output pipes drain into `sink`; relays signals. At rest it gives
/// back its code pages (`idle::poll_resting`).
pub(super) fn wait_capturing(
    pid: i32,
    signals: &OwnedFd,
    out: OwnedFd,
    err: OwnedFd,
    sink: &mut OutputSink<'_>,
) -> Result<i32, RuntimeError> {
    let mut open = [Some(out), Some(err)];
    // On the heap, and only once there is output: a detached container's relay waits here for
    // as long as the container runs, and keeps whatever stack it touched.
    let mut buf = Vec::new();
    let mut exit = None;
    loop {
        if exit.is_some() && open.iter().all(Option::is_none) {
            break;
        }
        let mut fds = vec![rustix::event::PollFd::new(
            signals,
            rustix::event::PollFlags::IN,
        )];
        let streams: Vec<usize> = (0..2).filter(|i| open[*i].is_some()).collect();
        for i in &streams {
            fds.push(rustix::event::PollFd::new(
                open[*i].as_ref().expect("open"),
                rustix::event::PollFlags::IN,
            ));
        }
        match crate::idle::poll_resting(&mut fds) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(IoContext::new("poll", e).into()),
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if ready[0] {
            match read_signal(signals) {
                Some(libc::SIGCHLD) | Some(libc::SIGWINCH) | None => {}
                Some(signal) => forward(pid, signal),
            }
        }
        for (slot, i) in streams.iter().enumerate() {
            if !ready[slot + 1] {
                continue;
            }
            let fd = open[*i].as_ref().expect("open");
            buf.resize(4096, 0);
            match rustix::io::read(fd, &mut buf) {
                Ok(0) | Err(_) => open[*i] = None,
                Ok(n) => sink(
                    if *i == 0 {
                        Stream::Stdout
                    } else {
                        Stream::Stderr
                    },
                    &buf[..n],
                ),
            }
        }
        if exit.is_none() {
            exit = try_wait(pid)?;
        }
    }
    Ok(exit.expect("the loop ends after the exit"))
}
