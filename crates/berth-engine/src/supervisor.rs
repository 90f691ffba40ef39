//! Detached containers. `run -d` and `start` re-execute berth as `berth __supervise ID`: a
//! small process of its own session that runs the container with its output on pipes, writes
//! the log, records the exit, and restarts it as its policy says. Nothing else stays running.
//! It reports the start (or why it failed) on a pipe, so `run -d` fails as loudly as `run`.

use crate::containers::Containers;
use crate::paths::Roots;
use crate::record::{LogDriver, Record, RestartPolicy};
use crate::relay_args::{RelayArgs, RelayArgsError, RelayStreams};
use crate::run::RunError;
use crate::run::{self, Detached};
use berth_error::Context;
use berth_runtime::container::{DetachedIo, Pipes, Stream};
use rustix::fd::{AsRawFd, OwnedFd};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

/// A json-file log grows to this size, then starts over, keeping one older file.
const MAX_LOG_BYTES: u64 = 10 << 20;

/// The descriptor on which the supervisor reports the start.
const READY_FD: i32 = 3;

/// Starts the supervisor of container `id` and waits until the container runs (or failed to).
pub fn start_detached(roots: &Roots, id: &str) -> Result<(), RunError> {
    let (ready_read, ready_write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("pipe")?;
    let mut command = berth_runtime::sealed_exe::berth_command();
    command
        .arg("--root")
        .arg(&roots.root)
        .arg("--run-root")
        .arg(&roots.run_root)
        .args(["__supervise", id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let raw = ready_write.as_raw_fd();
    // SAFETY: in the child before exec, setsid and dup2 are async-signal-safe; dup2 onto
    // READY_FD clears its close-on-exec flag, so exactly that descriptor reaches the supervisor.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 || libc::dup2(raw, READY_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().context("start the supervisor")?;
    drop(ready_write);
    let mut answer = String::new();
    File::from(ready_read)
        .read_to_string(&mut answer)
        .context("wait for the container to start")?;
    match answer.split_once(':') {
        _ if answer == "ok" => Ok(()),
        Some((code, message)) => Err(RunError::Runtime(
            berth_runtime::container::RuntimeError::Start(berth_runtime::process::StartError {
                code: code.parse().unwrap_or(125),
                message: message.to_owned(),
            }),
        )),
        None => Err(RunError::Options(
            "the container's supervisor ended before the container started".into(),
        )),
    }
}

/// The supervisor: starts container `id` and reports the start on the ready pipe when
/// `report_ready` (a restart has nobody to report to); then re-executes itself as the lean
/// relay that waits for the container. Returns (an exit code) only when the start failed.
pub fn supervise(roots: &Roots, id: &str, report_ready: bool) -> i32 {
    // SAFETY: READY_FD was put there by `start_detached`; nothing else owns it.
    let ready =
        report_ready.then(|| unsafe { <OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(READY_FD) });
    let detached = match run::launch_detached(roots, id) {
        Ok(detached) => detached,
        Err(e) => {
            if let Some(fd) = ready {
                let _ = write!(File::from(fd), "{}:{e}", e.exit_code());
            }
            return e.exit_code();
        }
    };
    if let Some(fd) = ready {
        let _ = File::from(fd).write_all(b"ok");
    }
    let error = exec_relay(roots, id, &detached);
    tracing::warn!(%error, "cannot re-execute as a relay; relaying here");
    relay(roots, id, detached)
}

/// Replaces this process with `berth __relay ...`: a fresh stack and heap holding only what
/// waiting needs. Returns only on failure.
fn exec_relay(roots: &Roots, id: &str, detached: &Detached) -> std::io::Error {
    let (mut fds, streams): (Vec<&OwnedFd>, RelayStreams) = match &detached.io {
        DetachedIo::Pipes(Pipes {
            stdout,
            stderr,
            stdin,
        }) => (
            [stdout, stderr].into_iter().chain(stdin).collect(),
            RelayStreams::Pipes {
                stdout: stdout.as_raw_fd(),
                stderr: stderr.as_raw_fd(),
                stdin: stdin.as_ref().map(AsRawFd::as_raw_fd),
            },
        ),
        DetachedIo::Terminal(master) => (vec![master], RelayStreams::Terminal(master.as_raw_fd())),
    };
    fds.extend(&detached.held);
    let args = RelayArgs {
        roots: roots.clone(),
        id: id.to_owned(),
        pid: detached.pid,
        log_driver: match detached.logged {
            true => LogDriver::JsonFile,
            false => LogDriver::None,
        },
        streams,
        ports: detached.held.iter().map(AsRawFd::as_raw_fd).collect(),
    };
    for fd in &fds {
        if let Err(e) = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()) {
            return e.into();
        }
    }
    berth_runtime::sealed_exe::berth_command()
        .arg("__relay")
        .args(args.to_args())
        .exec()
}

/// The relay: the container's output into its log until it ends, its exit recorded, and a
/// restart as its policy says (by re-executing the supervisor). Returns the exit code.
pub fn relay(roots: &Roots, id: &str, detached: Detached) -> i32 {
    let containers = Containers::new(&roots.root);
    let mut log = LogFile::new(log_path(&containers, id), detached.logged);
    let mut sink = |stream: Stream, bytes: &[u8]| log.write(stream, bytes);
    let code =
        run::finish_detached(roots, id, detached, &mut sink).unwrap_or_else(|e| e.exit_code());
    log.flush();
    restart_if_due(roots, &containers, id, code)
}

/// After an exit with `code`: restarts the container if its policy says so (by re-executing
/// the supervisor), else returns `code`. Not inlined: its frame is not on the relay's stack
/// while the relay waits.
#[inline(never)]
fn restart_if_due(roots: &Roots, containers: &Containers, id: &str, code: i32) -> i32 {
    let Ok(record) = containers.get(id) else {
        return code;
    };
    if !should_restart(&record, code) {
        return code;
    }
    std::thread::sleep(
        Duration::from_millis(100 << record.restart_count.min(6)).min(Duration::from_secs(5)),
    );
    // A user's stop during the wait found nothing running to signal: honour it here, under
    // the record's lock.
    let go_on = containers.update(id, |r| {
        if r.stopped_by_user {
            return false;
        }
        r.restart_count += 1;
        true
    });
    if !go_on.unwrap_or(false) {
        return code;
    }
    let error = berth_runtime::sealed_exe::berth_command()
        .arg("--root")
        .arg(&roots.root)
        .arg("--run-root")
        .arg(&roots.run_root)
        .args(["__supervise", "--restarted", id])
        .exec();
    tracing::warn!(%error, "cannot re-execute the supervisor; restarting here");
    supervise(roots, id, false)
}

/// `berth __relay ARGS...` (see `RelayArgs`): the container's exit code, or why `args` are not
/// what this berth's supervisor writes (another berth binary's arguments).
pub fn relay_main(args: &[String]) -> Result<i32, RelayArgsError> {
    RelayArgs::from_args(args).map(relay_from)
}

/// The relay, from its arguments.
fn relay_from(args: RelayArgs) -> i32 {
    // SAFETY: the supervisor passed these descriptors on for the relay alone.
    let own = |raw: i32| unsafe { <OwnedFd as rustix::fd::FromRawFd>::from_raw_fd(raw) };
    let io = match args.streams {
        RelayStreams::Terminal(master) => DetachedIo::Terminal(own(master)),
        RelayStreams::Pipes {
            stdout,
            stderr,
            stdin,
        } => DetachedIo::Pipes(Pipes {
            stdout: own(stdout),
            stderr: own(stderr),
            stdin: stdin.map(own),
        }),
    };
    relay(
        &args.roots,
        &args.id,
        Detached {
            pid: args.pid,
            io,
            held: args.ports.into_iter().map(own).collect(),
            logged: args.log_driver != LogDriver::None,
        },
    )
}

/// What the restart policy says after an exit with `code`.
fn should_restart(record: &Record, code: i32) -> bool {
    if record.stopped_by_user {
        return false;
    }
    match record.restart {
        RestartPolicy::OnFailure(Some(max)) => code != 0 && record.restart_count < max,
        RestartPolicy::OnFailure(None) => code != 0,
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
        RestartPolicy::No => false,
    }
}

/// The path of a container's json-file log.
pub fn log_path(containers: &Containers, id: &str) -> PathBuf {
    containers.dir(id).join(format!("{id}-json.log"))
}

/// Docker's json-file log: one `{"log","stream","time"}` object per line of output. The file
/// is opened at the first line (a relay that waits on a quiet container holds nothing of it).
struct LogFile {
    file: Option<File>,
    path: PathBuf,
    enabled: bool,
    partial: [Vec<u8>; 2],
}

impl LogFile {
    /// The log at `path`; with `enabled` false (`--log-driver none`) output is dropped.
    fn new(path: PathBuf, enabled: bool) -> LogFile {
        LogFile {
            file: None,
            path,
            enabled,
            partial: [Vec::new(), Vec::new()],
        }
    }

    fn open(&self) -> Option<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .ok()
    }

    fn write(&mut self, stream: Stream, bytes: &[u8]) {
        if !self.enabled {
            return;
        }
        let index = if stream == Stream::Stdout { 0 } else { 1 };
        self.partial[index].extend_from_slice(bytes);
        while let Some(end) = self.partial[index].iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial[index].drain(..=end).collect();
            self.entry(index, &line);
        }
        // Docker splits lines longer than 16 KiB.
        if self.partial[index].len() > 16 << 10 {
            let line = std::mem::take(&mut self.partial[index]);
            self.entry(index, &line);
        }
    }

    fn flush(&mut self) {
        for index in 0..2 {
            let line = std::mem::take(&mut self.partial[index]);
            if !line.is_empty() {
                self.entry(index, &line);
            }
        }
    }

    fn entry(&mut self, index: usize, line: &[u8]) {
        if self.file.is_none() {
            self.file = self.open();
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let entry = serde_json::json!({
            "log": String::from_utf8_lossy(line),
            "stream": if index == 0 { "stdout" } else { "stderr" },
            "time": crate::time::now(),
        });
        let _ = writeln!(file, "{entry}");
        if file.metadata().map(|m| m.len()).unwrap_or(0) > MAX_LOG_BYTES {
            let _ = fs::rename(&self.path, self.path.with_extension("log.1"));
            self.file = self.open();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        let record = |policy: &str, count: u32| Record {
            restart: policy.parse().unwrap(),
            restart_count: count,
            ..Record::default()
        };
        assert!(!should_restart(&record("no", 0), 1));
        assert!(should_restart(&record("on-failure", 0), 1));
        assert!(!should_restart(&record("on-failure", 0), 0));
        assert!(should_restart(&record("on-failure:3", 2), 1));
        assert!(!should_restart(&record("on-failure:3", 3), 1));
        assert!(should_restart(&record("always", 9), 0));
        let stopped = Record {
            stopped_by_user: true,
            ..record("always", 0)
        };
        assert!(!should_restart(&stopped, 0));
    }
}
