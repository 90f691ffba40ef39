//! The monitor of a container's healthcheck: `berth __health ROOT ID PID`, a process of its
//! own session beside the container (reparented to init: nobody waits for it), started once
//! the container runs, by its supervisor or by the foreground `berth run`. It holds a pidfd
//! of the container's init and sleeps in `poll` on it between checks, so that it ends with
//! the container; each check is an `exec` into the container (its namespaces, cgroup, user,
//! environment, capabilities and seccomp filter, prepared once), its output on a pipe, killed
//! at its timeout. After each check it writes the state (`health.json`) and, when the status
//! changed, a `health_status` event.

use super::{Health, HealthStatus, Healthcheck, MAX_OUTPUT, Probe, state_path};
use crate::containers::{Containers, write_private};
use crate::paths::Roots;
use crate::record::Record;
use berth_runtime::cgroup::Cgroup;
use berth_runtime::container::ContainerConfig;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use rustix::process::{Pid, PidfdFlags, WaitOptions, pidfd_open};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where the monitor finds the pidfd of the container's init.
const PIDFD: i32 = 3;

/// Starts the monitor of container `id`, whose init is `pid`, a child of this process (so
/// that its pid cannot be another's before this process reaps it). A monitor that cannot be
/// started is a warning: the container runs on, its health `starting`.
pub fn watch(roots: &Roots, id: &str, pid: i32) {
    if let Err(e) = spawn(&roots.root, id, pid) {
        tracing::warn!(id, %e, "cannot start the healthcheck monitor");
    }
}

fn spawn(root: &Path, id: &str, pid: i32) -> std::io::Result<()> {
    let pid_fd = pidfd_open(
        Pid::from_raw(pid).ok_or(std::io::ErrorKind::InvalidInput)?,
        PidfdFlags::empty(),
    )?;
    let raw = pid_fd.as_raw_fd();
    let mut command = berth_runtime::sealed_exe::berth_command();
    command
        .arg("__health")
        .arg(root)
        .args([id, &pid.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls: fork, _exit, setsid, dup2.
    // The first child exits at once (reaped below): the monitor, its child, goes to init.
    unsafe {
        command.pre_exec(move || {
            match libc::fork() {
                -1 => return Err(std::io::Error::last_os_error()),
                0 => {}
                _ => libc::_exit(0),
            }
            if libc::setsid() < 0 || libc::dup2(raw, PIDFD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()?.wait()?;
    Ok(())
}

/// `berth __health ROOT ID PID`: checks the container until it ends, then records it
/// `unhealthy`, as Docker does once its monitor stops. Returns the exit code.
pub fn monitor_main(args: &[String]) -> i32 {
    let [root, id, pid] = args else {
        return 125;
    };
    let Ok(pid) = pid.parse::<i32>() else {
        return 125;
    };
    // SAFETY: `spawn` put the pidfd there for the monitor alone.
    let container = unsafe { OwnedFd::from_raw_fd(PIDFD) };
    let containers = Containers::new(Path::new(root));
    match Checker::new(&containers, id, pid) {
        Ok(checker) => checker.run(&containers, &container),
        Err(e) => {
            tracing::warn!(id, %e, "cannot check the container's health");
            1
        }
    }
}

/// What each check needs, prepared once.
struct Checker {
    record: Record,
    check: Healthcheck,
    config: ContainerConfig,
    cgroup: Cgroup,
    pid: i32,
    null: OwnedFd,
}

impl Checker {
    fn new(containers: &Containers, id: &str, pid: i32) -> Result<Checker, String> {
        let record = containers.get(id).map_err(|e| e.to_string())?;
        let check = record
            .healthcheck
            .clone()
            .ok_or("the container has no healthcheck")?;
        let command = check.command().ok_or("the healthcheck runs nothing")?;
        let spec: oci_spec::runtime::Spec = std::fs::read(containers.dir(id).join("config.json"))
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))?;
        let mut config =
            berth_runtime::spec::container_config(id, &spec, &containers.mount_point(), None)
                .map_err(|e| e.to_string())?;
        config.args = command;
        config.terminal = false;
        config.init = false;
        config.outlive_parent = false;
        let layout = berth_runtime::cgroups::detect().map_err(|e| e.to_string())?;
        let cgroup = Cgroup::at(&layout, &record.cgroup_path);
        let null = rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Checker {
            record,
            check,
            config,
            cgroup,
            pid,
            null,
        })
    }

    /// Checks every interval until the container ends.
    fn run(self, containers: &Containers, container: &OwnedFd) -> i32 {
        let started = Instant::now();
        let mut health = super::read(containers, &self.record).unwrap_or_default();
        health.status = HealthStatus::Starting;
        health.failing_streak = 0;
        self.save(containers, &health);
        loop {
            let starting = health.status == HealthStatus::Starting
                && started.elapsed() < self.check.start_period();
            let wait = match starting {
                true => self.check.start_interval(),
                false => self.check.interval(),
            };
            if ends_within(container, wait) {
                break;
            }
            let before = health.status;
            let probe = self.probe();
            health.add(probe, &self.check, started.elapsed());
            self.save(containers, &health);
            if health.status != before {
                self.event(containers, health.status);
            }
        }
        health.status = HealthStatus::Unhealthy;
        self.save(containers, &health);
        0
    }

    fn event(&self, containers: &Containers, status: HealthStatus) {
        let action = format!("health_status: {}", status.as_str());
        crate::events::container(containers.data_root(), &self.record, &action, &[]);
    }

    /// Writes the state atomically, under the container's lock: a container removed
    /// meanwhile (no directory to lock) gets nothing written.
    fn save(&self, containers: &Containers, health: &Health) {
        let Ok(_lock) = containers.lock(&self.record.id) else {
            return;
        };
        let path = state_path(containers, &self.record.id);
        let new = path.with_extension("json.new");
        let bytes = serde_json::to_vec(health).expect("a health state serialises");
        if write_private(&new, &bytes)
            .and_then(|()| std::fs::rename(&new, &path))
            .is_err()
        {
            let _ = std::fs::remove_file(&new);
        }
    }

    /// One check: the command exec'd into the container, its stdout and stderr on one pipe,
    /// waited for until its timeout (then killed).
    fn probe(&self) -> Probe {
        let start = crate::time::now();
        let (code, output) = match self.exec() {
            Ok((pid, output)) => self.wait(pid, output),
            Err(e) => (-1, e),
        };
        Probe {
            start,
            end: crate::time::now(),
            exit_code: code,
            output,
        }
    }

    /// Starts the check with this process's stdout and stderr on a pipe (the check inherits
    /// them), then puts them back on /dev/null; returns its pid and the pipe's read end.
    fn exec(&self) -> Result<(i32, OwnedFd), String> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| format!("pipe: {e}"))?;
        let onto = |fd: BorrowedFd<'_>| {
            for target in [1, 2] {
                // SAFETY: dup2 of a valid descriptor onto a standard one, which only this
                // monitor's checks use.
                unsafe { libc::dup2(fd.as_raw_fd(), target) };
            }
        };
        onto(write.as_fd());
        let spawned = berth_runtime::exec::exec_detached(self.pid, &self.config, &self.cgroup);
        onto(self.null.as_fd());
        drop(write);
        let (pid, _) = spawned.map_err(|e| e.to_string())?;
        rustix::fs::fcntl_setfl(&read, rustix::fs::OFlags::NONBLOCK)
            .map_err(|e| format!("pipe: {e}"))?;
        Ok((pid, read))
    }

    /// The check's exit code and output, or -1 and Docker's message at its timeout.
    fn wait(&self, pid: i32, output: OwnedFd) -> (i32, String) {
        let timeout = self.check.timeout();
        let deadline = Instant::now() + timeout;
        let child = Pid::from_raw(pid).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok());
        let mut kept = Vec::new();
        let mut open = true;
        let ended = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            let mut fds = vec![PollFd::new(&output, PollFlags::IN)];
            if let Some(child) = &child {
                fds.push(PollFd::new(child, PollFlags::IN));
            }
            if !open {
                fds.remove(0);
            }
            let wait = timespec(left.min(Duration::from_millis(100)));
            let _ = poll(&mut fds, Some(&wait));
            if open {
                open = drain(&output, &mut kept);
            }
            if has_ended(pid) {
                break true;
            }
        };
        if !ended {
            // SAFETY: kill of this process's own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let status = rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty());
        drain(&output, &mut kept);
        if !ended {
            return (
                -1,
                format!("Health check exceeded timeout ({})", go_duration(timeout)),
            );
        }
        let code = match status {
            Ok(Some((_, status))) => status
                .exit_status()
                .or_else(|| status.terminating_signal().map(|s| 128 + s))
                .unwrap_or(-1),
            _ => -1,
        };
        (code, String::from_utf8_lossy(&kept).into_owned())
    }
}

/// Whether the container ends (its pidfd turns readable) within `wait`.
fn ends_within(container: &OwnedFd, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fds = [PollFd::new(container, PollFlags::IN)];
        match poll(&mut fds, Some(&timespec(left))) {
            Ok(0) | Err(rustix::io::Errno::INTR) => {}
            _ => return true,
        }
    }
}

/// Whether child `pid` has exited (without reaping it).
fn has_ended(pid: i32) -> bool {
    let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
    // SAFETY: waitid writes a siginfo_t into `info`; WNOWAIT leaves the child to be reaped.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            info.as_mut_ptr(),
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: zeroed, then written by waitid; si_pid stays 0 while the child runs.
    r == 0 && unsafe { info.assume_init().si_pid() } != 0
}

/// Reads what the pipe holds now, keeping the first `MAX_OUTPUT` bytes; false at its end.
fn drain(pipe: &OwnedFd, kept: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(pipe, &mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => return true,
            Err(_) => return false,
        }
    }
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: d.subsec_nanos() as i64,
    }
}

/// A duration as Go prints one (`30s`, `1.5s`, `2m0s`, `500ms`), for Docker's timeout message.
fn go_duration(d: Duration) -> String {
    let trim = |value: f64| {
        let text = format!("{value:.9}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    };
    let nanos = d.as_nanos();
    match nanos {
        0 => "0s".into(),
        1..1_000 => format!("{nanos}ns"),
        1_000..1_000_000 => format!("{}µs", trim(nanos as f64 / 1e3)),
        1_000_000..1_000_000_000 => format!("{}ms", trim(nanos as f64 / 1e6)),
        _ => {
            let secs = d.as_secs();
            let s = trim((secs % 60) as f64 + f64::from(d.subsec_nanos()) / 1e9);
            match (secs / 3600, secs / 60 % 60) {
                (0, 0) => format!("{s}s"),
                (0, m) => format!("{m}m{s}s"),
                (h, m) => format!("{h}h{m}m{s}s"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_gos() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_secs(120)), "2m0s");
        assert_eq!(go_duration(Duration::from_secs(3661)), "1h1m1s");
    }
}
