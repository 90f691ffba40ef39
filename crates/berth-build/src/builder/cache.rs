//! The build cache: for each step, its key (the parent image id, the instruction as expanded,
//! and for `COPY`/`ADD` a hash of the files) and the image it made, one small JSON file per key
//! under `<root>/build/cache/`, written atomically (a temporary file renamed into place).
//!
//! An entry is only a pointer: it is used when its image is still in the store with all of
//! its layers (`image prune`, `rmi` and `system prune` may have removed it), else the step runs
//! again. The parents the entries name are the build's intermediate images: `berth images`
//! hides those that are untagged, as Docker hides the classic builder's ([`intermediate`]).

use berth_image::digest::Digest;
use berth_image::store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The cache of the data root.
pub struct Cache {
    dir: PathBuf,
}

/// One cached step.
#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    /// The image the step ran on (`scratch` for none).
    parent: String,
    /// The image it made.
    image: String,
    /// The images it copied from (`COPY --from` a stage): intermediate too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sources: Vec<String>,
}

/// The key of a step: its parent and what it does, hashed.
pub fn key(parent: &str, step: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(parent.as_bytes());
    hash.update([0]);
    hash.update(step.as_bytes());
    hex::encode(hash.finalize())
}

impl Cache {
    /// The cache under the data root `root`.
    pub fn new(root: &Path) -> Cache {
        Cache {
            dir: root.join("build/cache"),
        }
    }

    /// The image cached for `key`, when it and its layers are still in `store`.
    pub fn get(&self, store: &Store, key: &str) -> Option<Digest> {
        let bytes = std::fs::read(self.dir.join(format!("{key}.json"))).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        let id = Digest::parse(&entry.image).ok()?;
        let images = store.images().ok()?;
        let record = images.images.get(&id)?;
        let whole = record.layers.iter().all(|l| store.layer(l).is_some());
        whole.then_some(id)
    }

    /// Records that the step `key` on `parent` made `image` (copying from the stage images
    /// `sources`). A failure to write is only logged: the next build runs the step again.
    pub fn put(&self, key: &str, parent: &str, image: &Digest, sources: &[String]) {
        let entry = Entry {
            parent: parent.to_owned(),
            image: image.to_string(),
            sources: sources.to_vec(),
        };
        let path = self.dir.join(format!("{key}.json"));
        let tmp = self.dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let written = std::fs::create_dir_all(&self.dir)
            .and_then(|()| {
                std::fs::write(
                    &tmp,
                    serde_json::to_vec(&entry).expect("an entry serialises"),
                )
            })
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), error = %e, "cannot write a build cache entry");
        }
    }

    /// Removes every entry; returns how many there were.
    pub fn clear(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        match std::fs::read_dir(&self.dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    std::fs::remove_file(entry.path())?;
                    removed += 1;
                }
                Ok(removed)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// The ids (`sha256:...`) of the images that builds ran later steps on or copied from: the
/// intermediate images, which `berth images` hides unless tagged (or `-a` asks for all).
pub fn intermediate(root: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(Cache::new(root).dir) else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice::<Entry>(&b).ok())
        .flat_map(|e| std::iter::once(e.parent).chain(e.sources))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_used_only_while_its_image_is_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let cache = Cache::new(dir.path());
        let config = br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let id = berth_image::new_image::record_image(
            &store,
            config,
            &[],
            berth_image::new_image::ManifestFormat::Docker,
            &[],
        )
        .unwrap();
        let k = key("scratch", "LABEL a=b");
        assert_ne!(k, key("scratch", "LABEL a=c"));
        assert_eq!(cache.get(&store, &k), None);
        cache.put(&k, "scratch", &id, &["sha256:feed".into()]);
        assert_eq!(cache.get(&store, &k), Some(id.clone()));
        assert!(intermediate(dir.path()).contains("scratch"));
        assert!(intermediate(dir.path()).contains("sha256:feed"));
        store
            .update_images(|images| images.images.remove(&id))
            .unwrap();
        assert_eq!(cache.get(&store, &k), None);
        assert_eq!(cache.clear().unwrap(), 1);
    }
}
