//! A new container's volumes: `--volumes-from`, then `-v`/`--mount` (which take a
//! destination from it), then the image's VOLUME entries not mounted otherwise; named ones
//! found or made, anonymous ones made, and each new, empty one filled from the image's
//! content at its mount point (Docker's copy-up) unless `nocopy`. What they become is plain
//! mounts for the spec, and the record's `mounts`.

use super::copy::copy_tree;
use super::{ANONYMOUS_LABEL, Volume, VolumeError, Volumes, remove_unlocked, users};
use crate::containers::Containers;
use crate::ids::new_id;
use crate::options::Mount;
use crate::record::{MountPoint, Record};
use berth_error::{Context, IoContext};
use berth_image::store::FileLock;
use berth_runtime::rootfs::{self, Overlay};
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What a new container's mounts became.
#[derive(Debug, Default)]
pub struct Attached {
    /// The mounts for the spec: binds of volumes' data, file systems of volumes with a
    /// `type`, and the other mounts as they were.
    pub mounts: Vec<Mount>,
    /// Its volumes and binds, for its record.
    pub points: Vec<MountPoint>,
    /// The anonymous volumes made for it (removed again when it cannot be made).
    pub made: Vec<String>,
}

/// Resolves a new container's mounts: `mounts` as the options gave them, the mounts of the
/// `volumes_from` containers, the image config's `Volumes` object. `layers` (topmost first)
/// and `container_dir` (its writable layer) make the image's view that new volumes are filled
/// from. Nothing is done, nor read, when no volume is involved.
pub fn attach(
    containers: &Containers,
    mounts: &[Mount],
    volumes_from: &[(String, Option<bool>)],
    image_volumes: &Value,
    layers: &[String],
    container_dir: &Path,
) -> Result<Attached, VolumeError> {
    let image_volumes: Vec<&String> = image_volumes
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .collect();
    let any_volume = mounts.iter().any(|m| matches!(m, Mount::Volume { .. }));
    if !any_volume && volumes_from.is_empty() && image_volumes.is_empty() {
        return Ok(Attached {
            points: mounts.iter().filter_map(bind_point).collect(),
            mounts: mounts.to_vec(),
            made: Vec::new(),
        });
    }
    let wanted = wanted(containers, mounts, volumes_from, &image_volumes)?;
    let volumes = Volumes::new(containers.data_root());
    let mut attached = Attached::default();
    let result = resolve(
        &volumes,
        &wanted,
        layers,
        containers,
        container_dir,
        &mut attached,
    );
    match result {
        Ok(()) => Ok(attached),
        Err(e) => {
            remove_made(containers, &attached.made);
            Err(e)
        }
    }
}

/// A destination without its trailing slashes (`/data/` is `/data`).
fn clean(target: &str) -> &str {
    match target.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

/// The mounts asked for, in Docker's order of precedence: the options' own (no two at one
/// destination), then those of `--volumes-from` containers and the image's VOLUMEs at the
/// destinations left.
fn wanted(
    containers: &Containers,
    mounts: &[Mount],
    volumes_from: &[(String, Option<bool>)],
    image_volumes: &[&String],
) -> Result<Vec<Mount>, VolumeError> {
    let mut wanted: Vec<Mount> = Vec::new();
    for m in mounts {
        if wanted
            .iter()
            .any(|w| clean(w.target()) == clean(m.target()))
        {
            return Err(VolumeError::Invalid(format!(
                "Duplicate mount point: {}",
                clean(m.target())
            )));
        }
        wanted.push(m.clone());
    }
    let taken =
        |wanted: &[Mount], target: &str| wanted.iter().any(|w| clean(w.target()) == clean(target));
    for (name, readonly) in volumes_from {
        let record = containers
            .find(name)
            .map_err(|e| VolumeError::Invalid(e.to_string()))?;
        for point in &record.mounts {
            if taken(&wanted, &point.destination) {
                continue;
            }
            // `:rw` cannot make writable what the other container mounts read-only.
            let readonly = readonly.unwrap_or(false) || !point.rw;
            wanted.push(match point.kind.as_str() {
                "volume" => Mount::Volume {
                    name: Some(point.name.clone()),
                    target: point.destination.clone(),
                    readonly,
                    nocopy: true,
                    mode: String::new(),
                },
                _ => Mount::Bind {
                    source: point.source.clone(),
                    target: point.destination.clone(),
                    readonly,
                },
            });
        }
    }
    for target in image_volumes {
        if !taken(&wanted, target) {
            wanted.push(Mount::Volume {
                name: None,
                target: clean(target).to_owned(),
                readonly: false,
                nocopy: false,
                mode: String::new(),
            });
        }
    }
    Ok(wanted)
}

/// The record's entry for a bind.
fn bind_point(m: &Mount) -> Option<MountPoint> {
    match m {
        Mount::Bind {
            source,
            target,
            readonly,
        } => Some(MountPoint {
            kind: "bind".into(),
            source: source.clone(),
            destination: target.clone(),
            rw: !readonly,
            ..MountPoint::default()
        }),
        _ => None,
    }
}

/// A new volume to fill from the image: its mount point and the volume.
struct CopyUp {
    target: String,
    volume: String,
}

/// Finds or makes each volume of `wanted`, fills the new, empty ones, and puts what they
/// became in `attached` (`made` as it goes, for the clean-up of a failure).
fn resolve(
    volumes: &Volumes,
    wanted: &[Mount],
    layers: &[String],
    containers: &Containers,
    container_dir: &Path,
    attached: &mut Attached,
) -> Result<(), VolumeError> {
    let mut copy_ups = Vec::new();
    let mut records: Option<Vec<Record>> = None;
    for m in wanted {
        let Mount::Volume {
            name,
            target,
            readonly,
            nocopy,
            mode,
        } = m
        else {
            attached.points.extend(bind_point(m));
            attached.mounts.push(m.clone());
            continue;
        };
        let labels = name
            .is_none()
            .then(|| BTreeMap::from([(ANONYMOUS_LABEL.to_owned(), String::new())]));
        let (volume, made) = volumes.make(
            name.as_deref(),
            Volume {
                driver: super::LOCAL.into(),
                labels,
                ..Volume::default()
            },
        )?;
        if made && name.is_none() {
            attached.made.push(volume.name.clone());
        }
        let data = volumes.data_dir(&volume.name);
        // A volume another container mounts is not new, even when empty: its `_data`, which
        // that container may have bound, is never replaced.
        let fill = !nocopy
            && volume.option("type").is_none()
            && is_empty(&data)
            && might_have(layers, target)
            && (made
                || users(
                    records.get_or_insert_with(|| containers.list()),
                    &volume.name,
                )
                .is_empty());
        if fill {
            copy_ups.push(CopyUp {
                target: target.clone(),
                volume: volume.name.clone(),
            });
        }
        attached
            .mounts
            .push(concrete(&volume, &data, target, *readonly));
        attached.points.push(MountPoint {
            kind: "volume".into(),
            name: volume.name.clone(),
            source: data.display().to_string(),
            destination: target.clone(),
            mode: mode.clone(),
            rw: !readonly,
            anonymous: name.is_none(),
        });
    }
    if !copy_ups.is_empty() {
        copy_up(volumes, containers, layers, container_dir, &copy_ups)?;
    }
    Ok(())
}

/// What a volume is mounted as: a bind of its data, or, for one made with `-o type=...`, that
/// file system from `device` with the options of `o`, as Docker's local driver mounts it.
fn concrete(volume: &Volume, data: &Path, target: &str, readonly: bool) -> Mount {
    match volume.option("type") {
        None => Mount::Bind {
            source: data.display().to_string(),
            target: target.to_owned(),
            readonly,
        },
        Some(kind) => {
            let mut options: Vec<String> = (volume.option("o").unwrap_or_default().split(','))
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect();
            if readonly {
                options.push("ro".into());
            }
            Mount::Filesystem {
                kind: kind.to_owned(),
                source: volume.option("device").unwrap_or_default().to_owned(),
                target: target.to_owned(),
                options,
            }
        }
    }
}

/// Whether directory `dir` holds nothing (a missing one neither).
fn is_empty(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

/// Whether a layer may have something at `target`: an entry there, or a symbolic link on
/// the way (the overlay resolves it in the copy). A hint that saves the copy's process when
/// the image has nothing there; never read through.
fn might_have(layers: &[String], target: &str) -> bool {
    let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
    layers.iter().any(|layer| {
        let mut path = PathBuf::from(layer);
        for part in &parts {
            path.push(part);
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        !parts.is_empty()
    })
}

/// Removes the copies into volume directory `dir` that killed berth commands left.
pub(super) fn remove_unlocked_copies(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(".copy-") {
            remove_unlocked(&entry.path());
        }
    }
}

/// Fills each volume of `copy_ups` from the image's view: a child process mounts the
/// container's overlay in a mount namespace of its own and copies each mount point's
/// directory into a locked `.copy-*` directory of its volume; here each copy is then renamed
/// onto the volume's `_data`, which succeeds only while `_data` is still empty.
fn copy_up(
    volumes: &Volumes,
    containers: &Containers,
    layers: &[String],
    container_dir: &Path,
    copy_ups: &[CopyUp],
) -> Result<(), VolumeError> {
    let mut staged = Vec::new();
    for job in copy_ups {
        let id = new_id().context("make a name")?;
        let staging = volumes
            .dir_of(&job.volume)
            .join(format!(".copy-{}", &id[..16]));
        fs::create_dir(&staging).with_context(|| format!("create {}", staging.display()))?;
        let lock = FileLock::on_directory(&staging)?;
        staged.push((staging, lock));
    }
    let overlay = Overlay {
        lower: layers.iter().map(PathBuf::from).collect(),
        upper: container_dir.join("upper"),
        work: container_dir.join("work"),
        volatile: false,
    };
    let mount_point = containers
        .make_mount_point()
        .context("create the mount point")?;
    let targets: Vec<(&str, &Path)> = copy_ups
        .iter()
        .zip(&staged)
        .map(|(job, (staging, _))| (job.target.as_str(), staging.as_path()))
        .collect();
    let copied = in_child(&mount_point, &overlay, &targets);
    for (job, (staging, _lock)) in copy_ups.iter().zip(&staged) {
        // Skipped (nothing there) or failed: the child removed it, or it goes now.
        if copied.is_err() || !staging.exists() {
            let _ = fs::remove_dir_all(staging);
            continue;
        }
        let data = volumes.data_dir(&job.volume);
        if let Err(e) = fs::rename(staging, &data) {
            // Filled meanwhile by another container: that content stays.
            let _ = fs::remove_dir_all(staging);
            if !matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) {
                return Err(IoContext::new(format!("fill volume {}", job.volume), e).into());
            }
        }
    }
    Ok(copied
        .map_err(std::io::Error::other)
        .context("copy the image's content into a volume")?)
}

/// Copies, in a forked child with the image's view, each target directory of the image into
/// its staging directory; a target that is no directory in the image has its staging
/// directory removed.
fn in_child(
    mount_point: &Path,
    overlay: &Overlay,
    targets: &[(&str, &Path)],
) -> Result<(), String> {
    let (err_read, err_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: fork in a single-threaded process (nothing on the run path has started a
    // thread); the child ends with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(err_read);
        let code = match copy_in_view(mount_point, overlay, targets) {
            Ok(()) => 0,
            Err(message) => {
                let _ = File::from(err_write).write_all(message.as_bytes());
                1
            }
        };
        // SAFETY: ends the forked child at once.
        unsafe { libc::_exit(code) };
    }
    drop(err_write);
    let mut message = String::new();
    let _ = File::from(err_read).read_to_string(&mut message);
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    match (
        message.is_empty(),
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
    ) {
        (true, true) => Ok(()),
        (true, false) => Err("the copying process failed".into()),
        (false, _) => Err(message),
    }
}

/// The child's work: the overlay mounted in a mount namespace of its own, each target opened
/// inside it (`RESOLVE_IN_ROOT`: an image's symbolic link cannot lead out) and copied.
fn copy_in_view(
    mount_point: &Path,
    overlay: &Overlay,
    targets: &[(&str, &Path)],
) -> Result<(), String> {
    // SAFETY: a new mount namespace for this child alone.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
        .map_err(|e| format!("unshare: {e}"))?;
    rootfs::make_private().map_err(|e| e.to_string())?;
    rootfs::mount_root(mount_point, Some(overlay)).map_err(|e| e.to_string())?;
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = rustix::fs::open(mount_point, dir_flags, Mode::empty())
        .map_err(|e| format!("open {}: {e}", mount_point.display()))?;
    for (target, staging) in targets {
        let relative = target.trim_start_matches('/');
        let source: OwnedFd = match rustix::fs::openat2(
            &root,
            relative,
            dir_flags,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => {
                let _ = fs::remove_dir(staging);
                continue;
            }
            Err(e) => return Err(format!("open {target} in the image: {e}")),
        };
        let dest = rustix::fs::open(*staging, dir_flags, Mode::empty())
            .map_err(|e| format!("open {}: {e}", staging.display()))?;
        copy_tree(&source, &dest).map_err(|e| format!("copy {target} of the image: {e}"))?;
    }
    Ok(())
}

/// Fails unless every volume of `points` still exists: checked under the containers' names
/// lock just before a new container's record is written, so that a `volume rm` meanwhile
/// (which decides under that lock) either sees the record or made this fail.
pub fn still_there(root: &Path, points: &[MountPoint]) -> Result<(), VolumeError> {
    let volumes = Volumes::new(root);
    for point in points.iter().filter(|p| p.kind == "volume") {
        if !volumes.dir_of(&point.name).join("volume.json").exists() {
            return Err(VolumeError::NoSuch(point.name.clone()));
        }
    }
    Ok(())
}

/// Removes the anonymous volumes `made` for a container that could not be made.
pub fn remove_made(containers: &Containers, made: &[String]) {
    let volumes = Volumes::new(containers.data_root());
    for name in made {
        if let Err(e) = volumes.remove_unused(name) {
            tracing::warn!(volume = name, %e, "cannot remove an anonymous volume");
        }
    }
}

/// Removes the anonymous volumes of `record` (a container that is gone) that no other
/// container uses (`rm -v`, `run --rm`).
pub fn remove_anonymous(containers: &Containers, record: &Record) {
    if !record.mounts.iter().any(|m| m.anonymous) {
        return;
    }
    let volumes = Volumes::new(containers.data_root());
    let others: Vec<Record> = containers
        .list()
        .into_iter()
        .filter(|r| r.id != record.id)
        .collect();
    for point in record.mounts.iter().filter(|m| m.anonymous) {
        if users(&others, &point.name).is_empty()
            && let Err(e) = volumes.remove_unused(&point.name)
        {
            tracing::warn!(volume = point.name, %e, "cannot remove an anonymous volume");
        }
    }
}
