//! A directory tree out as a tar: a container's overlay upper directory as an OCI layer
//! (`commit`), or a stack of layer directories merged as one file system (`export`).
//!
//! The inverse of `unpack`: overlayfs whiteouts (0/0 character devices) become `.wh.NAME`
//! entries and `trusted.overlay.opaque=y` directories get a `.wh..wh..opq` entry; owners,
//! modes, mtimes, extended attributes (PAX `SCHILY.xattr.*`, overlayfs's own left out),
//! hardlinks (an inode seen again is a link entry), symlinks, device nodes and FIFOs are kept;
//! sparse files are written as regular files. Names are sorted, so the same tree gives the same
//! tar, byte for byte.
//!
//! Every name is opened relative to its directory's descriptor and never followed, so a
//! running container that swaps a directory for a symlink cannot make berth read a host file.

use rustix::fd::{AsRawFd, OwnedFd};
use rustix::fs::{self, AtFlags, FileType, Mode, OFlags, Stat};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::Path;

/// The prefix of a whiteout entry's name.
const WHITEOUT_PREFIX: &str = ".wh.";
/// The name of an opaque-directory marker.
const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The attribute overlayfs marks an opaque directory with (as root).
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Writes the overlay upper directory `upper` as an OCI layer tar into `out`, whiteouts and
/// opaque directories converted. Returns `out`.
pub fn write_layer<W: Write>(upper: &Path, out: W) -> io::Result<W> {
    let root = open_root(upper)?;
    let mut writer = Writer::new(out, true);
    writer.walk(&[root], "")?;
    writer.tar.into_inner()
}

/// Writes the file system that the overlay of `layers` (topmost first) shows as a plain tar
/// into `out`: what a whiteout or an opaque directory hides is left out, and no whiteout is
/// written. Returns `out`.
pub fn write_merged<W: Write>(layers: &[&Path], out: W) -> io::Result<W> {
    let stack = layers
        .iter()
        .map(|l| open_root(l))
        .collect::<io::Result<Vec<_>>>()?;
    let mut writer = Writer::new(out, false);
    writer.walk(&stack, "")?;
    writer.tar.into_inner()
}

fn open_root(dir: &Path) -> io::Result<OwnedFd> {
    fs::open(
        dir,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))
}

/// Whether `stat` is an overlayfs whiteout.
fn is_whiteout(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice && stat.st_rdev == 0
}

/// Whether the directory `dir` is opaque.
fn is_opaque(dir: &OwnedFd) -> bool {
    let mut value = [0u8; 4];
    matches!(fs::fgetxattr(dir, OPAQUE_XATTR, &mut value), Ok(1) if value[0] == b'y')
}

struct Writer<W: Write> {
    tar: tar::Builder<W>,
    /// The first name of each inode with several links, by (device, inode).
    links: HashMap<(u64, u64), String>,
    /// Converting an upper directory (whiteouts become entries), or exporting a merged tree.
    layer: bool,
}

impl<W: Write> Writer<W> {
    fn new(out: W, layer: bool) -> Writer<W> {
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        Writer {
            tar,
            links: HashMap::new(),
            layer,
        }
    }

    /// Writes the entries of the directory that `stack` (topmost first, each the same path in
    /// one layer) shows, under the name `prefix` (empty or ending in `/`).
    fn walk(&mut self, stack: &[OwnedFd], prefix: &str) -> io::Result<()> {
        let mut names: BTreeMap<Vec<u8>, (usize, Stat)> = BTreeMap::new();
        for (i, dir) in stack.iter().enumerate() {
            for entry in fs::Dir::read_from(dir)? {
                let entry = entry?;
                let name = entry.file_name().to_bytes();
                if name == b"." || name == b".." || names.contains_key(name) {
                    continue;
                }
                let stat = fs::statat(dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)?;
                names.insert(name.to_vec(), (i, stat));
            }
            if is_opaque(dir) {
                break;
            }
        }
        for (name, (i, stat)) in names {
            let name = String::from_utf8(name).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{prefix}{}: a name that is not UTF-8",
                        String::from_utf8_lossy(e.as_bytes())
                    ),
                )
            })?;
            let path = format!("{prefix}{name}");
            let dir = &stack[i];
            if is_whiteout(&stat) {
                if self.layer {
                    let whiteout = format!("{prefix}{WHITEOUT_PREFIX}{name}");
                    let mut header = self.header(&stat, tar::EntryType::Regular);
                    header.set_mode(0o644);
                    self.tar.append_data(&mut header, whiteout, io::empty())?;
                }
                continue;
            }
            if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
                let child = open_dir(dir, &name)?;
                self.xattrs(dir, &name, &path)?;
                let mut header = self.header(&stat, tar::EntryType::Directory);
                self.tar
                    .append_data(&mut header, format!("{path}/"), io::empty())?;
                let opaque = is_opaque(&child);
                if self.layer && opaque {
                    let mut marker = self.header(&stat, tar::EntryType::Regular);
                    marker.set_mode(0o644);
                    self.tar.append_data(
                        &mut marker,
                        format!("{path}/{OPAQUE_MARKER}"),
                        io::empty(),
                    )?;
                }
                let mut below = vec![child];
                if !opaque {
                    for lower in &stack[i + 1..] {
                        match fs::statat(lower, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                            Ok(s) if FileType::from_raw_mode(s.st_mode) == FileType::Directory => {
                                below.push(open_dir(lower, &name)?)
                            }
                            Ok(_) => break,
                            Err(rustix::io::Errno::NOENT) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                self.walk(&below, &format!("{path}/"))?;
                continue;
            }
            self.entry(dir, &name, &path, &stat)?;
        }
        Ok(())
    }

    /// Writes one entry that is not a directory.
    fn entry(&mut self, dir: &OwnedFd, name: &str, path: &str, stat: &Stat) -> io::Result<()> {
        let kind = FileType::from_raw_mode(stat.st_mode);
        if stat.st_nlink > 1 {
            let key = (stat.st_dev, stat.st_ino);
            if let Some(first) = self.links.get(&key) {
                let first = first.clone();
                let mut header = self.header(stat, tar::EntryType::Link);
                return self.tar.append_link(&mut header, path, first);
            }
            self.links.insert(key, path.to_owned());
        }
        self.xattrs(dir, name, path)?;
        match kind {
            FileType::RegularFile => {
                let file = fs::openat(
                    dir,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
                    Mode::empty(),
                )?;
                let stat = fs::fstat(&file)?;
                let mut header = self.header(&stat, tar::EntryType::Regular);
                let size = stat.st_size as u64;
                header.set_size(size);
                // Exactly `size` bytes, even of a file that changes meanwhile.
                let data = std::fs::File::from(file)
                    .take(size)
                    .chain(io::repeat(0))
                    .take(size);
                self.tar.append_data(&mut header, path, data)
            }
            FileType::Symlink => {
                let target = fs::readlinkat(dir, name, Vec::new())?;
                let mut header = self.header(stat, tar::EntryType::Symlink);
                self.tar
                    .append_link(&mut header, path, target.to_string_lossy().as_ref())
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let entry_type = match kind {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut header = self.header(stat, entry_type);
                if kind != FileType::Fifo {
                    header.set_device_major(fs::major(stat.st_rdev))?;
                    header.set_device_minor(fs::minor(stat.st_rdev))?;
                }
                self.tar.append_data(&mut header, path, io::empty())
            }
            // Sockets do not go into archives (GNU tar and Docker skip them too).
            _ => Ok(()),
        }
    }

    /// A header with the owner, mode and mtime of `stat`.
    fn header(&self, stat: &Stat, entry_type: tar::EntryType) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(entry_type);
        header.set_mode(stat.st_mode & 0o7777);
        header.set_uid(stat.st_uid.into());
        header.set_gid(stat.st_gid.into());
        header.set_mtime(stat.st_mtime.max(0) as u64);
        header.set_size(0);
        header
    }

    /// Writes a PAX header with the extended attributes of `name` in `dir`, if it has any
    /// besides overlayfs's own.
    fn xattrs(&mut self, dir: &OwnedFd, name: &str, path: &str) -> io::Result<()> {
        // The directory's descriptor names it; `l*` calls do not follow `name` itself.
        let at = format!("/proc/self/fd/{}/{name}", dir.as_raw_fd());
        let mut list = vec![0u8; 4096];
        let len = match fs::llistxattr(at.as_str(), &mut list[..]) {
            Ok(len) => len,
            Err(rustix::io::Errno::RANGE) => {
                list = vec![0u8; fs::llistxattr_query(at.as_str())?];
                fs::llistxattr(at.as_str(), &mut list[..])?
            }
            Err(rustix::io::Errno::NOTSUP) => 0,
            Err(e) => return Err(e.into()),
        };
        let mut records = Vec::new();
        for attr in list[..len].split(|b| *b == 0).filter(|a| !a.is_empty()) {
            let attr = String::from_utf8_lossy(attr);
            if attr.starts_with("trusted.overlay.") || attr.starts_with("user.overlay.") {
                continue;
            }
            let size = match fs::lgetxattr_query(at.as_str(), attr.as_ref()) {
                Ok(size) => size,
                Err(rustix::io::Errno::NODATA) => continue,
                Err(e) => return Err(e.into()),
            };
            let mut value = vec![0u8; size];
            let size = fs::lgetxattr(at.as_str(), attr.as_ref(), &mut value[..])?;
            value.truncate(size);
            records.extend(pax_record(&format!("SCHILY.xattr.{attr}"), &value));
        }
        if records.is_empty() {
            return Ok(());
        }
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::XHeader);
        header.set_mode(0o644);
        header.set_size(records.len() as u64);
        // Only a label: a long name is cut, as other writers do.
        let label: String = format!("PaxHeaders/{}", path.rsplit('/').next().unwrap_or(path))
            .chars()
            .take(99)
            .collect();
        header.set_path(&label)?;
        header.set_cksum();
        self.tar.append(&header, &records[..])
    }
}

fn open_dir(dir: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    Ok(fs::openat(
        dir,
        name,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// One PAX record: `LEN key=value\n`, where LEN counts the whole record, itself included.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

#[cfg(test)]
mod tests;
