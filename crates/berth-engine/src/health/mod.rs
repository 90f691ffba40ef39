//! Healthchecks, as Docker runs them: a command run in the container (as `exec` runs one)
//! every interval; its exit code 0 is a success, anything else a failure. A container is
//! `starting` until its first success, `healthy` after one, `unhealthy` after `retries`
//! failures in a row (failures within the start period do not count while it is starting).
//!
//! What to check is the run's `--health-*` options over the image's `Healthcheck`, resolved
//! once at create (`resolve`) and kept in the record; a monitor process (`monitor`) started
//! beside the container runs it and writes the state (`Health`) to `health.json` in the
//! container's directory, atomically, for `inspect` and `ps`. A container without a check
//! has neither monitor nor file.

mod monitor;

pub use monitor::{monitor_main, watch};

use crate::containers::Containers;
use crate::record::Record;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Docker's default interval and timeout.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Docker's default interval during the start period.
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
/// Docker's default number of failures in a row that make a container unhealthy.
const DEFAULT_RETRIES: u32 = 3;
/// How many results the state keeps.
const MAX_LOG_ENTRIES: usize = 5;
/// How much of a check's output a result keeps.
const MAX_OUTPUT: usize = 4096;

/// What to check and how often, in Docker's `HealthConfig` shape (durations in nanoseconds,
/// 0 for the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Healthcheck {
    /// `["CMD", arg...]`, `["CMD-SHELL", command]` or `["NONE"]`.
    pub test: Vec<String>,
    /// Time between checks.
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Time a check may take.
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Time after the start in which failures do not count while the container is starting.
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Time between checks during the start period.
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Failures in a row that make the container unhealthy.
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A duration in nanoseconds, or `default` for 0.
fn or_default(nanos: i64, default: Duration) -> Duration {
    match nanos {
        n if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

impl Healthcheck {
    /// The time between checks.
    pub fn interval(&self) -> Duration {
        or_default(self.interval, DEFAULT_INTERVAL)
    }

    /// The time a check may take.
    pub fn timeout(&self) -> Duration {
        or_default(self.timeout, DEFAULT_INTERVAL)
    }

    /// The start period.
    pub fn start_period(&self) -> Duration {
        or_default(self.start_period, Duration::ZERO)
    }

    /// The time between checks during the start period.
    pub fn start_interval(&self) -> Duration {
        or_default(self.start_interval, DEFAULT_START_INTERVAL)
    }

    /// The failures in a row that make the container unhealthy.
    pub fn retries(&self) -> u32 {
        match self.retries {
            n if n > 0 => n.min(u32::MAX as i64) as u32,
            _ => DEFAULT_RETRIES,
        }
    }

    /// The command the check runs: `CMD`'s arguments, or `CMD-SHELL`'s under `/bin/sh -c`.
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((kind, args)) if kind == "CMD" && !args.is_empty() => Some(args.to_vec()),
            Some((kind, [command])) if kind == "CMD-SHELL" => {
                Some(vec!["/bin/sh".into(), "-c".into(), command.clone()])
            }
            _ => None,
        }
    }
}

/// The `run`/`create` options of a healthcheck.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthOptions {
    /// `--health-cmd`: run with `/bin/sh -c`.
    pub cmd: Option<String>,
    /// `--health-interval`
    pub interval: Option<Duration>,
    /// `--health-timeout`
    pub timeout: Option<Duration>,
    /// `--health-start-period`
    pub start_period: Option<Duration>,
    /// `--health-start-interval`
    pub start_interval: Option<Duration>,
    /// `--health-retries`
    pub retries: Option<i64>,
    /// `--no-healthcheck`
    pub disabled: bool,
}

/// The check a new container gets: `options` over the image's `Healthcheck` (`image`, JSON
/// null when it has none), as Docker merges them; `None` for no check (none set, or
/// `NONE`). Docker's messages for options it refuses.
pub fn resolve(
    options: &HealthOptions,
    image: &serde_json::Value,
) -> Result<Option<Healthcheck>, String> {
    let durations = [
        ("interval", options.interval),
        ("timeout", options.timeout),
        ("start-period", options.start_period),
        ("start-interval", options.start_interval),
    ];
    let any_set = options.cmd.is_some()
        || options.retries.is_some()
        || durations.iter().any(|(_, d)| d.is_some());
    if options.disabled && any_set {
        return Err("--no-healthcheck conflicts with --health-* options".into());
    }
    if options.retries.is_some_and(|r| r < 0) {
        return Err("--health-retries cannot be negative".into());
    }
    for (name, duration) in durations {
        if duration.is_some_and(|d| !d.is_zero() && d < Duration::from_millis(1)) {
            return Err(format!("--health-{name} cannot be less than 1ms"));
        }
    }
    let nanos = |d: Option<Duration>| d.map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64);
    let image: Healthcheck = serde_json::from_value(image.clone()).unwrap_or_default();
    let check = match (options.disabled, any_set) {
        (true, _) => return Ok(None),
        (false, false) => image,
        (false, true) => Healthcheck {
            test: match &options.cmd {
                Some(cmd) => vec!["CMD-SHELL".into(), cmd.clone()],
                None => image.test,
            },
            interval: Some(nanos(options.interval))
                .filter(|n| *n > 0)
                .unwrap_or(image.interval),
            timeout: Some(nanos(options.timeout))
                .filter(|n| *n > 0)
                .unwrap_or(image.timeout),
            start_period: Some(nanos(options.start_period))
                .filter(|n| *n > 0)
                .unwrap_or(image.start_period),
            start_interval: Some(nanos(options.start_interval))
                .filter(|n| *n > 0)
                .unwrap_or(image.start_interval),
            retries: options.retries.filter(|r| *r > 0).unwrap_or(image.retries),
        },
    };
    Ok(check.command().is_some().then_some(check))
}

/// A container's health, Docker's `State.Health.Status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No success yet.
    #[default]
    Starting,
    /// The last check succeeded (or failed fewer than `retries` times in a row).
    Healthy,
    /// `retries` checks in a row failed, or the container stopped.
    Unhealthy,
}

impl HealthStatus {
    /// Docker's word: `starting`, `healthy`, `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// What `ps` adds to `Up 5 seconds`: `(healthy)`, `(unhealthy)`, `(health: starting)`.
    pub fn ps_suffix(self) -> &'static str {
        match self {
            HealthStatus::Starting => "(health: starting)",
            HealthStatus::Healthy => "(healthy)",
            HealthStatus::Unhealthy => "(unhealthy)",
        }
    }
}

/// One check's result, Docker's `HealthcheckResult`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    /// When it started (RFC 3339).
    pub start: String,
    /// When it ended.
    pub end: String,
    /// Its exit code; -1 when it could not run or timed out.
    pub exit_code: i32,
    /// Its output, stdout and stderr together, at most 4 KiB.
    pub output: String,
}

/// A container's health, Docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// Its status.
    pub status: HealthStatus,
    /// Failures in a row.
    pub failing_streak: u32,
    /// The last results, oldest first.
    pub log: Vec<Probe>,
}

impl Health {
    /// Takes a check's result in, as Docker does, with the container started `since_start`
    /// ago.
    pub fn add(&mut self, probe: Probe, check: &Healthcheck, since_start: Duration) {
        if probe.exit_code == 0 {
            self.status = HealthStatus::Healthy;
            self.failing_streak = 0;
        } else if self.status != HealthStatus::Starting || since_start >= check.start_period() {
            self.failing_streak += 1;
            if self.failing_streak >= check.retries() {
                self.status = HealthStatus::Unhealthy;
            }
        }
        self.log.push(probe);
        let extra = self.log.len().saturating_sub(MAX_LOG_ENTRIES);
        self.log.drain(..extra);
    }
}

/// The path of a container's health state.
fn state_path(containers: &Containers, id: &str) -> std::path::PathBuf {
    containers.dir(id).join("health.json")
}

/// A container's health, when it has a check and has run: as its monitor last wrote it, else
/// (a monitor about to write) `starting`. A container never started has none, as in Docker.
pub fn read(containers: &Containers, record: &Record) -> Option<Health> {
    record.healthcheck.as_ref()?;
    let written = std::fs::read(state_path(containers, &record.id))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    written.or_else(|| record.is_running().then(Health::default))
}

/// The health status of a container in the container list: `Some` for a running container
/// with a check (what `ps` shows after its status, and `ps --filter health=` matches; a
/// container without one is `none` there).
pub fn status(containers: &Containers, record: &Record) -> Option<HealthStatus> {
    match record.is_running() {
        true => read(containers, record).map(|h| h.status),
        false => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(code: i32) -> Probe {
        Probe {
            exit_code: code,
            ..Probe::default()
        }
    }

    #[test]
    fn options_override_the_images_check_as_docker_merges_them() {
        let image = serde_json::json!({"Test": ["CMD", "true"], "Interval": 5_000_000_000i64, "Retries": 4});
        let none = HealthOptions::default();
        let from_image = resolve(&none, &image).unwrap().unwrap();
        assert_eq!(from_image.test, ["CMD", "true"]);
        assert_eq!(from_image.interval(), Duration::from_secs(5));
        assert_eq!(from_image.timeout(), Duration::from_secs(30));
        assert_eq!(from_image.retries(), 4);
        let options = HealthOptions {
            cmd: Some("exit 1".into()),
            interval: Some(Duration::from_secs(1)),
            ..HealthOptions::default()
        };
        let merged = resolve(&options, &image).unwrap().unwrap();
        assert_eq!(merged.test, ["CMD-SHELL", "exit 1"]);
        assert_eq!(merged.interval, 1_000_000_000);
        assert_eq!(merged.retries, 4);
        assert_eq!(merged.command().unwrap(), ["/bin/sh", "-c", "exit 1"]);
        let disabled = HealthOptions {
            disabled: true,
            ..HealthOptions::default()
        };
        assert_eq!(resolve(&disabled, &image), Ok(None));
        assert_eq!(resolve(&none, &serde_json::Value::Null), Ok(None));
        assert_eq!(
            resolve(&none, &serde_json::json!({"Test": ["NONE"]})),
            Ok(None)
        );
        assert_eq!(
            resolve(
                &HealthOptions {
                    retries: Some(2),
                    ..disabled.clone()
                },
                &image
            ),
            Err("--no-healthcheck conflicts with --health-* options".into())
        );
        assert!(
            resolve(
                &HealthOptions {
                    retries: Some(-1),
                    ..none.clone()
                },
                &image
            )
            .is_err()
        );
    }

    #[test]
    fn results_move_the_status_as_dockers_do() {
        let check = Healthcheck {
            test: vec!["CMD".into(), "true".into()],
            retries: 2,
            start_period: 10_000_000_000,
            ..Healthcheck::default()
        };
        let mut health = Health::default();
        // Failures in the start period do not count while starting.
        health.add(probe(1), &check, Duration::from_secs(1));
        assert_eq!(
            (health.status, health.failing_streak),
            (HealthStatus::Starting, 0)
        );
        health.add(probe(0), &check, Duration::from_secs(2));
        assert_eq!(health.status, HealthStatus::Healthy);
        // Once healthy they count, in the start period too.
        health.add(probe(1), &check, Duration::from_secs(3));
        assert_eq!(
            (health.status, health.failing_streak),
            (HealthStatus::Healthy, 1)
        );
        health.add(probe(-1), &check, Duration::from_secs(4));
        assert_eq!(
            (health.status, health.failing_streak),
            (HealthStatus::Unhealthy, 2)
        );
        for _ in 0..5 {
            health.add(probe(0), &check, Duration::from_secs(20));
        }
        assert_eq!(health.log.len(), MAX_LOG_ENTRIES);
        assert_eq!(
            (health.status, health.failing_streak),
            (HealthStatus::Healthy, 0)
        );
    }
}
