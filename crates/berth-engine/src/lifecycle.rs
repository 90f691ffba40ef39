//! What can be done to an existing container: stop, kill, remove, wait.

use crate::containers::{Containers, FindError};
use crate::notices::Notices;
use crate::record::Record;
use std::path::Path;
use std::time::{Duration, Instant};

/// A life-cycle operation failed; the message is Docker's.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// No such container, or an ambiguous prefix.
    #[error(transparent)]
    Find(#[from] FindError),
    /// The container does not run.
    #[error("cannot kill container: {0}: container {1} is not running")]
    NotRunning(String, String),
    /// `rm` of a running container without `-f`.
    #[error(
        "cannot remove container \"/{0}\": container is running: stop the container before removing or force remove"
    )]
    Running(String),
    /// `pause`/`unpause` of a container that does not run.
    #[error("cannot {0} container {1}: it is not running")]
    NotRunningFor(&'static str, String),
    /// `pause` of a paused container, `unpause` of a running one.
    #[error("container {0} is {1}")]
    PauseState(String, &'static str),
    /// An unknown signal name or number.
    #[error("invalid signal: {0}")]
    BadSignal(String),
    /// The host refused something.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The signal `text` names: `SIGTERM`, `TERM`, `15`.
pub fn parse_signal(text: &str) -> Result<i32, LifecycleError> {
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(LifecycleError::BadSignal(text.into()))
        };
    }
    let name = text.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let table = [
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("ILL", libc::SIGILL),
        ("TRAP", libc::SIGTRAP),
        ("ABRT", libc::SIGABRT),
        ("BUS", libc::SIGBUS),
        ("FPE", libc::SIGFPE),
        ("KILL", libc::SIGKILL),
        ("USR1", libc::SIGUSR1),
        ("SEGV", libc::SIGSEGV),
        ("USR2", libc::SIGUSR2),
        ("PIPE", libc::SIGPIPE),
        ("ALRM", libc::SIGALRM),
        ("TERM", libc::SIGTERM),
        ("CHLD", libc::SIGCHLD),
        ("CONT", libc::SIGCONT),
        ("STOP", libc::SIGSTOP),
        ("TSTP", libc::SIGTSTP),
        ("TTIN", libc::SIGTTIN),
        ("TTOU", libc::SIGTTOU),
        ("URG", libc::SIGURG),
        ("XCPU", libc::SIGXCPU),
        ("XFSZ", libc::SIGXFSZ),
        ("VTALRM", libc::SIGVTALRM),
        ("PROF", libc::SIGPROF),
        ("WINCH", libc::SIGWINCH),
        ("IO", libc::SIGIO),
        ("PWR", libc::SIGPWR),
        ("SYS", libc::SIGSYS),
    ];
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| LifecycleError::BadSignal(text.into()))
}

fn signal(record: &Record, sig: i32) -> Result<(), LifecycleError> {
    let pid = record
        .init_pid()
        .ok_or_else(|| LifecycleError::NotRunning(record.name.clone(), record.id.clone()))?;
    // SAFETY: kill with the container's init pid, which its live supervisor owns.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

/// The container's cgroup.
fn cgroup_of(record: &Record) -> Result<berth_runtime::cgroup::Cgroup, LifecycleError> {
    let layout = berth_runtime::cgroups::detect()?;
    Ok(berth_runtime::cgroup::Cgroup::at(
        &layout,
        &record.cgroup_path,
    ))
}

/// Freezes (`pause`) or thaws (`unpause`) every process of a running container.
pub fn set_paused(
    containers: &Containers,
    name: &str,
    paused: bool,
) -> Result<Record, LifecycleError> {
    let record = containers.find(name)?;
    if !record.is_running() {
        return Err(LifecycleError::NotRunningFor(
            if paused { "pause" } else { "unpause" },
            record.id,
        ));
    }
    if record.paused == paused {
        return Err(LifecycleError::PauseState(
            record.id,
            if paused {
                "already paused"
            } else {
                "not paused"
            },
        ));
    }
    cgroup_of(&record)?
        .freeze(paused)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    containers.update(&record.id, |r| r.paused = paused)?;
    let action = if paused { "pause" } else { "unpause" };
    crate::events::container(containers.data_root(), &record, action, &[]);
    Ok(record)
}

/// Thaws a paused container so that signals reach it.
fn thaw(containers: &Containers, record: &Record) {
    if record.paused
        && let Ok(cgroup) = cgroup_of(record)
    {
        let _ = cgroup.freeze(false);
        let _ = containers.update(&record.id, |r| r.paused = false);
    }
}

/// Sends `sig` to the container's init.
pub fn kill(containers: &Containers, name: &str, sig: i32) -> Result<Record, LifecycleError> {
    let record = containers.find(name)?;
    thaw(containers, &record);
    signal(&record, sig)?;
    kill_event(containers, &record, sig);
    Ok(record)
}

/// The `kill` event of `sig` sent to the container.
fn kill_event(containers: &Containers, record: &Record, sig: i32) {
    let sig = sig.to_string();
    crate::events::container(containers.data_root(), record, "kill", &[("signal", &sig)]);
}

/// Waits until the container no longer runs (or is gone), at most `timeout`; whether it
/// stopped running by then.
pub fn wait_not_running(containers: &Containers, id: &str, timeout: Duration) -> bool {
    let deadline = Instant::now().checked_add(timeout);
    loop {
        match containers.get(id) {
            Ok(record) if record.is_running() => {}
            _ => return true,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops the container: its stop signal, then SIGKILL after `timeout`. Stopping a stopped
/// container succeeds, as in Docker. A stopped container is not restarted by its policy.
pub fn stop(
    containers: &Containers,
    name: &str,
    timeout: Duration,
    notices: &dyn Notices,
) -> Result<Record, LifecycleError> {
    stop_marked(containers, name, timeout, false, notices)
}

/// `stop` for `restart`: an `--rm` container is kept to be started again (Docker's
/// `restart` does not remove it either).
pub fn stop_to_restart(
    containers: &Containers,
    name: &str,
    timeout: Duration,
    notices: &dyn Notices,
) -> Result<Record, LifecycleError> {
    stop_marked(containers, name, timeout, true, notices)
}

fn stop_marked(
    containers: &Containers,
    name: &str,
    timeout: Duration,
    restarting: bool,
    notices: &dyn Notices,
) -> Result<Record, LifecycleError> {
    let record = containers.find(name)?;
    // Marked before the signal, so that the supervisor, which reads the mark when the
    // container ends, sees it; and even when nothing runs: a supervisor between two
    // restarts reads it. A mark that cannot be written (a full disk) stops nothing less.
    let marked = containers.update(&record.id, |r| {
        r.stopped_by_user = true;
        r.restarting = restarting;
    });
    if record.is_running() {
        thaw(containers, &record);
        let sig = parse_signal(&record.stop_signal).unwrap_or(libc::SIGTERM);
        if signal(&record, sig).is_ok() {
            kill_event(containers, &record, sig);
        }
        if !wait_not_running(containers, &record.id, timeout) {
            if signal(&record, libc::SIGKILL).is_ok() {
                kill_event(containers, &record, libc::SIGKILL);
            }
            wait_not_running(containers, &record.id, Duration::from_secs(30));
        }
        crate::events::container(containers.data_root(), &record, "stop", &[]);
    }
    if let Err(e) = marked {
        // Docker's stop succeeds too when the state cannot be saved (its daemon logs it).
        notices.warning(&format!(
            "container {} is stopped, but that a user stopped it cannot be recorded: {e}",
            record.name
        ));
    }
    Ok(record)
}

/// Removes the container; a running one only with `force` (then it is killed first). What
/// it may still hold on the host (run root `run_root`) goes with it: what a killed berth
/// command left of its network and cgroups. Nothing is written: it works on a full disk.
pub fn remove(
    containers: &Containers,
    run_root: &Path,
    name: &str,
    force: bool,
) -> Result<Record, LifecycleError> {
    let record = containers.find(name)?;
    if record.is_running() {
        if !force {
            return Err(LifecycleError::Running(record.name));
        }
        // No restart: the mark, or else the missing directory, says so to the supervisor.
        let _ = containers.update(&record.id, |r| r.stopped_by_user = true);
        thaw(containers, &record);
        let _ = signal(&record, libc::SIGKILL);
        wait_not_running(containers, &record.id, Duration::from_secs(30));
    }
    let _lock = match containers.lock(&record.id) {
        // Gone meanwhile (an ended `--rm` container): removed already.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(record),
        locked => locked?,
    };
    // Read again under the lock: a start may have claimed it meanwhile.
    let record = containers.get(&record.id).unwrap_or(record);
    if record.is_running() {
        return Err(LifecycleError::Running(record.name));
    }
    let layout = berth_runtime::cgroups::detect()?;
    containers.tear_down(run_root, &layout, &record);
    containers.remove(&record.id)?;
    crate::events::container(containers.data_root(), &record, "destroy", &[]);
    Ok(record)
}

/// One line of `stats`: CPU share over `interval`, memory use and limit, processes.
pub struct Stats {
    /// The container.
    pub record: Record,
    /// Percent of one CPU.
    pub cpu_percent: f64,
    /// Bytes in use.
    pub memory: u64,
    /// The limit, or the host's memory.
    pub memory_limit: u64,
    /// Processes.
    pub pids: u64,
}

/// Samples a running container's cgroup twice, `interval` apart.
pub fn stats(
    containers: &Containers,
    name: &str,
    interval: Duration,
) -> Result<Stats, LifecycleError> {
    let record = containers.find(name)?;
    if !record.is_running() {
        return Err(LifecycleError::NotRunningFor("read stats of", record.id));
    }
    let cgroup = cgroup_of(&record)?;
    let first = (cgroup.cpu_usage_ns().unwrap_or(0), Instant::now());
    std::thread::sleep(interval);
    let used = cgroup.cpu_usage_ns().unwrap_or(0).saturating_sub(first.0) as f64;
    let cpu_percent = 100.0 * used / first.1.elapsed().as_nanos().max(1) as f64;
    let host_memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024);
    let (memory, limit) = cgroup.memory().unwrap_or((0, None));
    Ok(Stats {
        record,
        cpu_percent,
        memory,
        memory_limit: limit.unwrap_or(host_memory).min(host_memory.max(1)),
        pids: cgroup.pids_current().unwrap_or(0),
    })
}

/// The container's processes, pids as the host sees them.
pub fn top(
    containers: &Containers,
    name: &str,
) -> Result<Vec<berth_runtime::host::ProcessInfo>, LifecycleError> {
    let record = containers.find(name)?;
    if !record.is_running() {
        return Err(LifecycleError::NotRunningFor(
            "list the processes of",
            record.id,
        ));
    }
    Ok(cgroup_of(&record)?
        .pids()
        .into_iter()
        .map(berth_runtime::host::process_info)
        .collect())
}

/// Blocks until the container has exited; returns its exit code.
pub fn wait(containers: &Containers, name: &str) -> Result<i32, LifecycleError> {
    let record = containers.find(name)?;
    wait_not_running(containers, &record.id, Duration::MAX);
    Ok(containers
        .get(&record.id)
        .ok()
        .and_then(|r| r.exit_code)
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("kill").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
