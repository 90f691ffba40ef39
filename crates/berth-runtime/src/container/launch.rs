//! The launch of a container up to its command's exec: the host side's pipes and sockets, the
//! clone, the cgroup, and the parent's half of the handshake.

use super::clone::clone_into;
use super::config::{ContainerConfig, NetworkNamespace};
use super::handshake::{CgroupEntry, release_child};
use super::inside::{ChildIo, child_main};
use super::signals::block_signals;
use super::terminal::{Pty, receive_terminal, terminal_socket};
use crate::affinity::Affinity;
use crate::cgroup::Cgroup;
use crate::cgroups::{CgroupLayout, CgroupMode};
use crate::child::{clone, is_current, setns, wait_for};
use crate::error::{RuntimeError, host};
use crate::process::StartError;
use rustix::fd::{AsFd, OwnedFd};
use std::io::Write;

/// A container whose command runs, and what berth holds of it.
pub(super) struct Launched {
    pub(super) pid: i32,
    /// Its stdout and stderr pipes (and stdin's), when captured.
    pub(super) output: Option<Pipes>,
    pub(super) pty: Option<Pty>,
    pub(super) signals: OwnedFd,
    /// Its cgroup, made with its limits.
    pub(super) cgroup: Cgroup,
    /// Its mount namespace (see `Remains`).
    pub(super) mount_namespace: Option<OwnedFd>,
}

/// Everything up to the command's exec: pty or pipes, the handshake pipes, the blocked signals,
/// `clone`, the child's setup, and the parent's half of the handshake.
pub(super) fn launch(
    config: &ContainerConfig,
    layout: &CgroupLayout,
    stdin: bool,
    capture: Capture,
    gate: Option<&OwnedFd>,
) -> Result<Launched, RuntimeError> {
    // The terminal is made by the child in the container's own /dev/pts (so that the process
    // finds its tty there, as `ttyname` looks); its master comes back over this socket pair.
    let terminal = match config.terminal {
        true => Some(terminal_socket()?),
        false => None,
    };
    let pipe = || rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(host("pipe"));
    // (read end, write end) of stdout's, stderr's and stdin's pipes.
    let captured = match capture {
        Capture::Nothing => None,
        Capture::Output => Some((pipe()?, pipe()?, None)),
        Capture::OutputAndInput => Some((pipe()?, pipe()?, Some(pipe()?))),
    };
    let (go_read, go_write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(host("pipe"))?;
    let (err_read, err_write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(host("pipe"))?;
    let network = match &config.network {
        NetworkNamespace::Join(path) => Some(
            rustix::fs::open(
                path,
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| RuntimeError::Host {
                what: "open the network namespace",
                source: e.into(),
            })?,
        ),
        _ => None,
    };
    let joins: Vec<(OwnedFd, libc::c_int)> = config
        .namespaces
        .join
        .iter()
        .map(|(kind, path)| {
            rustix::fs::open(
                path,
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map(|fd| (fd, *kind))
            .map_err(|e| RuntimeError::Host {
                what: "open a namespace to join",
                source: e.into(),
            })
        })
        .collect::<Result<_, _>>()?;
    // A PID namespace is joined by this process: its next child is born in it.
    for (fd, kind) in joins.iter().filter(|(_, kind)| *kind == libc::CLONE_NEWPID) {
        setns(fd, *kind).map_err(|e| RuntimeError::Host {
            what: "join the PID namespace",
            source: e,
        })?;
    }
    // A new user namespace is mapped by this process while the child waits for this pipe.
    let mapped = match config.namespaces.new_user() {
        true => {
            Some(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(host("pipe"))?)
        }
        false => None,
    };
    // A filter that notifies sends its listener to the agent, connected to from here.
    let agent = match &config.seccomp_listener {
        Some(listener) if config.seccomp.iter().any(crate::seccomp::notifies) => {
            Some(OwnedFd::from(
                std::os::unix::net::UnixStream::connect(&listener.path).map_err(|source| {
                    RuntimeError::Host {
                        what: "connect to the seccomp listener",
                        source,
                    }
                })?,
            ))
        }
        _ => None,
    };
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
            .map_err(host("socketpair"))?,
        ),
    };

    // The cgroup namespace is made (or joined) by the child once it is in its cgroup.
    let mut flags = config.namespaces.new & !libc::CLONE_NEWCGROUP;
    if config.network == NetworkNamespace::New {
        flags |= libc::CLONE_NEWNET;
    }
    let joined_user = joins
        .iter()
        .find(|(fd, kind)| *kind == libc::CLONE_NEWUSER && !is_current(fd, "user"));
    // On v2 the cgroup's directory is made first and the child born in it
    // (`CLONE_INTO_CGROUP`): nothing to migrate, so no wait on the kernel's cgroup lock (an RCU
    // grace period after a quiet spell); where clone3 cannot do that, the child is moved in
    // after all. Its limits are written while the child sets up, before it may run.
    let born_in = match (layout.mode, joined_user) {
        (CgroupMode::V2, None) => Some(Cgroup::make(layout, &config.cgroup_path)?),
        _ => None,
    };
    // Read before the clone: this process moves the child off its own CPU while it makes the
    // cgroup, then gives it these CPUs back (see `affinity`).
    let affinity = Affinity::of_this_process();
    let (pid, born) = match (joined_user, &born_in) {
        (Some((userns, _)), _) => (crate::userns::clone_in(userns, flags)?, false),
        (None, Some(cgroup)) => match clone_into(flags, cgroup) {
            Ok(pid) => (pid, true),
            Err(e) => {
                tracing::debug!(%e, "clone3 into the cgroup: moving the process in instead");
                match clone(flags) {
                    Ok(pid) => (pid, false),
                    Err(e) => {
                        cgroup.remove();
                        return Err(e);
                    }
                }
            }
        },
        (None, None) => (clone(flags)?, false),
    };
    if pid == 0 {
        drop(go_write);
        drop(err_read);
        let mapped = mapped.map(|(read, write)| {
            drop(write);
            read
        });
        let outputs = captured
            .as_ref()
            .map(|((_, out), (_, err), _)| (out.as_fd(), err.as_fd()));
        let input = captured
            .as_ref()
            .and_then(|(_, _, input)| input.as_ref())
            .map(|(read, _)| read.as_fd());
        let io = ChildIo {
            stdin,
            outputs,
            input,
            terminal: terminal.as_ref().map(|(_, child_end)| child_end),
            network: network.as_ref(),
            gate,
            joins: &joins,
            mapped,
            joined_user: joined_user.is_some(),
            agent: agent.as_ref(),
            cgroup_files: cgroup_files.as_ref().map(|(_, child_end)| child_end),
        };
        child_main(config, io, go_read, err_write);
    }
    if let Some(affinity) = &affinity {
        affinity.start_elsewhere(pid);
    }
    tracing::debug!(pid, born_in_cgroup = born, "cloned into new namespaces");
    drop(go_read);
    drop(err_write);
    let terminal = terminal.map(|(parent_end, _)| parent_end);
    let cgroup_files = cgroup_files.map(|(parent_end, _)| parent_end);
    let abandon = |e: RuntimeError| {
        // SAFETY: kill our own child, then reap it.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = wait_for(pid);
        e
    };
    if let Some((read, write)) = mapped {
        drop(read);
        let ns = &config.namespaces;
        let written = crate::userns::write_maps(pid, &ns.uid_map, &ns.gid_map).and_then(|()| {
            std::fs::File::from(write)
                .write_all(b"1")
                .map_err(|source| RuntimeError::Host {
                    what: "release the mapped process",
                    source,
                })
        });
        if let Err(e) = written {
            let e = abandon(e);
            if let Some(cgroup) = &born_in {
                cgroup.remove();
            }
            return Err(e);
        }
    }
    let mut cgroup = match born_in {
        Some(cgroup) => cgroup,
        None => Cgroup::make(layout, &config.cgroup_path).map_err(|e| abandon(e.into()))?,
    };
    if let Err(e) = cgroup.apply_limits(layout, &config.limits) {
        let e = abandon(e.into());
        cgroup.remove();
        return Err(e);
    }
    tracing::debug!(path = config.cgroup_path, "cgroup created with its limits");
    let chosen = match born {
        true => Ok((CgroupEntry::Born, None)),
        false => CgroupEntry::choose(&cgroup),
    };
    let (entry, join) = match chosen {
        Ok(chosen) => chosen,
        Err(e) => {
            cgroup.remove();
            return Err(abandon(e));
        }
    };
    // The cgroup work that the child's setup overlapped is done, and this process waits from
    // here on: the child may run on any of berth's CPUs again, this one too.
    if let Some(affinity) = &affinity {
        affinity.give_back(pid);
    }
    // On v1 the child moves itself in with the `tasks` files sent here.
    if let (Some(join), Some(socket)) = (&join, &cgroup_files)
        && let Err(e) = crate::fdpass::send_fds(socket.as_fd(), &join.files(), b"cgroup")
    {
        // The child failed first (its verdict says why) or cannot be reached: it ends here
        // either way, and release_child reaps it.
        tracing::debug!(%e, "the cgroup's files did not reach the process");
        // SAFETY: kill our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    drop(join);
    let output = captured.map(|((stdout, _), (stderr, _), input)| Pipes {
        stdout,
        stderr,
        stdin: input.map(|(_, write)| write),
    });
    // Opened while the process waits for the go-ahead: it cannot have exited yet.
    let mount_namespace = rustix::fs::open(
        format!("/proc/{pid}/ns/mnt").as_str(),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok();
    let hooks = &config.hooks;
    let released = release_child(pid, entry, go_write, err_read, 125, &mut || {
        crate::hooks::run(&hooks.prestart, &hooks.state_with(pid, "created"))
            .and_then(|()| {
                crate::hooks::run(&hooks.create_runtime, &hooks.state_with(pid, "creating"))
            })
            .map_err(|e| {
                StartError {
                    code: 125,
                    message: e,
                }
                .into()
            })
    });
    // The process made its terminal before its exec (or before it waits at the gate).
    let pty = match (released, terminal) {
        (Ok(()), Some(socket)) => receive_terminal(&socket).map(Some).map_err(abandon),
        (Ok(()), None) => Ok(None),
        (Err(e), _) => Err(e),
    };
    let pty = match pty {
        Ok(pty) => pty,
        Err(e) => {
            cgroup.remove();
            return Err(e);
        }
    };
    tracing::debug!(pid, "the container's process runs its command");
    Ok(Launched {
        pid,
        output,
        pty,
        signals,
        cgroup,
        mount_namespace,
    })
}

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

/// A container's standard streams on pipes: berth's ends.
pub struct Pipes {
    /// The read end of its stdout.
    pub stdout: OwnedFd,
    /// The read end of its stderr.
    pub stderr: OwnedFd,
    /// The write end of its stdin, when it keeps stdin open (`-i`).
    pub stdin: Option<OwnedFd>,
}
