//! The copy of a directory tree with everything a file has: owners, modes (setuid and sticky
//! bits too), times, extended attributes, symbolic links as links, hard links as links,
//! device nodes, FIFOs. Every step works on descriptors (`*at` calls, no symbolic link
//! followed), so nothing in the source can make it read or write outside the two trees.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{self, AtFlags, FileType, Mode, OFlags, Timestamps};
use rustix::io::Errno;
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::io;

/// Which directory and name a file was first copied to, by its source's device and inode.
type Links = HashMap<(u64, u64), CString>;

/// Copies the contents of directory `src` into directory `dst` (empty), then gives `dst`
/// the owner, mode, extended attributes and times of `src` (as Docker copies a volume's
/// root: moby's `copyOwnership`).
pub fn copy_tree(src: &OwnedFd, dst: &OwnedFd) -> io::Result<()> {
    let mut links = Links::new();
    copy_dir(src, dst, &CString::default(), &mut links, dst)?;
    copy_metadata(src, dst, &fs::fstat(src)?)
}

/// Copies the entries of `src` into `dst`; `path`: where `dst` is below `root`.
fn copy_dir(
    src: &OwnedFd,
    dst: &OwnedFd,
    path: &CStr,
    links: &mut Links,
    root: &OwnedFd,
) -> io::Result<()> {
    for entry in fs::Dir::read_from(src)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let at = |e: Errno| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("copy {}: {e}", name.to_string_lossy()),
            )
        };
        let stat = fs::statat(src, name, AtFlags::SYMLINK_NOFOLLOW).map_err(at)?;
        let mut full = path.to_bytes().to_vec();
        if !full.is_empty() {
            full.push(b'/');
        }
        full.extend_from_slice(name.to_bytes());
        let full = CString::new(full).expect("no NUL in a file name");
        let kind = FileType::from_raw_mode(stat.st_mode);
        let key = (stat.st_dev, stat.st_ino);
        if kind != FileType::Directory && stat.st_nlink > 1 {
            if let Some(first) = links.get(&key) {
                fs::linkat(root, first.as_c_str(), dst, name, AtFlags::empty()).map_err(at)?;
                continue;
            }
            links.insert(key, full.clone());
        }
        match kind {
            FileType::Directory => {
                fs::mkdirat(dst, name, Mode::from_raw_mode(0o700)).map_err(at)?;
                let open = |dir: &OwnedFd| {
                    fs::openat(
                        dir,
                        name,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                };
                let (from, to) = (open(src).map_err(at)?, open(dst).map_err(at)?);
                copy_dir(&from, &to, &full, links, root)?;
                copy_metadata(&from, &to, &stat)?;
            }
            FileType::RegularFile => {
                let from = fs::openat(
                    src,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(at)?;
                let to = fs::openat(
                    dst,
                    name,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(at)?;
                let (mut reader, mut writer) = (std::fs::File::from(from), std::fs::File::from(to));
                io::copy(&mut reader, &mut writer)?;
                copy_metadata(&OwnedFd::from(reader), &OwnedFd::from(writer), &stat)?;
            }
            FileType::Symlink => {
                let target = fs::readlinkat(src, name, Vec::new()).map_err(at)?;
                fs::symlinkat(target.as_c_str(), dst, name).map_err(at)?;
                owner_and_times_at(dst, name, &stat, AtFlags::SYMLINK_NOFOLLOW).map_err(at)?;
            }
            other => {
                let mode = Mode::from_raw_mode(stat.st_mode & 0o7777);
                fs::mknodat(dst, name, other, mode, stat.st_rdev).map_err(at)?;
                owner_and_times_at(dst, name, &stat, AtFlags::empty()).map_err(at)?;
                fs::chmodat(dst, name, mode, AtFlags::empty()).map_err(at)?;
            }
        }
    }
    Ok(())
}

/// The owner, then the mode (a change of owner clears setuid bits), extended attributes and
/// times of `stat` (and `from`'s attributes) on `to`.
fn copy_metadata(from: &OwnedFd, to: &OwnedFd, stat: &fs::Stat) -> io::Result<()> {
    fs::fchown(to, Some(uid(stat)), Some(gid(stat)))?;
    fs::fchmod(to, Mode::from_raw_mode(stat.st_mode & 0o7777))?;
    copy_xattrs(from, to)?;
    fs::futimens(to, &times(stat))?;
    Ok(())
}

/// Every extended attribute of `from` on `to`, but overlayfs' own (berth's layers never hold
/// them; an overlay that the source is read through hides them anyway). A destination whose
/// file system takes none is no error.
fn copy_xattrs(from: &OwnedFd, to: &OwnedFd) -> io::Result<()> {
    let size = fs::flistxattr_query(from.as_fd())?;
    if size == 0 {
        return Ok(());
    }
    let mut names = vec![0u8; size];
    let len = fs::flistxattr(from.as_fd(), &mut names[..])?;
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
            continue;
        }
        let name = CString::new(name).expect("split at NUL");
        let size = fs::fgetxattr_query(from.as_fd(), name.as_c_str())?;
        let mut value = vec![0u8; size];
        let len = fs::fgetxattr(from.as_fd(), name.as_c_str(), &mut value[..])?;
        match fs::fsetxattr(
            to.as_fd(),
            name.as_c_str(),
            &value[..len],
            fs::XattrFlags::empty(),
        ) {
            Err(Errno::OPNOTSUPP) => return Ok(()),
            set => set?,
        }
    }
    Ok(())
}

/// The owner and times of `stat` on `name` in `dir`.
fn owner_and_times_at(
    dir: &OwnedFd,
    name: &CStr,
    stat: &fs::Stat,
    flags: AtFlags,
) -> Result<(), Errno> {
    fs::chownat(dir, name, Some(uid(stat)), Some(gid(stat)), flags)?;
    fs::utimensat(dir, name, &times(stat), flags)
}

fn uid(stat: &fs::Stat) -> rustix::process::Uid {
    rustix::process::Uid::from_raw(stat.st_uid)
}

fn gid(stat: &fs::Stat) -> rustix::process::Gid {
    rustix::process::Gid::from_raw(stat.st_gid)
}

fn times(stat: &fs::Stat) -> Timestamps {
    Timestamps {
        last_access: fs::Timespec {
            tv_sec: stat.st_atime,
            tv_nsec: stat.st_atime_nsec as _,
        },
        last_modification: fs::Timespec {
            tv_sec: stat.st_mtime,
            tv_nsec: stat.st_mtime_nsec as _,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
    use std::path::Path;

    fn open(path: &Path) -> OwnedFd {
        fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    #[test]
    fn a_tree_is_copied_with_modes_links_times_and_owners() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir(&dst).unwrap();
        std::fs::write(src.join("sub/file"), b"data").unwrap();
        std::fs::hard_link(src.join("sub/file"), src.join("link")).unwrap();
        symlink("/etc/passwd", src.join("sym")).unwrap();
        std::fs::set_permissions(src.join("sub"), PermissionsExt::from_mode(0o500)).unwrap();
        std::fs::set_permissions(&src, PermissionsExt::from_mode(0o1777)).unwrap();
        let root = rustix::process::geteuid().is_root();
        if root {
            std::os::unix::fs::lchown(src.join("sub/file"), Some(123), Some(456)).unwrap();
        }
        // After the owner: a change of owner clears the setuid bit.
        std::fs::set_permissions(src.join("sub/file"), PermissionsExt::from_mode(0o4751)).unwrap();
        copy_tree(&open(&src), &open(&dst)).unwrap();
        let meta = |p: &str| std::fs::symlink_metadata(dst.join(p)).unwrap();
        assert_eq!(std::fs::read(dst.join("sub/file")).unwrap(), b"data");
        assert_eq!(meta("sub/file").mode() & 0o7777, 0o4751);
        assert_eq!(meta("sub").mode() & 0o7777, 0o500);
        assert_eq!(meta("").mode() & 0o7777, 0o1777);
        assert_eq!(meta("link").ino(), meta("sub/file").ino());
        assert_eq!(
            std::fs::read_link(dst.join("sym")).unwrap(),
            Path::new("/etc/passwd")
        );
        let src_meta = std::fs::metadata(src.join("sub/file")).unwrap();
        assert_eq!(meta("sub/file").mtime(), src_meta.mtime());
        if root {
            assert_eq!((meta("sub/file").uid(), meta("sub/file").gid()), (123, 456));
        }
        std::fs::set_permissions(src.join("sub"), PermissionsExt::from_mode(0o700)).unwrap();
        std::fs::set_permissions(dst.join("sub"), PermissionsExt::from_mode(0o700)).unwrap();
    }
}
