//! The parent/child handshake: the child's way into its cgroup, the go-ahead pipe, and the
//! verdict on the error pipe (end of file: it exec'd; `=`: it waits at its start gate;
//! `code:message`: it failed).

use crate::cgroup::{Cgroup, SelfJoin};
use crate::error::RuntimeError;
use crate::fdpass;
use crate::process::StartError;
use crate::userns::{self, IdMap};
use berth_error::{Context, IoContext};
use rustix::fd::{AsFd, OwnedFd};
use std::io::{Read, Write};

/// What was being done when the verdict pipe could not be read.
const READ_VERDICT: &str = "read the process's setup result";

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
    join.join().context("join the cgroup")?;
    let _ = rustix::io::write(verdict, b"+");
    Ok(())
}

/// The parent's half of the handshake: `pid` into its cgroup (or word that it moved itself),
/// then the go-ahead, then its verdict from the error pipe (end of file: it exec'd). A child
/// that failed before reading the go-ahead still says why on that pipe, which matters more than
/// the broken pipe here. A message without a code gets `default_code`. On failure the caller's
/// `ChildGuard` kills and reaps the child.
pub(crate) fn release_child(
    pid: i32,
    entry: CgroupEntry<'_>,
    go: OwnedFd,
    verdict: OwnedFd,
    default_code: i32,
    before_go: &mut dyn FnMut() -> Result<(), RuntimeError>,
) -> Result<(), RuntimeError> {
    let mut verdict = std::fs::File::from(verdict);
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
                Err(e) => Err(IoContext::new(READ_VERDICT, e).into()),
            }
        }
    };
    joined.and_then(|joined| {
        let sent = if joined {
            before_go()?;
            // The go-ahead carries the child's pid as the host sees it (for its hooks' state).
            std::fs::File::from(go).write_all(pid.to_string().as_bytes())
        } else {
            Ok(())
        };
        let mut chunk = [0u8; 4096];
        while message != "=" {
            let n = verdict.read(&mut chunk).context(READ_VERDICT)?;
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
            (None, Err(e)) => Err(IoContext::new("start the process", e).into()),
            (None, Ok(())) if !joined => {
                Err(StartError::setup("the process ended before it joined its cgroup").into())
            }
            (None, Ok(())) => Ok(()),
        }
    })
}

/// A new user namespace: writes the maps of child `pid`'s, then releases the child on
/// `mapped`.
pub(super) fn release_mapped(
    pid: i32,
    uid_map: &[IdMap],
    gid_map: &[IdMap],
    mapped: OwnedFd,
) -> Result<(), RuntimeError> {
    userns::write_maps(pid, uid_map, gid_map)?;
    std::fs::File::from(mapped)
        .write_all(b"1")
        .context("release the mapped process")?;
    Ok(())
}

/// On v1 the child moves itself in with the `tasks` files sent over `socket`.
pub(super) fn send_cgroup_files(pid: i32, join: &SelfJoin, socket: &OwnedFd) {
    if let Err(e) = fdpass::send_fds(socket.as_fd(), &join.files(), b"cgroup") {
        // The child failed first (its verdict says why) or cannot be reached: it ends here
        // either way, and the caller's guard reaps it.
        tracing::debug!(%e, "the cgroup's files did not reach the process");
        // SAFETY: kill our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}
