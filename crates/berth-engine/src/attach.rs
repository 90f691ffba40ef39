//! Attaching to a detached container's terminal (`run -dit`, then `attach`), or to its stdin
//! and output (`run -di`, then `attach`).
//!
//! The relay holds the pty's master side and serves a unix socket in the run root: what the
//! container writes goes to the log and to every attached client; what a client sends goes to
//! the container. Each client first gets a copy of the master (`SCM_RIGHTS`), with which it
//! sets the terminal's size to its own, now and whenever its window changes (`SIGWINCH`), as
//! `docker attach` does. `berth attach` connects, puts the terminal in raw mode, and relays
//! until the container ends or the user types the detach keys (ctrl-p ctrl-q).

use berth_runtime::container::{self, DetachedIo, OutputSink, Pipes, Stream};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fd::{AsFd, OwnedFd};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Ctrl-p then ctrl-q: Docker's detach keys.
const DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// Where the relay of container `id` listens.
pub fn socket_path(run_root: &Path, id: &str) -> PathBuf {
    run_root.join(format!("{id}.attach"))
}

/// The relay side: until the container (`pid`, a child of this process) ends, copies its
/// output to `sink` and to attached clients (a terminal's as it is, pipes' in Docker's
/// multiplexed frames: a stream byte, three zeros, a big-endian length), and clients' input to
/// the container. Returns its exit code.
pub fn serve(
    pid: i32,
    streams: DetachedIo,
    socket: &Path,
    sink: &mut OutputSink<'_>,
) -> std::io::Result<i32> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)?;
    listener.set_nonblocking(true)?;
    // The container's outputs (open ones) and where clients' input goes: a terminal's master
    // both ways (also handed to clients for resizes), or the pipes, stdin only if kept open.
    let (mut outputs, mut input, terminal): (Vec<(File, Stream)>, Option<File>, bool) =
        match streams {
            DetachedIo::Terminal(master) => {
                let master = File::from(master);
                (
                    vec![(master.try_clone()?, Stream::Stdout)],
                    Some(master),
                    true,
                )
            }
            DetachedIo::Pipes(Pipes {
                stdout,
                stderr,
                stdin,
            }) => (
                vec![
                    (File::from(stdout), Stream::Stdout),
                    (File::from(stderr), Stream::Stderr),
                ],
                stdin.map(File::from),
                false,
            ),
        };
    let framed = !terminal;
    let mut clients: Vec<UnixStream> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut exit = None;
    // The container's end arrives as SIGCHLD; relayed signals go on to it.
    let signals = container::block_signals().map_err(std::io::Error::other)?;
    // Once it has ended, a quiet spell this long ends the relay (a process it left behind may
    // hold the terminal open).
    let settle = Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    while exit.is_none() || !outputs.is_empty() {
        let mut fds: Vec<PollFd<'_>> = outputs
            .iter()
            .map(|(f, _)| PollFd::new(f, PollFlags::IN))
            .collect();
        fds.push(PollFd::new(&listener, PollFlags::IN));
        fds.extend(clients.iter().map(|c| PollFd::new(c, PollFlags::IN)));
        fds.push(PollFd::new(&signals, PollFlags::IN));
        let ready = match exit {
            Some(_) => poll(&mut fds, Some(&settle)),
            None => berth_runtime::idle::poll_resting(&mut fds),
        }
        .unwrap_or(0);
        let events: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if events.last().copied().unwrap_or(false) {
            match container::read_signal(&signals) {
                Some(libc::SIGCHLD) | Some(libc::SIGWINCH) | None => {}
                Some(signal) => container::forward(pid, signal),
            }
        }
        let (output_events, rest) = events.split_at(outputs.len());
        let mut closed = Vec::new();
        for (i, (output, stream)) in outputs.iter_mut().enumerate() {
            if !output_events[i] {
                continue;
            }
            match output.read(&mut buf) {
                Ok(n) if n > 0 => {
                    sink(*stream, &buf[..n]);
                    let frame = framed.then(|| frame_header(*stream, n));
                    clients.retain_mut(|c| {
                        frame.is_none_or(|h| c.write_all(&h).is_ok())
                            && c.write_all(&buf[..n]).is_ok()
                    });
                }
                // End of file, or EIO: every process of the container has closed it.
                _ => closed.push(i),
            }
        }
        for i in closed.into_iter().rev() {
            outputs.remove(i);
        }
        let mut gone = Vec::new();
        for (i, client) in clients.iter_mut().enumerate() {
            if ready == 0 || !rest.get(1 + i).copied().unwrap_or(false) {
                continue;
            }
            match client.read(&mut buf) {
                Ok(n) if n > 0 => {
                    // A container that closed its stdin loses what comes after.
                    if let Some(input) = input.as_mut() {
                        let _ = input.write_all(&buf[..n]);
                    }
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
            && rest[0]
            && let Ok((client, _)) = listener.accept()
        {
            // The master for the client's resizes, before any output.
            if let (true, Some(master)) = (terminal, &input) {
                let _ = berth_runtime::fdpass::send_fd(client.as_fd(), master.as_fd(), b"pty");
            }
            clients.push(client);
        }
        if exit.is_none() {
            exit = container::reap(pid).map_err(std::io::Error::other)?;
        } else if ready == 0 {
            // Ended, and nothing more to read for a while: done.
            outputs.clear();
        }
    }
    let _ = std::fs::remove_file(socket);
    Ok(exit.expect("the loop ends after the exit"))
}

/// The header of a frame of `len` bytes of `stream` (Docker's multiplexed stream format).
fn frame_header(stream: Stream, len: usize) -> [u8; 8] {
    let mut header = [0u8; 8];
    header[0] = if stream == Stream::Stdout { 1 } else { 2 };
    header[4..].copy_from_slice(&(len as u32).to_be_bytes());
    header
}

/// Connects to a relay's socket. A container is recorded as running before its supervisor,
/// re-executed as the relay, has bound the socket: an `attach` right after `run -dit` waits for
/// it (a few milliseconds; at most two seconds) instead of failing.
fn connect(socket: &Path) -> std::io::Result<UnixStream> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match UnixStream::connect(socket) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            result => return result,
        }
    }
}

/// How an attach session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The container ended (the relay closed the connection).
    Exited,
    /// The user typed the detach keys; the container runs on.
    Detached,
}

/// The client side: relays this process's standard streams to the relay at `socket` until the
/// container ends or the user types the detach keys. For a container with a `terminal`, this
/// one goes into raw mode and lends it its size; otherwise the relay's frames are split back
/// into stdout and stderr.
pub fn client(socket: &Path, terminal: bool) -> std::io::Result<Ended> {
    let mut stream = connect(socket)?;
    let stdin = std::io::stdin();
    if !terminal {
        return relay_client(&mut stream, &stdin, None);
    }
    let master = berth_runtime::fdpass::recv_fd(stream.as_fd())?;
    let window_changes =
        berth_runtime::container::signal_fd(&[libc::SIGWINCH]).map_err(std::io::Error::other)?;
    resize(&master, &stdin);
    let saved = rustix::termios::tcgetattr(&stdin).ok();
    if let Some(saved) = &saved {
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
    }
    let result = relay_client(&mut stream, &stdin, Some((&master, &window_changes)));
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

/// Splits the relay's frames back into stdout and stderr.
#[derive(Default)]
struct Demux {
    pending: Vec<u8>,
}

impl Demux {
    /// Takes `bytes` and writes every whole frame so far to its stream.
    fn feed(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.pending.extend_from_slice(bytes);
        while self.pending.len() >= 8 {
            let len = u32::from_be_bytes([
                self.pending[4],
                self.pending[5],
                self.pending[6],
                self.pending[7],
            ]) as usize;
            if self.pending.len() < 8 + len {
                break;
            }
            let payload = &self.pending[8..8 + len];
            if self.pending[0] == 2 {
                std::io::stderr().write_all(payload)?;
            } else {
                let mut stdout = std::io::stdout();
                stdout.write_all(payload)?;
                stdout.flush()?;
            }
            self.pending.drain(..8 + len);
        }
        Ok(())
    }
}

/// The client's loop. `terminal`: the container's pty master (for resizes) and the signalfd
/// that reports this terminal's window changes.
fn relay_client(
    stream: &mut UnixStream,
    stdin: &std::io::Stdin,
    terminal: Option<(&OwnedFd, &OwnedFd)>,
) -> std::io::Result<Ended> {
    let mut stdout = std::io::stdout();
    let mut demux = terminal.is_none().then(Demux::default);
    let mut buf = [0u8; 4096];
    let mut last = 0u8;
    let mut stdin_open = true;
    loop {
        let mut fds = vec![PollFd::new(&*stream, PollFlags::IN)];
        if let Some((_, window_changes)) = terminal {
            fds.push(PollFd::new(window_changes, PollFlags::IN));
        }
        let stdin_index = fds.len();
        if stdin_open {
            fds.push(PollFd::new(stdin, PollFlags::IN));
        }
        poll(&mut fds, None)?;
        let events: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if let Some((master, window_changes)) = terminal
            && events[1]
            && berth_runtime::container::read_signal(window_changes).is_some()
        {
            resize(master, stdin);
        }
        if events[0] {
            match stream.read(&mut buf) {
                Ok(n) if n > 0 => match &mut demux {
                    Some(demux) => demux.feed(&buf[..n])?,
                    None => {
                        stdout.write_all(&buf[..n])?;
                        stdout.flush()?;
                    }
                },
                _ => return Ok(Ended::Exited),
            }
        }
        if stdin_open && events.get(stdin_index) == Some(&true) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_stream_and_length() {
        assert_eq!(frame_header(Stream::Stdout, 5), [1, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(
            frame_header(Stream::Stderr, 0x1_0203),
            [2, 0, 0, 0, 0, 1, 2, 3]
        );
    }
}
