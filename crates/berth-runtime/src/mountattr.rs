//! Recursive mount attributes: the runtime spec's `rro`, `rnosuid`, `rnodev`, `rnoexec`,
//! `rnoatime`, `rstrictatime`, `rnosymfollow` and their opposites, applied to a mount and every
//! mount below it with `mount_setattr(2)` (`AT_RECURSIVE`), as runc and crun do.

use rustix::fd::{AsRawFd, BorrowedFd};

const RDONLY: u64 = 0x1;
const NOSUID: u64 = 0x2;
const NODEV: u64 = 0x4;
const NOEXEC: u64 = 0x8;
/// The access-time modes are an enum inside this mask, not bits.
const ATIME_MASK: u64 = 0x70;
const RELATIME: u64 = 0x0;
const NOATIME: u64 = 0x10;
const STRICTATIME: u64 = 0x20;
const NODIRATIME: u64 = 0x80;
const NOSYMFOLLOW: u64 = 0x20_0000;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// The attributes to set and to clear, gathered from a mount's options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecursiveAttrs {
    set: u64,
    clear: u64,
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

impl RecursiveAttrs {
    /// Takes `option` if it is a recursive attribute; false otherwise.
    pub fn take(&mut self, option: &str) -> bool {
        let (set, clear) = match option {
            "rro" => (RDONLY, 0),
            "rrw" => (0, RDONLY),
            "rnosuid" => (NOSUID, 0),
            "rsuid" => (0, NOSUID),
            "rnodev" => (NODEV, 0),
            "rdev" => (0, NODEV),
            "rnoexec" => (NOEXEC, 0),
            "rexec" => (0, NOEXEC),
            "rnodiratime" => (NODIRATIME, 0),
            "rdiratime" => (0, NODIRATIME),
            "rnosymfollow" => (NOSYMFOLLOW, 0),
            "rsymfollow" => (0, NOSYMFOLLOW),
            // An access-time mode replaces the whole mode; leaving noatime or strictatime
            // falls back to relatime, the kernel's default.
            "rrelatime" | "ratime" | "rnostrictatime" | "rnorelatime" => (RELATIME, ATIME_MASK),
            "rnoatime" => (NOATIME, ATIME_MASK),
            "rstrictatime" => (STRICTATIME, ATIME_MASK),
            _ => return false,
        };
        if clear & ATIME_MASK != 0 {
            self.set &= !ATIME_MASK;
        }
        self.set = (self.set & !clear) | set;
        self.clear = (self.clear & !set) | clear;
        true
    }

    /// Whether any was given.
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }

    /// Applies them to the mount at `mount` (an open descriptor of it) and every mount below.
    pub fn apply(&self, mount: BorrowedFd<'_>) -> std::io::Result<()> {
        let attr = MountAttr {
            attr_set: self.set,
            attr_clr: self.clear,
            propagation: 0,
            userns_fd: 0,
        };
        // SAFETY: mount_setattr reads `attr`, a live `struct mount_attr` of the size passed,
        // and the empty C string; the descriptor is open for the call.
        let done = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                mount.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        match done {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(options: &[&str]) -> RecursiveAttrs {
        let mut attrs = RecursiveAttrs::default();
        for option in options {
            assert!(attrs.take(option), "{option}");
        }
        attrs
    }

    #[test]
    fn options_set_and_clear_attributes() {
        assert!(!RecursiveAttrs::default().take("ro"));
        let attrs = of(&["rro", "rnosuid", "rdev"]);
        assert_eq!((attrs.set, attrs.clear), (RDONLY | NOSUID, NODEV));
        // The last word wins.
        let attrs = of(&["rro", "rrw"]);
        assert_eq!((attrs.set, attrs.clear), (0, RDONLY));
        // An access-time mode clears the whole mode.
        let attrs = of(&["rnoatime"]);
        assert_eq!((attrs.set, attrs.clear), (NOATIME, ATIME_MASK));
        let attrs = of(&["rnoatime", "rstrictatime"]);
        assert_eq!((attrs.set, attrs.clear), (STRICTATIME, ATIME_MASK));
    }
}
