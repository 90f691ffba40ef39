//! Mount targets below the container's root, opened (and made when missing) with
//! `openat2(RESOLVE_IN_ROOT)` so that no symlink leads outside it; the error of every step.

use berth_error::Context;
use rustix::fd::OwnedFd;
use rustix::fs::{self, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::path::Path;

/// A step of the file system setup failed: what it was, and the OS error.
pub type RootfsError = berth_error::IoContext;

/// Opens `destination` below `rootfs` without leaving it, creating it (a directory, or an
/// empty file when `file`) if missing.
pub(super) fn open_target(
    root: &OwnedFd,
    destination: &str,
    file: bool,
) -> Result<OwnedFd, RootfsError> {
    let relative = destination.trim_start_matches('/');
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    if relative.is_empty() {
        return fs::openat2(
            root,
            ".",
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )
        .context("open /");
    }
    match fs::openat2(
        root,
        relative,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        resolve,
    ) {
        Ok(fd) => return Ok(fd),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(RootfsError::new(format!("open {destination}"), e)),
    }
    // Create each missing component, every step resolved inside the root.
    let parts: Vec<&str> = relative.split('/').filter(|p| !p.is_empty()).collect();
    let open_dir = |path: &str| {
        fs::openat2(
            root,
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )
    };
    // Makes component `i` in `dir` (its parent) and opens it.
    let make = |dir: &OwnedFd, i: usize| -> Result<OwnedFd, RootfsError> {
        let last = i + 1 == parts.len();
        let made = if last && file {
            fs::openat(
                dir,
                parts[i],
                OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::from_raw_mode(0o644),
            )
            .map(drop)
        } else {
            fs::mkdirat(dir, parts[i], Mode::from_raw_mode(0o755))
        };
        match made {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(RootfsError::new(format!("create {destination}"), e)),
        }
        let prefix = parts[..=i].join("/");
        let flags = if last {
            OFlags::PATH | OFlags::CLOEXEC
        } else {
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC
        };
        fs::openat2(root, prefix.as_str(), flags, Mode::empty(), resolve)
            .with_context(|| format!("open {destination}"))
    };
    // Most often only the last component is missing.
    if parts.len() > 1 {
        match open_dir(&parts[..parts.len() - 1].join("/")) {
            Ok(parent) => return make(&parent, parts.len() - 1),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(RootfsError::new(format!("open {destination}"), e)),
        }
    }
    let mut dir = open_dir(".").context("open /")?;
    for i in 0..parts.len() {
        dir = make(&dir, i)?;
    }
    Ok(dir)
}

/// Makes sure `destination` exists below the root as a directory (creating what is missing).
pub fn ensure_dir(root: &OwnedFd, destination: &str) -> Result<(), RootfsError> {
    open_target(root, destination, false).map(drop)
}

/// The `/proc/self/fd` path of `fd`, to mount on or from.
pub(super) fn proc_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(fd))
}

/// Opens the rootfs directory for the mounts that follow.
pub fn open_root(rootfs: &Path) -> Result<OwnedFd, RootfsError> {
    fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("open {}", rootfs.display()))
}
