//! The signals berth relays: blocked in this process and read from a signalfd, then sent on
//! to the container.

use crate::error::RuntimeError;
use rustix::fd::{AsRawFd, OwnedFd};

/// The signals berth relays to the container.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Blocks the forwarded signals, SIGCHLD and SIGWINCH, and returns a signalfd for them.
pub fn block_signals() -> Result<OwnedFd, RuntimeError> {
    let signals: Vec<libc::c_int> = FORWARDED
        .iter()
        .chain(&[libc::SIGCHLD, libc::SIGWINCH])
        .copied()
        .collect();
    signal_fd(&signals)
}

/// Blocks `signals` and returns a signalfd that reads them (see `read_signal`).
pub fn signal_fd(signals: &[libc::c_int]) -> Result<OwnedFd, RuntimeError> {
    // SAFETY: the sigset is initialised by sigemptyset before use; sigprocmask and signalfd
    // take pointers to it that outlive the calls.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in signals {
            libc::sigaddset(&mut set, *signal);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(
                berth_error::IoContext::new("signalfd", std::io::Error::last_os_error()).into(),
            );
        }
        Ok(<OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(fd))
    }
}

/// The next signal from a signalfd made by `block_signals`.
pub fn read_signal(fd: &OwnedFd) -> Option<i32> {
    // SAFETY: signalfd_siginfo is plain data; read fills at most its size.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: the buffer is `info`, exactly `size` bytes.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            size,
        )
    };
    (n == size as isize).then_some(info.ssi_signo as i32)
}

/// Sends `signal` to process `pid` (a relayed signal: a failure has nobody to tell).
pub fn forward(pid: i32, signal: i32) {
    // SAFETY: kill with a valid pid and signal number.
    unsafe { libc::kill(pid, signal) };
}
