//! The command line of `berth __relay`, the lean process a detached container's supervisor
//! re-executes itself as (see `supervisor`): written by `RelayArgs::to_args` and read back by
//! `RelayArgs::from_args`, before the CLI's parser and logging are set up, to keep the relay
//! small.
//!
//! ```text
//! ROOT RUN_ROOT ID PID (json-file | none)
//!     (tty MASTER_FD | pipes STDOUT_FD STDERR_FD | pipes+stdin STDOUT_FD STDERR_FD STDIN_FD)
//!     [PORT_FD...]
//! ```

use crate::paths::Roots;
use crate::record::LogDriver;
use std::ffi::{OsStr, OsString};
use std::os::fd::RawFd;
use std::path::PathBuf;

/// What the relay is given: the container, its log driver, and the descriptors it inherits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayArgs {
    /// The data and run roots.
    pub roots: Roots,
    /// The container's id.
    pub id: String,
    /// The container's init, a child of the relay.
    pub pid: i32,
    /// Where the container's output goes.
    pub log_driver: LogDriver,
    /// The descriptors of the container's output (and input).
    pub streams: RelayStreams,
    /// The sockets that hold its published host ports.
    pub ports: Vec<RawFd>,
}

/// The descriptors of a detached container's streams that the relay inherits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayStreams {
    /// The master of its terminal (`-t`).
    Terminal(RawFd),
    /// Its output pipes, and its input pipe with `-i`.
    Pipes {
        /// Its stdout's read end.
        stdout: RawFd,
        /// Its stderr's read end.
        stderr: RawFd,
        /// Its stdin's write end, with `-i`.
        stdin: Option<RawFd>,
    },
}

/// Arguments that are not what `RelayArgs::to_args` writes: another berth binary's, or not
/// the supervisor's at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RelayArgsError {
    /// An argument is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// An argument is not what its place takes.
    #[error("invalid {what}: {value:?}")]
    Invalid {
        /// What it should be.
        what: &'static str,
        /// What it is.
        value: String,
    },
}

impl RelayArgs {
    /// The command line after `__relay`.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            self.roots.root.clone().into(),
            self.roots.run_root.clone().into(),
            self.id.clone().into(),
            self.pid.to_string().into(),
            self.log_driver.as_str().into(),
        ];
        let (kind, fds) = match self.streams {
            RelayStreams::Terminal(master) => ("tty", vec![master]),
            RelayStreams::Pipes {
                stdout,
                stderr,
                stdin: None,
            } => ("pipes", vec![stdout, stderr]),
            RelayStreams::Pipes {
                stdout,
                stderr,
                stdin: Some(stdin),
            } => ("pipes+stdin", vec![stdout, stderr, stdin]),
        };
        args.push(kind.into());
        args.extend(
            fds.iter()
                .chain(&self.ports)
                .map(|fd| fd.to_string().into()),
        );
        args
    }

    /// Reads back what `to_args` wrote.
    pub fn from_args<S: AsRef<OsStr>>(args: &[S]) -> Result<RelayArgs, RelayArgsError> {
        let mut args = args.iter().map(AsRef::as_ref);
        let mut next = |what| args.next().ok_or(RelayArgsError::Missing(what));
        let root = PathBuf::from(next("the data root")?);
        let run_root = PathBuf::from(next("the run root")?);
        let id = text(next("the container id")?, "container id")?.to_owned();
        let pid = parse(next("the container's pid")?, "pid")?;
        let log_driver = parse(next("the log driver")?, "log driver")?;
        let streams = match text(next("the kind of streams")?, "kind of streams")? {
            "tty" => RelayStreams::Terminal(fd(next("the terminal")?)?),
            kind @ ("pipes" | "pipes+stdin") => RelayStreams::Pipes {
                stdout: fd(next("stdout")?)?,
                stderr: fd(next("stderr")?)?,
                stdin: match kind {
                    "pipes" => None,
                    _ => Some(fd(next("stdin")?)?),
                },
            },
            other => return Err(invalid(OsStr::new(other), "kind of streams")),
        };
        let ports = args.map(fd).collect::<Result<_, _>>()?;
        Ok(RelayArgs {
            roots: Roots { root, run_root },
            id,
            pid,
            log_driver,
            streams,
            ports,
        })
    }
}

/// `arg` as text.
fn text<'a>(arg: &'a OsStr, what: &'static str) -> Result<&'a str, RelayArgsError> {
    arg.to_str().ok_or_else(|| invalid(arg, what))
}

/// `arg` parsed as a `T`.
fn parse<T: std::str::FromStr>(arg: &OsStr, what: &'static str) -> Result<T, RelayArgsError> {
    text(arg, what)?.parse().map_err(|_| invalid(arg, what))
}

/// `arg` as an inherited descriptor: above the standard three.
fn fd(arg: &OsStr) -> Result<RawFd, RelayArgsError> {
    match parse(arg, "descriptor")? {
        fd if fd > 2 => Ok(fd),
        _ => Err(invalid(arg, "descriptor")),
    }
}

/// `arg` is not a `what`.
fn invalid(arg: &OsStr, what: &'static str) -> RelayArgsError {
    RelayArgsError::Invalid {
        what,
        value: arg.to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(streams: RelayStreams, ports: Vec<RawFd>) -> RelayArgs {
        RelayArgs {
            roots: Roots {
                root: "/var/lib/berth".into(),
                run_root: "/run/berth".into(),
            },
            id: "0123456789abcdef".into(),
            pid: 4242,
            log_driver: LogDriver::JsonFile,
            streams,
            ports,
        }
    }

    #[test]
    fn every_form_round_trips() {
        let forms = [
            args(RelayStreams::Terminal(5), vec![]),
            args(
                RelayStreams::Pipes {
                    stdout: 5,
                    stderr: 6,
                    stdin: None,
                },
                vec![9, 10],
            ),
            RelayArgs {
                log_driver: LogDriver::None,
                ..args(
                    RelayStreams::Pipes {
                        stdout: 3,
                        stderr: 4,
                        stdin: Some(7),
                    },
                    vec![8],
                )
            },
        ];
        for form in forms {
            assert_eq!(RelayArgs::from_args(&form.to_args()), Ok(form));
        }
    }

    #[test]
    fn the_command_line_is_the_documented_one() {
        let form = args(
            RelayStreams::Pipes {
                stdout: 5,
                stderr: 6,
                stdin: Some(7),
            },
            vec![8],
        );
        let expected =
            "/var/lib/berth /run/berth 0123456789abcdef 4242 json-file pipes+stdin 5 6 7 8";
        assert_eq!(form.to_args().join(OsStr::new(" ")), expected);
    }

    #[test]
    fn a_mismatch_says_what_is_wrong() {
        let good = args(RelayStreams::Terminal(5), vec![]).to_args();
        let with = |i: usize, value: &str| {
            let mut bad = good.clone();
            bad[i] = value.into();
            RelayArgs::from_args(&bad).unwrap_err().to_string()
        };
        assert_eq!(with(3, "x"), "invalid pid: \"x\"");
        assert_eq!(with(4, "syslog"), "invalid log driver: \"syslog\"");
        assert_eq!(with(5, "pty"), "invalid kind of streams: \"pty\"");
        assert_eq!(with(6, "1"), "invalid descriptor: \"1\"");
        assert_eq!(
            RelayArgs::from_args(&good[..6]).unwrap_err().to_string(),
            "missing the terminal"
        );
        assert_eq!(
            RelayArgs::from_args::<&str>(&[]).unwrap_err().to_string(),
            "missing the data root"
        );
    }
}
