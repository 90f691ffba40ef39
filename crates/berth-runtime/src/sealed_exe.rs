//! The berth binary out of the containers' reach (the runc CVE-2019-5736 class of attack).
//!
//! A container's processes are clones of berth until their last `execve`, so their
//! `/proc/self/exe` is berth's binary: a command that is a script with `#!/proc/self/exe` as its
//! interpreter makes the kernel run that binary again inside the container, where any process
//! can open its `/proc/PID/exe` and, once nothing executes the file, reopen it for writing. So
//! a berth process that makes container processes first re-executes itself from a view of its
//! binary that cannot be written, unless it already runs from one ([`reexec_protected`]):
//!
//! - an overlayfs made with the new mount API, whose lower layers are the binary's directory and
//!   `/dev` (without an upper layer overlayfs takes two lower ones and is read-only: there is no
//!   way to make it writable), mounted detached: the binary is opened through the mount's
//!   descriptor, the descriptor closed, and the file executed with `execveat`. The mount is
//!   never attached anywhere; it lives as long as a process runs from it. The page cache is the
//!   binary's own, shared with every other berth process. (runc since 1.2 does the same.)
//! - where no overlay can be made, a sealed `memfd` copy of the binary, as runc (before 1.2),
//!   crun and youki do.
//!
//! A process re-executed this way finds its own binary only as [`SELF_EXE`] (which
//! [`berth_command`] runs): the path that `std::env::current_exe` reads from that link names
//! nothing on the host.

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags, SealFlags};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// This process's own binary, wherever it runs from: the path to re-execute berth by.
pub const SELF_EXE: &str = "/proc/self/exe";

/// A command that runs berth again: this process's binary under the name it was started by.
pub fn berth_command() -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(SELF_EXE);
    if let Some(name) = std::env::args_os().next() {
        command.arg0(name);
    }
    command
}

/// `OVERLAYFS_SUPER_MAGIC` of `statfs(2)`.
const OVERLAYFS_MAGIC: u64 = 0x794c_7630;
/// `ST_RDONLY` of `statfs(2)`'s `f_flags`.
const ST_RDONLY: u64 = 1;
/// The seals that make a memfd's contents final.
const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);
/// The overlay's second lower layer: a directory on another file system than any binary's
/// directory is likely to be (two layers on one file system must not contain each other).
const SECOND_LAYER: &str = "/dev";

/// Why no protected view of the binary could be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot run berth from a read-only copy of its binary: overlay: {overlay}; memfd: {memfd}")]
pub struct Error {
    overlay: String,
    memfd: String,
}

/// Returns at once when this process already runs from a protected view of its binary; else
/// re-executes it, with the same arguments and environment, from one (and returns only the
/// reason none could be made). Call it before anything else happened in the process: it starts
/// again from `main`.
pub fn reexec_protected() -> Result<(), Error> {
    let Ok(current) = rustix::fs::open(SELF_EXE, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
    else {
        // Without /proc there is no /proc/self/exe for a container to reach either.
        return Ok(());
    };
    if is_protected(current.as_fd()) {
        return Ok(());
    }
    let overlay = match overlay_view(current.as_fd()) {
        Ok(view) => exec(view.as_fd()),
        Err(e) => e,
    };
    let memfd = match memfd_copy(current.as_fd()) {
        Ok(copy) => exec(copy.as_fd()),
        Err(e) => e,
    };
    Err(Error { overlay, memfd })
}

/// Whether `file` (this process's binary) cannot be written by anyone: a file of a read-only
/// overlay (what [`overlay_view`] makes) or a sealed memfd.
fn is_protected(file: BorrowedFd<'_>) -> bool {
    let read_only_overlay = rustix::fs::fstatfs(file)
        .is_ok_and(|fs| fs.f_type as u64 == OVERLAYFS_MAGIC && fs.f_flags as u64 & ST_RDONLY != 0);
    read_only_overlay || rustix::fs::fcntl_get_seals(file).is_ok_and(|seals| seals.contains(SEALS))
}

/// The binary `current` (opened as /proc/self/exe) seen through a detached read-only overlay
/// of its directory, checked to be the same file.
fn overlay_view(current: BorrowedFd<'_>) -> Result<OwnedFd, String> {
    let path = std::fs::read_link(SELF_EXE).map_err(|e| format!("{SELF_EXE}: {e}"))?;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(format!("{}: not a file's path", path.display()));
    };
    let context = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| format!("fsopen: {e}"))?;
    let mut lower = escape_layer(dir);
    lower.push(":");
    lower.push(SECOND_LAYER);
    rustix::mount::fsconfig_set_string(context.as_fd(), "lowerdir", &lower)
        .map_err(|e| format!("lowerdir {}: {e}", lower.to_string_lossy()))?;
    // Inode numbers from two file systems would make the kernel log a line each time.
    let _ = rustix::mount::fsconfig_set_string(context.as_fd(), "xino", "off");
    rustix::mount::fsconfig_create(context.as_fd()).map_err(|e| format!("create: {e}"))?;
    let mount = rustix::mount::fsmount(
        context.as_fd(),
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOSUID,
    )
    .map_err(|e| format!("fsmount: {e}"))?;
    let view = rustix::fs::openat(
        mount.as_fd(),
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open {}: {e}", Path::new(name).display()))?;
    // The overlay reports the lower file's inode number, size and times (its device is its
    // own): a different file (the binary was replaced since it started) differs in them.
    let (a, b) = (
        rustix::fs::fstat(current).map_err(|e| format!("stat: {e}"))?,
        rustix::fs::fstat(view.as_fd()).map_err(|e| format!("stat: {e}"))?,
    );
    let same = (a.st_ino, a.st_size, a.st_mtime, a.st_mtime_nsec)
        == (b.st_ino, b.st_size, b.st_mtime, b.st_mtime_nsec);
    if !same || !is_protected(view.as_fd()) {
        return Err(format!("{}: not the running binary", path.display()));
    }
    Ok(view)
}

/// `dir` as one layer of overlayfs's `lowerdir`, where `:` separates layers and `\` escapes.
fn escape_layer(dir: &Path) -> OsString {
    let mut escaped = Vec::with_capacity(dir.as_os_str().len());
    for &byte in dir.as_os_str().as_bytes() {
        if byte == b':' || byte == b'\\' {
            escaped.push(b'\\');
        }
        escaped.push(byte);
    }
    OsString::from_vec(escaped)
}

/// A copy of the binary `current` in a memfd sealed against every change.
fn memfd_copy(current: BorrowedFd<'_>) -> Result<OwnedFd, String> {
    let flags = rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) keeps the copy executable where vm.memfd_noexec would not.
    let copy = rustix::fs::memfd_create("berth", flags | rustix::fs::MemfdFlags::EXEC)
        .or_else(|_| rustix::fs::memfd_create("berth", flags))
        .map_err(|e| format!("memfd_create: {e}"))?;
    let mut offset = 0u64;
    loop {
        match rustix::fs::sendfile(copy.as_fd(), current, Some(&mut offset), 1 << 30) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(format!("copy: {e}")),
        }
    }
    rustix::fs::fcntl_add_seals(copy.as_fd(), SEALS).map_err(|e| format!("seal: {e}"))?;
    Ok(copy)
}

/// Executes `file` with this process's arguments and environment; returns only why it failed.
fn exec(file: BorrowedFd<'_>) -> String {
    let to_c = |s: OsString| CString::new(s.into_vec()).ok();
    let args: Vec<CString> = std::env::args_os().filter_map(to_c).collect();
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(key, value)| {
            let mut pair = key;
            pair.push("=");
            pair.push(value);
            to_c(pair)
        })
        .collect();
    let argv: Vec<*const libc::c_char> = args
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = env
        .iter()
        .map(|e| e.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // SAFETY: `file` is an open descriptor, the path is an empty C string, and `argv` and
    // `envp` are null-terminated arrays of C strings that outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            file.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    format!("execveat: {}", std::io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_escape_their_separator() {
        assert_eq!(
            escape_layer(Path::new("/a:b\\c")),
            OsString::from("/a\\:b\\\\c")
        );
        assert_eq!(
            escape_layer(Path::new("/usr/bin")),
            OsString::from("/usr/bin")
        );
    }
}
