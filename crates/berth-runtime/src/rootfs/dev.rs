//! The container's devices: its /dev filled (the standard nodes and symlinks), the spec's
//! device nodes, /dev/console; each node bound from the host where `mknod` is refused.

use super::target::{RootfsError, ensure_dir, open_target, proc_path};
use berth_error::Context;
use rustix::fd::{AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount;
use std::path::Path;

/// Makes `name` in `dir` a device node; inside a user namespace, where `mknod` is refused,
/// binds the host's node at `host_path` onto an empty file instead (and says so: `true`).
fn make_node(
    root: &OwnedFd,
    dir: &OwnedFd,
    container_path: &str,
    host_path: &str,
    kind: fs::FileType,
    mode: u32,
    dev: u64,
) -> Result<bool, RootfsError> {
    let name = Path::new(container_path)
        .file_name()
        .unwrap_or_default()
        .to_owned();
    match fs::mknodat(dir, &name, kind, Mode::from_raw_mode(mode & 0o7777), dev) {
        Err(Errno::PERM) => {
            let target = open_target(root, container_path, true)?;
            mount::mount_bind(host_path, proc_path(&target).as_str())
                .with_context(|| format!("bind {host_path} on {container_path}"))?;
            Ok(true)
        }
        done => done
            .map(|()| false)
            .with_context(|| format!("mknod {container_path}")),
    }
}

/// A device node the spec asks for (`linux.devices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Its path in the container.
    pub path: String,
    /// `c`, `b`, `u` (character) or `p` (FIFO).
    pub kind: char,
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// Creates the spec's device nodes under `root` (a node already there is replaced).
pub fn create_devices(root: &OwnedFd, devices: &[DeviceNode]) -> Result<(), RootfsError> {
    let old_umask = rustix::process::umask(Mode::empty());
    let made = devices.iter().try_for_each(|device| {
        let path = Path::new(&device.path);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(RootfsError::new(
                format!("device path {}", device.path),
                Errno::INVAL,
            ));
        };
        let parent = parent.display().to_string();
        ensure_dir(root, &parent)?;
        let dir = open_target(root, &parent, false)?;
        let dir = fs::openat(
            &dir,
            ".",
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("open {parent}"))?;
        let kind = match device.kind {
            'b' => fs::FileType::BlockDevice,
            'p' => fs::FileType::Fifo,
            _ => fs::FileType::CharacterDevice,
        };
        let _ = fs::unlinkat(&dir, name, fs::AtFlags::empty());
        let bound = make_node(
            root,
            &dir,
            &device.path,
            &device.path,
            kind,
            device.mode,
            fs::makedev(device.major, device.minor),
        )?;
        if bound {
            // A node bound from the host keeps the host's owner.
            return Ok(());
        }
        fs::chownat(
            &dir,
            name,
            Some(rustix::process::Uid::from_raw(device.uid)),
            Some(rustix::process::Gid::from_raw(device.gid)),
            fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .with_context(|| format!("chown {}", device.path))
    });
    rustix::process::umask(old_umask);
    made
}

/// The character devices every container gets in its /dev, with their modes.
const DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Fills the container's /dev (a tmpfs already mounted there, opened as `dev`): device nodes, the
/// standard symlinks.
pub(super) fn populate_dev(root: &OwnedFd, dev: &OwnedFd) -> Result<(), RootfsError> {
    let dev_dir = fs::openat(
        dev,
        ".",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context("open /dev")?;
    let old_umask = rustix::process::umask(Mode::empty());
    for (name, major, minor) in DEVICES {
        make_node(
            root,
            &dev_dir,
            &format!("/dev/{name}"),
            &format!("/dev/{name}"),
            fs::FileType::CharacterDevice,
            0o666,
            fs::makedev(major, minor),
        )?;
    }
    rustix::process::umask(old_umask);
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
        ("core", "/proc/kcore"),
    ] {
        fs::symlinkat(target, &dev_dir, link).with_context(|| format!("symlink /dev/{link}"))?;
    }
    Ok(())
}

/// In the container, its root entered: binds the terminal `slave` (its path there) at
/// /dev/console, made as an empty file if missing.
pub fn bind_console(slave: BorrowedFd<'_>) -> Result<(), RootfsError> {
    match fs::open(
        "/dev/console",
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(_) | Err(Errno::EXIST) => {}
        Err(e) => return Err(RootfsError::new("create /dev/console", e)),
    }
    // By descriptor, never through a symlink the root file system put there (runc's
    // CVE-2025-52565: a console bound over a /proc file).
    let target = fs::open(
        "/dev/console",
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context("open /dev/console")?;
    let kind = fs::fstat(&target).context("stat /dev/console")?.st_mode & libc::S_IFMT;
    if kind != libc::S_IFREG && kind != libc::S_IFCHR {
        return Err(RootfsError::new("bind /dev/console", Errno::INVAL));
    }
    let source = format!("/proc/self/fd/{}", slave.as_raw_fd());
    mount::mount_bind(source.as_str(), proc_path(&target).as_str()).context("bind /dev/console")
}
