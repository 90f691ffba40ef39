//! The container's file system, built inside its own mount namespace (so the kernel removes
//! every mount with the namespace): overlay or bind root, the spec's mounts, a /dev of its own,
//! `pivot_root` with the old root detached, masked and read-only paths.
//!
//! Mount targets are opened with `openat2(RESOLVE_IN_ROOT)` and mounted through
//! `/proc/self/fd/N`, so a symlink in the image cannot send a mount outside the rootfs.

use crate::mountattr::RecursiveAttrs;
use rustix::fd::OwnedFd;
use rustix::fs::{self, Mode, OFlags, ResolveFlags};
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

/// A step of the file system setup failed.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct RootfsError {
    /// What was being done.
    pub what: String,
    /// Why it failed.
    pub source: std::io::Error,
}

fn fail(what: impl Into<String>) -> impl FnOnce(Errno) -> RootfsError {
    let what = what.into();
    move |e| RootfsError {
        what,
        source: e.into(),
    }
}

/// Makes every mount private, so nothing below propagates back to the host.
pub fn make_private() -> Result<(), RootfsError> {
    mount::mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(fail("make / private"))
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
                rustix::process::chdir(dir).map_err(fail(format!("chdir {}", dir.display())))?;
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
            .map_err(fail("mount overlay root"))
        }
        None => mount::mount_bind_recursive(rootfs, rootfs)
            .map_err(fail(format!("bind {}", rootfs.display()))),
    }
}

/// Opens `destination` below `rootfs` without leaving it, creating it (a directory, or an
/// empty file when `file`) if missing.
fn open_target(root: &OwnedFd, destination: &str, file: bool) -> Result<OwnedFd, RootfsError> {
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
        .map_err(fail("open /"));
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
        Err(e) => return Err(fail(format!("open {destination}"))(e)),
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
            Err(e) => return Err(fail(format!("create {destination}"))(e)),
        }
        let prefix = parts[..=i].join("/");
        let flags = if last {
            OFlags::PATH | OFlags::CLOEXEC
        } else {
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC
        };
        fs::openat2(root, prefix.as_str(), flags, Mode::empty(), resolve)
            .map_err(fail(format!("open {destination}")))
    };
    // Most often only the last component is missing.
    if parts.len() > 1 {
        match open_dir(&parts[..parts.len() - 1].join("/")) {
            Ok(parent) => return make(&parent, parts.len() - 1),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(fail(format!("open {destination}"))(e)),
        }
    }
    let mut dir = open_dir(".").map_err(fail("open /"))?;
    for i in 0..parts.len() {
        dir = make(&dir, i)?;
    }
    Ok(dir)
}

/// Makes sure `destination` exists below the root as a directory (creating what is missing).
pub fn ensure_dir(root: &OwnedFd, destination: &str) -> Result<(), RootfsError> {
    open_target(root, destination, false).map(drop)
}

fn proc_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(fd))
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
fn remount_bind(path: &str, flags: MountFlags) -> Result<(), Errno> {
    match mount::mount_remount(path, MountFlags::BIND | flags, "") {
        Err(Errno::PERM) => {
            mount::mount_remount(path, MountFlags::BIND | flags | locked_flags(path), "")
        }
        done => done,
    }
}

/// A spec mount's options, sorted out.
struct Options {
    /// Flags for mount(2) (or, for a bind mount, its remount).
    flags: MountFlags,
    /// `rbind`: bind the mounts below the source too.
    recursive_bind: bool,
    /// Propagation to set afterwards.
    propagation: Option<MountPropagationFlags>,
    /// Attributes for the mount and every mount below it (`rro`, ...).
    attrs: RecursiveAttrs,
    /// The rest, for the file system (`mode=755`, `size=64m`).
    data: String,
}

/// Sorts out runtime-spec mount options. Words that only undo a flag (`rw`, `dev`, `exec`,
/// `atime`, ...) set nothing: every flag starts cleared.
fn parse_options(options: &[String]) -> Options {
    let mut parsed = Options {
        flags: MountFlags::empty(),
        recursive_bind: false,
        propagation: None,
        attrs: RecursiveAttrs::default(),
        data: String::new(),
    };
    let mut data = Vec::new();
    for option in options {
        let flag = match option.as_str() {
            "ro" => MountFlags::RDONLY,
            "nosuid" => MountFlags::NOSUID,
            "nodev" => MountFlags::NODEV,
            "noexec" => MountFlags::NOEXEC,
            "relatime" => MountFlags::RELATIME,
            "noatime" => MountFlags::NOATIME,
            "nodiratime" => MountFlags::NODIRATIME,
            "strictatime" => MountFlags::STRICTATIME,
            "nosymfollow" => MountFlags::NOSYMFOLLOW,
            "sync" => MountFlags::SYNCHRONOUS,
            "dirsync" => MountFlags::DIRSYNC,
            "bind" => MountFlags::BIND,
            "rbind" => {
                parsed.recursive_bind = true;
                MountFlags::BIND
            }
            "rw" | "defaults" | "dev" | "suid" | "exec" | "atime" | "diratime" | "norelatime"
            | "nostrictatime" | "symfollow" | "async" => MountFlags::empty(),
            other if propagation(other).is_some() => {
                parsed.propagation = propagation(other);
                MountFlags::empty()
            }
            other if parsed.attrs.take(other) => MountFlags::empty(),
            other => {
                data.push(other.to_owned());
                MountFlags::empty()
            }
        };
        parsed.flags |= flag;
    }
    parsed.data = data.join(",");
    parsed
}

/// The propagation a mount option (or `rootfsPropagation`) names, `r`-forms with `MS_REC`.
pub fn propagation(option: &str) -> Option<MountPropagationFlags> {
    let (recursive, kind) = match option.strip_prefix('r') {
        Some(kind @ ("private" | "shared" | "slave" | "unbindable")) => (true, kind),
        _ => (false, option),
    };
    let flags = match kind {
        "private" => MountPropagationFlags::PRIVATE,
        "shared" => MountPropagationFlags::SHARED,
        "slave" => MountPropagationFlags::DOWNSTREAM,
        "unbindable" => MountPropagationFlags::UNBINDABLE,
        _ => return None,
    };
    Some(match recursive {
        true => flags | MountPropagationFlags::REC,
        false => flags,
    })
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
        .map_err(|source| RootfsError {
            what: format!("set the recursive attributes of {}", m.destination),
            source,
        })
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
            .map_err(|e| RootfsError {
                what: what.clone(),
                source: e,
            })?;
        let target = open_target(root, &m.destination, source_is_file)?;
        let target_path = proc_path(&target);
        if recursive {
            mount::mount_bind_recursive(m.source.as_str(), target_path.as_str())
                .map_err(fail(&what))?;
        } else {
            mount::mount_bind(m.source.as_str(), target_path.as_str()).map_err(fail(&what))?;
        }
        // Bind mounts take flags such as ro only on a remount.
        let extra = flags & !(MountFlags::BIND);
        if !extra.is_empty() {
            let target = open_target(root, &m.destination, source_is_file)?;
            remount_bind(proc_path(&target).as_str(), extra)
                .map_err(fail(format!("{what} (remount)")))?;
        }
        change_propagation(root, m, propagation, private_tree, source_is_file)?;
        return apply_attrs(root, m, &attrs, source_is_file);
    }
    // proc and sysfs go on a directory of the image, never through a symbolic link in it.
    if matches!(m.kind.as_str(), "proc" | "sysfs") {
        refuse_symlink(root, &m.destination)?;
    }
    let target = open_target(root, &m.destination, false)?;
    let data = CString::new(data).map_err(|_| RootfsError {
        what: format!("{what}: its options"),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "mount data must not contain a NUL byte",
        ),
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
            done.map_err(fail(&what))?;
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
        .map_err(fail(format!("set the propagation of {}", m.destination)))
}

/// Fails when `destination` below `root` is a symbolic link.
fn refuse_symlink(root: &OwnedFd, destination: &str) -> Result<(), RootfsError> {
    let relative = destination.trim_matches('/');
    match fs::statat(root, relative, fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if fs::FileType::from_raw_mode(stat.st_mode) == fs::FileType::Symlink => {
            Err(RootfsError {
                what: format!("{destination} must be mounted on ordinary directory"),
                source: Errno::NOTDIR.into(),
            })
        }
        _ => Ok(()),
    }
}

/// Kernel file systems that a user namespace may be refused, and whose host mount at the
/// same path serves instead.
const HOST_BOUND_KINDS: [&str; 3] = ["sysfs", "cgroup", "cgroup2"];

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
                .map_err(fail(format!("bind {host_path} on {container_path}")))?;
            Ok(true)
        }
        done => done
            .map(|()| false)
            .map_err(fail(format!("mknod {container_path}"))),
    }
}

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
                Err(e) => return Err(fail(format!("create {}", m.destination))(e)),
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
            .map_err(fail(format!("make {} read-only", m.destination)))?;
    }
    Ok(())
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
            return Err(RootfsError {
                what: format!("device path {}", device.path),
                source: Errno::INVAL.into(),
            });
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
        .map_err(fail(format!("open {parent}")))?;
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
        .map_err(fail(format!("chown {}", device.path)))
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
fn populate_dev(root: &OwnedFd, dev: &OwnedFd) -> Result<(), RootfsError> {
    let dev_dir = fs::openat(
        dev,
        ".",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail("open /dev"))?;
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
        fs::symlinkat(target, &dev_dir, link).map_err(fail(format!("symlink /dev/{link}")))?;
    }
    Ok(())
}

/// In the container, its root entered: gives the root mount `propagation`
/// (`linux.rootfsPropagation`), as runc does after its pivot.
pub fn set_root_propagation(propagation: MountPropagationFlags) -> Result<(), RootfsError> {
    mount::mount_change("/", propagation).map_err(fail("set the propagation of the root"))
}

/// In the container, its root entered: binds the terminal `slave` (its path there) at
/// /dev/console, made as an empty file if missing.
pub fn bind_console(slave: &str) -> Result<(), RootfsError> {
    match fs::open(
        "/dev/console",
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(_) | Err(Errno::EXIST) => {}
        Err(e) => return Err(fail("create /dev/console")(e)),
    }
    mount::mount_bind(slave, "/dev/console").map_err(fail("bind /dev/console"))
}

/// Makes `rootfs` the root: `pivot_root(".", ".")` and the old root unmounted lazily.
pub fn pivot_into(rootfs: &Path) -> Result<(), RootfsError> {
    let old_root = fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail("open the old root"))?;
    rustix::process::chdir(rootfs).map_err(fail(format!("chdir {}", rootfs.display())))?;
    rustix::process::pivot_root(".", ".").map_err(fail("pivot_root"))?;
    // The old root sits on top of the new one: make it a slave so the unmount does not
    // propagate to the host, then detach it. "." is the old root only once the working
    // directory is in it (as runc does): from the new root's, the change would make every
    // container mount a slave too, and `shared` mounts and rootfsPropagation would be lost.
    rustix::process::fchdir(&old_root).map_err(fail("enter the old root"))?;
    mount::mount_change(
        ".",
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .map_err(fail("make the old root a slave"))?;
    mount::unmount(".", UnmountFlags::DETACH).map_err(fail("detach the old root"))?;
    rustix::process::chdir("/").map_err(fail("chdir /"))
}

/// Makes `rootfs` the root with `chroot` (for a container without a mount namespace).
pub fn chroot_into(rootfs: &Path) -> Result<(), RootfsError> {
    rustix::process::chdir(rootfs).map_err(fail(format!("chdir {}", rootfs.display())))?;
    rustix::process::chroot(".").map_err(fail("chroot"))?;
    rustix::process::chdir("/").map_err(fail("chdir /"))
}

/// Detaches every mount at or below `dir`, deepest first: what a container without a mount
/// namespace of its own left in the host's.
pub fn unmount_below(dir: &Path) -> Result<(), RootfsError> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| RootfsError {
        what: "read /proc/self/mountinfo".into(),
        source: e,
    })?;
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
            Err(e) => return Err(fail(format!("unmount {}", point.display()))(e)),
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
                    .map_err(fail(format!("mask {path}")))?
            }
            Ok(_) => mount::mount_bind("/dev/null", path.as_str())
                .map_err(fail(format!("mask {path}")))?,
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
            .map_err(fail(format!("bind {path}")))?;
        mount::mount_remount(
            path.as_str(),
            MountFlags::BIND
                | MountFlags::RDONLY
                | MountFlags::NOSUID
                | MountFlags::NODEV
                | MountFlags::NOEXEC,
            "",
        )
        .map_err(fail(format!("make {path} read-only")))?;
    }
    Ok(())
}

/// Remounts the root read-only (`--read-only`).
pub fn readonly_root() -> Result<(), RootfsError> {
    remount_bind("/", MountFlags::RDONLY).map_err(fail("make / read-only"))
}

/// Opens the rootfs directory for the mounts that follow.
pub fn open_root(rootfs: &Path) -> Result<OwnedFd, RootfsError> {
    fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(fail(format!("open {}", rootfs.display())))
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

    #[test]
    fn recursive_propagation_options_keep_ms_rec() {
        use MountPropagationFlags as P;
        let expected = [
            ("private", P::PRIVATE),
            ("rprivate", P::PRIVATE | P::REC),
            ("shared", P::SHARED),
            ("rshared", P::SHARED | P::REC),
            ("slave", P::DOWNSTREAM),
            ("rslave", P::DOWNSTREAM | P::REC),
            ("unbindable", P::UNBINDABLE),
            ("runbindable", P::UNBINDABLE | P::REC),
        ];
        for (option, flags) in expected {
            assert_eq!(propagation(option), Some(flags), "{option}");
            let parsed = parse_options(&[option.to_owned()]);
            assert_eq!(parsed.propagation, Some(flags), "{option}");
            assert_eq!(parsed.data, "", "{option} is no file system option");
        }
        assert_eq!(propagation("rw"), None);
        assert_eq!(propagation("r"), None);
    }

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
        assert_eq!(e.source.kind(), std::io::ErrorKind::InvalidInput);
    }
}
