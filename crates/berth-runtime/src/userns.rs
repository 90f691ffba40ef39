//! User namespaces: the id mappings a new one gets (written by the parent into
//! `/proc/PID/uid_map` and `gid_map` while the child waits), the child's switch to the
//! namespace's root, and the clone of a container into a user namespace joined by path.
//!
//! A container made with a new user namespace is cloned with `CLONE_NEWUSER` together with its
//! other namespaces, so that they belong to it. One that joins a user namespace by path needs
//! its new namespaces owned by that one: an intermediate process joins it and clones the
//! container with `CLONE_PARENT`, so that berth stays the container's parent.

use crate::child::{clone, wait_for};
use crate::error::RuntimeError;
use crate::process::StartError;
use berth_error::Context;
use rustix::fd::{AsRawFd, OwnedFd};
use std::io::{Read, Write};

/// One line of an id map: `size` ids from `container` on inside are `host` on outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    /// The first id inside the namespace.
    pub container: u32,
    /// The first id outside it.
    pub host: u32,
    /// How many ids.
    pub size: u32,
}

impl IdMap {
    /// The host id of container id `id` under `maps`, if mapped.
    pub fn to_host(maps: &[IdMap], id: u32) -> Option<u32> {
        maps.iter()
            .find(|m| id >= m.container && id - m.container < m.size)
            .map(|m| m.host + (id - m.container))
    }
}

/// The text of an id map file: one `container host size` line per entry.
fn map_text(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container, m.host, m.size))
        .collect()
}

/// Writes the uid and gid maps of `pid`'s new user namespace (each file takes one write).
pub fn write_maps(pid: i32, uid_map: &[IdMap], gid_map: &[IdMap]) -> Result<(), RuntimeError> {
    for (file, maps) in [("uid_map", uid_map), ("gid_map", gid_map)] {
        std::fs::write(format!("/proc/{pid}/{file}"), map_text(maps)).context(
            if file == "uid_map" {
                "write the user namespace's uid_map"
            } else {
                "write the user namespace's gid_map"
            },
        )?;
    }
    Ok(())
}

/// The child, in a new user namespace: waits until its parent has written the maps (a byte
/// on `mapped`), then becomes the namespace's root.
pub(crate) fn wait_for_maps(mapped: OwnedFd) -> Result<(), StartError> {
    let mut byte = [0u8; 1];
    std::fs::File::from(mapped)
        .read_exact(&mut byte)
        .map_err(|_| StartError::setup("berth went away before the user namespace was mapped"))?;
    become_root()
}

/// Takes uid and gid 0 of the user namespace this process is in (its caller's ids are not
/// mapped there, and files it creates need an owner that is).
pub(crate) fn become_root() -> Result<(), StartError> {
    // SAFETY: setresgid/setresuid take plain integers; the process is single-threaded.
    let failed = unsafe { libc::setresgid(0, 0, 0) != 0 || libc::setresuid(0, 0, 0) != 0 };
    if failed {
        return Err(StartError::setup(format!(
            "cannot become root in the user namespace (is id 0 mapped?): {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// Clones a child with `flags` whose new namespaces belong to the user namespace `userns`:
/// an intermediate process joins it and clones the child with `CLONE_PARENT`, then reports
/// its pid and exits. Returns 0 in the child and the child's pid in this process, like fork.
pub(crate) fn clone_in(userns: &OwnedFd, flags: libc::c_int) -> Result<i32, RuntimeError> {
    let (read, write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("pipe")?;
    // The intermediate only makes system calls and ends with _exit, or returns 0 as the
    // container's child.
    let intermediate = clone(0)?;
    if intermediate == 0 {
        drop(read);
        // SAFETY: setns with a user namespace descriptor we hold.
        let joined = unsafe { libc::setns(userns.as_raw_fd(), libc::CLONE_NEWUSER) } == 0;
        // CLONE_PARENT makes berth the child's parent; the child continues as the container.
        let cloned = match joined {
            true => clone(flags | libc::CLONE_PARENT).map_err(|e| e.to_string()),
            false => Err(std::io::Error::last_os_error().to_string()),
        };
        let report = match cloned {
            Ok(0) => {
                drop(write);
                return Ok(0);
            }
            Ok(pid) => pid.to_string(),
            Err(e) => format!("-{e}"),
        };
        let _ = std::fs::File::from(write).write_all(report.as_bytes());
        // SAFETY: the intermediate ends here without running any of the parent's clean-up.
        unsafe { libc::_exit(0) };
    }
    drop(write);
    let mut report = String::new();
    let read_result = std::fs::File::from(read).read_to_string(&mut report);
    let _ = wait_for(intermediate);
    read_result.context("read the container's pid")?;
    match report.parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => Err(berth_error::IoContext::new(
            "clone into the joined user namespace",
            std::io::Error::other(report.trim_start_matches('-').to_owned()),
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_to_the_host_within_their_ranges() {
        let maps = [
            IdMap {
                container: 0,
                host: 100000,
                size: 1000,
            },
            IdMap {
                container: 1000,
                host: 5000,
                size: 1,
            },
        ];
        assert_eq!(IdMap::to_host(&maps, 0), Some(100000));
        assert_eq!(IdMap::to_host(&maps, 999), Some(100999));
        assert_eq!(IdMap::to_host(&maps, 1000), Some(5000));
        assert_eq!(IdMap::to_host(&maps, 1001), None);
        assert_eq!(map_text(&maps), "0 100000 1000\n1000 5000 1\n");
    }
}
