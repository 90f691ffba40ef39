//! The spec's mounts, mounted in order below the container's root: binds and their remounts,
//! propagation, recursive attributes, read-only mounts with others below them made read-only
//! last.

use super::dev::populate_dev;
use super::options::{Options, parse_options};
use super::target::{RootfsError, open_target, proc_path};
use crate::mountattr::RecursiveAttrs;
use berth_error::Context;
use rustix::fd::OwnedFd;
use rustix::fs::{self, Mode};
use rustix::io::Errno;
use rustix::mount::{self, MountFlags, MountPropagationFlags};
use std::ffi::CString;

/// One mount of the spec, in its plain form.
#[derive(Debug, Clone)]
pub struct MountSpec {
    /// Where, inside the container.
    pub destination: String,
    /// File system type (`proc`, `tmpfs`, `bind`, ...).
    pub kind: String,
    /// Source: a host path for binds, else a name.
    pub source: String,
    /// Options as in the runtime spec (`ro`, `nosuid`, `rbind`, `mode=755`, ...).
    pub options: Vec<String>,
}

/// The flags of the mount at `path` that a user namespace may not clear on a remount
/// (`nosuid`, `nodev`, `noexec`, `ro` and the atime mode the host gave it).
fn locked_flags(path: &str) -> MountFlags {
    use rustix::fs::StatVfsMountFlags as St;
    let Ok(stat) = fs::statvfs(path) else {
        return MountFlags::empty();
    };
    [
        (St::RDONLY, MountFlags::RDONLY),
        (St::NOSUID, MountFlags::NOSUID),
        (St::NODEV, MountFlags::NODEV),
        (St::NOEXEC, MountFlags::NOEXEC),
        (St::NOATIME, MountFlags::NOATIME),
        (St::NODIRATIME, MountFlags::NODIRATIME),
        (St::RELATIME, MountFlags::RELATIME),
    ]
    .into_iter()
    .filter(|(st, _)| stat.f_flag.contains(*st))
    .fold(MountFlags::empty(), |all, (_, flag)| all | flag)
}

/// Remounts the bind mount at `path` with `flags`. Inside a user namespace the flags a mount
/// came with from the host are locked: when the kernel refuses, try again with them added.
pub(super) fn remount_bind(path: &str, flags: MountFlags) -> Result<(), Errno> {
    match mount::mount_remount(path, MountFlags::BIND | flags, "") {
        Err(Errno::PERM) => {
            mount::mount_remount(path, MountFlags::BIND | flags | locked_flags(path), "")
        }
        done => done,
    }
}

/// Applies a mount's recursive attributes, if it has any, to the mount at `destination`.
fn apply_attrs(
    root: &OwnedFd,
    m: &MountSpec,
    attrs: &RecursiveAttrs,
    file: bool,
) -> Result<(), RootfsError> {
    if attrs.is_empty() {
        return Ok(());
    }
    let target = open_target(root, &m.destination, file)?;
    attrs
        .apply(rustix::fd::AsFd::as_fd(&target))
        .with_context(|| format!("set the recursive attributes of {}", m.destination))
}

/// Mounts one spec mount below `rootfs`. In a `private_tree` (a mount namespace of the
/// container's own, made private throughout) a new mount is private already, so a `private`
/// or `rprivate` option needs no change of propagation.
fn mount_one(root: &OwnedFd, m: &MountSpec, private_tree: bool) -> Result<(), RootfsError> {
    let Options {
        flags,
        recursive_bind: recursive,
        propagation,
        attrs,
        data,
    } = parse_options(&m.options);
    let what = format!(
        "mount {} on {}",
        if m.kind == "bind" || flags.contains(MountFlags::BIND) {
            &m.source
        } else {
            &m.kind
        },
        m.destination
    );
    if flags.contains(MountFlags::BIND) || m.kind == "bind" {
        let source_is_file = std::fs::metadata(&m.source)
            .map(|md| !md.is_dir())
            .context(&what)?;
        let target = open_target(root, &m.destination, source_is_file)?;
        let target_path = proc_path(&target);
        if recursive {
            mount::mount_bind_recursive(m.source.as_str(), target_path.as_str()).context(&what)?;
        } else {
            mount::mount_bind(m.source.as_str(), target_path.as_str()).context(&what)?;
        }
        // Bind mounts take flags such as ro only on a remount.
        let extra = flags & !(MountFlags::BIND);
        if !extra.is_empty() {
            let target = open_target(root, &m.destination, source_is_file)?;
            remount_bind(proc_path(&target).as_str(), extra)
                .with_context(|| format!("{what} (remount)"))?;
        }
        change_propagation(root, m, propagation, private_tree, source_is_file)?;
        return apply_attrs(root, m, &attrs, source_is_file);
    }
    // proc and sysfs go on a directory of the image, never through a symbolic link in it.
    if matches!(m.kind.as_str(), "proc" | "sysfs") {
        refuse_symlink(root, &m.destination)?;
    }
    let target = open_target(root, &m.destination, false)?;
    let data = CString::new(data).map_err(|_| {
        RootfsError::new(
            format!("{what}: its options"),
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "mount data must not contain a NUL byte",
            ),
        )
    })?;
    let data = if data.as_bytes().is_empty() {
        None
    } else {
        Some(data.as_c_str())
    };
    match mount::mount(
        m.source.as_str(),
        proc_path(&target).as_str(),
        m.kind.as_str(),
        flags,
        data,
    ) {
        // A user namespace may not mount sysfs without its own network namespace, nor a
        // cgroup hierarchy without its own cgroup namespace: bind the host's, as runc does.
        Err(Errno::PERM) if HOST_BOUND_KINDS.contains(&m.kind.as_str()) => {
            let mut options = m.options.clone();
            options.push("rbind".into());
            // The bind takes the options, recursive attributes included.
            mount_one(
                root,
                &MountSpec {
                    kind: "bind".into(),
                    source: m.destination.clone(),
                    options,
                    destination: m.destination.clone(),
                },
                private_tree,
            )
        }
        done => {
            done.context(&what)?;
            change_propagation(root, m, propagation, private_tree, false)?;
            apply_attrs(root, m, &attrs, false)
        }
    }
}

/// Sets the propagation a mount's options ask for on the mount at its destination. In a
/// `private_tree` a new mount is private throughout already, so `private` and `rprivate`
/// change nothing.
fn change_propagation(
    root: &OwnedFd,
    m: &MountSpec,
    propagation: Option<MountPropagationFlags>,
    private_tree: bool,
    file: bool,
) -> Result<(), RootfsError> {
    let Some(p) = propagation.filter(|p| {
        !(private_tree
            && p.difference(MountPropagationFlags::REC) == MountPropagationFlags::PRIVATE)
    }) else {
        return Ok(());
    };
    let target = open_target(root, &m.destination, file)?;
    mount::mount_change(proc_path(&target).as_str(), p)
        .with_context(|| format!("set the propagation of {}", m.destination))
}

/// Fails when `destination` below `root` is a symbolic link.
fn refuse_symlink(root: &OwnedFd, destination: &str) -> Result<(), RootfsError> {
    let relative = destination.trim_matches('/');
    match fs::statat(root, relative, fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if fs::FileType::from_raw_mode(stat.st_mode) == fs::FileType::Symlink => {
            Err(RootfsError::new(
                format!("{destination} must be mounted on ordinary directory"),
                Errno::NOTDIR,
            ))
        }
        _ => Ok(()),
    }
}

/// Kernel file systems that a user namespace may be refused, and whose host mount at the
/// same path serves instead.
const HOST_BOUND_KINDS: [&str; 3] = ["sysfs", "cgroup", "cgroup2"];

/// Mounts the spec's mounts in order and fills /dev once it is mounted. A read-only mount with
/// others below it (v1's /sys/fs/cgroup tmpfs) is mounted writable and made read-only last,
/// so that the mount points below it can be made. `private_tree`: see `mount_one`.
pub fn mount_all(
    root: &OwnedFd,
    mounts: &[MountSpec],
    private_tree: bool,
) -> Result<(), RootfsError> {
    let mut deferred = Vec::new();
    // The tmpfs mounted here that later mounts go directly below (v1's /sys/fs/cgroup, /dev),
    // opened once: their mount points are made there without a lookup from the root that
    // can only fail first.
    let mut fresh: Vec<(&str, OwnedFd)> = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        let destination = m.destination.trim_end_matches('/');
        let prefix = format!("{destination}/");
        let has_children = mounts[i + 1..]
            .iter()
            .any(|later| later.destination.starts_with(&prefix));
        let is_bind = m.kind == "bind" || m.options.iter().any(|o| o == "bind" || o == "rbind");
        let in_fresh = destination.rsplit_once('/').and_then(|(parent, name)| {
            let (_, dir) = fresh.iter().find(|(tmpfs, _)| *tmpfs == parent)?;
            Some((dir, name))
        });
        if let Some((dir, name)) = in_fresh.filter(|_| !is_bind) {
            match fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(RootfsError::new(format!("create {}", m.destination), e)),
            }
        }
        if has_children && !is_bind && m.options.iter().any(|o| o == "ro") {
            let writable = MountSpec {
                options: m.options.iter().filter(|o| *o != "ro").cloned().collect(),
                ..m.clone()
            };
            mount_one(root, &writable, private_tree)?;
            deferred.push(m);
        } else {
            mount_one(root, m, private_tree)?;
        }
        let is_fresh = has_children && !is_bind && m.kind == "tmpfs";
        if is_fresh || m.destination == "/dev" {
            let dir = open_target(root, destination, false)?;
            if m.destination == "/dev" {
                populate_dev(root, &dir)?;
            }
            if is_fresh {
                fresh.push((destination, dir));
            }
        }
    }
    for m in deferred {
        let flags = parse_options(&m.options).flags;
        let target = open_target(root, &m.destination, false)?;
        mount::mount_remount(proc_path(&target).as_str(), flags | MountFlags::RDONLY, "")
            .with_context(|| format!("make {} read-only", m.destination))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rootfs::target::open_root;
    use rustix::mount::UnmountFlags;

    #[test]
    fn mount_data_with_a_nul_fails_instead_of_mounting_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(dir.path()).unwrap();
        let m = MountSpec {
            kind: "tmpfs".into(),
            source: "tmpfs".into(),
            destination: "/t".into(),
            options: vec!["size=1m\0mode=700".into()],
        };
        let result = mount_one(&root, &m, true);
        if result.is_ok() {
            let _ = mount::unmount(dir.path().join("t").as_path(), UnmountFlags::DETACH);
        }
        let e = result.expect_err("mounted with the data cut off");
        assert!(e.to_string().contains("NUL"), "{e}");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    }
}
