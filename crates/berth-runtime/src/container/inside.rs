//! The child, inside its new namespaces: its setup up to the command's exec (identity,
//! standard streams, namespaces, file system, cgroup, credentials), and the start gate.

use super::config::{ContainerConfig, NetworkNamespace};
use super::handshake::join_cgroup_self;
use super::prepare::Prepared;
use super::terminal::open_terminal;
use crate::cgroup::SelfJoin;
use crate::child::{dup_onto, report_and_exit, setns, unblock_signals};
use crate::process::{self, StartError};
use crate::rootfs::{self, MountSpec};
use berth_error::Context;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::io::{Read, Write};
use std::path::Path;

/// A connection to a seccomp agent and the message that goes with the listener.
pub(crate) struct Notify<'a> {
    socket: BorrowedFd<'a>,
    message: String,
}

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

/// How the child starts, besides what was prepared for it.
pub(super) struct ChildStart<'a> {
    /// Keep the caller's stdin (else /dev/null).
    pub(super) stdin: bool,
    /// The start gate (an `O_PATH` descriptor of a FIFO) to wait at before the exec.
    pub(super) gate: Option<&'a OwnedFd>,
    /// Cloned into a user namespace joined by path.
    pub(super) joined_user: bool,
}

/// The child, just cloned: takes its ends of what was `prepared`, sets up, then execs. Never
/// returns.
pub(super) fn child_main(config: &ContainerConfig, prepared: Prepared, start: ChildStart<'_>) -> ! {
    let Prepared {
        terminal,
        captured,
        go: (go, go_write),
        verdict: (verdict_read, err),
        network,
        joins,
        mapped,
        agent,
        cgroup_files,
        ..
    } = prepared;
    drop(go_write);
    drop(verdict_read);
    let mapped = mapped.map(|(read, write)| {
        drop(write);
        read
    });
    let io = ChildIo {
        stdin: start.stdin,
        outputs: captured
            .as_ref()
            .map(|c| (c.stdout.1.as_fd(), c.stderr.1.as_fd())),
        input: captured
            .as_ref()
            .and_then(|c| c.stdin.as_ref())
            .map(|(read, _)| read.as_fd()),
        terminal: terminal.as_ref().map(|(_, child_end)| child_end),
        network: network.as_ref(),
        gate: start.gate,
        joins: &joins,
        mapped,
        joined_user: start.joined_user,
        agent: agent.as_ref(),
        cgroup_files: cgroup_files.as_ref().map(|(_, child_end)| child_end),
    };
    set_up_and_exec(config, io, go, err)
}

/// The child's setup, its start (at the gate, or now), and its exec.
fn set_up_and_exec(config: &ContainerConfig, mut io: ChildIo<'_>, go: OwnedFd, err: OwnedFd) -> ! {
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

/// The child's setup up to its command; returns its pid as the host sees it.
fn child_setup(
    config: &ContainerConfig,
    io: &mut ChildIo<'_>,
    go: OwnedFd,
    verdict: &OwnedFd,
) -> Result<i32, StartError> {
    take_identity(config, io)?;
    set_up_streams(io)?;
    enter_namespaces(config, io)?;
    let host_pid = build_root(config, io, go, verdict)?;
    finish_root(config, io.terminal)?;
    let notify = notify(config, io.agent, host_pid);
    become_process(config, notify)?;
    Ok(host_pid)
}

/// Not dumpable, dying with berth, signals unblocked, and root of a user namespace of its own.
fn take_identity(config: &ContainerConfig, io: &mut ChildIo<'_>) -> Result<(), StartError> {
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
    Ok(())
}

/// A session of its own, and the standard streams (a terminal's once the root is entered).
fn set_up_streams(io: &ChildIo<'_>) -> Result<(), StartError> {
    rustix::process::setsid().context("setsid")?;
    match (io.terminal, io.input) {
        (Some(_), _) => {}
        (None, Some(input)) => dup_onto(input, 0)?,
        (None, None) if !io.stdin => {
            let null = rustix::fs::open(
                "/dev/null",
                rustix::fs::OFlags::RDONLY,
                rustix::fs::Mode::empty(),
            )
            .context("open /dev/null")?;
            dup_onto(null.as_fd(), 0)?;
        }
        (None, None) => {}
    }
    if let Some((out, err)) = io.outputs {
        dup_onto(out, 1)?;
        dup_onto(err, 2)?;
    }
    Ok(())
}

/// The UTS names, the namespaces joined by path (but the PID, cgroup and user ones), and the
/// network.
fn enter_namespaces(config: &ContainerConfig, io: &ChildIo<'_>) -> Result<(), StartError> {
    if let Some(hostname) = &config.hostname {
        rustix::system::sethostname(hostname.as_bytes()).context("sethostname")?;
    }
    if let Some(domainname) = &config.domainname {
        rustix::system::setdomainname(domainname.as_bytes()).context("setdomainname")?;
    }
    for (fd, kind) in io.joins {
        if !matches!(
            *kind,
            libc::CLONE_NEWPID | libc::CLONE_NEWCGROUP | libc::CLONE_NEWUSER
        ) {
            setns(fd, *kind).context("join a namespace")?;
        }
    }
    match io.network {
        Some(namespace) => rustix::thread::move_into_link_name_space(
            namespace.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .context("join the network namespace")?,
        None if config.network == NetworkNamespace::New => bring_up_loopback()?,
        None => {}
    }
    Ok(())
}

/// The file system, up to the root entered: everything but the cgroup file systems mounted
/// while the parent makes the cgroup, then the go-ahead, the cgroup namespace and cgroupfs.
/// Without a mount namespace (runc allows it) the mounts are the host's, made below the rootfs
/// and undone by `delete`, and the root is entered with chroot. Returns the go-ahead's pid.
fn build_root(
    config: &ContainerConfig,
    io: &ChildIo<'_>,
    go: OwnedFd,
    verdict: &OwnedFd,
) -> Result<i32, StartError> {
    let own_mounts = config.namespaces.has(libc::CLONE_NEWNS);
    if own_mounts {
        rootfs::make_private()?;
    }
    rootfs::mount_root(&config.rootfs, config.overlay.as_ref())?;
    let root = rootfs::open_root(&config.rootfs)?;
    // Everything but the cgroup file systems is mounted before the go-ahead, while the parent
    // makes the cgroup.
    let (cgroup_mounts, other_mounts): (Vec<MountSpec>, Vec<MountSpec>) = config
        .mounts
        .iter()
        .cloned()
        .partition(|m| Path::new(&m.destination).starts_with("/sys/fs/cgroup"));
    rootfs::mount_all(&root, &other_mounts, own_mounts)?;
    rootfs::create_devices(&root, &config.devices)?;
    let host_pid = await_go_ahead(io, go, verdict)?;
    enter_cgroup_namespace(config, io)?;
    rootfs::mount_all(&root, &cgroup_mounts, own_mounts)?;
    // Docker creates a missing working directory.
    rootfs::ensure_dir(&root, &config.cwd)?;
    drop(root);
    crate::hooks::run(
        &config.hooks.create_container,
        &config.hooks.state_with(host_pid, "creating"),
    )
    .map_err(StartError::setup)?;
    match own_mounts {
        true => rootfs::pivot_into(&config.rootfs),
        false => rootfs::chroot_into(&config.rootfs),
    }?;
    if let Some(propagation) = config.rootfs_propagation {
        rootfs::set_root_propagation(propagation)?;
    }
    Ok(host_pid)
}

/// Into the cgroup (on v1 this process moves itself in with the files that arrive now; on v2
/// the parent moves it), then the go-ahead: its pid as the host sees it.
fn await_go_ahead(io: &ChildIo<'_>, go: OwnedFd, verdict: &OwnedFd) -> Result<i32, StartError> {
    if let Some(socket) = io.cgroup_files {
        let files =
            crate::fdpass::recv_fds(socket.as_fd()).context("berth went away during setup")?;
        join_cgroup_self(&SelfJoin::from_files(files), verdict)?;
    }
    let mut go_ahead = String::new();
    std::fs::File::from(go)
        .read_to_string(&mut go_ahead)
        .context("berth went away during setup")?;
    go_ahead
        .parse()
        .map_err(|_| StartError::setup("berth went away during setup"))
}

/// In the cgroup now: a cgroup namespace rooted there (or the one to join).
fn enter_cgroup_namespace(config: &ContainerConfig, io: &ChildIo<'_>) -> Result<(), StartError> {
    if config.namespaces.new & libc::CLONE_NEWCGROUP != 0 {
        // SAFETY: a new cgroup namespace changes no memory, file table or credentials.
        unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWCGROUP) }
            .context("unshare the cgroup namespace")?;
    }
    for (fd, kind) in io
        .joins
        .iter()
        .filter(|(_, kind)| *kind == libc::CLONE_NEWCGROUP)
    {
        setns(fd, *kind).context("join the cgroup namespace")?;
    }
    Ok(())
}

/// In the root: the terminal, the sysctls, the OOM score, and the masked and read-only paths.
fn finish_root(config: &ContainerConfig, terminal: Option<&OwnedFd>) -> Result<(), StartError> {
    if let Some(socket) = terminal {
        open_terminal(socket, true)?;
    }
    // Before /proc/sys turns read-only: the namespaced sysctls the spec asks for.
    for (key, value) in &config.sysctls {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value).with_context(|| format!("sysctl {key}={value}"))?;
    }
    if let Some(score) = config.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", score.to_string())
            .with_context(|| format!("set oom_score_adj to {score}"))?;
    }
    rootfs::mask_paths(&config.masked_paths)?;
    rootfs::readonly_paths(&config.readonly_paths)?;
    if config.readonly_root {
        rootfs::readonly_root()?;
    }
    Ok(())
}

/// With a seccomp agent: the connection and the message its listener goes with.
fn notify<'a>(
    config: &ContainerConfig,
    agent: Option<&'a OwnedFd>,
    host_pid: i32,
) -> Option<Notify<'a>> {
    match (agent, &config.seccomp_listener) {
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
    }
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
                .context("send the seccomp listener")
                .map_err(StartError::from)
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
    process::give_streams_to(config.uid);
    process::switch_user(config.uid, config.gid, &config.groups)?;
    if let Some(umask) = config.umask {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(umask & 0o777));
    }
    rustix::process::chdir(config.cwd.as_str())
        .with_context(|| format!("cannot chdir to {}", config.cwd))?;
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

/// Sets `lo` up in the (new) network namespace.
fn bring_up_loopback() -> Result<(), StartError> {
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .context("socket")?;
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
