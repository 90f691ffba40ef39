//! The OCI runtime's container life cycle, as runc's command line drives it: `create`,
//! `start`, `state`, `kill`, `delete`, `pause`, `resume`, `ps`, `list`.
//!
//! ```text
//! <root>/<id>/state.json   what create recorded: pid (and its start time), bundle, cgroup
//! <root>/<id>/exec.fifo    the gate the created process waits at; `start` opens it, then
//!                          removes it
//! ```
//!
//! A container's status is read from the host each time: `created` while the gate exists and
//! the process lives, `running` (or `paused`, by its cgroup's freezer) after, `stopped` once the
//! process is gone or a zombie. The process outlives the runtime's commands: its parent is
//! whoever ran `create` (conmon, a containerd shim) or, orphaned, their subreaper.

use crate::cgroup::Cgroup;
use crate::cgroups::{self, CgroupLayout};
use crate::container::{self, RuntimeError};
use crate::spec::{self, SpecError};
use berth_error::{Context, IoContext};
use oci_spec::runtime::Spec;
use rustix::fd::{AsFd, OwnedFd};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An OCI runtime operation failed; the messages follow runc's.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// No container has that id.
    #[error("container \"{0}\" does not exist")]
    NotFound(String),
    /// The id is taken.
    #[error("container with id exists: {0}")]
    Exists(String),
    /// The id cannot name a container.
    #[error("invalid container id \"{0}\": use letters, digits, '_', '-', '.' and '+'")]
    BadId(String),
    /// The operation does not fit the container's status.
    #[error("{0}")]
    WrongState(String),
    /// The bundle or its spec cannot be used.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Starting the process failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The host refused something.
    #[error(transparent)]
    Io(#[from] IoContext),
}

/// A container's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Set up, waiting at its gate.
    Created,
    /// Its command runs.
    Running,
    /// Frozen.
    Paused,
    /// Its process is gone.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What `create` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved {
    id: String,
    pid: i32,
    start_time: u64,
    bundle: PathBuf,
    rootfs: PathBuf,
    created: String,
    cgroup_path: String,
    annotations: BTreeMap<String, String>,
    /// It has no mount namespace: its mounts below `rootfs` are the host's to undo.
    #[serde(default)]
    host_mounts: bool,
}

impl Saved {
    /// The record of container `id` made from `config` and `spec`, before it has a process.
    fn new(
        id: &str,
        config: &container::ContainerConfig,
        spec: &Spec,
        bundle: PathBuf,
        rootfs: PathBuf,
    ) -> Saved {
        Saved {
            id: id.to_owned(),
            pid: 0,
            start_time: 0,
            bundle,
            rootfs,
            created: crate::time::now(),
            cgroup_path: config.cgroup_path.clone(),
            host_mounts: !config.namespaces.has(libc::CLONE_NEWNS),
            annotations: spec
                .annotations()
                .clone()
                .map(|a| a.into_iter().collect())
                .unwrap_or_default(),
        }
    }
}

/// A container's state in the runtime spec's shape (plus runc's `rootfs` and `created`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// The runtime spec version.
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// Its status.
    pub status: Status,
    /// Its process on the host (0 once stopped).
    pub pid: i32,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The root file system.
    pub rootfs: PathBuf,
    /// When it was created (RFC 3339).
    pub created: String,
    /// The spec's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// How `create` is asked to run.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Write the process's pid here.
    pub pid_file: Option<PathBuf>,
    /// Send the terminal's master to this unix socket (`process.terminal`).
    pub console_socket: Option<PathBuf>,
    /// `cgroupsPath` is systemd's `slice:prefix:name`.
    pub systemd_cgroup: bool,
    /// Descriptors 3 to 3+N-1 stay open for the process.
    pub preserve_fds: u32,
}

/// The containers under one state root.
pub struct OciRuntime {
    root: PathBuf,
}

impl OciRuntime {
    /// The runtime whose state lives under `root`.
    pub fn new(root: &Path) -> OciRuntime {
        OciRuntime {
            root: root.to_path_buf(),
        }
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn load(&self, id: &str) -> Result<Saved, OciError> {
        if !valid_id(id) {
            return Err(OciError::NotFound(id.to_owned()));
        }
        let bytes = fs::read(self.dir(id).join("state.json")).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => OciError::NotFound(id.to_owned()),
            _ => IoContext::new(format!("read the state of {id}"), e).into(),
        })?;
        serde_json::from_slice(&bytes)
            .map_err(io::Error::other)
            .with_context(|| format!("read the state of {id}"))
            .map_err(OciError::from)
    }

    fn status(&self, saved: &Saved, layout: &CgroupLayout) -> Status {
        if !alive(saved.pid, saved.start_time) {
            return Status::Stopped;
        }
        if self.dir(&saved.id).join("exec.fifo").exists() {
            return Status::Created;
        }
        if Cgroup::at(layout, &saved.cgroup_path).frozen() {
            return Status::Paused;
        }
        Status::Running
    }

    fn state_of(&self, saved: Saved, layout: &CgroupLayout) -> State {
        let status = self.status(&saved, layout);
        State {
            oci_version: "1.2.0".into(),
            id: saved.id,
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                saved.pid
            },
            bundle: saved.bundle,
            rootfs: saved.rootfs,
            created: saved.created,
            annotations: saved.annotations,
        }
    }

    /// Makes the state directory of a new container `id`: a valid id, not in use.
    fn claim(&self, id: &str) -> Result<PathBuf, OciError> {
        if !valid_id(id) {
            return Err(OciError::BadId(id.to_owned()));
        }
        // 0700, as runc makes its root: the states name bundles and pids for root alone.
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(&self.root)
            .with_context(|| format!("create {}", self.root.display()))?;
        let dir = self.dir(id);
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(OciError::Exists(id.to_owned()))
            }
            Err(e) => Err(IoContext::new(format!("create {}", dir.display()), e).into()),
        }
    }

    /// Sets container `id` up from the bundle at `bundle`, its process waiting before the exec.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        options: &CreateOptions,
    ) -> Result<i32, OciError> {
        let dir = self.claim(id)?;
        let made = self.create_in(id, bundle, options, &dir);
        if made.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        made
    }

    fn create_in(
        &self,
        id: &str,
        bundle: &Path,
        options: &CreateOptions,
        dir: &Path,
    ) -> Result<i32, OciError> {
        let (config, spec, bundle, rootfs) = prepare(id, bundle, options)?;
        if config.terminal && options.console_socket.is_none() {
            return Err(OciError::WrongState(
                "cannot allocate tty if runc will detach without setting console socket".into(),
            ));
        }
        let console = options
            .console_socket
            .as_ref()
            .map(|path| connect_console(path))
            .transpose()?;
        let layout = cgroups::detect().context("read the cgroup layout")?;
        let gate = dir.join("exec.fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &gate,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o622),
            0,
        )
        .context("make the start gate")?;
        // The process opens it as the container's user, after the switch from its root (which a
        // user namespace maps elsewhere): owned by that root, writable by anyone, as runc's.
        let (uid, gid) = config.namespaces.host_root();
        rustix::fs::chown(
            &gate,
            Some(rustix::process::Uid::from_raw(uid)),
            Some(rustix::process::Gid::from_raw(gid)),
        )
        .and_then(|()| rustix::fs::chmod(&gate, rustix::fs::Mode::from_raw_mode(0o622)))
        .context("make the start gate")?;
        let (pid, master) = container::create_gated(&config, &layout, &gate)?;
        let saved = Saved {
            pid,
            start_time: crate::host::process_start_time(pid).unwrap_or(0),
            ..Saved::new(id, &config, &spec, bundle.clone(), rootfs)
        };
        let recorded = (|| {
            if let (Some(socket), Some(master)) = (&console, &master) {
                crate::fdpass::send_fd(socket.as_fd(), master.as_fd(), b"/dev/ptmx")
                    .context("send the terminal to the console socket")?;
            }
            write_atomically(
                &dir.join("state.json"),
                &serde_json::to_vec(&saved).expect("state serialises"),
            )
            .context("write the state")?;
            if let Some(pid_file) = &options.pid_file {
                write_atomically(pid_file, pid.to_string().as_bytes())
                    .with_context(|| format!("write {}", pid_file.display()))?;
            }
            Ok(pid)
        })();
        if recorded.is_err() {
            // SAFETY: kill the process this call made.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = container::reap(pid);
            Cgroup::at(&layout, &config.cgroup_path).remove();
        }
        recorded
    }

    /// `run` in the foreground: the container made and started in one step (no gate), this
    /// process its parent until it ends (relaying signals, and its terminal when it has one),
    /// its state recorded meanwhile; deleted after unless `keep`. Returns its exit code.
    pub fn run_foreground(
        &self,
        id: &str,
        bundle: &Path,
        options: &CreateOptions,
        keep: bool,
    ) -> Result<i32, OciError> {
        let dir = self.claim(id)?;
        let ran = (|| {
            let (mut config, spec, bundle, rootfs) = prepare(id, bundle, options)?;
            config.outlive_parent = false;
            let layout = cgroups::detect().context("read the cgroup layout")?;
            let mut saved = Saved::new(id, &config, &spec, bundle, rootfs);
            let state_file = dir.join("state.json");
            let ended = container::run(
                &config,
                &layout,
                container::StdioMode { stdin: true },
                &mut |pid| {
                    saved.pid = pid;
                    saved.start_time = crate::host::process_start_time(pid).unwrap_or(0);
                    let _ = write_atomically(
                        &state_file,
                        &serde_json::to_vec(&saved).expect("state serialises"),
                    );
                    if let Some(pid_file) = &options.pid_file {
                        let _ = write_atomically(pid_file, pid.to_string().as_bytes());
                    }
                    self.warn_hooks(&saved, crate::hooks::Point::Poststart, "running");
                },
            )?;
            ended.remains.remove();
            saved.start_time = 0;
            Ok::<_, OciError>((ended.exit.code, saved))
        })();
        match ran {
            Ok((code, saved)) if !keep => {
                let _ = fs::remove_dir_all(&dir);
                self.warn_hooks(&saved, crate::hooks::Point::Poststop, "stopped");
                Ok(code)
            }
            Ok((code, _)) => Ok(code),
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Runs hooks whose failure is only worth a warning (poststart, poststop).
    fn warn_hooks(&self, saved: &Saved, point: crate::hooks::Point, status: &str) {
        if let Err(e) = self.run_hooks(saved, point, status) {
            tracing::warn!(id = saved.id, %e, "a hook failed");
            eprintln!("berth-runc: warning: {e}");
        }
    }

    /// Lets a created container's process exec its command.
    pub fn start(&self, id: &str) -> Result<(), OciError> {
        let saved = self.load(id)?;
        let layout = cgroups::detect().context("read the cgroup layout")?;
        match self.status(&saved, &layout) {
            Status::Created => {}
            Status::Stopped => {
                return Err(OciError::WrongState(
                    "cannot start a container that has stopped".into(),
                ));
            }
            status => {
                return Err(OciError::WrongState(format!(
                    "cannot start an already {status} container"
                )));
            }
        }
        let gate = self.dir(id).join("exec.fifo");
        let fifo = rustix::fs::open(
            &gate,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .context("open the start gate")?;
        // The process opens its end now that a reader exists, and writes one byte.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut fifo = fs::File::from(fifo);
        let mut byte = [0u8; 1];
        loop {
            match fifo.read(&mut byte) {
                Ok(1) => break,
                Ok(_) | Err(_) if !alive(saved.pid, saved.start_time) => {
                    return Err(OciError::WrongState(
                        "cannot start a container that has stopped".into(),
                    ));
                }
                _ if Instant::now() > deadline => {
                    return Err(OciError::WrongState(format!(
                        "container {id} did not pass its start gate"
                    )));
                }
                _ => {
                    // Until the process writes its byte (or 20 ms pass, to check it lives).
                    let mut ready = [rustix::event::PollFd::new(
                        &fifo,
                        rustix::event::PollFlags::IN,
                    )];
                    let _ = rustix::event::poll(
                        &mut ready,
                        Some(&rustix::event::Timespec {
                            tv_sec: 0,
                            tv_nsec: 20_000_000,
                        }),
                    );
                }
            }
        }
        fs::remove_file(&gate).context("remove the start gate")?;
        self.warn_hooks(&saved, crate::hooks::Point::Poststart, "running");
        Ok(())
    }

    /// Runs the bundle's hooks of `point` with the container's state.
    fn run_hooks(
        &self,
        saved: &Saved,
        point: crate::hooks::Point,
        status: &str,
    ) -> Result<(), OciError> {
        let Ok(spec) = load_spec(&saved.bundle) else {
            return Ok(());
        };
        let hooks = crate::hooks::of(&spec, point);
        if hooks.is_empty() {
            return Ok(());
        }
        let state = serde_json::json!({
            "ociVersion": "1.2.0", "id": saved.id, "status": status, "pid": saved.pid,
            "bundle": saved.bundle, "annotations": saved.annotations,
        });
        crate::hooks::run(&hooks, &state.to_string()).map_err(OciError::WrongState)
    }

    /// The container's state.
    pub fn state(&self, id: &str) -> Result<State, OciError> {
        let saved = self.load(id)?;
        let layout = cgroups::detect().context("read the cgroup layout")?;
        Ok(self.state_of(saved, &layout))
    }

    /// Every container's state, by id.
    pub fn list(&self) -> Result<Vec<State>, OciError> {
        let layout = cgroups::detect().context("read the cgroup layout")?;
        let mut ids: Vec<String> = match fs::read_dir(&self.root) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(IoContext::new(format!("read {}", self.root.display()), e).into()),
        };
        ids.sort();
        Ok(ids
            .iter()
            .filter_map(|id| self.load(id).ok())
            .map(|saved| self.state_of(saved, &layout))
            .collect())
    }

    /// Sends `signal` to the container's process (or, with `all`, to every process of its
    /// cgroup).
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), OciError> {
        let saved = self.load(id)?;
        let layout = cgroups::detect().context("read the cgroup layout")?;
        if self.status(&saved, &layout) == Status::Stopped {
            return Err(OciError::WrongState("container not running".into()));
        }
        let cgroup = Cgroup::at(&layout, &saved.cgroup_path);
        let targets = if all { cgroup.pids() } else { vec![saved.pid] };
        for pid in targets {
            // SAFETY: kill takes plain integers; the pid was checked to be the container's.
            if unsafe { libc::kill(pid, signal) } != 0 && pid == saved.pid {
                return Err(IoContext::new("kill", io::Error::last_os_error()).into());
            }
        }
        if signal == libc::SIGKILL || signal == libc::SIGTERM {
            // A frozen process does not see the signal until thawed.
            let _ = cgroup.freeze(false);
        }
        Ok(())
    }

    /// Removes a stopped (or, with `force`, any) container: its process, cgroup and state.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), OciError> {
        let saved = self.load(id)?;
        let layout = cgroups::detect().context("read the cgroup layout")?;
        let status = self.status(&saved, &layout);
        match status {
            Status::Stopped => {}
            // A created container never ran its command: deleting it is its end (as runc).
            Status::Created => self.kill_and_wait(&saved, &layout),
            _ if force => self.kill_and_wait(&saved, &layout),
            _ => {
                return Err(OciError::WrongState(format!(
                    "cannot delete container {id} that is not stopped: {status}"
                )));
            }
        }
        Cgroup::at(&layout, &saved.cgroup_path).remove();
        if saved.host_mounts {
            crate::rootfs::unmount_below(&saved.rootfs).map_err(|e| {
                IoContext::new(
                    format!("remove the mounts of {id}"),
                    io::Error::other(e.to_string()),
                )
            })?;
        }
        fs::remove_dir_all(self.dir(id)).with_context(|| format!("remove the state of {id}"))?;
        // Poststop hooks' failures are reported, and the container is gone regardless.
        self.warn_hooks(&saved, crate::hooks::Point::Poststop, "stopped");
        Ok(())
    }

    fn kill_and_wait(&self, saved: &Saved, layout: &CgroupLayout) {
        let cgroup = Cgroup::at(layout, &saved.cgroup_path);
        for pid in cgroup.pids().into_iter().chain([saved.pid]) {
            // SAFETY: kill takes plain integers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = cgroup.freeze(false);
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(saved.pid, saved.start_time) && Instant::now() < deadline {
            // Our own child (run without --detach) must be reaped here.
            let _ = container::reap(saved.pid);
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Freezes (`pause`) or thaws (`resume`) the container.
    pub fn set_paused(&self, id: &str, paused: bool) -> Result<(), OciError> {
        let saved = self.load(id)?;
        let layout = cgroups::detect().context("read the cgroup layout")?;
        let status = self.status(&saved, &layout);
        match (status, paused) {
            (Status::Running, true) | (Status::Paused, false) => {}
            (status, _) => {
                return Err(OciError::WrongState(format!(
                    "container not running: {status}"
                )));
            }
        }
        Cgroup::at(&layout, &saved.cgroup_path)
            .freeze(paused)
            .map_err(|e| IoContext::new("freeze", io::Error::other(e.to_string())).into())
    }

    /// The host pids of the container's processes.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, OciError> {
        let saved = self.load(id)?;
        let layout = cgroups::detect().context("read the cgroup layout")?;
        Ok(Cgroup::at(&layout, &saved.cgroup_path).pids())
    }

    /// The container's cgroup.
    pub fn cgroup(&self, id: &str) -> Result<Cgroup, OciError> {
        let saved = self.load(id)?;
        let layout = cgroups::detect().context("read the cgroup layout")?;
        Ok(Cgroup::at(&layout, &saved.cgroup_path))
    }
}

/// The runtime's configuration of container `id` from its bundle: the config, the spec, the
/// bundle's absolute path and the rootfs.
fn prepare(
    id: &str,
    bundle: &Path,
    options: &CreateOptions,
) -> Result<(container::ContainerConfig, Spec, PathBuf, PathBuf), OciError> {
    let bundle =
        fs::canonicalize(bundle).with_context(|| format!("bundle {}", bundle.display()))?;
    let spec = load_spec(&bundle)?;
    let rootfs = spec
        .root()
        .as_ref()
        .map(|r| bundle.join(r.path()))
        .ok_or_else(|| SpecError("root.path is missing".into()))?;
    if !rootfs.is_dir() {
        return Err(SpecError(format!("rootfs {} does not exist", rootfs.display())).into());
    }
    let mut config = spec::container_config(id, &spec, &rootfs, None)?;
    config.outlive_parent = true;
    config.hooks.state["bundle"] = bundle.display().to_string().into();
    config.preserve_fds = options.preserve_fds;
    config.cgroup_path = cgroup_path(&spec, id, options.systemd_cgroup);
    Ok((config, spec, bundle, rootfs))
}

/// runc's rule for ids.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.+".contains(c))
}

/// The bundle's `config.json`.
pub fn load_spec(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join("config.json");
    let bytes = fs::read(&path).map_err(|e| SpecError(format!("{}: {e}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| SpecError(format!("{}: {e}", path.display())))
}

/// The cgroup of a container: the spec's `cgroupsPath` (systemd's `slice:prefix:name` as
/// `slice/prefix-name.scope`), else, as runc's, `<id>` at the hierarchy's root (no parent of
/// berth's own that would stay behind).
fn cgroup_path(spec: &Spec, id: &str, systemd: bool) -> String {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.display().to_string());
    match given {
        Some(path) if systemd || (!path.starts_with('/') && path.matches(':').count() == 2) => {
            let parts: Vec<&str> = path.splitn(3, ':').collect();
            match parts.as_slice() {
                [slice, prefix, name] => {
                    let slice = if slice.is_empty() {
                        "system.slice"
                    } else {
                        slice
                    };
                    format!("{slice}/{prefix}-{name}.scope")
                }
                _ => path.trim_start_matches('/').to_owned(),
            }
        }
        Some(path) if !path.is_empty() => path.trim_start_matches('/').to_owned(),
        _ => id.to_owned(),
    }
}

/// Whether `pid` is the process that had `start_time`, and not a zombie.
fn alive(pid: i32, start_time: u64) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return false;
    };
    let fields: Vec<&str> = after.split(' ').collect();
    fields
        .first()
        .is_some_and(|state| *state != "Z" && *state != "X")
        && fields
            .get(19)
            .and_then(|t| t.parse::<u64>().ok())
            .is_some_and(|t| start_time == 0 || t == start_time)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    drop(file);
    fs::rename(tmp, path)
}

/// Connects to the console socket at `path`.
fn connect_console(path: &Path) -> Result<OwnedFd, IoContext> {
    rustix::net::socket(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        None,
    )
    .and_then(|socket| {
        rustix::net::connect(&socket, &rustix::net::SocketAddrUnix::new(path)?)?;
        Ok(socket)
    })
    .with_context(|| format!("connect to the console socket {}", path.display()))
}

/// Sends a terminal's master to the console socket at `path` (runc's protocol).
pub fn send_terminal(path: &Path, master: &OwnedFd) -> Result<(), OciError> {
    let socket = connect_console(path)?;
    crate::fdpass::send_fd(socket.as_fd(), master.as_fd(), b"/dev/ptmx")
        .context("send the terminal to the console socket")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(valid_id("abc-1.2_x+y"));
        assert!(!valid_id(""));
        assert!(!valid_id(".."));
        assert!(!valid_id("a/b"));
        assert!(!valid_id("a b"));
    }

    #[test]
    fn cgroup_paths() {
        let spec = |path: Option<&str>| -> Spec {
            let mut json = serde_json::json!({ "ociVersion": "1.2.0", "linux": {} });
            if let Some(path) = path {
                json["linux"]["cgroupsPath"] = path.into();
            }
            serde_json::from_value(json).unwrap()
        };
        assert_eq!(cgroup_path(&spec(None), "c1", false), "c1");
        assert_eq!(
            cgroup_path(&spec(Some("/libpod_parent/libpod-c1")), "c1", false),
            "libpod_parent/libpod-c1"
        );
        assert_eq!(
            cgroup_path(&spec(Some("machine.slice:libpod:c1")), "c1", true),
            "machine.slice/libpod-c1.scope"
        );
        assert_eq!(
            cgroup_path(&spec(Some(":cri:c1")), "c1", true),
            "system.slice/cri-c1.scope"
        );
    }
}
