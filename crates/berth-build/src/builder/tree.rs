//! The file trees `COPY` and `ADD` read from: the build context (a directory, with
//! `.dockerignore` applied and symlinks resolved inside it) and an image's layers (a stage's or
//! an image's, for `--from`), merged as overlayfs would show them.

use crate::builder::error::BuildError;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A file, directory or symlink found in a tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where it is on the host.
    pub host: PathBuf,
    /// Its metadata (not followed).
    pub meta: fs::Metadata,
}

/// A tree of files to copy from.
pub trait Tree {
    /// The node at `rel` (relative, `/`-separated, already clean); a symlink at its end is
    /// followed when `follow` (a source named in the Dockerfile is).
    fn lookup(&self, rel: &str, follow: bool) -> Result<Option<Node>, BuildError>;
    /// The entries of the directory at `rel`, by name.
    fn children(&self, rel: &str) -> Result<BTreeMap<String, Node>, BuildError>;
}

/// Whether the context path `path` (a directory when the flag says so) is excluded (by
/// `.dockerignore`).
pub type Excluded<'a> = dyn Fn(&str, bool) -> bool + Sync + 'a;

/// The build context.
pub struct ContextTree<'a> {
    /// Its directory.
    pub root: PathBuf,
    /// `.dockerignore`'s verdict on a relative path.
    pub excluded: &'a Excluded<'a>,
}

/// Lexically cleans `path` into a relative path inside a root: `.` and empty parts dropped, a
/// `..` that would leave the root an error (Docker's "outside the build context").
pub fn clean(path: &str) -> Result<String, BuildError> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(BuildError::Source(format!(
                        "forbidden path outside the build context: {path}"
                    )));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

impl ContextTree<'_> {
    /// `rel` with every symlink on it resolved inside the context (an absolute target or a
    /// `..` past the top stays at the context's top, as Docker's `FollowSymlinkInScope`).
    fn resolve(&self, rel: &str, follow_last: bool) -> Result<String, BuildError> {
        let mut done: Vec<String> = Vec::new();
        let mut todo: Vec<String> = rel.split('/').rev().map(str::to_owned).collect();
        let mut hops = 0;
        while let Some(part) = todo.pop() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(part);
            let last = todo.iter().all(|p| p.is_empty() || p == ".");
            if last && !follow_last {
                break;
            }
            let host = self.root.join(done.join("/"));
            let Ok(target) = fs::read_link(&host) else {
                continue;
            };
            hops += 1;
            if hops > 255 {
                return Err(BuildError::Source(format!("too many links in {rel}")));
            }
            done.pop();
            let target = target.to_string_lossy().into_owned();
            if target.starts_with('/') {
                done.clear();
            }
            todo.extend(target.split('/').rev().map(str::to_owned));
        }
        Ok(done.join("/"))
    }
}

impl Tree for ContextTree<'_> {
    fn lookup(&self, rel: &str, follow: bool) -> Result<Option<Node>, BuildError> {
        let resolved = self.resolve(rel, follow)?;
        let host = self.root.join(&resolved);
        let Ok(meta) = fs::symlink_metadata(&host) else {
            return Ok(None);
        };
        if !resolved.is_empty() && (self.excluded)(&resolved, meta.is_dir()) {
            return Ok(None);
        }
        Ok(Some(Node { host, meta }))
    }

    fn children(&self, rel: &str) -> Result<BTreeMap<String, Node>, BuildError> {
        let dir = self.root.join(rel);
        let entries = fs::read_dir(&dir)
            .map_err(|e| BuildError::Source(format!("read {}: {e}", dir.display())))?;
        let mut found = BTreeMap::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| BuildError::Source(format!("read {}: {e}", dir.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = match rel {
                "" => name.clone(),
                _ => format!("{rel}/{name}"),
            };
            let meta = entry
                .metadata()
                .map_err(|e| BuildError::Source(format!("read {path}: {e}")))?;
            if (self.excluded)(&path, meta.is_dir()) {
                continue;
            }
            found.insert(
                name,
                Node {
                    host: entry.path(),
                    meta,
                },
            );
        }
        Ok(found)
    }
}

/// An image's layer directories, topmost first, seen merged.
pub struct LayerTree {
    /// The layers' `diff` directories, topmost first.
    pub layers: Vec<PathBuf>,
}

/// An overlayfs whiteout: a 0/0 character device.
fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether the directory hides the layers below it.
fn is_opaque(dir: &Path) -> bool {
    let mut value = [0u8; 4];
    matches!(
        rustix::fs::lgetxattr(dir, "trusted.overlay.opaque", &mut value),
        Ok(n) if value[..n] == *b"y"
    )
}

impl LayerTree {
    /// For each layer from the top, what it has at `rel`: `Some(meta)` or nothing; stops
    /// below a layer that hides the rest (a whiteout, a non-directory on the way, an opaque
    /// directory).
    fn visible(&self, rel: &str) -> Vec<Node> {
        let mut found = Vec::new();
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        'layers: for layer in &self.layers {
            let mut hidden_below = false;
            let mut at = layer.clone();
            for (i, part) in parts.iter().enumerate() {
                if is_opaque(&at) && i > 0 {
                    hidden_below = true;
                }
                at.push(part);
                let Ok(meta) = fs::symlink_metadata(&at) else {
                    if hidden_below {
                        break 'layers;
                    }
                    continue 'layers;
                };
                let last = i + 1 == parts.len();
                if is_whiteout(&meta) || (!last && !meta.is_dir()) {
                    break 'layers;
                }
                if last {
                    let dir = meta.is_dir();
                    found.push(Node {
                        host: at.clone(),
                        meta,
                    });
                    if !dir || hidden_below || is_opaque(&at) {
                        break 'layers;
                    }
                }
            }
            if parts.is_empty()
                && let Ok(meta) = fs::symlink_metadata(layer)
            {
                found.push(Node {
                    host: layer.clone(),
                    meta,
                });
            }
            if hidden_below {
                break;
            }
        }
        found
    }
}

impl Tree for LayerTree {
    fn lookup(&self, rel: &str, _follow: bool) -> Result<Option<Node>, BuildError> {
        Ok(self.visible(rel).into_iter().next())
    }

    fn children(&self, rel: &str) -> Result<BTreeMap<String, Node>, BuildError> {
        let mut found: BTreeMap<String, Option<Node>> = BTreeMap::new();
        for dir in self.visible(rel) {
            if !dir.meta.is_dir() {
                break;
            }
            let entries = fs::read_dir(&dir.host)
                .map_err(|e| BuildError::Source(format!("read {}: {e}", dir.host.display())))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if found.contains_key(&name) {
                    continue;
                }
                let node = entry
                    .metadata()
                    .ok()
                    .filter(|m| !is_whiteout(m))
                    .map(|meta| Node {
                        host: entry.path(),
                        meta,
                    });
                found.insert(name, node);
            }
        }
        Ok(found
            .into_iter()
            .filter_map(|(name, node)| node.map(|n| (name, n)))
            .collect())
    }
}

/// The text of the file `rel` in `tree` (empty when missing), for `/etc/passwd` and the like.
pub fn read_text(tree: &dyn Tree, rel: &str) -> String {
    tree.lookup(rel, true)
        .ok()
        .flatten()
        .filter(|n| n.meta.is_file())
        .and_then(|n| fs::read_to_string(n.host).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn paths_stay_inside_the_context_and_excluded_files_are_not_there() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/f"), "x").unwrap();
        fs::write(dir.path().join("secret"), "s").unwrap();
        symlink("/a", dir.path().join("abs")).unwrap();
        symlink("../../../../a/b/f", dir.path().join("a/up")).unwrap();
        let excluded = |p: &str, _| p == "secret";
        let tree = ContextTree {
            root: dir.path().to_owned(),
            excluded: &excluded,
        };
        assert!(clean("../x").is_err());
        assert_eq!(clean("./a//b/../c/").unwrap(), "a/c");
        let found = tree.lookup("abs/b/f", true).unwrap().unwrap();
        assert_eq!(found.host, dir.path().join("a/b/f"));
        let up = tree.lookup("a/up", true).unwrap().unwrap();
        assert_eq!(up.host, dir.path().join("a/b/f"));
        assert!(
            tree.lookup("a/up", false)
                .unwrap()
                .unwrap()
                .meta
                .file_type()
                .is_symlink()
        );
        assert!(tree.lookup("secret", true).unwrap().is_none());
        let names: Vec<String> = tree.children("").unwrap().into_keys().collect();
        assert_eq!(names, ["a", "abs"]);
    }

    #[test]
    fn layers_merge_with_upper_files_winning() {
        let dir = tempfile::tempdir().unwrap();
        let (top, bottom) = (dir.path().join("top"), dir.path().join("bottom"));
        fs::create_dir_all(top.join("etc")).unwrap();
        fs::create_dir_all(bottom.join("etc")).unwrap();
        fs::write(top.join("etc/passwd"), "new").unwrap();
        fs::write(bottom.join("etc/passwd"), "old").unwrap();
        fs::write(bottom.join("etc/group"), "g").unwrap();
        let tree = LayerTree {
            layers: vec![top, bottom],
        };
        assert_eq!(read_text(&tree, "etc/passwd"), "new");
        assert_eq!(read_text(&tree, "etc/group"), "g");
        let names: Vec<String> = tree.children("etc").unwrap().into_keys().collect();
        assert_eq!(names, ["group", "passwd"]);
        assert!(tree.lookup("etc/missing", true).unwrap().is_none());
    }
}
