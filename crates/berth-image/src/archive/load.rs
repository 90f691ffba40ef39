//! `load`: an archive read in one pass, whatever the order of its entries. Its small files
//! (the JSON) are kept in memory; each layer is received as it passes (`layer_in`: checked,
//! unpacked into a work directory of its own, a plain tar compressed once with gzip so that
//! the image can be pushed), not yet in the store. Once the archive has been read, every
//! image's config and layers are checked against its manifest (digests, diff ids); only then
//! are the layers moved into the store and the images recorded. A truncated or tampered
//! archive fails before that, and its work directories go with it.

use super::layout::{ArchivedImage, Files, images_in};
use super::{ArchiveError, clean_name, digest_in_name};
use crate::digest::{Digest, chain_ids};
use crate::layer_in::{
    Compression, Expected, Keep, LayerInError, MadeLayers, Pending, StoredLayer, receive_pending,
    store_layer,
};
use crate::new_image::{ManifestFormat, record_image};
use crate::reference::Reference;
use crate::store::Store;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};

/// A file of the archive that is not a layer and at most this large is kept in memory.
const SMALL_FILE: u64 = 4 << 20;
/// At most this much of the archive's small files is kept in memory.
const SMALL_FILES_TOTAL: usize = 16 << 20;

/// An image loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// Its id (the config's digest).
    pub id: Digest,
    /// The names it was given.
    pub tags: Vec<Reference>,
}

/// Loads the images of the archive `input` (plain, gzip or zstd) into `store`; `made` caps each
/// layer unpacked and says how a plain layer's blob is compressed.
pub fn load(
    store: &Store,
    input: impl Read,
    made: MadeLayers,
) -> Result<Vec<Loaded>, ArchiveError> {
    store.remove_stale_work();
    let pass = read_archive(store, input, made)?;
    let images = images_in(&pass)?;
    if images.is_empty() {
        return Err(ArchiveError::Invalid(
            "the archive holds no image (its manifest is empty)".into(),
        ));
    }
    let checked = images
        .into_iter()
        .map(|image| check(&pass, image))
        .collect::<Result<Vec<_>, _>>()?;
    commit(store, pass, checked, made.max_size)
}

/// What one pass over the archive kept.
#[derive(Default)]
struct Pass {
    /// Small files, by name.
    files: BTreeMap<String, Vec<u8>>,
    /// Their total size.
    kept: usize,
    /// Layers received (or refused), by name.
    layers: BTreeMap<String, Result<Pending, LayerInError>>,
    /// Links, by name: where they point.
    links: BTreeMap<String, String>,
}

impl Pass {
    /// `name` with its links followed (Docker's legacy layout links a layer seen before).
    fn resolve<'a>(&'a self, mut name: &'a str) -> &'a str {
        for _ in 0..16 {
            match self.links.get(name) {
                Some(target) => name = target,
                None => break,
            }
        }
        name
    }
}

impl Files for Pass {
    fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(self.resolve(name)).map(|v| &v[..])
    }
}

/// Reads the archive to its end, keeping its small files and receiving its layers.
fn read_archive(store: &Store, input: impl Read, made: MadeLayers) -> Result<Pass, ArchiveError> {
    let mut input = BufReader::with_capacity(256 << 10, input);
    let magic = input.fill_buf()?;
    if magic.is_empty() {
        return Err(ArchiveError::Invalid(
            "the archive is empty (nothing on the input)".into(),
        ));
    }
    let decompressed: Box<dyn Read> = match Compression::of_magic(magic) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
        Compression::None => Box::new(input),
    };
    let mut archive = tar::Archive::new(decompressed);
    let unreadable = |e: io::Error| {
        ArchiveError::Invalid(format!(
            "cannot read the archive (not a tar, or truncated): {e}"
        ))
    };
    let mut pass = Pass::default();
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let name = clean_name(&String::from_utf8_lossy(&entry.path_bytes()))?;
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            // A symbolic link is relative to its directory, a hard link to the archive.
            let from_root = match (kind.is_symlink(), name.rsplit_once('/')) {
                (true, Some((dir, _))) if !target.starts_with('/') => format!("{dir}/{target}"),
                _ => target,
            };
            pass.links.insert(name, clean_name(&from_root)?);
            continue;
        }
        if !kind.is_file() && kind != tar::EntryType::Continuous {
            continue;
        }
        let size = entry.size();
        let mut head = [0u8; 512];
        let got = read_up_to(&mut entry, &mut head).map_err(unreadable)?;
        let head = &head[..got];
        let mut rest = Exact {
            inner: head.chain(&mut entry),
            left: size,
            name: &name,
        };
        if looks_like_a_layer(head, size) {
            let named = digest_in_name(&name).filter(|_| name.starts_with("blobs/"));
            let expected = Expected {
                blob: named.as_ref().map(|d| (d, size)),
                ..Expected::default()
            };
            match receive_pending(store, &mut rest, &expected, made.keep(), made.max_size) {
                Err(LayerInError::Source(e)) => return Err(unreadable(e)),
                received => {
                    pass.layers.insert(name, received);
                }
            }
        } else if size <= SMALL_FILE && pass.kept + size as usize <= SMALL_FILES_TOTAL {
            let mut bytes = Vec::with_capacity(size as usize);
            rest.read_to_end(&mut bytes).map_err(unreadable)?;
            pass.kept += bytes.len();
            pass.files.insert(name, bytes);
        }
        // Anything else is skipped: no manifest can use it.
    }
    Ok(pass)
}

/// Whether a file that starts with `head` is a layer: compressed, or a tar (an empty one is
/// zeros).
fn looks_like_a_layer(head: &[u8], size: u64) -> bool {
    Compression::of_magic(head) != Compression::None
        || head.get(257..262) == Some(b"ustar")
        || (head.len() == 512 && size >= 1024 && head.iter().all(|b| *b == 0))
}

/// Reads until `buf` is full or the input ends.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// An entry's bytes, which must be as many as its header says: a shorter one is a truncated
/// archive.
struct Exact<'a, R> {
    inner: R,
    left: u64,
    name: &'a str,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the archive ends inside {} (truncated)", self.name),
            ));
        }
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

/// An image whose config and layers the archive has, and match.
struct Checked {
    config: Vec<u8>,
    /// Its layers' names (links followed) and diff ids.
    layers: Vec<(String, Digest)>,
    tags: Vec<Reference>,
}

/// Checks an image's config against its name's digest and each layer against the config's
/// diff ids.
fn check(pass: &Pass, image: ArchivedImage) -> Result<Checked, ArchiveError> {
    let config = pass.file(&image.config).ok_or_else(|| {
        ArchiveError::Invalid(format!(
            "the archive's manifest names the config {}, which the archive lacks",
            image.config
        ))
    })?;
    if let Some(named) = digest_in_name(pass.resolve(&image.config))
        && Digest::of(config) != named
    {
        return Err(ArchiveError::Invalid(format!(
            "the config {} does not match its digest (the archive was changed)",
            image.config
        )));
    }
    let parsed: serde_json::Value = serde_json::from_slice(config).map_err(|e| {
        ArchiveError::Invalid(format!("the config {} is malformed: {e}", image.config))
    })?;
    let diff_ids = parsed["rootfs"]["diff_ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .map(|d| Digest::parse(d.as_str().unwrap_or_default()))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or(Ok(Vec::new()))
        .map_err(|e| {
            ArchiveError::Invalid(format!("the config {}: a diff id: {e}", image.config))
        })?;
    if diff_ids.len() != image.layers.len() {
        return Err(ArchiveError::Invalid(format!(
            "the config {} has {} diff ids, and the manifest {} layers",
            image.config,
            diff_ids.len(),
            image.layers.len()
        )));
    }
    let mut layers = Vec::new();
    for (name, diff_id) in image.layers.iter().zip(diff_ids) {
        let resolved = pass.resolve(name);
        match pass.layers.get(resolved) {
            None => {
                return Err(ArchiveError::Invalid(format!(
                    "the archive's manifest names the layer {name}, which the archive lacks (truncated?)"
                )));
            }
            Some(Err(e)) => {
                return Err(ArchiveError::Invalid(format!("layer {name}: {e}")));
            }
            Some(Ok(pending)) if pending.received().diff_id != diff_id => {
                return Err(ArchiveError::Invalid(format!(
                    "layer {name}: its content is {} but the config's diff id is {diff_id} (the archive was changed)",
                    pending.received().diff_id
                )));
            }
            Some(Ok(_)) => layers.push((resolved.to_owned(), diff_id)),
        }
    }
    Ok(Checked {
        config: config.to_vec(),
        layers,
        tags: image.tags,
    })
}

/// Moves the checked images' layers into the store and records the images.
fn commit(
    store: &Store,
    mut pass: Pass,
    images: Vec<Checked>,
    max_layer_size: u64,
) -> Result<Vec<Loaded>, ArchiveError> {
    let mut stored: BTreeMap<String, StoredLayer> = BTreeMap::new();
    let mut loaded = Vec::new();
    for image in images {
        let mut layers: Vec<StoredLayer> = Vec::new();
        for (name, diff_id) in &image.layers {
            let parent = layers.last().map(|l| l.chain_id.clone());
            let chain = match &parent {
                None => diff_id.clone(),
                Some(parent) => chain_ids(&[parent.clone(), diff_id.clone()])[1].clone(),
            };
            let failed = |source| ArchiveError::Layer {
                name: name.clone(),
                source,
            };
            let layer = match (stored.get(name), pass.layers.remove(name)) {
                (Some(done), _) if done.chain_id == chain => done.clone(),
                // The same layer again on another chain: stored again, from its kept blob.
                (Some(done), _) => {
                    let blob = store.blob_path(&done.received.blob);
                    let file = std::fs::File::open(&blob)?;
                    let expected = Expected {
                        diff_id: Some(diff_id),
                        ..Expected::default()
                    };
                    store_layer(
                        store,
                        file,
                        &expected,
                        Keep::AsIs,
                        parent.as_ref(),
                        max_layer_size,
                    )
                    .map_err(failed)?
                }
                (None, Some(Ok(pending))) => {
                    let layer = pending.store_on(store, parent.as_ref()).map_err(failed)?;
                    stored.insert(name.clone(), layer.clone());
                    layer
                }
                (None, _) => unreachable!("checked: every layer was received"),
            };
            layers.push(layer);
        }
        let id = record_image(
            store,
            &image.config,
            &layers,
            ManifestFormat::Docker,
            &image.tags,
        )?;
        loaded.push(Loaded {
            id,
            tags: image.tags,
        });
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::save::save;
    use crate::layer_in::store_layer;
    use serde_json::json;
    use std::io::Write;

    const MAX: u64 = 1 << 30;
    const MADE: MadeLayers = MadeLayers {
        max_size: MAX,
        compression: Compression::Gzip,
    };

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn config_of(diff_ids: &[Digest]) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers",
                "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
        }))
        .unwrap()
    }

    /// A store with an image of `layers` (plain tars) tagged `tag`.
    fn image_in(store: &Store, layers: &[Vec<u8>], tag: &str) -> Digest {
        let mut stored: Vec<StoredLayer> = Vec::new();
        for tar in layers {
            let parent = stored.last().map(|l| l.chain_id.clone());
            let keep = Keep::Compressed(Compression::Gzip);
            let none = Expected::default();
            stored.push(store_layer(store, &tar[..], &none, keep, parent.as_ref(), MAX).unwrap());
        }
        let diff_ids: Vec<Digest> = layers.iter().map(|t| Digest::of(t)).collect();
        let tags = [Reference::parse(tag).unwrap()];
        record_image(
            store,
            &config_of(&diff_ids),
            &stored,
            ManifestFormat::Docker,
            &tags,
        )
        .unwrap()
    }

    /// Panics unless the store holds nothing: no image, layer, blob or work.
    fn assert_empty(store: &Store) {
        assert_eq!(store.images().unwrap(), Default::default());
        for dir in ["layers", "blobs/sha256", "tmp"] {
            let left: Vec<_> = std::fs::read_dir(store.root().join(dir))
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert!(left.is_empty(), "{dir}: {left:?}");
        }
    }

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        tar_of(entries)
    }

    #[test]
    fn saved_images_load_back_into_another_store() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let from = Store::open(a.path()).unwrap();
        let base = tar_of(&[("bin/sh", b"shell")]);
        let one = image_in(&from, &[base.clone(), tar_of(&[("one", b"1")])], "x/one:1");
        let two = image_in(
            &from,
            &[base, tar_of(&[("two", b"2")])],
            "h:5000/two:latest",
        );
        let mut out = Vec::new();
        save(&from, &["x/one:1".into(), two.hex().into()], &mut out).unwrap();
        // The shared layer's blob is written once.
        let mut names = Vec::new();
        for entry in tar::Archive::new(&out[..]).entries().unwrap() {
            names.push(entry.unwrap().path().unwrap().display().to_string());
        }
        let blobs = names
            .iter()
            .filter(|n| n.starts_with("blobs/sha256/"))
            .count();
        assert_eq!(
            blobs,
            2 + 3 + 2 + 1,
            "configs, layers, manifests, dir: {names:?}"
        );
        for file in ["index.json", "manifest.json", "oci-layout", "repositories"] {
            assert!(names.iter().any(|n| n == file), "{names:?}");
        }

        let to = Store::open(b.path()).unwrap();
        let loaded = load(&to, &out[..], MADE).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0].id, one);
        assert_eq!(loaded[0].tags, [Reference::parse("x/one:1").unwrap()]);
        assert_eq!(loaded[1].id, two);
        assert!(loaded[1].tags.is_empty(), "saved by id: no name");
        let images = to.images().unwrap();
        assert_eq!(images.tags["docker.io/x/one:1"], one);
        let record = &images.images[&two];
        assert!(to.layer(&record.layers[1]).is_some());
        // The blobs came as they were stored (gzip): the same manifests, kept as they are.
        assert_eq!(
            record.manifest,
            from.images().unwrap().images[&two].manifest
        );
        assert!(std::fs::read_dir(to.tmp_dir()).unwrap().next().is_none());
        // A repository alone means each of its tags.
        crate::local::tag(&from, "x/one:1", "x/one:2").unwrap();
        let mut by_repository = Vec::new();
        save(&from, &["x/one".into()], &mut by_repository).unwrap();
        let fresh = tempfile::tempdir().unwrap();
        let again = load(
            &Store::open(fresh.path()).unwrap(),
            &by_repository[..],
            MADE,
        )
        .unwrap();
        let tags: Vec<String> = again[0].tags.iter().map(super::super::familiar).collect();
        assert_eq!(tags, ["x/one:1", "x/one:2"]);
        // Loaded again: nothing changes, nothing is left.
        assert_eq!(load(&to, &out[..], MADE).unwrap(), loaded);
        assert_eq!(to.images().unwrap(), images);
        assert!(std::fs::read_dir(to.tmp_dir()).unwrap().next().is_none());
    }

    /// Docker 20.10's layout, gzip'd as a whole, with a layer twice (linked the second time).
    #[test]
    fn dockers_legacy_layout_loads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bottom = tar_of(&[("etc/os", b"legacy")]);
        let top = tar_of(&[("top", b"t")]);
        let ids = [Digest::of(&bottom), Digest::of(&top), Digest::of(&bottom)];
        let config = config_of(&ids);
        let config_name = format!("{}.json", Digest::of(&config).hex());
        let manifest = serde_json::to_vec(&json!([{
            "Config": config_name, "RepoTags": ["legacy:1"],
            "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"],
        }]))
        .unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_size(0);
        builder.append_data(&mut dir, "./", io::empty()).unwrap();
        for (name, data) in [
            ("aaa/VERSION", &b"1.0"[..]),
            ("aaa/json", b"{}"),
            ("aaa/layer.tar", &bottom),
            ("bbb/layer.tar", &top),
            (config_name.as_str(), &config),
            ("manifest.json", &manifest),
            ("repositories", b"{}"),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            builder.append_data(&mut header, name, data).unwrap();
        }
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder
            .append_link(&mut link, "ccc/layer.tar", "../aaa/layer.tar")
            .unwrap();
        let plain = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let loaded = load(&store, &gz.finish().unwrap()[..], MADE).unwrap();
        assert_eq!(loaded[0].id, Digest::of(&config));
        let record = &store.images().unwrap().images[&loaded[0].id];
        assert_eq!(record.layers, chain_ids(&ids));
        for chain in &record.layers {
            assert!(store.layer(chain).is_some());
        }
        let top_dir = store.layer_dir(&record.layers[2]).join("diff/etc/os");
        assert_eq!(std::fs::read(top_dir).unwrap(), b"legacy");
        // Each plain layer got a gzip blob, named by the manifest.
        for blob in crate::local::layer_blobs(&store, &record.manifest) {
            let bytes = std::fs::read(store.blob_path(&blob)).unwrap();
            assert_eq!(Compression::of_magic(&bytes), Compression::Gzip);
        }
        assert!(std::fs::read_dir(store.tmp_dir()).unwrap().next().is_none());
    }

    #[test]
    fn a_tampered_or_truncated_archive_fails_and_leaves_nothing() {
        let layer = tar_of(&[("f", &[7u8; 3000][..])]);
        let config = config_of(&[Digest::of(&layer)]);
        let config_name = format!("{}.json", Digest::of(&config).hex());
        let manifest = |layer: &str| {
            serde_json::to_vec(
                &json!([{"Config": config_name, "RepoTags": ["t:1"], "Layers": [layer]}]),
            )
            .unwrap()
        };
        let good = manifest("l/layer.tar");
        let other = tar_of(&[("f", b"changed")]);
        let wrong_config = config_of(&[Digest::of(&other)]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                archive(&[
                    ("l/layer.tar", &other),
                    (&config_name, &config),
                    ("manifest.json", &good),
                ]),
                "the archive was changed",
            ),
            (
                archive(&[
                    (&config_name, &config),
                    ("manifest.json", &manifest("gone/layer.tar")),
                ]),
                "which the archive lacks",
            ),
            (
                archive(&[
                    ("l/layer.tar", &layer),
                    (&config_name, &wrong_config),
                    ("manifest.json", &good),
                ]),
                "does not match its digest",
            ),
            (
                archive(&[
                    ("l/layer.tar", &layer),
                    (&config_name, &config),
                    ("manifest.json", &manifest("../l/layer.tar")),
                ]),
                "\"..\"",
            ),
            (
                archive(&[("l/layer.tar", &layer), (&config_name, &config)]),
                "no manifest.json",
            ),
            (
                b"not a tar at all, just some text that is long enough".repeat(20),
                "cannot read",
            ),
        ];
        let full = archive(&[
            ("l/layer.tar", &layer),
            (&config_name, &config),
            ("manifest.json", &good),
        ]);
        let mut cases = cases;
        cases.push((full[..1800].to_vec(), "truncated"));
        for (bytes, needle) in cases {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let err = load(&store, &bytes[..], MADE).unwrap_err().to_string();
            assert!(err.contains(needle), "{needle:?} not in {err}");
            assert_empty(&store);
        }
        // Names that climb out, in the tar itself (the tar crate refuses to write them).
        for bad in ["../escape", "/abs"] {
            let mut bytes = archive(&[("placeholder", b"x")]);
            bytes[..bad.len()].copy_from_slice(bad.as_bytes());
            bytes[bad.len()..100].fill(0);
            let mut header = tar::Header::from_byte_slice(&bytes[..512]).clone();
            header.set_cksum();
            bytes[..512].copy_from_slice(header.as_bytes());
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            let err = load(&store, &bytes[..], MADE).unwrap_err().to_string();
            assert!(err.contains("refused"), "{err}");
            assert_empty(&store);
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        load(&store, &full[..], MADE).unwrap();
    }
}
