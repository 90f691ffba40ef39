//! `berth cp`: files between a container and the host, both ways, running or stopped.
//!
//! A child process takes the container's view of the file system: it joins the mount namespace
//! of a running container, or mounts a stopped container's overlay in a private mount namespace
//! and chroots into it. A tar stream on a pipe joins it to the host side. The receiving side
//! unpacks with berth's safe extractor, so no symlink of the container can redirect a write.

use crate::containers::{Containers, FindError};
use crate::paths::Roots;
use crate::record::Record;
use berth_error::{Context, IoContext};
use berth_image::unpack::{UnpackOptions, unpack};
use berth_runtime::rootfs::{self, Overlay};
use rustix::fd::{AsRawFd, OwnedFd};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CpError {
    /// No such container.
    #[error(transparent)]
    Find(#[from] FindError),
    /// Neither or both arguments name a container.
    #[error(
        "copying between containers or between host paths is not supported: name one side as CONTAINER:PATH"
    )]
    Sides,
    /// A system call failed.
    #[error(transparent)]
    Io(#[from] IoContext),
    /// The copy itself failed.
    #[error("{0}")]
    Copy(String),
}

/// `CONTAINER:PATH` or a host path: a colon before any `/` marks a container.
fn split(arg: &str) -> Option<(&str, &str)> {
    let (name, path) = arg.split_once(':')?;
    (!name.is_empty() && !name.contains('/')).then_some((name, path))
}

/// Copies `from` to `to`; exactly one of them is `CONTAINER:PATH`.
pub fn copy(roots: &Roots, from: &str, to: &str) -> Result<(), CpError> {
    let containers = Containers::new(&roots.root);
    match (split(from), split(to)) {
        (Some((name, src)), None) => {
            let record = containers.find(name)?;
            let src = src.to_owned();
            if to == "-" {
                // Docker writes the tar archive itself to standard output.
                return in_container(&containers, &record, Side::Send(src), |archive| {
                    let out = &mut std::io::stdout().lock();
                    std::io::copy(archive, out)
                        .and_then(|_| out.flush())
                        .map(drop)
                        .map_err(|e| format!("write the archive to standard output: {e}"))
                });
            }
            let dest = PathBuf::from(to);
            in_container(&containers, &record, Side::Send(src), |archive| {
                receive(archive, &dest, false)
            })
        }
        (None, Some((name, dest))) if from == "-" => {
            // Docker reads a tar archive from standard input and unpacks it into a directory.
            let record = containers.find(name)?;
            let side = Side::Receive {
                dest: dest.to_owned(),
                into_dir: true,
            };
            in_container(&containers, &record, side, |pipe| {
                std::io::copy(&mut std::io::stdin().lock(), pipe)
                    .map(drop)
                    .map_err(|e| format!("read the archive from standard input: {e}"))
            })
        }
        (None, Some((name, dest))) => {
            let record = containers.find(name)?;
            let src = PathBuf::from(from);
            if std::fs::symlink_metadata(&src).is_err() {
                return Err(CpError::Copy(format!(
                    "could not find the file {from} on the host"
                )));
            }
            let side = Side::Receive {
                dest: dest.to_owned(),
                into_dir: false,
            };
            in_container(&containers, &record, side, |pipe| send(&src, pipe))
        }
        _ => Err(CpError::Sides),
    }
}

/// What the child does inside the container.
enum Side {
    /// Tar this container path into the pipe.
    Send(String),
    /// Unpack the pipe at this container path; `into_dir`: only into it, a directory.
    Receive {
        /// The container path.
        dest: String,
        /// The path must be a directory (an archive from standard input).
        into_dir: bool,
    },
}

/// Runs `side` in a child with the container's view, and `host` here on the other end of the
/// pipe.
fn in_container(
    containers: &Containers,
    record: &Record,
    side: Side,
    host: impl FnOnce(&mut dyn ReadWrite) -> Result<(), String>,
) -> Result<(), CpError> {
    let mount_ns = match record.init_pid() {
        Some(pid) => Some(
            rustix::fs::open(
                format!("/proc/{pid}/ns/mnt"),
                rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .context("open the container's mount namespace")?,
        ),
        _ => None,
    };
    let dir = containers.dir(&record.id);
    let overlay = Overlay {
        lower: record.layers.iter().map(PathBuf::from).collect(),
        upper: dir.join("upper"),
        work: dir.join("work"),
        // Not volatile: the container may start later, and a volatile layer mounts only once.
        volatile: false,
    };
    // A stopped container's root is mounted there.
    let mount_point = match mount_ns {
        Some(_) => containers.mount_point(),
        None => containers
            .make_mount_point()
            .context("make the mount point")?,
    };
    let (data_read, data_write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("pipe")?;
    let (err_read, err_write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context("pipe")?;
    // SAFETY: fork in a single-threaded process; the child ends with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(IoContext::new("fork", std::io::Error::last_os_error()).into());
    }
    if pid == 0 {
        drop(err_read);
        let result = enter(mount_ns.as_ref(), &mount_point, &overlay).and_then(|()| match &side {
            Side::Send(src) => {
                drop(data_read);
                send(Path::new(src), &mut Pipe(File::from(data_write)))
            }
            Side::Receive { dest, into_dir } => {
                drop(data_write);
                let dest = Path::new(dest);
                if *into_dir && !dest.is_dir() {
                    return Err(format!(
                        "destination \"{}\" must be a directory",
                        dest.display()
                    ));
                }
                receive(&mut Pipe(File::from(data_read)), dest, true)
            }
        });
        let code = match result {
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
    let host_result = match side {
        Side::Send(_) => {
            drop(data_write);
            host(&mut Pipe(File::from(data_read)))
        }
        Side::Receive { .. } => {
            drop(data_read);
            let mut pipe = Pipe(File::from(data_write));
            // A child that fails stops reading: the write must fail with EPIPE, not kill berth
            // with SIGPIPE before the child's reason is told.
            // SAFETY: sets and restores the disposition of one signal; no handler is involved.
            let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
            let result = host(&mut pipe);
            // SAFETY: as above.
            unsafe { libc::signal(libc::SIGPIPE, previous) };
            drop(pipe);
            result
        }
    };
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let mut child_error = String::new();
    let _ = File::from(err_read).read_to_string(&mut child_error);
    if !child_error.is_empty() {
        return Err(CpError::Copy(child_error));
    }
    host_result.map_err(CpError::Copy)
}

/// Takes the container's view of the file system.
fn enter(mount_ns: Option<&OwnedFd>, rootfs_dir: &Path, overlay: &Overlay) -> Result<(), String> {
    match mount_ns {
        Some(ns) => {
            // SAFETY: setns with a mount namespace descriptor we own; the child is
            // single-threaded. Its root and working directory become the namespace's root.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
                return Err(format!(
                    "join the container's mount namespace: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
        None => {
            // SAFETY: a new mount namespace for this child alone.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
                .map_err(|e| format!("unshare: {e}"))?;
            rootfs::make_private().map_err(|e| e.to_string())?;
            rootfs::mount_root(rootfs_dir, Some(overlay)).map_err(|e| e.to_string())?;
            rustix::process::chroot(rootfs_dir).map_err(|e| format!("chroot: {e}"))?;
        }
    }
    rustix::process::chdir("/").map_err(|e| format!("chdir /: {e}"))
}

/// A pipe end that is read or written.
trait ReadWrite: Read + Write {}
struct Pipe(File);
impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}
impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
impl ReadWrite for Pipe {}

/// Tars `src` (a file or a directory, symlinks kept as symlinks) under its own name.
fn send(src: &Path, out: &mut dyn ReadWrite) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(src)
        .map_err(|_| format!("could not find the file {}", src.display()))?;
    let name = src
        .file_name()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let result = if meta.is_dir() {
        builder.append_dir_all(&name, src)
    } else {
        builder.append_path_with_name(src, &name)
    };
    result
        .and_then(|()| builder.finish())
        .map_err(|e| format!("read {}: {e}", src.display()))
}

/// Unpacks the archive at `dest`: into it when it is a directory, else as `dest` itself.
/// Device nodes are made only inside a container (`devices`), never from one onto the host.
fn receive(archive: &mut dyn ReadWrite, dest: &Path, devices: bool) -> Result<(), String> {
    let options = UnpackOptions {
        privileged: rustix::process::geteuid().is_root(),
        layer: false,
        devices,
    };
    if dest.is_dir() {
        return unpack(archive, dest, options)
            .map(drop)
            .map_err(|e| e.to_string());
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(format!(
            "destination directory {} does not exist",
            parent.display()
        ));
    }
    let staging = parent.join(format!(".berth-cp-{}", std::process::id()));
    std::fs::create_dir(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let result = (|| {
        unpack(archive, &staging, options).map_err(|e| e.to_string())?;
        let entry = std::fs::read_dir(&staging)
            .map_err(|e| e.to_string())?
            .flatten()
            .next()
            .ok_or("the source is empty")?;
        std::fs::rename(entry.path(), dest).map_err(|e| format!("{}: {e}", dest.display()))
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_sides() {
        assert_eq!(split("web:/etc/hosts"), Some(("web", "/etc/hosts")));
        assert_eq!(split("./a:b"), None);
        assert_eq!(split("/tmp/x"), None);
        assert_eq!(split(":x"), None);
    }
}
