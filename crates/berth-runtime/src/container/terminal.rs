//! A container's pseudo-terminal: made inside the container (its own /dev/pts), its master
//! sent back to berth, which relays it to its own terminal in raw mode.

use super::signals::{forward, read_signal};
use crate::child::{dup_onto, try_wait, wait_for};
use crate::error::RuntimeError;
use crate::process::StartError;
use crate::rootfs;
use berth_error::{Context, IoContext};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use std::io::Write;

/// The socket pair a terminal's master comes back over from the process that made it.
pub(crate) fn terminal_socket() -> Result<(OwnedFd, OwnedFd), IoContext> {
    rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .context("socketpair")
}

/// Receives the terminal's master that `open_terminal` sent over `socket`.
pub(crate) fn receive_terminal(socket: &OwnedFd) -> Result<Pty, RuntimeError> {
    Ok(crate::fdpass::recv_fd(socket.as_fd())
        .map(Pty::from_master)
        .context("receive the process's terminal")?)
}

/// In the container, its root entered: makes a pty from the container's own /dev/ptmx, sends
/// its master over `socket`, and makes the slave (`/dev/pts/N` there) the controlling terminal
/// and standard streams; with `console`, binds it at /dev/console too, as runc does.
pub(crate) fn open_terminal(socket: &OwnedFd, console: bool) -> Result<(), StartError> {
    let pty = Pty::open().map_err(|e| StartError::setup(e.to_string()))?;
    // The slave of this very master (TIOCGPTPEER), not whatever its path names: in a running
    // container (`exec -t`) the container's processes could put something else there.
    let flags = rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC;
    let peer = rustix::pty::OpenptFlags::RDWR
        | rustix::pty::OpenptFlags::NOCTTY
        | rustix::pty::OpenptFlags::CLOEXEC;
    let slave = match rustix::pty::ioctl_tiocgptpeer(&pty.master, peer) {
        Ok(slave) => slave,
        // Kernels before 4.13.
        Err(rustix::io::Errno::NOTTY | rustix::io::Errno::INVAL) => {
            rustix::fs::open(&pty.slave_path, flags, rustix::fs::Mode::empty())
                .context("open the pty")?
        }
        Err(e) => return Err(IoContext::new("open the pty", e).into()),
    };
    if console {
        rootfs::bind_console(slave.as_fd())?;
    }
    crate::fdpass::send_fd(socket.as_fd(), pty.master.as_fd(), b"pty")
        .context("hand over the pty")?;
    drop(pty);
    rustix::process::ioctl_tiocsctty(&slave).context("make the pty the controlling terminal")?;
    for target in 0..3 {
        dup_onto(slave.as_fd(), target)?;
    }
    Ok(())
}

/// A pseudo-terminal pair: berth holds the master, the container gets the slave.
pub struct Pty {
    pub(crate) master: OwnedFd,
    pub(crate) slave_path: String,
}

impl Pty {
    /// The pty whose master is `master` (its slave already handed out).
    pub(crate) fn from_master(master: OwnedFd) -> Pty {
        Pty {
            master,
            slave_path: String::new(),
        }
    }

    pub(crate) fn open() -> Result<Pty, RuntimeError> {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .context("open a pty")?;
        grantpt(&master).context("grantpt")?;
        unlockpt(&master).context("unlockpt")?;
        let name = ptsname(&master, Vec::new()).context("ptsname")?;
        let pty = Pty {
            master,
            slave_path: name.to_string_lossy().into_owned(),
        };
        pty.copy_window_size();
        Ok(pty)
    }

    fn copy_window_size(&self) {
        // A detached container's terminal gets the classic 24x80.
        let size =
            rustix::termios::tcgetwinsize(std::io::stdin()).unwrap_or(rustix::termios::Winsize {
                ws_row: 24,
                ws_col: 80,
                ws_xpixel: 0,
                ws_ypixel: 0,
            });
        let _ = rustix::termios::tcsetwinsize(&self.master, size);
    }

    /// Relays stdin to the pty and the pty to stdout, with the terminal in raw mode, until the
    /// container exits; forwards signals and window size changes.
    pub(crate) fn relay(
        &self,
        pid: i32,
        signals: &OwnedFd,
        with_stdin: bool,
    ) -> Result<i32, RuntimeError> {
        let stdin = std::io::stdin();
        let raw = RawMode::enter(stdin.as_fd());
        let mut stdout = std::io::stdout();
        let mut buf = [0u8; 8192];
        let mut master_open = true;
        let mut stdin_open = with_stdin;
        let mut exit = None;
        loop {
            if exit.is_some() && !master_open {
                break;
            }
            let mut fds = vec![
                rustix::event::PollFd::new(signals, rustix::event::PollFlags::IN),
                rustix::event::PollFd::new(&self.master, rustix::event::PollFlags::IN),
            ];
            if stdin_open {
                fds.push(rustix::event::PollFd::new(
                    &stdin,
                    rustix::event::PollFlags::IN,
                ));
            }
            // After the exit, drain what the pty still holds, then stop.
            let timeout = exit.map(|_| rustix::event::Timespec {
                tv_sec: 0,
                tv_nsec: 50_000_000,
            });
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(0) => break,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(IoContext::new("poll", e).into()),
            }
            let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
            drop(fds);
            if ready[0] {
                match read_signal(signals) {
                    Some(libc::SIGCHLD) => {}
                    Some(libc::SIGWINCH) => self.copy_window_size(),
                    Some(signal) => forward(pid, signal),
                    None => {}
                }
            }
            if ready[1] && master_open {
                match rustix::io::read(&self.master, &mut buf) {
                    Ok(0) | Err(_) => master_open = false,
                    Ok(n) => {
                        let _ = stdout.write_all(&buf[..n]);
                        let _ = stdout.flush();
                    }
                }
            }
            if stdin_open && ready.get(2) == Some(&true) {
                match rustix::io::read(&stdin, &mut buf) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(n) => {
                        let _ = rustix::io::write(&self.master, &buf[..n]);
                    }
                }
            }
            if exit.is_none() {
                exit = try_wait(pid)?;
            }
        }
        drop(raw);
        match exit {
            Some(code) => Ok(code),
            None => wait_for(pid),
        }
    }
}

/// The terminal in raw mode while it lives; restored when dropped. A no-op off a terminal.
struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Option<rustix::termios::Termios>,
}

impl<'a> RawMode<'a> {
    fn enter(fd: BorrowedFd<'a>) -> RawMode<'a> {
        let saved = rustix::termios::tcgetattr(fd).ok();
        if let Some(saved) = &saved {
            let mut raw = saved.clone();
            raw.make_raw();
            let _ = rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw);
        }
        RawMode { fd, saved }
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ =
                rustix::termios::tcsetattr(self.fd, rustix::termios::OptionalActions::Now, saved);
        }
    }
}
