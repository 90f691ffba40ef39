//! Runtime-spec mount options sorted out: mount(2) flags, bind recursion, propagation,
//! recursive attributes and the file system's own data.

use crate::mountattr::RecursiveAttrs;
use rustix::mount::{MountFlags, MountPropagationFlags};

/// A spec mount's options, sorted out.
pub(super) struct Options {
    /// Flags for mount(2) (or, for a bind mount, its remount).
    pub(super) flags: MountFlags,
    /// `rbind`: bind the mounts below the source too.
    pub(super) recursive_bind: bool,
    /// Propagation to set afterwards.
    pub(super) propagation: Option<MountPropagationFlags>,
    /// Attributes for the mount and every mount below it (`rro`, ...).
    pub(super) attrs: RecursiveAttrs,
    /// The rest, for the file system (`mode=755`, `size=64m`).
    pub(super) data: String,
}

/// Sorts out runtime-spec mount options. Words that only undo a flag (`rw`, `dev`, `exec`,
/// `atime`, ...) set nothing: every flag starts cleared.
pub(super) fn parse_options(options: &[String]) -> Options {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
