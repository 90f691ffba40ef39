//! Safe, faithful layer extraction into a directory that overlayfs can stack.
//!
//! Safety: no entry can land outside the layer directory. Names with a `..` that climbs out are
//! refused; absolute names are taken relative to the layer; every parent directory is opened
//! with `openat2(RESOLVE_IN_ROOT)`, so a symlink in the layer (even one that points at `/etc`)
//! resolves inside the layer; the last component is created with `*at` calls that never follow
//! it; hardlink targets are resolved inside the layer too.
//!
//! Faithfulness: regular files, directories, symlinks, hardlinks, device nodes and FIFOs, with
//! owners, modes (setuid, setgid, sticky), mtimes and extended attributes (`security.capability`
//! among them). Whiteouts (`.wh.NAME`) become overlayfs whiteouts (a 0/0 character device) and
//! opaque markers (`.wh..wh..opq`) the `trusted.overlay.opaque` attribute, so layers stack
//! natively. Without root, owners and device nodes cannot be kept: they are skipped, whiteouts
//! stay as `.wh.` files, and opaque directories get `user.overlay.opaque`.

use berth_error::IoContext;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{
    self, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags,
};
use rustix::io::Errno;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The prefix of a whiteout entry's name.
const WHITEOUT_PREFIX: &str = ".wh.";
/// The name of an opaque-directory marker.
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Extraction failed. Names and messages from the archive are shown with their control and
/// non-ASCII characters escaped, never as raw bytes.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// An entry's name or link target points outside the layer.
    #[error(
        "layer entry \"{}\" points outside the layer (refused)",
        printable(path)
    )]
    Escape {
        /// The entry's name or link target, as in the archive.
        path: String,
    },
    /// A GNU sparse file: refused, as Docker and containerd refuse it ("unhandled tar header
    /// type 83"), since expanding its holes can turn a few bytes into any size.
    #[error(
        "layer entry \"{}\" is a GNU sparse file, which berth does not unpack (refused)",
        printable(path)
    )]
    Sparse {
        /// The entry's name.
        path: String,
    },
    /// The archive itself is broken.
    #[error("the layer archive is corrupt: {}", archive_message(.0))]
    Archive(io::Error),
    /// Writing an entry failed: what is `cannot unpack "<entry>"`.
    #[error(transparent)]
    Io(#[from] IoContext),
    /// The file system of the destination is full.
    #[error("cannot write {}: {source}", printable(&path.display().to_string()))]
    NoSpace {
        /// Where the entry was being written.
        path: PathBuf,
        /// ENOSPC or EDQUOT.
        source: io::Error,
    },
}

/// Whether `error` says the file system is full (or the quota used up).
fn is_no_space(error: &io::Error) -> bool {
    let code = error.raw_os_error();
    code == Some(Errno::NOSPC.raw_os_error()) || code == Some(Errno::DQUOT.raw_os_error())
}

/// `text` with every character but printable ASCII escaped (`\u{1b}`), at most 200 of them.
fn printable(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().take(200) {
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// What is wrong with the archive, in words: the tar reader's message without the raw header
/// bytes it quotes (a malformed numeric field is named, not shown).
fn archive_message(error: &io::Error) -> String {
    let text = error.to_string();
    if text.starts_with("numeric field")
        && let Some((_, rest)) = text.split_once(" when getting ")
    {
        let (field, entry) = rest.split_once(" for ").unwrap_or((rest, ""));
        return format!(
            "the tar header of \"{}\" has a malformed {} field",
            printable(entry),
            printable(field)
        );
    }
    if text.starts_with("numeric field") {
        return "a tar header has a malformed numeric field".into();
    }
    printable(&text)
}

/// What extraction may do.
#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    /// Running as root: keep owners, make device nodes and overlay whiteouts.
    pub privileged: bool,
    /// The archive is an image layer: `.wh.` names are whiteouts and opaque markers. Off for
    /// plain archives (`cp`), where they are ordinary files.
    pub layer: bool,
    /// Make device nodes. Off where the archive comes from a container and lands on the host:
    /// a device node a container made must not appear in a host directory.
    pub devices: bool,
}

impl UnpackOptions {
    /// Privileged when the effective user is root.
    pub fn for_current_user() -> UnpackOptions {
        UnpackOptions {
            privileged: rustix::process::geteuid().is_root(),
            layer: true,
            devices: true,
        }
    }
}

/// What an extraction did, for the pull's per-layer timeline.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unpacked {
    /// The total size of the regular files written.
    pub size: u64,
    /// How many entries the archive had.
    pub entries: u64,
    /// The time spent setting owners, modes, times and extended attributes.
    pub metadata: Duration,
}

/// Extracts the tar stream `archive` into the existing, empty directory `dest`. Returns the
/// total size of the regular files written.
pub fn unpack(archive: impl Read, dest: &Path, options: UnpackOptions) -> Result<u64, UnpackError> {
    unpack_counted(archive, dest, options).map(|u| u.size)
}

/// `unpack`, telling what it did and how long its metadata calls took.
pub fn unpack_counted(
    archive: impl Read,
    dest: &Path,
    options: UnpackOptions,
) -> Result<Unpacked, UnpackError> {
    let root = fs::open(
        dest,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(&[dest.display().to_string()], e))?;
    let mut unpacker = Unpacker {
        root,
        options,
        done: Unpacked::default(),
        directories: Vec::new(),
        parent: None,
        umask: process_umask(),
        root_creds: rustix::process::geteuid().is_root() && rustix::process::getegid().is_root(),
    };
    let mut archive = tar::Archive::new(archive);
    let unpacked = (|| {
        for entry in archive.entries().map_err(UnpackError::Archive)? {
            let mut entry = entry.map_err(UnpackError::Archive)?;
            unpacker.done.entries += 1;
            unpacker.entry(&mut entry)?;
        }
        let started = Instant::now();
        unpacker.finish()?;
        unpacker.done.metadata += started.elapsed();
        Ok(())
    })();
    match unpacked {
        Ok(()) => Ok(unpacker.done),
        Err(UnpackError::NoSpace { path, source }) => Err(UnpackError::NoSpace {
            path: dest.join(path),
            source,
        }),
        Err(e) => Err(e),
    }
}

struct Unpacker {
    root: OwnedFd,
    options: UnpackOptions,
    done: Unpacked,
    /// Directories and their mtimes, set last because adding children changes them.
    directories: Vec<(Vec<String>, u64)>,
    /// The directory the last entry went into, still open: a tar lists a directory's entries
    /// together. It stays right while entries go into it, since they change only its children.
    parent: Option<OpenDir>,
    /// The process's umask (read once: berth never changes it), when it could be read.
    umask: Option<u32>,
    /// Whether the effective user and group are root: what a new entry is owned by.
    root_creds: bool,
}

/// An open directory of the layer, by its components.
struct OpenDir {
    path: Vec<String>,
    fd: Rc<OwnedFd>,
    /// Its setgid bit: new entries in it take its group, not the creator's.
    setgid: bool,
}

/// The setgid bit of a mode.
const SETGID: u32 = 0o2000;

/// The process's umask, from `/proc/self/status` (reading it with `umask(2)` would change it
/// for a moment under other threads).
fn process_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Umask:"))?;
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).ok()
}

/// Runs `create`; when the name is taken, removes what is there (a directory is kept when
/// `keep_dir`) and runs it once more: the same as removing first, without a stat per entry.
fn create_fresh<T>(
    dir: &OwnedFd,
    name: &str,
    keep_dir: bool,
    mut create: impl FnMut() -> rustix::io::Result<T>,
) -> io::Result<T> {
    match create() {
        Err(Errno::EXIST) => {
            remove_existing(dir, name, keep_dir)?;
            Ok(create()?)
        }
        other => Ok(other?),
    }
}

/// An entry's name split into clean components, or `Escape`.
fn components(raw: &[u8]) -> Result<Vec<String>, UnpackError> {
    let text = String::from_utf8_lossy(raw);
    let mut out: Vec<String> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(UnpackError::Escape {
                        path: text.into_owned(),
                    });
                }
            }
            name => out.push(name.to_owned()),
        }
    }
    Ok(out)
}

/// Writing the entry `path` failed with `e`: `NoSpace` (its path relative until `unpack`
/// joins the destination) when the file system is full, else `Io`.
fn io_error(path: &[String], e: impl Into<io::Error>) -> UnpackError {
    let (path, source) = (path.join("/"), e.into());
    match is_no_space(&source) {
        true => UnpackError::NoSpace {
            path: path.into(),
            source,
        },
        false => IoContext::new(format!("cannot unpack \"{}\"", printable(&path)), source).into(),
    }
}

impl Unpacker {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), UnpackError> {
        use tar::EntryType as T;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink
        ) {
            return Ok(());
        }
        let path = components(&entry.path_bytes())?;
        let Some((name, parent)) = path.split_last() else {
            return Ok(()); // the layer root itself
        };
        let (parent_dir, parent_setgid) = self.parent_dir(parent)?;

        if name == OPAQUE_MARKER && self.options.layer {
            let attr = if self.options.privileged {
                "trusted.overlay.opaque"
            } else {
                "user.overlay.opaque"
            };
            return fs::fsetxattr(&parent_dir, attr, b"y", XattrFlags::empty())
                .map_err(|e| io_error(&path, e));
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX)
            && self.options.privileged
            && self.options.layer
        {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(UnpackError::Escape {
                    path: path.join("/"),
                });
            }
            return create_fresh(&parent_dir, hidden, false, || {
                fs::mknodat(
                    &parent_dir,
                    hidden,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    0,
                )
            })
            .map_err(|e| io_error(&path, e));
        }

        let header = entry.header().clone();
        let mode = Mode::from_raw_mode(header.mode().map_err(UnpackError::Archive)? & 0o7777);
        let owner = self.options.privileged.then(|| {
            (
                header.uid().unwrap_or(0) as u32,
                header.gid().unwrap_or(0) as u32,
            )
        });
        let mtime = header.mtime().unwrap_or(0);
        let xattrs = xattrs_of(entry)?;
        // What a new entry gets without a chown or a chmod: root's owner when root makes it
        // (and the parent is not setgid), the mode asked for when no umask bit and no special
        // bit is in it.
        let created_owner = self.root_creds && !parent_setgid;
        let set_owner = owner.filter(|o| !(created_owner && *o == (0, 0)));
        let as_created = self
            .umask
            .is_some_and(|umask| mode.bits() & !0o777 == 0 && mode.bits() & umask == 0);

        match kind {
            T::Directory => {
                // A new directory takes a setgid parent's setgid bit.
                let mode_as_created = as_created && !parent_setgid;
                let create_mode = if mode_as_created {
                    mode
                } else {
                    Mode::from_raw_mode(0o700)
                };
                let created = match create_fresh(&parent_dir, name, true, || {
                    fs::mkdirat(&parent_dir, name.as_str(), create_mode)
                }) {
                    Ok(()) => mode_as_created,
                    Err(e) if e.raw_os_error() == Some(Errno::EXIST.raw_os_error()) => false,
                    Err(e) => return Err(io_error(&path, e)),
                };
                let dir = fs::openat(
                    &parent_dir,
                    name.as_str(),
                    OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| io_error(&path, e))?;
                let started = Instant::now();
                let (set_owner, set_mode) = match created {
                    true => (set_owner, None),
                    false => (owner, Some(mode)),
                };
                self.set_metadata(&dir, &path, set_owner, set_mode, &xattrs)?;
                self.done.metadata += started.elapsed();
                self.directories.push((path.clone(), mtime));
                // Its entries come next: it is the directory its path resolves to, since it
                // was opened without following a symlink from the right parent.
                self.parent = Some(OpenDir {
                    path: path.clone(),
                    fd: Rc::new(dir),
                    setgid: mode.bits() & SETGID != 0,
                });
            }
            T::GNUSparse => {
                return Err(UnpackError::Sparse {
                    path: path.join("/"),
                });
            }
            T::Regular | T::Continuous => {
                let create_mode = if as_created {
                    mode
                } else {
                    Mode::from_raw_mode(0o600)
                };
                let file = create_fresh(&parent_dir, name, false, || {
                    fs::openat(
                        &parent_dir,
                        name.as_str(),
                        OFlags::WRONLY
                            | OFlags::CREATE
                            | OFlags::EXCL
                            | OFlags::NOFOLLOW
                            | OFlags::CLOEXEC,
                        create_mode,
                    )
                })
                .map_err(|e| io_error(&path, e))?;
                let mut out = std::fs::File::from(file);
                self.done.size += copy_data(entry, &mut out, &path)?;
                let file = OwnedFd::from(out);
                let started = Instant::now();
                let set_mode = (!as_created).then_some(mode);
                self.set_metadata(&file, &path, set_owner, set_mode, &xattrs)?;
                fs::futimens(&file, &times(mtime)).map_err(|e| io_error(&path, e))?;
                self.done.metadata += started.elapsed();
            }
            T::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| io_error(&path, io::Error::other("symlink without a target")))?;
                let mut target = String::from_utf8_lossy(&target).into_owned();
                // Some writers (the tar crate among them) store a link to "/" as "//".
                if target.len() > 1 && target.bytes().all(|b| b == b'/') {
                    target = "/".into();
                }
                create_fresh(&parent_dir, name, false, || {
                    fs::symlinkat(target.as_str(), &parent_dir, name.as_str())
                })
                .map_err(|e| io_error(&path, e))?;
                let started = Instant::now();
                set_metadata_at(&parent_dir, name, set_owner, None, mtime)
                    .map_err(|e| io_error(&path, e))?;
                self.done.metadata += started.elapsed();
            }
            T::Link => {
                let raw_target = entry.link_name_bytes().ok_or_else(|| {
                    io_error(&path, io::Error::other("hardlink without a target"))
                })?;
                let target = components(&raw_target)?;
                let Some((target_name, target_parent)) = target.split_last() else {
                    return Err(UnpackError::Escape {
                        path: String::from_utf8_lossy(&raw_target).into_owned(),
                    });
                };
                let target_dir = self.open_dir(target_parent, false)?;
                create_fresh(&parent_dir, name, false, || {
                    fs::linkat(
                        &target_dir,
                        target_name.as_str(),
                        &parent_dir,
                        name.as_str(),
                        AtFlags::empty(),
                    )
                })
                .map_err(|e| io_error(&path, e))?;
            }
            T::Char | T::Block | T::Fifo => {
                let file_type = match kind {
                    T::Char => FileType::CharacterDevice,
                    T::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                if file_type != FileType::Fifo && !(self.options.privileged && self.options.devices)
                {
                    tracing::debug!(path = path.join("/"), "device node skipped: not root");
                    return Ok(());
                }
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                create_fresh(&parent_dir, name, false, || {
                    fs::mknodat(
                        &parent_dir,
                        name.as_str(),
                        file_type,
                        mode,
                        fs::makedev(major, minor),
                    )
                })
                .map_err(|e| io_error(&path, e))?;
                // mknod applies the umask; the explicit mode gives the exact one.
                set_metadata_at(&parent_dir, name, owner, Some(mode), mtime)
                    .map_err(|e| io_error(&path, e))?;
            }
            other => {
                tracing::debug!(path = path.join("/"), kind = ?other, "entry of unknown type skipped");
            }
        }
        Ok(())
    }

    /// Owner first (chown clears setuid bits), then mode, then extended attributes; an owner
    /// or a mode that is `None` is already right.
    fn set_metadata(
        &self,
        fd: &OwnedFd,
        path: &[String],
        owner: Option<(u32, u32)>,
        mode: Option<Mode>,
        xattrs: &[(String, Vec<u8>)],
    ) -> Result<(), UnpackError> {
        if let Some((uid, gid)) = owner {
            fs::fchown(fd, Some(uid_of(uid)), Some(gid_of(gid))).map_err(|e| io_error(path, e))?;
        }
        if let Some(mode) = mode {
            fs::fchmod(fd, mode).map_err(|e| io_error(path, e))?;
        }
        for (name, value) in xattrs {
            if let Err(e) = fs::fsetxattr(fd, name.as_str(), value, XattrFlags::empty()) {
                if self.options.privileged {
                    return Err(io_error(path, e));
                }
                tracing::debug!(
                    path = path.join("/"),
                    attr = name,
                    "extended attribute not kept: not root"
                );
            }
        }
        Ok(())
    }

    /// The directory `components` an entry goes into (created when missing), and its setgid
    /// bit: the one the last entry went into when it is the same.
    fn parent_dir(&mut self, components: &[String]) -> Result<(Rc<OwnedFd>, bool), UnpackError> {
        if let Some(open) = &self.parent
            && open.path == components
        {
            return Ok((open.fd.clone(), open.setgid));
        }
        let fd = self.open_dir(components, true)?;
        let setgid = fs::fstat(&fd).map_err(|e| io_error(components, e))?.st_mode & SETGID != 0;
        let fd = Rc::new(fd);
        self.parent = Some(OpenDir {
            path: components.to_vec(),
            fd: fd.clone(),
            setgid,
        });
        Ok((fd, setgid))
    }

    /// Opens the directory `components` below the root, resolving every symlink inside the
    /// root; creates missing directories when `create`.
    fn open_dir(&self, components: &[String], create: bool) -> Result<OwnedFd, UnpackError> {
        let joined = if components.is_empty() {
            ".".to_owned()
        } else {
            components.join("/")
        };
        match self.open_in_root(&joined) {
            Ok(fd) => Ok(fd),
            Err(Errno::NOENT) if create => self.create_dirs(components, 0),
            Err(e) => Err(io_error(components, e)),
        }
    }

    fn open_in_root(&self, path: &str) -> rustix::io::Result<OwnedFd> {
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
        fs::openat2(
            &self.root,
            path,
            flags,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
    }

    /// Creates the directories of `components` one by one. A component that is a symlink to a
    /// missing directory gets that directory made, inside the root, where the link points.
    fn create_dirs(&self, components: &[String], depth: usize) -> Result<OwnedFd, UnpackError> {
        if depth > 40 {
            return Err(io_error(components, Errno::LOOP));
        }
        let mut dir = self
            .open_in_root(".")
            .map_err(|e| io_error(components, e))?;
        for (i, name) in components.iter().enumerate() {
            let prefix = &components[..=i];
            match fs::mkdirat(&dir, name.as_str(), Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io_error(prefix, e)),
            }
            dir = match self.open_in_root(&prefix.join("/")) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    let target = fs::readlinkat(&dir, name.as_str(), Vec::new())
                        .map_err(|e| io_error(prefix, e))?;
                    let target = link_target_in_root(&components[..i], &target.to_string_lossy());
                    self.create_dirs(&target, depth + 1)?;
                    self.open_in_root(&prefix.join("/"))
                        .map_err(|e| io_error(prefix, e))?
                }
                Err(e) => return Err(io_error(prefix, e)),
            };
        }
        Ok(dir)
    }

    /// Sets directory mtimes, deepest first, now that nothing more is added to them. A
    /// directory that a later entry replaced is left alone.
    fn finish(&mut self) -> Result<(), UnpackError> {
        let mut directories = std::mem::take(&mut self.directories);
        directories.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
        for (path, mtime) in directories {
            let Some((name, parent)) = path.split_last() else {
                continue;
            };
            let Ok(parent) = self.open_dir(parent, false) else {
                continue;
            };
            let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
            match fs::openat(&parent, name.as_str(), flags, Mode::empty()) {
                Ok(dir) => fs::futimens(&dir, &times(mtime)).map_err(|e| io_error(&path, e))?,
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => {}
                Err(e) => return Err(io_error(&path, e)),
            }
        }
        Ok(())
    }
}

/// Where a symlink in directory `parent` that points at `target` leads, as components below the
/// root: absolute targets start at the root, and `..` stops at the root.
fn link_target_in_root(parent: &[String], target: &str) -> Vec<String> {
    let mut out: Vec<String> = if target.starts_with('/') {
        Vec::new()
    } else {
        parent.to_vec()
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            name => out.push(name.to_owned()),
        }
    }
    out
}

/// Copies an entry's data into `out`: a read that fails is a corrupt archive, a write that
/// fails is this entry's (a full disk among them). Returns the bytes copied.
fn copy_data(
    entry: &mut impl Read,
    out: &mut impl io::Write,
    path: &[String],
) -> Result<u64, UnpackError> {
    let mut buf = vec![0u8; 128 << 10];
    let mut total = 0;
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(UnpackError::Archive(e)),
        };
        out.write_all(&buf[..n]).map_err(|e| io_error(path, e))?;
        total += n as u64;
    }
}

/// Extended attributes overlayfs reads as its own instructions (redirects, metacopy, opaque
/// markers): an image layer never sets them; berth writes the opaque marker itself.
const OVERLAY_XATTR_PREFIXES: [&str; 2] = ["trusted.overlay.", "user.overlay."];

/// The `SCHILY.xattr.*` PAX records of an entry, without overlayfs's own attributes.
fn xattrs_of<R: Read>(entry: &mut tar::Entry<R>) -> Result<Vec<(String, Vec<u8>)>, UnpackError> {
    let mut out = Vec::new();
    if let Some(extensions) = entry.pax_extensions().map_err(UnpackError::Archive)? {
        for extension in extensions {
            let extension = extension.map_err(UnpackError::Archive)?;
            if let Ok(key) = extension.key()
                && let Some(name) = key.strip_prefix("SCHILY.xattr.")
            {
                if OVERLAY_XATTR_PREFIXES.iter().any(|p| name.starts_with(p)) {
                    tracing::debug!(attr = name, "overlayfs attribute in a layer not applied");
                    continue;
                }
                out.push((name.to_owned(), extension.value_bytes().to_vec()));
            }
        }
    }
    Ok(out)
}

/// Makes room for a new entry `name` in `dir`: removes what is there, unless both the old and
/// the new entry are directories (then they merge, as tar does).
fn remove_existing(dir: &OwnedFd, name: &str, keep_dir: bool) -> io::Result<()> {
    let stat = match fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
        if keep_dir {
            return Ok(());
        }
        remove_tree(dir.as_fd(), name)?;
        return Ok(());
    }
    fs::unlinkat(dir, name, AtFlags::empty())?;
    Ok(())
}

/// Removes the directory `name` in `parent` and everything in it, never following a symlink.
fn remove_tree(parent: BorrowedFd<'_>, name: &str) -> io::Result<()> {
    let dir = fs::openat(
        parent,
        name,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut children = Vec::new();
    for entry in fs::Dir::read_from(&dir)? {
        let entry = entry?;
        let child = entry.file_name().to_string_lossy().into_owned();
        if child != "." && child != ".." {
            children.push((child, entry.file_type() == FileType::Directory));
        }
    }
    for (child, is_dir) in children {
        if is_dir {
            remove_tree(dir.as_fd(), &child)?;
        } else {
            fs::unlinkat(&dir, child.as_str(), AtFlags::empty())?;
        }
    }
    fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

/// Removes a directory tree by path (a layer that failed, a temp dir).
pub fn remove_dir_all(path: &Path) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("no file name"))?;
    let parent = fs::open(
        parent,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    match remove_tree(parent.as_fd(), &name.to_string_lossy()) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Sets the owner of `name` in `dir` (a symlink itself, not its target), when there is one.
fn chown_at(dir: &OwnedFd, name: &str, owner: Option<(u32, u32)>) -> rustix::io::Result<()> {
    match owner {
        Some((uid, gid)) => fs::chownat(
            dir,
            name,
            Some(uid_of(uid)),
            Some(gid_of(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        ),
        None => Ok(()),
    }
}

/// Sets owner, then mode when given (never for symlinks), then mtime of `name` in `dir`,
/// without following a symlink.
fn set_metadata_at(
    dir: &OwnedFd,
    name: &str,
    owner: Option<(u32, u32)>,
    mode: Option<Mode>,
    mtime: u64,
) -> rustix::io::Result<()> {
    chown_at(dir, name, owner)?;
    if let Some(mode) = mode {
        fs::chmodat(dir, name, mode, AtFlags::empty())?;
    }
    fs::utimensat(dir, name, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)
}

fn times(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn uid_of(uid: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(uid)
}

fn gid_of(gid: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_system_is_no_space_and_other_errors_say_the_entry() {
        let full = io_error(&["a".into(), "b".into()], Errno::NOSPC);
        assert!(matches!(&full, UnpackError::NoSpace { path, .. } if path == Path::new("a/b")));
        let UnpackError::Io(e) = io_error(&["a\x1b".into()], Errno::PERM) else {
            panic!("not an IoContext");
        };
        assert_eq!(e.what(), "cannot unpack \"a\\u{1b}\"");
        assert_eq!(e.raw_os_error(), Some(Errno::PERM.raw_os_error()));
    }

    #[test]
    fn archive_messages_show_no_raw_bytes() {
        let error = io::Error::other(
            "numeric field was not a number: \u{1b}]0;x\u{7} when getting mode for ev\u{1b}il",
        );
        assert_eq!(
            archive_message(&error),
            "the tar header of \"ev\\u{1b}il\" has a malformed mode field"
        );
        assert_eq!(printable("a\nb\u{fffd}"), "a\\nb\\u{fffd}");
    }
}
