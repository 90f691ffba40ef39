//! OCI hooks: programs the spec names, run at points of the container's life with its state as
//! JSON on their stdin. A hook that fails, or outlives its `timeout`, fails that step.

use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where in the container's life hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// `prestart` (deprecated): in the runtime's namespaces, once the container's exist,
    /// before `pivot_root`; told the status `created`, as crun does (runtime-spec 1.0 ran them
    /// at `start`).
    Prestart,
    /// `createRuntime`: right after the `prestart` hooks, told the status `creating`.
    CreateRuntime,
    /// `createContainer`: in the container's namespaces, before `pivot_root`.
    CreateContainer,
    /// `startContainer`: in the container, before its command.
    StartContainer,
    /// `poststart`: in the runtime's namespaces, once the command runs.
    Poststart,
    /// `poststop`: in the runtime's namespaces, once the container is deleted.
    Poststop,
}

/// The hooks of `point` in `spec`, in the order they run.
pub fn of(spec: &oci_spec::runtime::Spec, point: Point) -> Vec<Hook> {
    let Some(hooks) = spec.hooks() else {
        return Vec::new();
    };
    let lists = match point {
        Point::Prestart => vec![hooks.prestart()],
        Point::CreateRuntime => vec![hooks.create_runtime()],
        Point::CreateContainer => vec![hooks.create_container()],
        Point::StartContainer => vec![hooks.start_container()],
        Point::Poststart => vec![hooks.poststart()],
        Point::Poststop => vec![hooks.poststop()],
    };
    lists.into_iter().flatten().flatten().cloned().collect()
}

/// Runs `hooks` in order, each with `state` (the OCI state JSON) on stdin.
pub fn run(hooks: &[Hook], state: &str) -> Result<(), String> {
    for hook in hooks {
        run_one(hook, state)?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state: &str) -> Result<(), String> {
    let path = hook.path();
    let name = path.display();
    let mut command = Command::new(path);
    if let Some(args) = hook.args() {
        if let Some(first) = args.first() {
            command.arg0(first);
        }
        command.args(args.iter().skip(1));
    }
    command.env_clear();
    for entry in hook.env().iter().flatten() {
        if let Some((key, value)) = entry.split_once('=') {
            command.env(key, value);
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("hook {name}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may ignore its stdin and exit: a broken pipe is not its failure.
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                return Err(format!("hook {name} failed ({status}): {}", stderr.trim()));
            }
            Ok(None) if deadline.is_some_and(|d| Instant::now() > d) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("hook {name} timed out"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("hook {name}: {e}")),
        }
    }
}
