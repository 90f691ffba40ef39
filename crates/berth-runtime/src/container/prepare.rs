//! The host side's preparation before the clone: the pipes and sockets of the handshake, the
//! streams and the terminal, the namespaces to join opened (a PID namespace joined), the
//! seccomp agent connected, and the forwarded signals blocked. Every resource is a descriptor
//! (closed when dropped); after the clone each side takes its ends (`into_parent`, and the
//! child's in `inside`).

use super::config::{ContainerConfig, NetworkNamespace};
use super::signals::block_signals;
use super::terminal::terminal_socket;
use crate::cgroups::{CgroupLayout, CgroupMode};
use crate::child::{is_current, setns};
use crate::error::RuntimeError;
use berth_error::Context;
use rustix::fd::OwnedFd;

/// Which of the container's standard streams go to pipes that berth holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Capture {
    /// None: they are berth's own (or the pty's).
    Nothing,
    /// Stdout and stderr; stdin is /dev/null.
    Output,
    /// Stdout, stderr and stdin (`-d -i`).
    OutputAndInput,
}

/// A pipe's (read end, write end), or a socket pair's (berth's end, the child's end).
pub(super) type Pair = (OwnedFd, OwnedFd);

/// The pipes of captured streams.
pub(super) struct Captured {
    /// Stdout's.
    pub(super) stdout: Pair,
    /// Stderr's.
    pub(super) stderr: Pair,
    /// Stdin's, when it is kept open.
    pub(super) stdin: Option<Pair>,
}

/// Everything made on the host side before the clone; both processes get a copy.
pub(super) struct Prepared {
    /// With a terminal: the socket pair its master comes back over. The terminal is made by
    /// the child in the container's own /dev/pts (so that the process finds its tty there,
    /// as `ttyname` looks).
    pub(super) terminal: Option<Pair>,
    /// The pipes of captured streams.
    pub(super) captured: Option<Captured>,
    /// The go-ahead pipe (berth writes, the child reads).
    pub(super) go: Pair,
    /// The verdict (error) pipe (the child writes, berth reads).
    pub(super) verdict: Pair,
    /// The network namespace to join.
    pub(super) network: Option<OwnedFd>,
    /// The namespaces to join, with their `CLONE_NEW*` types.
    pub(super) joins: Vec<(OwnedFd, libc::c_int)>,
    /// With a new user namespace: the pipe that releases the child once berth mapped it.
    pub(super) mapped: Option<Pair>,
    /// The connection to the seccomp agent, for a filter that notifies.
    pub(super) agent: Option<OwnedFd>,
    /// The signalfd of the forwarded signals, blocked in this process.
    pub(super) signals: OwnedFd,
    /// On v1 hierarchies: the socket pair the cgroup's `tasks` files go to the child over (it
    /// moves itself in).
    pub(super) cgroup_files: Option<Pair>,
}

/// Berth's ends of what was prepared, after the clone.
pub(super) struct ParentEnds {
    /// The socket the terminal's master arrives on.
    pub(super) terminal: Option<OwnedFd>,
    /// Berth's ends of the captured streams.
    pub(super) output: Option<Pipes>,
    /// The go-ahead's write end.
    pub(super) go: OwnedFd,
    /// The verdict's read end.
    pub(super) verdict: OwnedFd,
    /// The write end that releases a mapped child.
    pub(super) mapped: Option<OwnedFd>,
    /// The signalfd of the forwarded signals.
    pub(super) signals: OwnedFd,
    /// Where the cgroup's `tasks` files go (v1).
    pub(super) cgroup_files: Option<OwnedFd>,
}

/// A container's standard streams on pipes: berth's ends.
pub struct Pipes {
    /// The read end of its stdout.
    pub stdout: OwnedFd,
    /// The read end of its stderr.
    pub stderr: OwnedFd,
    /// The write end of its stdin, when it keeps stdin open (`-i`).
    pub stdin: Option<OwnedFd>,
}

fn pipe() -> Result<Pair, RuntimeError> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("pipe")?)
}

impl Prepared {
    /// Makes what the launch of `config`'s container needs before its clone.
    pub(super) fn new(
        config: &ContainerConfig,
        layout: &CgroupLayout,
        capture: Capture,
    ) -> Result<Prepared, RuntimeError> {
        let terminal = match config.terminal {
            true => Some(terminal_socket()?),
            false => None,
        };
        let captured = match capture {
            Capture::Nothing => None,
            Capture::Output => Some(Captured {
                stdout: pipe()?,
                stderr: pipe()?,
                stdin: None,
            }),
            Capture::OutputAndInput => Some(Captured {
                stdout: pipe()?,
                stderr: pipe()?,
                stdin: Some(pipe()?),
            }),
        };
        let go = pipe()?;
        let verdict = pipe()?;
        let network = match &config.network {
            NetworkNamespace::Join(path) => {
                Some(open_namespace(path).context("open the network namespace")?)
            }
            _ => None,
        };
        let joins = open_joins(config)?;
        // A new user namespace is mapped by this process while the child waits for this pipe.
        let mapped = match config.namespaces.new_user() {
            true => Some(pipe()?),
            false => None,
        };
        let agent = connect_agent(config)?;
        let signals = block_signals()?;
        // The cgroup is made while the child sets up its file system. On v1 hierarchies its
        // `tasks` files then come to the child over this socket and it moves itself in.
        let cgroup_files = match layout.mode {
            CgroupMode::V2 => None,
            CgroupMode::V1 | CgroupMode::Hybrid => Some(
                rustix::net::socketpair(
                    rustix::net::AddressFamily::UNIX,
                    rustix::net::SocketType::SEQPACKET,
                    rustix::net::SocketFlags::CLOEXEC,
                    None,
                )
                .context("socketpair")?,
            ),
        };
        Ok(Prepared {
            terminal,
            captured,
            go,
            verdict,
            network,
            joins,
            mapped,
            agent,
            signals,
            cgroup_files,
        })
    }

    /// The user namespace joined by path, unless it is this process's own.
    pub(super) fn joined_user(&self) -> Option<&OwnedFd> {
        self.joins
            .iter()
            .find(|(fd, kind)| *kind == libc::CLONE_NEWUSER && !is_current(fd, "user"))
            .map(|(fd, _)| fd)
    }

    /// Berth's ends, the child's closed.
    pub(super) fn into_parent(self) -> ParentEnds {
        ParentEnds {
            terminal: self.terminal.map(|(parent_end, _)| parent_end),
            output: self.captured.map(|captured| Pipes {
                stdout: captured.stdout.0,
                stderr: captured.stderr.0,
                stdin: captured.stdin.map(|(_, write)| write),
            }),
            go: self.go.1,
            verdict: self.verdict.0,
            mapped: self.mapped.map(|(_, write)| write),
            signals: self.signals,
            cgroup_files: self.cgroup_files.map(|(parent_end, _)| parent_end),
        }
    }
}

fn open_namespace(path: &std::path::Path) -> Result<OwnedFd, rustix::io::Errno> {
    rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
}

/// Opens the namespaces to join; a PID namespace is joined by this process at once: its next
/// child is born in it.
fn open_joins(config: &ContainerConfig) -> Result<Vec<(OwnedFd, libc::c_int)>, RuntimeError> {
    let joins: Vec<(OwnedFd, libc::c_int)> = config
        .namespaces
        .join
        .iter()
        .map(|(kind, path)| {
            open_namespace(path)
                .map(|fd| (fd, *kind))
                .context("open a namespace to join")
        })
        .collect::<Result<_, _>>()?;
    for (fd, kind) in joins.iter().filter(|(_, kind)| *kind == libc::CLONE_NEWPID) {
        setns(fd, *kind).context("join the PID namespace")?;
    }
    Ok(joins)
}

/// A filter that notifies sends its listener to the agent, connected to from here.
fn connect_agent(config: &ContainerConfig) -> Result<Option<OwnedFd>, RuntimeError> {
    Ok(match &config.seccomp_listener {
        Some(listener) if config.seccomp.iter().any(crate::seccomp::notifies) => {
            Some(OwnedFd::from(
                std::os::unix::net::UnixStream::connect(&listener.path)
                    .context("connect to the seccomp listener")?,
            ))
        }
        _ => None,
    })
}
