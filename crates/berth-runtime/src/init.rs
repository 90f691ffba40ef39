//! `--init`: a small init as the container's PID 1. It starts the command as its child,
//! forwards every signal it gets to it, reaps orphaned processes, and exits with the command's
//! exit code.

use crate::child::report_and_exit;
use crate::process::{self, StartError};
use rustix::fd::OwnedFd;

/// Runs as PID 1 until the command ends; never returns.
pub fn run(args: &[String], env: &[String], err: Option<OwnedFd>) -> ! {
    // SAFETY: the sigset is initialised before use and outlives the calls.
    let all = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    // SAFETY: fork in a single-threaded process.
    let child = unsafe { libc::fork() };
    if child < 0 {
        let error = StartError::setup(format!("init: fork: {}", std::io::Error::last_os_error()));
        report_and_exit(err, &error);
    }
    if child == 0 {
        // SAFETY: an empty set unblocks everything for the command.
        unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        }
        let error = process::exec(args, env);
        report_and_exit(err, &error);
    }
    // The command's exec closes its copy of the error pipe; init must close its own.
    drop(err);
    // Init is a copy of the berth binary: not dumpable, its /proc/1/exe and memory are out of
    // reach of the container's processes (the runc CVE-2019-5736 class of attack).
    // SAFETY: prctl with PR_SET_DUMPABLE takes plain integers.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    loop {
        // SAFETY: siginfo_t is plain data; `all` is a valid set and `info` is writable.
        let signal = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::sigwaitinfo(&all, &mut info)
        };
        if signal < 0 {
            continue;
        }
        if signal != libc::SIGCHLD {
            // SAFETY: kill with a valid pid and signal.
            unsafe { libc::kill(child, signal) };
            continue;
        }
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes into our integer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == child {
                let code = if libc::WIFSIGNALED(status) {
                    128 + libc::WTERMSIG(status)
                } else {
                    libc::WEXITSTATUS(status)
                };
                // SAFETY: _exit ends PID 1, and with it the container.
                unsafe { libc::_exit(code) };
            }
        }
    }
}
