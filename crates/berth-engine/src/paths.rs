//! Where berth keeps its data: a persistent root and a runtime root (see DESIGN.md).

use std::path::{Path, PathBuf};

/// The two directories that hold all of berth's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// Persistent data: blobs, layers, images, container records.
    pub root: PathBuf,
    /// Runtime data that a reboot may wipe: container state, netns files, locks.
    pub run_root: PathBuf,
}

impl Roots {
    /// The roots for this user: the given ones when set, otherwise `/var/lib/berth` and
    /// `/run/berth` for root, and the XDG data and runtime directories for other users.
    pub fn resolve(root: Option<PathBuf>, run_root: Option<PathBuf>) -> Roots {
        let is_root = rustix::process::geteuid().is_root();
        let env = |name: &str| std::env::var_os(name).map(PathBuf::from);
        Roots {
            root: root.unwrap_or_else(|| default_root(is_root, env("XDG_DATA_HOME"), env("HOME"))),
            run_root: run_root.unwrap_or_else(|| {
                default_run_root(
                    is_root,
                    env("XDG_RUNTIME_DIR"),
                    rustix::process::getuid().as_raw(),
                )
            }),
        }
    }

    /// `blobs/sha256`: manifests, configs and indexes by digest.
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    /// `layers`: unpacked layers by chain id.
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// `tmp`: downloads and unpacks in progress.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

fn default_root(is_root: bool, xdg_data: Option<PathBuf>, home: Option<PathBuf>) -> PathBuf {
    if is_root {
        return PathBuf::from("/var/lib/berth");
    }
    match (xdg_data, home) {
        (Some(data), _) if data.is_absolute() => data.join("berth"),
        (_, Some(home)) => home.join(".local/share/berth"),
        _ => PathBuf::from("/var/lib/berth"),
    }
}

fn default_run_root(is_root: bool, xdg_runtime: Option<PathBuf>, uid: u32) -> PathBuf {
    if is_root {
        return PathBuf::from("/run/berth");
    }
    match xdg_runtime {
        Some(dir) if dir.is_absolute() => dir.join("berth"),
        _ => Path::new("/tmp").join(format!("berth-run-{uid}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_uses_system_dirs() {
        assert_eq!(default_root(true, None, None), Path::new("/var/lib/berth"));
        assert_eq!(default_run_root(true, None, 0), Path::new("/run/berth"));
    }

    #[test]
    fn users_get_xdg_dirs() {
        let data = Some(PathBuf::from("/home/u/.data"));
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            default_root(false, data, home.clone()),
            Path::new("/home/u/.data/berth")
        );
        assert_eq!(
            default_root(false, None, home),
            Path::new("/home/u/.local/share/berth")
        );
        let runtime = Some(PathBuf::from("/run/user/1000"));
        assert_eq!(
            default_run_root(false, runtime, 1000),
            Path::new("/run/user/1000/berth")
        );
        assert_eq!(
            default_run_root(false, None, 1000),
            Path::new("/tmp/berth-run-1000")
        );
    }
}
