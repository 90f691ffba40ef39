//! Attaching to a detached container's terminal (`run -dit`, then `attach`).
//!
//! The relay holds the pty's master side and serves a unix socket in the run root: what the
//! container writes goes to the log and to every attached client; what a client sends goes to
//! the container. Each client first gets a copy of the master (`SCM_RIGHTS`), with which it
//! sets the terminal's size to its own, now and whenever its window changes (`SIGWINCH`), as
//! `docker attach` does. `berth attach` connects, puts the terminal in raw mode, and relays
//! until the container ends or the user types the detach keys (ctrl-p ctrl-q).

use berth_runtime::container::{OutputSink, Stream};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fd::{AsFd, OwnedFd};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Ctrl-p then ctrl-q: Docker's detach keys.
const DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// Where the relay of container `id` listens.
pub fn socket_path(run_root: &Path, id: &str) -> PathBuf {
    run_root.join(format!("{id}.attach"))
}

/// The relay side: until the container (`pid`, a child of this process) ends, copies the pty's
/// output to `sink` and to attached clients, and clients' input to the pty. Returns its exit code.
pub fn serve(
    pid: i32,
    master: OwnedFd,
    socket: &Path,
    sink: &mut OutputSink<'_>,
) -> std::io::Result<i32> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)?;
    listener.set_nonblocking(true)?;
    let mut master = std::fs::File::from(master);
    let mut clients: Vec<UnixStream> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut exit = None;
    let mut master_open = true;
    let tick = Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    while exit.is_none() || master_open {
        let mut fds = vec![
            PollFd::new(&master, PollFlags::IN),
            PollFd::new(&listener, PollFlags::IN),
        ];
        fds.extend(clients.iter().map(|c| PollFd::new(c, PollFlags::IN)));
        let ready = poll(&mut fds, Some(&tick)).unwrap_or(0);
        let events: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if ready > 0 && events[0] && master_open {
            match master.read(&mut buf) {
                Ok(n) if n > 0 => {
                    sink(Stream::Stdout, &buf[..n]);
                    clients.retain_mut(|c| c.write_all(&buf[..n]).is_ok());
                }
                // EIO: every process of the container has closed the terminal.
                _ => master_open = false,
            }
        }
        let mut gone = Vec::new();
        for (i, client) in clients.iter_mut().enumerate() {
            if ready == 0 || !events.get(2 + i).copied().unwrap_or(false) {
                continue;
            }
            match client.read(&mut buf) {
                Ok(n) if n > 0 => {
                    let _ = master.write_all(&buf[..n]);
                }
                _ => gone.push(i),
            }
        }
        for i in gone.into_iter().rev() {
            clients.remove(i);
        }
        // New clients join after this round's clients were served: the poll results above
        // cover only those.
        if ready > 0
            && events[1]
            && let Ok((client, _)) = listener.accept()
        {
            // The master for the client's resizes, before any output.
            let _ = berth_runtime::fdpass::send_fd(client.as_fd(), master.as_fd(), b"pty");
            clients.push(client);
        }
        if exit.is_none() {
            exit = berth_runtime::container::reap(pid).map_err(std::io::Error::other)?;
            if exit.is_some() && ready == 0 {
                // Exited and nothing more to read: done.
                master_open = false;
            }
        }
    }
    let _ = std::fs::remove_file(socket);
    Ok(exit.expect("the loop ends after the exit"))
}

/// How an attach session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The container ended (the relay closed the connection).
    Exited,
    /// The user typed the detach keys; the container runs on.
    Detached,
}

/// The client side: relays this terminal to the relay at `socket` in raw mode.
pub fn client(socket: &Path) -> std::io::Result<Ended> {
    let mut stream = UnixStream::connect(socket)?;
    let master = berth_runtime::fdpass::recv_fd(stream.as_fd())?;
    let stdin = std::io::stdin();
    let window_changes = berth_runtime::container::signal_fd(&[libc::SIGWINCH])
        .map_err(std::io::Error::other)?;
    resize(&master, &stdin);
    let saved = rustix::termios::tcgetattr(&stdin).ok();
    if let Some(saved) = &saved {
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
    }
    let result = relay_client(&mut stream, &stdin, &master, &window_changes);
    if let Some(saved) = &saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, saved);
    }
    result
}

/// Gives the container's terminal (`master`) the size of this one, if this is a terminal.
fn resize(master: &OwnedFd, stdin: &std::io::Stdin) {
    if let Ok(size) = rustix::termios::tcgetwinsize(stdin) {
        let _ = rustix::termios::tcsetwinsize(master, size);
    }
}

fn relay_client(
    stream: &mut UnixStream,
    stdin: &std::io::Stdin,
    master: &OwnedFd,
    window_changes: &OwnedFd,
) -> std::io::Result<Ended> {
    let mut stdout = std::io::stdout();
    let mut buf = [0u8; 4096];
    let mut last = 0u8;
    let mut stdin_open = true;
    loop {
        let mut fds = vec![
            PollFd::new(&*stream, PollFlags::IN),
            PollFd::new(window_changes, PollFlags::IN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin, PollFlags::IN));
        }
        poll(&mut fds, None)?;
        let events: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if events[1] && berth_runtime::container::read_signal(window_changes).is_some() {
            resize(master, stdin);
        }
        if events[0] {
            match stream.read(&mut buf) {
                Ok(n) if n > 0 => {
                    stdout.write_all(&buf[..n])?;
                    stdout.flush()?;
                }
                _ => return Ok(Ended::Exited),
            }
        }
        if stdin_open && events.get(2) == Some(&true) {
            let n = rustix::io::read(stdin, &mut buf).unwrap_or(0);
            if n == 0 {
                stdin_open = false;
                continue;
            }
            for (i, &byte) in buf[..n].iter().enumerate() {
                if last == DETACH_KEYS[0] && byte == DETACH_KEYS[1] {
                    // What came before the keys still goes to the container.
                    stream.write_all(&buf[..i.saturating_sub(1)])?;
                    return Ok(Ended::Detached);
                }
                last = byte;
            }
            stream.write_all(&buf[..n])?;
        }
    }
}
