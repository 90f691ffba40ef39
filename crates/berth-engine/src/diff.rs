//! `berth diff`: what a container changed in its file system, read from its overlay upper
//! directory as Docker reads it: a whiteout is a deletion (`D`), a path that the image has is
//! a change (`C`), any other an addition (`A`); an opaque directory's contents are all
//! additions. Every directory in the upper directory holds a change, so each is listed too.

use crate::commit::{CommitError, stack};
use crate::containers::Containers;
use crate::paths::Roots;
use berth_error::Context;
use rustix::fd::OwnedFd;
use rustix::fs::{self, AtFlags, FileType, Mode, OFlags};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The absolute path in the container.
    pub path: String,
    /// `A`, `C` or `D`.
    pub kind: char,
}

/// The changes of the container `name`, sorted by path.
pub fn diff(roots: &Roots, name: &str) -> Result<Vec<Change>, CommitError> {
    let containers = Containers::new(&roots.root);
    let record = containers.find(name)?;
    let layers = stack(&containers, &record);
    let what = "read the container's changes";
    let upper = fs::open(
        &layers[0],
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .context(what)?;
    let mut changes = Vec::new();
    walk(&upper, "", &layers[1..], false, &mut changes).context(what)?;
    changes.sort();
    Ok(changes)
}

/// Lists the changes below the upper directory `dir` (at container path `prefix`, ending in
/// `/` or empty); `all_new`: inside an opaque directory, where nothing below counts.
fn walk(
    dir: &OwnedFd,
    prefix: &str,
    lower: &[PathBuf],
    all_new: bool,
    out: &mut Vec<Change>,
) -> io::Result<()> {
    for entry in fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "." || name == ".." {
            continue;
        }
        let path = format!("{prefix}{name}");
        let stat = fs::statat(dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)?;
        let kind = FileType::from_raw_mode(stat.st_mode);
        if kind == FileType::CharacterDevice && stat.st_rdev == 0 {
            out.push(Change {
                path: format!("/{path}"),
                kind: 'D',
            });
            continue;
        }
        let below = !all_new && exists_below(lower, &path);
        out.push(Change {
            path: format!("/{path}"),
            kind: if below { 'C' } else { 'A' },
        });
        if kind == FileType::Directory {
            let child = fs::openat(
                dir,
                name.as_str(),
                OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let mut value = [0u8; 4];
            let opaque = matches!(
                fs::fgetxattr(&child, "trusted.overlay.opaque", &mut value),
                Ok(1) if value[0] == b'y'
            );
            walk(&child, &format!("{path}/"), lower, all_new || opaque, out)?;
        }
    }
    Ok(())
}

/// Whether the lower layers (topmost first) show `path`: the first layer that has it, or a
/// whiteout of it or of a parent, or a non-directory parent, decides; an opaque parent hides
/// the layers below it.
fn exists_below(lower: &[PathBuf], path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    for layer in lower {
        let mut at = layer.clone();
        let mut hides = false;
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            let Ok(meta) = std::fs::symlink_metadata(&at) else {
                break;
            };
            if meta.file_type().is_char_device() && meta.rdev() == 0 {
                return false;
            }
            if i + 1 == parts.len() {
                return true;
            }
            if !meta.is_dir() {
                return false;
            }
            if is_opaque(&at) {
                hides = true;
            }
        }
        if hides {
            return false;
        }
    }
    false
}

fn is_opaque(dir: &Path) -> bool {
    let mut value = [0u8; 4];
    matches!(fs::lgetxattr(dir, "trusted.overlay.opaque", &mut value), Ok(1) if value[0] == b'y')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_below_is_seen_through_whiteouts_and_opaque_dirs() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let (top, bottom) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::create_dir_all(bottom.path().join("a/b")).unwrap();
        std::fs::write(bottom.path().join("a/b/f"), "").unwrap();
        std::fs::write(bottom.path().join("g"), "").unwrap();
        std::fs::create_dir_all(top.path().join("a")).unwrap();
        let layers = [top.path().to_path_buf(), bottom.path().to_path_buf()];
        assert!(exists_below(&layers, "a/b/f"));
        assert!(exists_below(&layers, "g"));
        assert!(!exists_below(&layers, "a/x"));
        assert!(!exists_below(&layers, "g/x"), "below a file");
        fs::setxattr(
            top.path().join("a").as_path(),
            "trusted.overlay.opaque",
            b"y",
            fs::XattrFlags::empty(),
        )
        .unwrap();
        assert!(!exists_below(&layers, "a/b/f"), "hidden by an opaque dir");
        fs::mknodat(
            fs::CWD,
            top.path().join("g").as_path(),
            FileType::CharacterDevice,
            Mode::empty(),
            0,
        )
        .unwrap();
        assert!(!exists_below(&layers, "g"), "hidden by a whiteout");
    }
}
