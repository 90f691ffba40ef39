//! Network namespaces kept as bind-mounted files (as `ip netns` and CNI keep them), so that a
//! namespace can be prepared before any process lives in it, and be joined by path.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};
use std::fs;
use std::io;
use std::path::Path;

const OWN: &str = "/proc/thread-self/ns/net";

fn open(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

fn enter(namespace: impl AsFd) -> io::Result<()> {
    Ok(rustix::thread::move_into_link_name_space(
        namespace.as_fd(),
        Some(LinkNameSpaceType::Network),
    )?)
}

/// Creates a new, empty network namespace and keeps it at `path` (a new file).
pub fn create(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::File::create(path)?;
    let original = open(Path::new(OWN))?;
    // SAFETY: a new network namespace for this thread changes no memory, file table or
    // credentials; the thread goes back to `original` below.
    if let Err(e) = unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) } {
        let _ = fs::remove_file(path);
        return Err(e.into());
    }
    let kept = rustix::mount::mount_bind(OWN, path);
    enter(&original)?;
    if let Err(e) = kept {
        let _ = fs::remove_file(path);
        return Err(e.into());
    }
    Ok(())
}

/// Lets go of the namespace kept at `path`: the kernel frees it once no process is in it.
/// A missing file is not an error.
pub fn remove(path: &Path) -> io::Result<()> {
    match rustix::mount::unmount(path, rustix::mount::UnmountFlags::DETACH) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// This thread inside another network namespace, until dropped: sockets opened meanwhile
/// (netlink ones included) stay bound to that namespace.
pub struct Entered {
    original: OwnedFd,
}

impl Entered {
    /// Enters the namespace kept at (or linked from) `path`.
    pub fn new(path: &Path) -> io::Result<Entered> {
        let original = open(Path::new(OWN))?;
        enter(open(path)?)?;
        Ok(Entered { original })
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Err(e) = enter(&self.original) {
            // Going on in the wrong namespace would configure the wrong host.
            eprintln!("berth: cannot return to the host's network namespace: {e}");
            std::process::abort();
        }
    }
}

/// Opens the namespace at `path`, for `setns` or for placing an interface in it.
pub fn open_path(path: &Path) -> io::Result<OwnedFd> {
    open(path)
}
