//! The container's file system, built inside its own mount namespace (so the kernel removes
//! every mount with the namespace): overlay or bind root, the spec's mounts, a /dev of its own,
//! `pivot_root` with the old root detached, masked and read-only paths.
//!
//! Mount targets are opened with `openat2(RESOLVE_IN_ROOT)` and mounted through
//! `/proc/self/fd/N`, so a symlink in the image cannot send a mount outside the rootfs.
mod dev;
mod mounts;
mod options;
mod target;

pub use dev::{DeviceNode, bind_console, create_devices};
pub use mounts::{MountSpec, mount_all};
pub use options::propagation;
pub use target::{RootfsError, ensure_dir, open_root};

use berth_error::Context;
use mounts::remount_bind;
use rustix::fs::{self, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{self, MountFlags, MountPropagationFlags, UnmountFlags};
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// An overlay root: read-only layers (top first) under a writable upper directory.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Layer directories, topmost first.
    pub lower: Vec<PathBuf>,
    /// The container's writable layer.
    pub upper: PathBuf,
    /// overlayfs' work directory, on the same file system as `upper`.
    pub work: PathBuf,
    /// Mount it `volatile`: the writable layer is never synced to disk (no `syncfs` of the
    /// whole upper file system when the container ends), for a layer that is thrown away
    /// with its container, as Podman does for `--rm`. A layer mounted so cannot be mounted
    /// again: overlayfs leaves an `incompat/volatile` entry in its work directory and refuses.
    pub volatile: bool,
}

impl Overlay {
    /// Lets a layer mounted `volatile` be mounted again: removes the mark overlayfs left in
    /// its work directory (`work/incompat/volatile`), which makes it refuse the mount lest
    /// unsynced data after a crash go unnoticed. Only for a layer unmounted cleanly (with its
    /// container's mount namespace, not by a crash); nothing to do where there is no mark.
    pub fn clear_volatile_mark(&self) -> std::io::Result<()> {
        match std::fs::remove_dir_all(self.work.join("work/incompat")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Makes every mount private, so nothing below propagates back to the host.
pub fn make_private() -> Result<(), RootfsError> {
    mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .context("make / private")
}

/// Mounts the overlay (or binds `rootfs` onto itself) so that `rootfs` is a mount point.
pub fn mount_root(rootfs: &Path, overlay: Option<&Overlay>) -> Result<(), RootfsError> {
    match overlay {
        Some(overlay) => {
            // Layer paths can be long; relative to their common parent they fit the one page
            // that mount options may fill.
            let common = overlay
                .lower
                .first()
                .and_then(|l| l.parent())
                .and_then(Path::parent);
            let lower: Vec<String> = overlay
                .lower
                .iter()
                .map(|l| match common.and_then(|c| l.strip_prefix(c).ok()) {
                    Some(relative) => relative.display().to_string(),
                    None => l.display().to_string(),
                })
                .collect();
            if let Some(dir) = common {
                rustix::process::chdir(dir).with_context(|| format!("chdir {}", dir.display()))?;
            }
            let data = format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.join(":"),
                overlay.upper.display(),
                overlay.work.display()
            );
            let mount_with = |data: String| {
                let data = CString::new(data).map_err(|_| Errno::INVAL)?;
                mount::mount(
                    "overlay",
                    rootfs,
                    "overlay",
                    MountFlags::empty(),
                    Some(data.as_c_str()),
                )
            };
            match overlay.volatile {
                // Kernels before 5.10 know no `volatile` (EINVAL): mount the layer as usual.
                true => mount_with(format!("{data},volatile")).or_else(|e| match e {
                    Errno::INVAL => mount_with(data),
                    e => Err(e),
                }),
                false => mount_with(data),
            }
            .context("mount overlay root")
        }
        None => mount::mount_bind_recursive(rootfs, rootfs)
            .with_context(|| format!("bind {}", rootfs.display())),
    }
}

/// In the container, its root entered: gives the root mount `propagation`
/// (`linux.rootfsPropagation`), as runc does after its pivot.
pub fn set_root_propagation(propagation: MountPropagationFlags) -> Result<(), RootfsError> {
    mount::mount_change("/", propagation).context("set the propagation of the root")
}

/// Makes `rootfs` the root: `pivot_root(".", ".")` and the old root unmounted lazily.
pub fn pivot_into(rootfs: &Path) -> Result<(), RootfsError> {
    let old_root = fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context("open the old root")?;
    rustix::process::chdir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
    rustix::process::pivot_root(".", ".").context("pivot_root")?;
    // The old root sits on top of the new one: make it a slave so the unmount does not
    // propagate to the host, then detach it. "." is the old root only once the working
    // directory is in it (as runc does): from the new root's, the change would make every
    // container mount a slave too, and `shared` mounts and rootfsPropagation would be lost.
    rustix::process::fchdir(&old_root).context("enter the old root")?;
    mount::mount_change(
        ".",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .context("make the old root a slave")?;
    mount::unmount(".", UnmountFlags::DETACH).context("detach the old root")?;
    rustix::process::chdir("/").context("chdir /")
}

/// Makes `rootfs` the root with `chroot` (for a container without a mount namespace).
pub fn chroot_into(rootfs: &Path) -> Result<(), RootfsError> {
    rustix::process::chdir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
    rustix::process::chroot(".").context("chroot")?;
    rustix::process::chdir("/").context("chdir /")
}

/// Detaches every mount at or below `dir`, deepest first: what a container without a mount
/// namespace of its own left in the host's.
pub fn unmount_below(dir: &Path) -> Result<(), RootfsError> {
    let mountinfo =
        std::fs::read_to_string("/proc/self/mountinfo").context("read /proc/self/mountinfo")?;
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|point| point.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        match mount::unmount(&point, UnmountFlags::DETACH) {
            Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => {}
            Err(e) => return Err(RootfsError::new(format!("unmount {}", point.display()), e)),
        }
    }
    Ok(())
}

/// A mount point as /proc/self/mountinfo writes it, with its `\NNN` octal escapes undone.
fn unescape_mountinfo(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Hides each path: /dev/null over files, an empty read-only tmpfs over directories. Missing
/// paths are skipped.
pub fn mask_paths(paths: &[String]) -> Result<(), RootfsError> {
    for path in paths {
        match std::fs::metadata(path) {
            Ok(md) if md.is_dir() => {
                mount::mount("tmpfs", path.as_str(), "tmpfs", MountFlags::RDONLY, None)
                    .with_context(|| format!("mask {path}"))?
            }
            Ok(_) => mount::mount_bind("/dev/null", path.as_str())
                .with_context(|| format!("mask {path}"))?,
            Err(_) => {}
        }
    }
    Ok(())
}

/// Makes each path read-only (bind onto itself, then remount read-only). Missing paths are
/// skipped.
pub fn readonly_paths(paths: &[String]) -> Result<(), RootfsError> {
    for path in paths {
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        mount::mount_bind_recursive(path.as_str(), path.as_str())
            .with_context(|| format!("bind {path}"))?;
        mount::mount_remount(
            path.as_str(),
            MountFlags::BIND
                | MountFlags::RDONLY
                | MountFlags::NOSUID
                | MountFlags::NODEV
                | MountFlags::NOEXEC,
            "",
        )
        .with_context(|| format!("make {path} read-only"))?;
    }
    Ok(())
}

/// Remounts the root read-only (`--read-only`).
pub fn readonly_root() -> Result<(), RootfsError> {
    remount_bind("/", MountFlags::RDONLY).context("make / read-only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(
            unescape_mountinfo(r"/a\040b/c\134d\011"),
            PathBuf::from("/a b/c\\d\t")
        );
        assert_eq!(unescape_mountinfo(r"/plain\x"), PathBuf::from(r"/plain\x"));
    }
}
