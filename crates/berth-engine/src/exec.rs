//! `berth exec`: a command in a running container, as that container's processes run.

use crate::containers::{Containers, FindError};
use crate::paths::Roots;
use crate::users;
use berth_error::{Context, IoContext};
use berth_runtime::cgroup::Cgroup;
use berth_runtime::container::RuntimeError;
use std::io::Read;

/// What to run and how.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Command and arguments.
    pub command: Vec<String>,
    /// Extra `KEY=value` variables.
    pub env: Vec<String>,
    /// `user[:group]` (the container's user when `None`).
    pub user: Option<String>,
    /// Working directory (the container's when `None`).
    pub workdir: Option<String>,
    /// `-t`
    pub tty: bool,
    /// `-i`
    pub interactive: bool,
}

/// `exec` failed before the command's own exit code could be had.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// No such container.
    #[error(transparent)]
    Find(#[from] FindError),
    /// It is not running.
    #[error("container {0} is not running")]
    NotRunning(String),
    /// Bad options or an unreadable container.
    #[error("{0}")]
    Invalid(String),
    /// The user does not exist in the container.
    #[error(transparent)]
    User(#[from] users::UserError),
    /// Starting the process failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A system call failed.
    #[error(transparent)]
    Io(#[from] IoContext),
}

impl ExecError {
    /// Docker's exit code: 126/127 when the command cannot run, 1 for the rest.
    pub fn exit_code(&self) -> i32 {
        match self {
            ExecError::Runtime(RuntimeError::Start(e)) if e.code == 126 || e.code == 127 => e.code,
            ExecError::Runtime(_) => 126,
            _ => 1,
        }
    }
}

/// A file of the container's, read with every path component resolved inside its root.
fn read_in_container(pid: i32, path: &str) -> String {
    let Ok(root) = rustix::fs::open(
        format!("/proc/{pid}/root"),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        return String::new();
    };
    let resolve = rustix::fs::ResolveFlags::IN_ROOT | rustix::fs::ResolveFlags::NO_MAGICLINKS;
    let Ok(fd) = rustix::fs::openat2(
        &root,
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
        resolve,
    ) else {
        return String::new();
    };
    let mut text = String::new();
    let _ = std::fs::File::from(fd).read_to_string(&mut text);
    text
}

/// Runs the command in container `name` and returns its exit code.
pub fn exec(roots: &Roots, name: &str, options: &ExecOptions) -> Result<i32, ExecError> {
    if options.command.is_empty() {
        return Err(ExecError::Invalid("no command specified".into()));
    }
    let containers = Containers::new(&roots.root);
    let record = containers.find(name)?;
    let Some(pid) = record.init_pid() else {
        return Err(ExecError::NotRunning(record.id));
    };
    let dir = containers.dir(&record.id);
    let spec: oci_spec::runtime::Spec = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ExecError::Invalid(format!("cannot read the spec of {}", record.id)))?;
    let mut config =
        berth_runtime::spec::container_config(&record.id, &spec, &containers.mount_point(), None)
            .map_err(|e| ExecError::Invalid(e.to_string()))?;
    config.args = options.command.clone();
    config.terminal = options.tty;
    config.init = false;
    for entry in &options.env {
        let key = entry.split('=').next().unwrap_or("");
        config.env.retain(|e| e.split('=').next() != Some(key));
        config.env.push(entry.clone());
    }
    if let Some(workdir) = &options.workdir {
        if !workdir.starts_with('/') {
            return Err(ExecError::Invalid(format!(
                "the working directory \"{workdir}\" must be an absolute path"
            )));
        }
        config.cwd = workdir.clone();
    }
    if let Some(user) = &options.user {
        let resolved = users::resolve(
            user,
            &read_in_container(pid, "etc/passwd"),
            &read_in_container(pid, "etc/group"),
        )?;
        config.uid = resolved.uid;
        config.gid = resolved.gid;
        config.groups = resolved.groups;
    }
    let layout = berth_runtime::cgroups::detect().context("read the cgroup layout")?;
    let cgroup = Cgroup::at(&layout, &record.cgroup_path);
    let exec_id = crate::ids::new_id().unwrap_or_default();
    let command = options.command.join(" ");
    let code = berth_runtime::exec::exec(pid, &config, &cgroup, options.interactive, &mut |_| {
        let action = format!("exec_start: {command}");
        crate::events::container(&roots.root, &record, &action, &[("execID", &exec_id)]);
    })?;
    let code_text = code.to_string();
    crate::events::container(
        &roots.root,
        &record,
        "exec_die",
        &[("execID", &exec_id), ("exitCode", &code_text)],
    );
    Ok(code)
}
