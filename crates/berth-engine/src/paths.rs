//! Where berth keeps its data: a persistent root and a runtime root (see DESIGN.md).

use berth_error::{Context, IoContext};
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The data root's mode: Docker's for `/var/lib/docker` (0710, root:root). No other user can
/// enter it: not reach a setuid file of a layer, nor read a container's spec.
const ROOT_MODE: u32 = 0o710;

/// The run root's mode: Docker's for `/run/docker` (0700).
const RUN_ROOT_MODE: u32 = 0o700;

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

    /// Makes the roots where they are missing, the data root 0710 and the run root 0700 (as
    /// Docker makes `/var/lib/docker` and `/run/docker`), and takes from existing ones what
    /// those modes do not grant (a 0755 root becomes 0710). One `stat` each when they are
    /// right already.
    pub fn secure(&self) -> Result<(), IoContext> {
        restrict(&self.root, ROOT_MODE)?;
        restrict(&self.run_root, RUN_ROOT_MODE)
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

/// Makes directory `dir` with `mode`, or takes from an existing one the permissions that
/// `mode` lacks.
fn restrict(dir: &Path, mode: u32) -> Result<(), IoContext> {
    match fs::metadata(dir) {
        Ok(meta) => {
            let now = meta.permissions().mode() & 0o7777;
            if now & !mode != 0 {
                fs::set_permissions(dir, fs::Permissions::from_mode(now & mode))
                    .context(dir.display())?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent).context(dir.display())?;
            }
            match fs::DirBuilder::new().mode(mode).create(dir) {
                // Made meanwhile by another berth command: checked again.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => restrict(dir, mode),
                made => made.context(dir.display()),
            }
        }
        Err(e) => Err(IoContext::new(dir.display(), e)),
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
    fn roots_are_made_private_and_wide_ones_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let roots = Roots {
            root: dir.path().join("a/root"),
            run_root: dir.path().join("run"),
        };
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        roots.secure().unwrap();
        assert_eq!(mode(&roots.root), 0o710);
        assert_eq!(mode(&roots.run_root), 0o700);
        fs::set_permissions(&roots.root, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&roots.run_root, fs::Permissions::from_mode(0o700)).unwrap();
        roots.secure().unwrap();
        assert_eq!(mode(&roots.root), 0o710);
        // Narrower than Docker's stays as it is.
        fs::set_permissions(&roots.root, fs::Permissions::from_mode(0o700)).unwrap();
        roots.secure().unwrap();
        assert_eq!(mode(&roots.root), 0o700);
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
