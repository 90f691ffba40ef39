//! The parent/child handshake: the child's way into its cgroup, the go-ahead pipe, and the
//! verdict on the error pipe (end of file: it exec'd; `=`: it waits at its start gate;
//! `code:message`: it failed).

use crate::cgroup::{Cgroup, SelfJoin};
use crate::child::{setup_err, wait_for};
use crate::error::RuntimeError;
use crate::process::StartError;
use rustix::fd::OwnedFd;
use std::io::{Read, Write};

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
