//! Running a container: `clone` into new namespaces, the parent/child handshake, the child's
//! setup up to `execve`, then the parent's wait with signals forwarded and the pty relayed.
//!
//! The parent creates the cgroup with its limits first, then clones. The child waits on a pipe
//! until the parent has moved it into the cgroup, then enters a cgroup namespace of its own,
//! builds its file system and credentials, and execs. Any setup failure is written to a
//! close-on-exec error pipe, so the parent gets the message (and Docker's exit code) instead of
//! a silent exit; end of file on that pipe means the exec succeeded. Nothing here starts a
//! thread: `clone` without a new stack is a fork, which is sound in a single-threaded process.

use crate::affinity::Affinity;
use crate::cgroup::{Cgroup, CgroupError, Limits, SelfJoin};
use crate::cgroups::{CgroupLayout, CgroupMode};
use crate::process::{self, CapabilitySets, Rlimit, StartError};
use crate::rootfs::{self, MountSpec, Overlay};
use crate::userns::IdMap;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Everything the runtime needs to start one container, in plain form (see `spec`).
#[derive(Debug, Clone, Default)]
pub struct ContainerConfig {
    /// The container id, for messages.
    pub id: String,
    /// The root file system's directory (a mount point once set up).
    pub rootfs: PathBuf,
    /// Mount an overlay there first.
    pub overlay: Option<Overlay>,
    /// The UTS hostname.
    pub hostname: Option<String>,
    /// The UTS (NIS) domain name.
    pub domainname: Option<String>,
    /// Mounts, in order, relative to the rootfs.
    pub mounts: Vec<MountSpec>,
    /// Remount the root read-only at the end.
    pub readonly_root: bool,
    /// The propagation of the container's root mount (`linux.rootfsPropagation`), set once
    /// it is the root.
    pub rootfs_propagation: Option<rustix::mount::MountPropagationFlags>,
    /// Paths hidden from the container.
    pub masked_paths: Vec<String>,
    /// Paths made read-only.
    pub readonly_paths: Vec<String>,
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `NAME=value` environment.
    pub env: Vec<String>,
    /// Working directory (created when missing, as Docker does).
    pub cwd: String,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// The process's umask (the runtime's own, 022 as a rule, when unset).
    pub umask: Option<u32>,
    /// Capability sets.
    pub capabilities: CapabilitySets,
    /// Resource limits.
    pub rlimits: Vec<Rlimit>,
    /// Set no_new_privs.
    pub no_new_privileges: bool,
    /// The seccomp filters, loaded in order (none: unconfined).
    pub seccomp: Vec<seccompiler::BpfProgram>,
    /// Where a filter with `SCMP_ACT_NOTIFY` rules sends its listener (`linux.seccomp`'s
    /// `listenerPath` and `listenerMetadata`).
    pub seccomp_listener: Option<SeccompListener>,
    /// The cgroup, relative to the hierarchy roots (`berth/<id>`).
    pub cgroup_path: String,
    /// Its limits.
    pub limits: Limits,
    /// Give the process a pseudo-terminal.
    pub terminal: bool,
    /// Run berth's small init as PID 1, with the command as its child.
    pub init: bool,
    /// The network namespace.
    pub network: NetworkNamespace,
    /// The other namespaces: which are new (`CLONE_NEW*` flags of `NEWNS`, `NEWUTS`,
    /// `NEWIPC`, `NEWPID`, `NEWCGROUP`) and which are joined by path; the rest are the host's.
    pub namespaces: Namespaces,
    /// Outlive the process that starts it (OCI `create`); otherwise it dies with that
    /// process (`PR_SET_PDEATHSIG`).
    pub outlive_parent: bool,
    /// Namespaced sysctls (`net.ipv4.ip_forward` = `1`), written after /proc is mounted.
    pub sysctls: Vec<(String, String)>,
    /// The process's OOM score adjustment.
    pub oom_score_adj: Option<i32>,
    /// Descriptors 3 to 3+N-1 stay open for the process (OCI `--preserve-fds`).
    pub preserve_fds: u32,
    /// The spec's hooks that run while the container is made and started.
    pub hooks: HookSet,
    /// Device nodes to create (`linux.devices`).
    pub devices: Vec<rootfs::DeviceNode>,
}

/// The hooks of a container's creation and start, and the state they are given.
#[derive(Debug, Clone, Default)]
pub struct HookSet {
    /// `prestart`: run by the parent before the child pivots, with the status `created`.
    pub prestart: Vec<oci_spec::runtime::Hook>,
    /// `createRuntime`: run by the parent after `prestart`, with the status `creating`.
    pub create_runtime: Vec<oci_spec::runtime::Hook>,
    /// `createContainer`: run by the child in its namespaces before it pivots.
    pub create_container: Vec<oci_spec::runtime::Hook>,
    /// `startContainer`: run by the child before its command.
    pub start_container: Vec<oci_spec::runtime::Hook>,
    /// The OCI state (id, bundle, annotations) that `pid` and `status` complete.
    pub state: serde_json::Value,
}

impl HookSet {
    /// The state JSON for a hook, with `pid` and `status`.
    pub fn state_with(&self, pid: i32, status: &str) -> String {
        let mut state = self.state.clone();
        if state.is_object() {
            state["pid"] = pid.into();
            state["status"] = status.into();
        }
        state.to_string()
    }
}

/// The unix socket of a seccomp supervisor (an agent) and what to tell it.
#[derive(Debug, Clone, Default)]
pub struct SeccompListener {
    /// The socket's path.
    pub path: PathBuf,
    /// Opaque text for the agent.
    pub metadata: String,
}

/// A connection to a seccomp agent and the message that goes with the listener.
pub(crate) struct Notify<'a> {
    socket: BorrowedFd<'a>,
    message: String,
}

/// A container's namespaces besides the network's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// `CLONE_NEW*` flags of the namespaces made new.
    pub new: libc::c_int,
    /// Namespaces joined: their `CLONE_NEW*` type and path.
    pub join: Vec<(libc::c_int, PathBuf)>,
    /// A new user namespace's uid mappings.
    pub uid_map: Vec<IdMap>,
    /// A new user namespace's gid mappings.
    pub gid_map: Vec<IdMap>,
}

impl Namespaces {
    /// Whether the container has the namespace `kind` (a `CLONE_NEW*` flag) apart from the
    /// host's: a new one or one joined by path.
    pub fn has(&self, kind: libc::c_int) -> bool {
        self.new & kind != 0 || self.join.iter().any(|(k, _)| *k == kind)
    }

    /// Whether the container gets a user namespace of its own.
    pub fn new_user(&self) -> bool {
        self.new & libc::CLONE_NEWUSER != 0
    }

    /// The host uid and gid of the container's root: the mapped ones in a new user namespace,
    /// else 0.
    pub fn host_root(&self) -> (u32, u32) {
        match self.new_user() {
            true => (
                IdMap::to_host(&self.uid_map, 0).unwrap_or(0),
                IdMap::to_host(&self.gid_map, 0).unwrap_or(0),
            ),
            false => (0, 0),
        }
    }
}

/// Where a container's network comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// A new, empty namespace with only `lo` up.
    #[default]
    New,
    /// The namespace at this path (a prepared one, or another container's).
    Join(PathBuf),
    /// The host's own.
    Host,
}

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

/// Where a foreground container's standard streams go: stdout and stderr are berth's own (or
/// the pty's); stdin is berth's or /dev/null. (Detached containers: `launch_detached`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdioMode {
    /// Give the container this process's stdin (else /dev/null).
    pub stdin: bool,
}

/// How the container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// Exit code; 128 + N when killed by signal N.
    pub code: i32,
    /// The kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
}

/// Starting the container failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The cgroup could not be made.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// A host-side system call failed.
    #[error("{what}: {source}")]
    Host {
        /// What was being done.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The container's own setup or exec failed (its message and Docker's code).
    #[error(transparent)]
    Start(#[from] StartError),
}

pub(crate) fn host(what: &'static str) -> impl FnOnce(rustix::io::Errno) -> RuntimeError {
    move |e| RuntimeError::Host {
        what,
        source: e.into(),
    }
}

/// The signals berth relays to the container.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// A container that ran to its end.
pub struct Ended {
    /// How it ended.
    pub exit: Exit,
    /// What is left of it for the caller to remove, which it may do after it has reported the
    /// exit.
    pub remains: Remains,
}

/// What a container that ended leaves: its cgroup, empty, and its mount namespace, held open
/// by this process. Without the hold, the kernel unmounts everything in the namespace (the
/// overlay, /proc, /dev, /sys, the cgroup file systems, the masked paths: some thirty mounts,
/// and a wait for an RCU grace period) as part of the container's exit, before its parent
/// learns the exit code.
pub struct Remains {
    /// The cgroup.
    pub cgroup: Cgroup,
    /// The mount namespace, where it could be opened.
    pub mount_namespace: Option<OwnedFd>,
}

impl Remains {
    /// Unmounts everything in the mount namespace (closing the last hold of it) and removes
    /// the cgroup.
    pub fn remove(self) {
        drop(self.mount_namespace);
        self.cgroup.remove();
    }
}

/// Runs the container to its end: returns how it ended, or why it could not start (its cgroup
/// then removed). `on_started` is called with the container's host pid once it runs.
pub fn run(
    config: &ContainerConfig,
    layout: &CgroupLayout,
    stdio: StdioMode,
    on_started: &mut dyn FnMut(i32),
) -> Result<Ended, RuntimeError> {
    let result = launch(config, layout, stdio.stdin, Capture::Nothing, None).and_then(|launched| {
        let exit = wait_launched(&launched, stdio, on_started);
        let remains = Remains {
            cgroup: launched.cgroup,
            mount_namespace: launched.mount_namespace,
        };
        match exit {
            Ok(exit) => Ok(Ended { exit, remains }),
            Err(e) => {
                remains.remove();
                Err(e)
            }
        }
    });
    undo_host_mounts(config);
    result
}

fn wait_launched(
    launched: &Launched,
    stdio: StdioMode,
    on_started: &mut dyn FnMut(i32),
) -> Result<Exit, RuntimeError> {
    let pid = launched.pid;
    on_started(pid);
    let code = match &launched.pty {
        Some(pty) => pty.relay(pid, &launched.signals, stdio.stdin)?,
        None => wait_forwarding(pid, &launched.signals)?,
    };
    Ok(Exit {
        code,
        oom_killed: launched.cgroup.oom_killed(),
    })
}

/// A container whose command runs, and what berth holds of it.
struct Launched {
    pid: i32,
    /// Its stdout and stderr pipes (and stdin's), when captured.
    output: Option<Pipes>,
    pty: Option<Pty>,
    signals: OwnedFd,
    /// Its cgroup, made with its limits.
    cgroup: Cgroup,
    /// Its mount namespace (see `Remains`).
    mount_namespace: Option<OwnedFd>,
}

/// Everything up to the command's exec: pty or pipes, the handshake pipes, the blocked signals,
/// `clone`, the child's setup, and the parent's half of the handshake.
fn launch(
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
        crate::exec::setns(fd, *kind).map_err(|e| RuntimeError::Host {
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
        .find(|(fd, kind)| *kind == libc::CLONE_NEWUSER && !crate::exec::is_current(fd, "user"));
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

/// `clone_args` of `clone3(2)`, up to `cgroup` (the kernel's `CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7): the child starts in the cgroup2 directory `cgroup`.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// A fork with namespace `flags`, as `clone`, whose child is born in the v2 `cgroup`. Fails
/// where the kernel (before 5.7) or a seccomp filter around berth refuses clone3, and the
/// caller falls back.
fn clone_into(flags: libc::c_int, cgroup: &Cgroup) -> Result<i32, RuntimeError> {
    let dir = cgroup.open_v2_dir()?;
    let args = CloneArgs {
        flags: u64::from(flags as u32) | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: dir.as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    // SAFETY: as in `clone`: no new stack (stack and stack_size 0: the child runs on a copy of
    // this one, as after fork) in a single-threaded process; `args` outlives the call and its
    // size is passed with it.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid < 0 {
        return Err(RuntimeError::Host {
            what: "clone3",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(pid as i32)
}

/// `clone` with namespace flags and no new stack: a fork. Returns 0 in the child.
pub(crate) fn clone(flags: libc::c_int) -> Result<i32, RuntimeError> {
    // SAFETY: clone without a new stack is fork with namespace flags. The process is
    // single-threaded (no thread is started before this point), so the child's copy of memory
    // is consistent; the caller's child never returns from `child_main`.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(RuntimeError::Host {
            what: "clone",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(pid as i32)
}

/// Which of the container's standard streams go to pipes that berth holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
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

/// What berth holds of a detached container's streams.
pub enum DetachedIo {
    /// Its pipes.
    Pipes(Pipes),
    /// The master side of its pseudo-terminal (`-t`): output to read, input to write.
    Terminal(OwnedFd),
}

/// Starts a container with its output on pipes (or a pty with `-t`) and returns at once with its
/// pid: this process stays its parent and must reap it (`wait_detached` or `reap`), possibly
/// after an exec into a leaner program. The cgroup stays until then. With `open_stdin` (and no
/// terminal) its stdin is a pipe too, whose write end comes back with the others.
pub fn launch_detached(
    config: &ContainerConfig,
    layout: &CgroupLayout,
    open_stdin: bool,
) -> Result<(i32, DetachedIo), RuntimeError> {
    let capture = match (config.terminal, open_stdin) {
        (true, _) => Capture::Nothing,
        (false, false) => Capture::Output,
        (false, true) => Capture::OutputAndInput,
    };
    match launch(config, layout, config.terminal, capture, None) {
        Ok(Launched {
            pid,
            output: Some(pipes),
            ..
        }) => Ok((pid, DetachedIo::Pipes(pipes))),
        Ok(Launched {
            pid,
            pty: Some(pty),
            ..
        }) => Ok((pid, DetachedIo::Terminal(pty.master))),
        Ok(_) => unreachable!("launched with pipes or a pty"),
        Err(e) => {
            undo_host_mounts(config);
            Err(e)
        }
    }
}

/// OCI `create`: sets the container up (its cgroup made) up to the exec, its process waiting
/// at `gate` (a FIFO) until `start` opens it, and returns its pid and, for a terminal, the
/// pty's master. The process inherits this one's standard streams (unless it has a terminal)
/// and outlives it.
pub fn create_gated(
    config: &ContainerConfig,
    layout: &CgroupLayout,
    gate: &Path,
) -> Result<(i32, Option<OwnedFd>), RuntimeError> {
    let gate = rustix::fs::open(
        gate,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(host("open the start gate"))?;
    match launch(config, layout, true, Capture::Nothing, Some(&gate)) {
        Ok(launched) => {
            unblock_signals();
            Ok((launched.pid, launched.pty.map(|pty| pty.master)))
        }
        Err(e) => {
            undo_host_mounts(config);
            Err(e)
        }
    }
}

/// A container without a mount namespace of its own made its mounts in the host's: detach
/// them once it has ended (or failed to start).
pub fn undo_host_mounts(config: &ContainerConfig) {
    if !config.namespaces.has(libc::CLONE_NEWNS)
        && let Err(e) = rootfs::unmount_below(&config.rootfs)
    {
        tracing::warn!(%e, "the container's mounts could not all be removed");
    }
}

/// The exit code of child `pid` once it has ended (128 + N for a signal), without waiting.
pub fn reap(pid: i32) -> Result<Option<i32>, RuntimeError> {
    try_wait(pid)
}

/// After a detached container's end: whether the OOM killer struck, and its cgroup removed.
pub fn finish_cgroup(layout: &CgroupLayout, cgroup_path: &str) -> bool {
    let cgroup = Cgroup::at(layout, cgroup_path);
    let oom_killed = cgroup.oom_killed();
    cgroup.remove();
    oom_killed
}

/// Waits for a container started by `launch_detached` (this process being its parent), its
/// output going to `sink`; returns its exit code. Its cgroup is left to `finish_cgroup`: what
/// this touches before the wait stays touched for as long as the container runs.
pub fn wait_detached(
    pid: i32,
    out: OwnedFd,
    err: OwnedFd,
    sink: &mut OutputSink<'_>,
) -> Result<i32, RuntimeError> {
    let signals = block_signals()?;
    wait_capturing(pid, &signals, out, err, sink)
}

/// How a new process gets into its cgroup.
pub(crate) enum CgroupEntry<'a> {
    /// It was born in its cgroup (v2, `CLONE_INTO_CGROUP`).
    Born,
    /// This process moves it (v2).
    ByParent(&'a Cgroup),
    /// It moves itself into the v1 hierarchies, then says `+` on the verdict pipe (see
    /// `SelfJoin`); this process adds it to the cgroup's cgroup2 part on a hybrid host.
    BySelf(&'a Cgroup),
}

impl CgroupEntry<'_> {
    /// How a process made now gets into `cgroup`, with the files it needs for moving itself.
    pub(crate) fn choose(
        cgroup: &Cgroup,
    ) -> Result<(CgroupEntry<'_>, Option<SelfJoin>), RuntimeError> {
        Ok(match cgroup.open_self_join()? {
            Some(join) => (CgroupEntry::BySelf(cgroup), Some(join)),
            None => (CgroupEntry::ByParent(cgroup), None),
        })
    }
}

/// The child moves itself into its cgroup with the `tasks` files it was given and says so on
/// the verdict pipe (`+`).
pub(crate) fn join_cgroup_self(join: &SelfJoin, verdict: &OwnedFd) -> Result<(), StartError> {
    join.join().map_err(setup_err("join the cgroup"))?;
    let _ = rustix::io::write(verdict, b"+");
    Ok(())
}

/// The parent's half of the handshake: `pid` into its cgroup (or word that it moved itself),
/// then the go-ahead, then its verdict from the error pipe (end of file: it exec'd). A child
/// that failed before reading the go-ahead still says why on that pipe, which matters more than
/// the broken pipe here. On failure the child is killed and reaped; a message without a code
/// gets `default_code`.
pub(crate) fn release_child(
    pid: i32,
    entry: CgroupEntry<'_>,
    go: OwnedFd,
    verdict: OwnedFd,
    default_code: i32,
    before_go: &mut dyn FnMut() -> Result<(), RuntimeError>,
) -> Result<(), RuntimeError> {
    let mut verdict = std::fs::File::from(verdict);
    let read_failed = |e| RuntimeError::Host {
        what: "read the process's setup result",
        source: e,
    };
    // The verdict: end of file (it exec'd), `=` (it waits at its start gate) or
    // `code:message`; after a `+` when it moved itself into its cgroup.
    let mut message = String::new();
    let joined = match entry {
        CgroupEntry::Born => Ok(true),
        CgroupEntry::ByParent(cgroup) => cgroup.add(pid).map(|()| true).map_err(RuntimeError::from),
        CgroupEntry::BySelf(cgroup) => {
            let mut first = [0u8; 1];
            match verdict.read(&mut first) {
                Ok(1) if first[0] == b'+' => cgroup
                    .add_to_unified(pid)
                    .map(|()| true)
                    .map_err(RuntimeError::from),
                Ok(n) => {
                    message.push_str(&String::from_utf8_lossy(&first[..n]));
                    Ok(false)
                }
                Err(e) => Err(read_failed(e)),
            }
        }
    };
    let started = joined.and_then(|joined| {
        let sent = if joined {
            before_go()?;
            // The go-ahead carries the child's pid as the host sees it (for its hooks' state).
            std::fs::File::from(go).write_all(pid.to_string().as_bytes())
        } else {
            Ok(())
        };
        let mut chunk = [0u8; 4096];
        while message != "=" {
            let n = verdict.read(&mut chunk).map_err(read_failed)?;
            if n == 0 {
                break;
            }
            message.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
        let message = message.trim_start_matches('=');
        match (message.split_once(':'), sent) {
            (Some((code, text)), _) => Err(StartError {
                code: code.parse().unwrap_or(default_code),
                message: text.to_owned(),
            }
            .into()),
            (None, Err(e)) => Err(RuntimeError::Host {
                what: "start the process",
                source: e,
            }),
            (None, Ok(())) if !joined => {
                Err(StartError::setup("the process ended before it joined its cgroup").into())
            }
            (None, Ok(())) => Ok(()),
        }
    });
    if started.is_err() {
        // SAFETY: kill our own child, then reap it.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = wait_for(pid);
    }
    started
}

/// The child: set up, then exec. Never returns.
/// What the child is handed besides its configuration.
struct ChildIo<'a> {
    /// Keep the caller's stdin (else /dev/null).
    stdin: bool,
    /// Pipes for stdout and stderr.
    outputs: Option<(BorrowedFd<'a>, BorrowedFd<'a>)>,
    /// A pipe for stdin.
    input: Option<BorrowedFd<'a>>,
    /// With a terminal: where its master goes, once made in the container.
    terminal: Option<&'a OwnedFd>,
    /// The network namespace to join.
    network: Option<&'a OwnedFd>,
    /// The start gate (an `O_PATH` descriptor of a FIFO) to wait at before the exec.
    gate: Option<&'a OwnedFd>,
    /// Namespaces to join, with their types.
    joins: &'a [(OwnedFd, libc::c_int)],
    /// In a new user namespace: a byte arrives here once its maps are written.
    mapped: Option<OwnedFd>,
    /// Cloned into a user namespace joined by path.
    joined_user: bool,
    /// The seccomp agent to send a notifying filter's listener to.
    agent: Option<&'a OwnedFd>,
    /// Where its cgroup's `tasks` files arrive, when it moves itself in (v1).
    cgroup_files: Option<&'a OwnedFd>,
}

fn child_main(config: &ContainerConfig, mut io: ChildIo<'_>, go: OwnedFd, err: OwnedFd) -> ! {
    let host_pid = match child_setup(config, &mut io, go, &err) {
        Ok(pid) => pid,
        Err(e) => report_and_exit(Some(err), &e),
    };
    let err = match io.gate {
        Some(gate) => match wait_at_gate(config, gate, err, host_pid) {
            Ok(()) => None,
            Err((err, e)) => report_and_exit(Some(err), &e),
        },
        None => {
            // Without a gate the process starts now: its startContainer hooks run here.
            if let Err(e) = crate::hooks::run(
                &config.hooks.start_container,
                &config.hooks.state_with(host_pid, "created"),
            ) {
                report_and_exit(Some(err), &StartError::setup(e));
            }
            Some(err)
        }
    };
    if config.init {
        crate::init::run(&config.args, &config.env, err);
    }
    report_and_exit(err, &process::exec(&config.args, &config.env))
}

/// OCI `create`: the process is set up; it says so on the error pipe (`=`), lets go of that
/// pipe (its creator may exit now) and waits until `start` opens the gate's FIFO. A command
/// that cannot be found fails the create rather than the start.
fn wait_at_gate(
    config: &ContainerConfig,
    gate: &OwnedFd,
    err: OwnedFd,
    host_pid: i32,
) -> Result<(), (OwnedFd, StartError)> {
    if let Err(e) = process::find_command(&config.args, &config.env) {
        return Err((err, e));
    }
    let mut pipe = std::fs::File::from(err);
    let _ = pipe.write_all(b"=");
    drop(pipe);
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{}", gate.as_raw_fd()))
        .unwrap_or_else(|e| {
            report_and_exit(
                None,
                &StartError::setup(format!("open the start gate: {e}")),
            )
        });
    if let Err(e) = fifo.write_all(b"0") {
        report_and_exit(
            None,
            &StartError::setup(format!("pass the start gate: {e}")),
        );
    }
    drop(fifo);
    if let Err(e) = crate::hooks::run(
        &config.hooks.start_container,
        &config.hooks.state_with(host_pid, "created"),
    ) {
        report_and_exit(None, &StartError::setup(e));
    }
    Ok(())
}

/// Writes a start failure to the error pipe (or, once nobody reads that, to stderr) and exits
/// with its code.
pub(crate) fn report_and_exit(err: Option<OwnedFd>, error: &StartError) -> ! {
    match err {
        Some(err) => {
            let _ = write!(std::fs::File::from(err), "{}:{}", error.code, error.message);
        }
        None => {
            let _ = writeln!(std::io::stderr(), "berth: {}", error.message);
        }
    }
    // SAFETY: _exit ends the process at once; nothing of the parent's state must be flushed
    // from this copy of it.
    unsafe { libc::_exit(error.code) }
}

pub(crate) fn setup_err(what: &str) -> impl FnOnce(rustix::io::Errno) -> StartError + '_ {
    move |e| StartError::setup(format!("{what}: {e}"))
}

/// The child's setup up to its command; returns its pid as the host sees it.
fn child_setup(
    config: &ContainerConfig,
    io: &mut ChildIo<'_>,
    go: OwnedFd,
    verdict: &OwnedFd,
) -> Result<i32, StartError> {
    let (stdin, outputs, input, terminal, network) =
        (io.stdin, io.outputs, io.input, io.terminal, io.network);
    // A copy of the berth binary until execve: non-dumpable, so that nothing in the container
    // can open its /proc/PID/exe (the runc CVE-2019-5736 class). execve resets it.
    // SAFETY: prctl with PR_SET_DUMPABLE takes plain integers.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    // Die with berth: a `kill -9` of berth must not leave the container running. Should berth
    // die before this line, the go-ahead below reads end of file instead.
    if !config.outlive_parent {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes plain integers.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    }
    unblock_signals();
    // In a user namespace: root there once it is mapped.
    if let Some(mapped) = io.mapped.take() {
        crate::userns::wait_for_maps(mapped)?;
    } else if io.joined_user {
        crate::userns::become_root()?;
    }

    // Standard streams (a terminal's once the root is entered).
    rustix::process::setsid().map_err(setup_err("setsid"))?;
    match (terminal, input) {
        (Some(_), _) => {}
        (None, Some(input)) => dup_onto(input, 0)?,
        (None, None) if !stdin => {
            let null = rustix::fs::open(
                "/dev/null",
                rustix::fs::OFlags::RDONLY,
                rustix::fs::Mode::empty(),
            )
            .map_err(setup_err("open /dev/null"))?;
            dup_onto(null.as_fd(), 0)?;
        }
        (None, None) => {}
    }
    if let Some((out, err)) = outputs {
        dup_onto(out, 1)?;
        dup_onto(err, 2)?;
    }

    if let Some(hostname) = &config.hostname {
        rustix::system::sethostname(hostname.as_bytes()).map_err(setup_err("sethostname"))?;
    }
    if let Some(domainname) = &config.domainname {
        rustix::system::setdomainname(domainname.as_bytes()).map_err(setup_err("setdomainname"))?;
    }
    for (fd, kind) in io.joins {
        if !matches!(
            *kind,
            libc::CLONE_NEWPID | libc::CLONE_NEWCGROUP | libc::CLONE_NEWUSER
        ) {
            crate::exec::setns(fd, *kind)
                .map_err(|e| StartError::setup(format!("join a namespace: {e}")))?;
        }
    }
    match network {
        Some(namespace) => rustix::thread::move_into_link_name_space(
            namespace.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(setup_err("join the network namespace"))?,
        None if config.network == NetworkNamespace::New => bring_up_loopback()?,
        None => {}
    }

    // The file system. Without a mount namespace (runc allows it) the mounts are the host's,
    // made below the rootfs and undone by `delete`, and the root is entered with chroot.
    let rootfs_error = |e: rootfs::RootfsError| StartError::setup(e.to_string());
    let own_mounts = config.namespaces.has(libc::CLONE_NEWNS);
    if own_mounts {
        rootfs::make_private().map_err(rootfs_error)?;
    }
    rootfs::mount_root(&config.rootfs, config.overlay.as_ref()).map_err(rootfs_error)?;
    let root = rootfs::open_root(&config.rootfs).map_err(rootfs_error)?;
    // Everything but the cgroup file systems is mounted before the go-ahead, while the parent
    // makes the cgroup.
    let (cgroup_mounts, other_mounts): (Vec<MountSpec>, Vec<MountSpec>) = config
        .mounts
        .iter()
        .cloned()
        .partition(|m| Path::new(&m.destination).starts_with("/sys/fs/cgroup"));
    rootfs::mount_all(&root, &other_mounts, own_mounts).map_err(rootfs_error)?;
    rootfs::create_devices(&root, &config.devices).map_err(rootfs_error)?;
    // Meanwhile the parent made the cgroup: on v1 its files arrive now and this process moves
    // itself in (on v2 the parent moves it).
    if let Some(socket) = io.cgroup_files {
        let files = crate::fdpass::recv_fds(socket.as_fd())
            .map_err(|e| StartError::setup(format!("berth went away during setup: {e}")))?;
        join_cgroup_self(&SelfJoin::from_files(files), verdict)?;
    }
    let mut go_ahead = String::new();
    std::fs::File::from(go)
        .read_to_string(&mut go_ahead)
        .map_err(|e| StartError::setup(format!("berth went away during setup: {e}")))?;
    let host_pid: i32 = go_ahead
        .parse()
        .map_err(|_| StartError::setup("berth went away during setup"))?;
    // In the cgroup now: a cgroup namespace rooted there (or the one to join), and cgroupfs
    // seen from it.
    if config.namespaces.new & libc::CLONE_NEWCGROUP != 0 {
        // SAFETY: a new cgroup namespace changes no memory, file table or credentials.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWCGROUP) }
            .map_err(setup_err("unshare the cgroup namespace"))?;
    }
    for (fd, kind) in io
        .joins
        .iter()
        .filter(|(_, kind)| *kind == libc::CLONE_NEWCGROUP)
    {
        crate::exec::setns(fd, *kind)
            .map_err(|e| StartError::setup(format!("join the cgroup namespace: {e}")))?;
    }
    rootfs::mount_all(&root, &cgroup_mounts, own_mounts).map_err(rootfs_error)?;
    // Docker creates a missing working directory.
    rootfs::ensure_dir(&root, &config.cwd).map_err(rootfs_error)?;
    drop(root);
    crate::hooks::run(
        &config.hooks.create_container,
        &config.hooks.state_with(host_pid, "creating"),
    )
    .map_err(StartError::setup)?;
    match own_mounts {
        true => rootfs::pivot_into(&config.rootfs),
        false => rootfs::chroot_into(&config.rootfs),
    }
    .map_err(rootfs_error)?;
    if let Some(propagation) = config.rootfs_propagation {
        rootfs::set_root_propagation(propagation).map_err(rootfs_error)?;
    }
    if let Some(socket) = terminal {
        open_terminal(socket, true)?;
    }
    // Before /proc/sys turns read-only: the namespaced sysctls the spec asks for.
    for (key, value) in &config.sysctls {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value)
            .map_err(|e| StartError::setup(format!("sysctl {key}={value}: {e}")))?;
    }
    if let Some(score) = config.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", score.to_string())
            .map_err(|e| StartError::setup(format!("set oom_score_adj to {score}: {e}")))?;
    }
    rootfs::mask_paths(&config.masked_paths).map_err(rootfs_error)?;
    rootfs::readonly_paths(&config.readonly_paths).map_err(rootfs_error)?;
    if config.readonly_root {
        rootfs::readonly_root().map_err(rootfs_error)?;
    }

    let notify = match (io.agent, &config.seccomp_listener) {
        (Some(socket), Some(listener)) => {
            let state: serde_json::Value =
                serde_json::from_str(&config.hooks.state_with(host_pid, "creating"))
                    .unwrap_or_default();
            Some(Notify {
                socket: socket.as_fd(),
                message: serde_json::json!({
                    "ociVersion": "1.0.2",
                    "fds": ["seccompFd"],
                    "pid": host_pid,
                    "metadata": listener.metadata,
                    "state": state,
                })
                .to_string(),
            })
        }
        _ => None,
    };
    become_process(config, notify)?;
    Ok(host_pid)
}

/// The last steps before exec, shared by `run` and `exec`: rlimits, bounding set, seccomp,
/// user, working directory, capabilities, no_new_privs, the parent-death signal, and every
/// descriptor but the standard three marked close-on-exec.
pub(crate) fn become_process(
    config: &ContainerConfig,
    notify: Option<Notify<'_>>,
) -> Result<(), StartError> {
    // A filter with SCMP_ACT_NOTIFY rules: its listener goes to the agent (state JSON with
    // it, as runc sends), else its calls fail with ENOSYS.
    let load = |filter: &seccompiler::BpfProgram| match &notify {
        Some(agent) if crate::seccomp::notifies(filter) => {
            let listener = process::load_seccomp_with_listener(filter)?;
            crate::fdpass::send_fd(agent.socket, listener.as_fd(), agent.message.as_bytes())
                .map_err(|e| StartError::setup(format!("send the seccomp listener: {e}")))
        }
        _ => process::load_seccomp(filter),
    };
    process::set_rlimits(&config.rlimits)?;
    process::limit_bounding_set(&config.capabilities.bounding)?;
    if !config.no_new_privileges {
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load them while root.
        for filter in &config.seccomp {
            load(filter)?;
        }
    }
    process::switch_user(config.uid, config.gid, &config.groups)?;
    if let Some(umask) = config.umask {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(umask & 0o777));
    }
    rustix::process::chdir(config.cwd.as_str()).map_err(|e| StartError {
        code: 125,
        message: format!("cannot chdir to {}: {e}", config.cwd),
    })?;
    process::set_capabilities(&config.capabilities)?;
    if config.no_new_privileges {
        process::set_no_new_privs()?;
        for filter in &config.seccomp {
            load(filter)?;
        }
    }
    // Credential changes clear the parent-death signal: set it again.
    if !config.outlive_parent {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes plain integers.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    }
    // Every inherited descriptor but the standard three closes at exec.
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on descriptors.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32 + config.preserve_fds,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Ok(())
}

pub(crate) fn dup_onto(fd: BorrowedFd<'_>, target: i32) -> Result<(), StartError> {
    // SAFETY: dup2 onto a standard descriptor number; both are valid.
    if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
        return Err(StartError::setup(format!(
            "dup2 onto {target}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Sets `lo` up in the (new) network namespace.
fn bring_up_loopback() -> Result<(), StartError> {
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(setup_err("socket"))?;
    // SAFETY: an all-zero ifreq is valid; the name is NUL-terminated within its array.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write the ifreq we own.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            return Err(StartError::setup(format!(
                "read the flags of lo: {}",
                std::io::Error::last_os_error()
            )));
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            return Err(StartError::setup(format!(
                "bring lo up: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

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
            return Err(RuntimeError::Host {
                what: "signalfd",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(<OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(fd))
    }
}

/// In the child: every signal unblocked and at its default action (Rust ignores SIGPIPE; a
/// container must not inherit that).
pub(crate) fn unblock_signals() {
    // SAFETY: as in `block_signals`; SIG_DFL is a valid disposition for these signals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
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
fn wait_capturing(
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
            Err(e) => return Err(host("poll")(e)),
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

/// Sends `signal` to process `pid` (a relayed signal: a failure has nobody to tell).
pub fn forward(pid: i32, signal: i32) {
    // SAFETY: kill with a valid pid and signal number.
    unsafe { libc::kill(pid, signal) };
}

/// The exit code of `pid` if it has ended (128 + N for a signal).
fn try_wait(pid: i32) -> Result<Option<i32>, RuntimeError> {
    let mut status = 0;
    // SAFETY: waitpid writes the status into our integer.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if r < 0 {
        return Err(RuntimeError::Host {
            what: "waitpid",
            source: std::io::Error::last_os_error(),
        });
    }
    if r == 0 {
        return Ok(None);
    }
    if libc::WIFEXITED(status) {
        Ok(Some(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Ok(Some(128 + libc::WTERMSIG(status)))
    } else {
        Ok(None)
    }
}

pub(crate) fn wait_for(pid: i32) -> Result<i32, RuntimeError> {
    loop {
        if let Some(code) = try_wait(pid)? {
            return Ok(code);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The socket pair a terminal's master comes back over from the process that made it.
pub(crate) fn terminal_socket() -> Result<(OwnedFd, OwnedFd), RuntimeError> {
    rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(host("socketpair"))
}

/// Receives the terminal's master that `open_terminal` sent over `socket`.
pub(crate) fn receive_terminal(socket: &OwnedFd) -> Result<Pty, RuntimeError> {
    crate::fdpass::recv_fd(socket.as_fd())
        .map(Pty::from_master)
        .map_err(|source| RuntimeError::Host {
            what: "receive the process's terminal",
            source,
        })
}

/// In the container, its root entered: makes a pty from the container's own /dev/ptmx, sends
/// its master over `socket`, and makes the slave (`/dev/pts/N` there) the controlling terminal
/// and standard streams; with `console`, binds it at /dev/console too, as runc does.
pub(crate) fn open_terminal(socket: &OwnedFd, console: bool) -> Result<(), StartError> {
    let pty = Pty::open().map_err(|e| StartError::setup(e.to_string()))?;
    let slave = rustix::fs::open(
        &pty.slave_path,
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(setup_err("open the pty"))?;
    if console {
        rootfs::bind_console(&pty.slave_path).map_err(|e| StartError::setup(e.to_string()))?;
    }
    crate::fdpass::send_fd(socket.as_fd(), pty.master.as_fd(), b"pty")
        .map_err(|e| StartError::setup(format!("hand over the pty: {e}")))?;
    drop(pty);
    rustix::process::ioctl_tiocsctty(&slave)
        .map_err(setup_err("make the pty the controlling terminal"))?;
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
            .map_err(host("open a pty"))?;
        grantpt(&master).map_err(host("grantpt"))?;
        unlockpt(&master).map_err(host("unlockpt"))?;
        let name = ptsname(&master, Vec::new()).map_err(host("ptsname"))?;
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
                Err(e) => return Err(host("poll")(e)),
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
