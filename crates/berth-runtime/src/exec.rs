//! `exec`: another process in a running container. It joins every namespace and the cgroup of
//! the container's init, and gets the container's rlimits, capabilities, seccomp filter and
//! no_new_privs, through the same steps `run` takes.

use crate::cgroup::Cgroup;
use crate::child::{dup_onto, is_current, report_and_exit, setns, unblock_signals};
use crate::container::guard::ChildGuard;
use crate::container::handshake::{CgroupEntry, join_cgroup_self, release_child};
use crate::container::inside::become_process;
use crate::container::terminal::{Pty, open_terminal, receive_terminal, terminal_socket};
use crate::container::wait::wait_forwarding;
use crate::container::{ContainerConfig, RuntimeError, block_signals};
use crate::process::{self, StartError};
use berth_error::{Context, IoContext};
use rustix::fd::{AsFd, OwnedFd};
use std::io::Read;

/// The namespaces an exec'd process joins, the mount namespace last (it changes the root).
const NAMESPACES: [(&str, libc::c_int); 5] = [
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
];

fn open_ns(pid: i32, name: &str) -> Result<OwnedFd, IoContext> {
    rustix::fs::open(
        format!("/proc/{pid}/ns/{name}"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .context("open the container's namespaces")
}

/// Runs `config.args` in the container whose init is `target`, in `cgroup`; returns its exit
/// code. `config` is the container's, with the process's args, env, cwd and user.
pub fn exec(
    target: i32,
    config: &ContainerConfig,
    cgroup: &Cgroup,
    stdin: bool,
    on_started: &mut dyn FnMut(i32),
) -> Result<i32, RuntimeError> {
    let spawned = spawn(target, config, cgroup, stdin)?;
    on_started(spawned.pid);
    match &spawned.pty {
        Some(pty) => pty.relay(spawned.pid, &spawned.signals, stdin),
        None => wait_forwarding(spawned.pid, &spawned.signals),
    }
}

/// Starts `config.args` in the container as `exec` does, but returns at once with its pid
/// (and its terminal's master, for `config.terminal`): the process outlives this one when
/// `config.outlive_parent` (OCI `exec --detach`).
pub fn exec_detached(
    target: i32,
    config: &ContainerConfig,
    cgroup: &Cgroup,
) -> Result<(i32, Option<OwnedFd>), RuntimeError> {
    let spawned = spawn(target, config, cgroup, true)?;
    unblock_signals();
    Ok((spawned.pid, spawned.pty.map(|pty| pty.master)))
}

/// A process started in a container, and what this one holds of it.
struct Spawned {
    pid: i32,
    pty: Option<Pty>,
    signals: OwnedFd,
}

fn spawn(
    target: i32,
    config: &ContainerConfig,
    cgroup: &Cgroup,
    stdin: bool,
) -> Result<Spawned, RuntimeError> {
    let mut namespaces: Vec<(OwnedFd, libc::c_int)> = Vec::new();
    for (name, kind) in NAMESPACES {
        let fd = open_ns(target, name)?;
        if !is_current(&fd, name) {
            namespaces.push((fd, kind));
        }
    }
    let pid_ns = open_ns(target, "pid")?;
    // A user namespace of the container's own is joined first: the others belong to it.
    let user_ns = Some(open_ns(target, "user")?).filter(|fd| !is_current(fd, "user"));
    // A terminal is made by the child inside the container (its /dev/pts, so that the
    // process finds its own tty there); the master comes back over this socket pair.
    let terminal = match config.terminal {
        true => Some(terminal_socket()?),
        false => None,
    };
    let (go_read, go_write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("pipe")?;
    let (err_read, err_write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("pipe")?;
    let signals = block_signals()?;
    let (entry, self_join) = CgroupEntry::choose(cgroup)?;
    // Joining a PID namespace moves only the children made afterwards.
    setns(&pid_ns, libc::CLONE_NEWPID).context("join the container's PID namespace")?;
    // SAFETY: fork in a single-threaded process; the child never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(berth_error::IoContext::new("fork", std::io::Error::last_os_error()).into());
    }
    if pid == 0 {
        drop(go_write);
        drop(err_read);
        let terminal = terminal.as_ref().map(|(_, child_end)| child_end);
        if let Some(join) = &self_join
            && let Err(e) = join_cgroup_self(join, &err_write)
        {
            report_and_exit(Some(err_write), &e);
        }
        let error = match child(
            config,
            user_ns.as_ref(),
            &namespaces,
            terminal,
            stdin,
            go_read,
        ) {
            Ok(()) => process::exec(&config.args, &config.env),
            Err(e) => e,
        };
        report_and_exit(Some(err_write), &error);
    }
    drop(go_read);
    drop(err_write);
    let terminal = terminal.map(|(parent_end, _)| parent_end);
    drop(self_join);
    // Killed and reaped should the handshake fail; once the command runs, it is the caller's.
    let child = ChildGuard::new(pid);
    release_child(pid, entry, go_write, err_read, 126, &mut || Ok(()))?;
    let pid = child.keep();
    let pty = terminal
        .map(|socket| receive_terminal(&socket))
        .transpose()?;
    Ok(Spawned { pid, pty, signals })
}

fn child(
    config: &ContainerConfig,
    user_ns: Option<&OwnedFd>,
    namespaces: &[(OwnedFd, libc::c_int)],
    terminal: Option<&OwnedFd>,
    stdin: bool,
    go: OwnedFd,
) -> Result<(), StartError> {
    // Until its execve this process is a copy of the berth binary inside the container's PID
    // namespace: non-dumpable, its /proc/PID/exe is closed to the container's processes (the
    // runc CVE-2019-5736 class). execve makes the command dumpable again.
    // SAFETY: prctl with PR_SET_DUMPABLE takes plain integers.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if !config.outlive_parent {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes plain integers.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    }
    unblock_signals();
    let mut byte = [0u8; 1];
    std::fs::File::from(go)
        .read_exact(&mut byte)
        .context("berth went away")?;
    if let Some(fd) = user_ns {
        setns(fd, libc::CLONE_NEWUSER).context("join the container's user namespace")?;
        crate::userns::become_root()?;
    }
    for (fd, kind) in namespaces {
        setns(fd, *kind).context("join the container's namespaces")?;
    }
    rustix::process::setsid().context("setsid")?;
    match terminal {
        // The container's /dev/ptmx opens a pty of the container's own /dev/pts.
        Some(socket) => open_terminal(socket, false)?,
        None if !stdin => {
            let null = rustix::fs::open(
                "/dev/null",
                rustix::fs::OFlags::RDONLY,
                rustix::fs::Mode::empty(),
            )
            .context("open /dev/null")?;
            dup_onto(null.as_fd(), 0)?;
        }
        None => {}
    }
    become_process(config, None)
}
