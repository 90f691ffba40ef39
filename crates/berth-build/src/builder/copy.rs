//! `COPY` and `ADD`: the sources found (globs matched as Go's `filepath.Match`), Docker's rules
//! applied to where each goes, and the result written as a layer's tar.
//!
//! The rules: a directory source copies its contents; a destination ending in `/` (or one that
//! is a directory in the image, or any destination of several sources, which must end in `/`)
//! is a directory the sources go into; missing parent directories are made; everything is owned
//! by 0:0 unless `--chown`; modes are kept unless `--chmod`; modification times are kept. `ADD`
//! unpacks a local tar (plain, gzip or zstd) into the destination.

use crate::builder::error::BuildError;
use crate::builder::glob;
use crate::builder::tree::{Node, Tree, clean};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A source found: its name (the last part of its path) and what it is.
#[derive(Debug, Clone)]
pub struct Root {
    /// The path it was found at in its tree (`None` for a downloaded file).
    pub rel: Option<String>,
    /// Its base name.
    pub name: String,
    /// The node (symlinks followed).
    pub node: Node,
}

/// What one path of the layer is.
#[derive(Debug, Clone)]
enum Kind {
    File(PathBuf),
    Bytes(Vec<u8>),
    Dir,
    Symlink(String),
}

/// One path of the layer.
#[derive(Debug, Clone)]
struct Item {
    kind: Kind,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

/// Who owns what a copy makes, and its mode when `--chmod` says.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attributes {
    /// `--chown`, resolved; 0:0 when not given (`None`: keep an archive's owners).
    pub owner: Option<(u64, u64)>,
    /// `--chmod`.
    pub mode: Option<u32>,
}

/// A copy, planned: every path it writes (relative to `/`), and the archives it unpacks.
#[derive(Debug, Default)]
pub struct Plan {
    items: BTreeMap<String, Item>,
    archives: Vec<Archive>,
}

/// A tar `ADD` unpacks: the file, the directory it goes into, the owner its entries get
/// (`None`: their own).
#[derive(Debug)]
struct Archive {
    file: PathBuf,
    dest: String,
    owner: Option<(u64, u64)>,
}

/// Finds the sources `sources` (relative to the tree's top) in `tree`: each a path or a glob.
pub fn find(tree: &dyn Tree, sources: &[String]) -> Result<Vec<Root>, BuildError> {
    let mut roots = Vec::new();
    for source in sources {
        let rel = clean(source)?;
        let missing = || {
            BuildError::Source(format!(
                "COPY failed: file not found in build context or excluded by .dockerignore: stat {source}: file does not exist"
            ))
        };
        if glob::is_pattern(&rel) {
            let before = roots.len();
            let depth = rel.split('/').count();
            matching(tree, "", depth, &rel, &mut roots)?;
            if roots.len() == before {
                return Err(missing());
            }
            continue;
        }
        let node = tree.lookup(&rel, true)?.ok_or_else(missing)?;
        let name = rel.rsplit('/').next().unwrap_or("").to_owned();
        roots.push(Root {
            rel: Some(rel),
            name,
            node,
        });
    }
    Ok(roots)
}

/// Adds the paths under `at` (down to `depth` parts) that match `pattern`.
fn matching(
    tree: &dyn Tree,
    at: &str,
    depth: usize,
    pattern: &str,
    roots: &mut Vec<Root>,
) -> Result<(), BuildError> {
    for (name, node) in tree.children(at)? {
        let rel = match at {
            "" => name.clone(),
            _ => format!("{at}/{name}"),
        };
        let parts = rel.split('/').count();
        if parts == depth {
            if glob::matches(pattern, &rel) {
                let node = tree.lookup(&rel, true)?.unwrap_or(node);
                roots.push(Root {
                    rel: Some(rel),
                    name,
                    node,
                });
            }
        } else if node.meta.is_dir() {
            matching(tree, &rel, depth, pattern, roots)?;
        }
    }
    Ok(())
}

/// Whether the file is a tar `ADD` unpacks: plain, gzip or zstd.
fn is_archive(path: &Path) -> bool {
    let Ok(file) = fs::File::open(path) else {
        return false;
    };
    let Ok(mut reader) = decompressed(file) else {
        return false;
    };
    let mut header = [0u8; 512];
    reader.read_exact(&mut header).is_ok() && &header[257..262] == b"ustar"
}

/// The file's bytes, decompressed when they are gzip or zstd.
fn decompressed(mut file: fs::File) -> io::Result<Box<dyn Read>> {
    let mut magic = [0u8; 4];
    let n = file.read(&mut magic)?;
    io::Seek::rewind(&mut file)?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(file)),
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(zstd::Decoder::new(file)?),
        _ => Box::new(file),
    })
}

/// Plans copying `roots` (found in `tree`) to `dest` (absolute); `dest_tree` is the image
/// copied into (to see which directories it has); `unpack` for `ADD`.
pub fn plan(
    tree: &dyn Tree,
    roots: &[Root],
    dest: &str,
    dest_tree: &dyn Tree,
    attributes: Attributes,
    unpack: bool,
) -> Result<Plan, BuildError> {
    let dest_rel = clean(dest)?;
    let dest_is_dir = dest.ends_with('/')
        || dest_rel.is_empty()
        || dest_tree
            .lookup(&dest_rel, true)?
            .is_some_and(|n| n.meta.is_dir());
    if roots.len() > 1 && !dest_is_dir {
        return Err(BuildError::Dockerfile(
            "When using COPY with more than one source file, the destination must be a directory and end with a /".into(),
        ));
    }
    let owner = attributes.owner.unwrap_or((0, 0));
    let dest_exists = dest_tree.lookup(&dest_rel, true)?.is_some();
    let mut plan = Plan::default();
    for root in roots {
        if root.node.meta.is_dir() {
            let rel = root.rel.as_deref().unwrap_or("");
            if !dest_exists {
                plan.dir(&dest_rel, owner, attributes.mode, None);
            }
            plan.tree(tree, rel, &dest_rel, owner, attributes.mode)?;
        } else if unpack && root.rel.is_some() && is_archive(&root.node.host) {
            if !dest_exists {
                plan.dir(&dest_rel, owner, attributes.mode, None);
            }
            plan.archives.push(Archive {
                file: root.node.host.clone(),
                dest: dest_rel.clone(),
                owner: attributes.owner,
            });
        } else {
            let to = match dest_is_dir {
                true => join(&dest_rel, &root.name),
                false => dest_rel.clone(),
            };
            plan.node(&to, &root.node, owner, attributes.mode)?;
        }
    }
    plan.parents(dest_tree, owner)?;
    Ok(plan)
}

/// `dir/name`, or `name` at the top.
fn join(dir: &str, name: &str) -> String {
    match dir {
        "" => name.to_owned(),
        _ => format!("{dir}/{name}"),
    }
}

impl Plan {
    /// Adds a file made from `content` (a `COPY <<EOF` here-document).
    pub fn bytes(&mut self, path: &str, content: Vec<u8>, attributes: Attributes) {
        let owner = attributes.owner.unwrap_or((0, 0));
        self.items.insert(
            path.to_owned(),
            Item {
                kind: Kind::Bytes(content),
                mode: attributes.mode.unwrap_or(0o644),
                uid: owner.0,
                gid: owner.1,
                mtime: now(),
            },
        );
    }

    /// Adds the directory `path` (mode 0755 unless `mode`) unless planned already.
    pub fn dir(&mut self, path: &str, owner: (u64, u64), mode: Option<u32>, mtime: Option<u64>) {
        if path.is_empty() || self.items.contains_key(path) {
            return;
        }
        self.items.insert(
            path.to_owned(),
            Item {
                kind: Kind::Dir,
                mode: mode.unwrap_or(0o755),
                uid: owner.0,
                gid: owner.1,
                mtime: mtime.unwrap_or_else(now),
            },
        );
    }

    fn node(
        &mut self,
        to: &str,
        node: &Node,
        owner: (u64, u64),
        mode: Option<u32>,
    ) -> Result<(), BuildError> {
        let meta = &node.meta;
        let kind = if meta.is_dir() {
            Kind::Dir
        } else if meta.file_type().is_symlink() {
            let target = fs::read_link(&node.host)
                .map_err(|e| BuildError::Source(format!("read {}: {e}", node.host.display())))?;
            Kind::Symlink(target.to_string_lossy().into_owned())
        } else if meta.is_file() {
            Kind::File(node.host.clone())
        } else {
            // Sockets, fifos and devices are not copied (Docker's context has none).
            return Ok(());
        };
        self.items.insert(
            to.to_owned(),
            Item {
                kind,
                mode: mode.unwrap_or(meta.permissions().mode() & 0o7777),
                uid: owner.0,
                gid: owner.1,
                mtime: meta.mtime().max(0) as u64,
            },
        );
        Ok(())
    }

    /// Adds the contents of the directory `rel` of `tree` under `to`.
    fn tree(
        &mut self,
        tree: &dyn Tree,
        rel: &str,
        to: &str,
        owner: (u64, u64),
        mode: Option<u32>,
    ) -> Result<(), BuildError> {
        for (name, node) in tree.children(rel)? {
            let target = join(to, &name);
            self.node(&target, &node, owner, mode)?;
            if node.meta.is_dir() {
                self.tree(tree, &join(rel, &name), &target, owner, mode)?;
            }
        }
        Ok(())
    }

    /// Adds the parent directories that neither the plan nor the image has.
    pub fn parents(&mut self, image: &dyn Tree, owner: (u64, u64)) -> Result<(), BuildError> {
        let mut wanted = Vec::new();
        for path in self.items.keys() {
            let mut at = path.as_str();
            while let Some((parent, _)) = at.rsplit_once('/') {
                wanted.push(parent.to_owned());
                at = parent;
            }
        }
        for parent in wanted {
            if !self.items.contains_key(&parent) && image.lookup(&parent, true)?.is_none() {
                self.dir(&parent, owner, None, None);
            }
        }
        Ok(())
    }

    /// A hash of what the copy writes: paths, kinds, modes, owners, link targets and (when
    /// `contents`) the files' bytes; not modification times, as Docker's.
    pub fn digest(&self, contents: bool) -> Result<String, BuildError> {
        let mut hash = Sha256::new();
        for (path, item) in &self.items {
            hash.update(format!(
                "{path}\0{:o}\0{}:{}\0",
                item.mode, item.uid, item.gid
            ));
            match &item.kind {
                Kind::Dir => hash.update(b"d"),
                Kind::Symlink(target) => hash.update(format!("l{target}")),
                Kind::Bytes(bytes) => {
                    hash.update(b"f");
                    hash.update(bytes);
                }
                Kind::File(host) => {
                    hash.update(b"f");
                    let meta = fs::metadata(host)
                        .map_err(|e| BuildError::Source(format!("read {}: {e}", host.display())))?;
                    hash.update(meta.len().to_le_bytes());
                    if contents {
                        hash_file(&mut hash, host)?;
                    }
                }
            }
            hash.update([0]);
        }
        for archive in &self.archives {
            hash.update(format!("archive\0{}\0{:?}\0", archive.dest, archive.owner));
            hash_file(&mut hash, &archive.file)?;
        }
        Ok(hex::encode(hash.finalize()))
    }

    /// Writes the layer's tar.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        for (path, item) in &self.items {
            let mut header = tar::Header::new_gnu();
            header.set_mode(item.mode);
            header.set_uid(item.uid);
            header.set_gid(item.gid);
            header.set_mtime(item.mtime);
            match &item.kind {
                Kind::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_size(0);
                    tar.append_data(&mut header, format!("{path}/"), io::empty())?;
                }
                Kind::Symlink(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    tar.append_link(&mut header, path, target)?;
                }
                Kind::Bytes(bytes) => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(bytes.len() as u64);
                    tar.append_data(&mut header, path, &bytes[..])?;
                }
                Kind::File(host) => {
                    let file = fs::File::open(host)?;
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_size(file.metadata()?.len());
                    tar.append_data(&mut header, path, file)?;
                }
            }
        }
        for archive in &self.archives {
            unpack_into(&mut tar, &archive.file, &archive.dest, archive.owner)?;
        }
        tar.finish()
    }
}

/// Appends the entries of the archive at `path` under `dest`.
fn unpack_into(
    tar: &mut tar::Builder<&mut dyn Write>,
    path: &Path,
    dest: &str,
    owner: Option<(u64, u64)>,
) -> io::Result<()> {
    let mut archive = tar::Archive::new(decompressed(fs::File::open(path)?)?);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let Ok(rel) = clean(&name) else {
            continue;
        };
        if rel.is_empty() {
            continue;
        }
        let mut header = entry.header().clone();
        if let Some((uid, gid)) = owner {
            header.set_uid(uid);
            header.set_gid(gid);
        }
        let to = join(dest, &rel);
        match header.entry_type() {
            tar::EntryType::Link => {
                let target = entry
                    .link_name()?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let Ok(target) = clean(&target) else {
                    continue;
                };
                tar.append_link(&mut header, &to, join(dest, &target))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                tar.append_link(&mut header, &to, target)?;
            }
            tar::EntryType::Directory => {
                tar.append_data(&mut header, format!("{to}/"), io::empty())?;
            }
            _ => tar.append_data(&mut header, &to, &mut entry)?,
        }
    }
    Ok(())
}

fn hash_file(hash: &mut Sha256, path: &Path) -> Result<(), BuildError> {
    let mut file = fs::File::open(path)
        .map_err(|e| BuildError::Source(format!("read {}: {e}", path.display())))?;
    io::copy(&mut file, hash)
        .map_err(|e| BuildError::Source(format!("read {}: {e}", path.display())))?;
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::tree::{ContextTree, LayerTree};

    fn entries(plan: &Plan) -> Vec<(String, u32, u64)> {
        let mut out = Vec::new();
        plan.write(&mut out).unwrap();
        let mut archive = tar::Archive::new(&out[..]);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn dockers_copy_rules() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        fs::create_dir_all(ctx.join("src/sub")).unwrap();
        fs::write(ctx.join("src/a.txt"), "a").unwrap();
        fs::write(ctx.join("src/sub/b.txt"), "b").unwrap();
        fs::write(ctx.join("one.txt"), "1").unwrap();
        fs::write(ctx.join("two.txt"), "2").unwrap();
        fs::write(ctx.join("skip.md"), "").unwrap();
        let image = dir.path().join("image");
        fs::create_dir_all(image.join("app")).unwrap();
        let none = |_: &str, _| false;
        let tree = ContextTree {
            root: ctx.clone(),
            excluded: &none,
        };
        let dest = LayerTree {
            layers: vec![image],
        };
        // A directory's contents, into an existing directory: no entry for /app itself.
        let roots = find(&tree, &["src".into()]).unwrap();
        let p = plan(&tree, &roots, "/app", &dest, Attributes::default(), false).unwrap();
        let names: Vec<String> = entries(&p).into_iter().map(|e| e.0).collect();
        assert_eq!(names, ["app/a.txt", "app/sub/", "app/sub/b.txt"]);
        // A glob with several matches needs a directory; missing parents are made.
        let roots = find(&tree, &["*.txt".into()]).unwrap();
        assert_eq!(roots.len(), 2);
        assert!(plan(&tree, &roots, "/x", &dest, Attributes::default(), false).is_err());
        let attributes = Attributes {
            owner: Some((1000, 1000)),
            mode: Some(0o600),
        };
        let p = plan(&tree, &roots, "/x/y/", &dest, attributes, false).unwrap();
        let got = entries(&p);
        assert_eq!(got[0], ("x/".into(), 0o755, 1000));
        assert_eq!(got[3], ("x/y/two.txt".into(), 0o600, 1000));
        // One file to a file name.
        let roots = find(&tree, &["one.txt".into()]).unwrap();
        let p = plan(
            &tree,
            &roots,
            "/app/renamed",
            &dest,
            Attributes::default(),
            false,
        )
        .unwrap();
        assert_eq!(entries(&p), [("app/renamed".into(), 0o644, 0)]);
        // The digest follows the content.
        let before = p.digest(true).unwrap();
        fs::write(ctx.join("one.txt"), "changed").unwrap();
        assert_ne!(before, p.digest(true).unwrap());
        assert!(find(&tree, &["missing".into()]).is_err());
        assert!(find(&tree, &["../etc/passwd".into()]).is_err());
    }

    #[test]
    fn add_unpacks_a_gzip_tar() {
        let dir = tempfile::tempdir().unwrap();
        let mut inner = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o755);
        header.set_uid(5);
        inner
            .append_data(&mut header, "bin/tool", &b"hi"[..])
            .unwrap();
        let inner = inner.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&inner).unwrap();
        fs::write(dir.path().join("t.tar.gz"), gz.finish().unwrap()).unwrap();
        let none = |_: &str, _| false;
        let tree = ContextTree {
            root: dir.path().to_owned(),
            excluded: &none,
        };
        let dest = LayerTree { layers: vec![] };
        let roots = find(&tree, &["t.tar.gz".into()]).unwrap();
        let p = plan(&tree, &roots, "/opt/", &dest, Attributes::default(), true).unwrap();
        assert_eq!(
            entries(&p),
            [("opt/".into(), 0o755, 0), ("opt/bin/tool".into(), 0o755, 5)]
        );
    }
}
