//! `push`: an image of the store out to a registry, as the exact blobs it is made of.
//!
//! ```text
//! images.json -> the image's stored manifest -> each layer blob (blobs/sha256/<hex>):
//!     HEAD: the registry has it -> "Layer already exists"
//!     else a mount from a repository of the same registry it was pulled from -> "Mounted from"
//!     else an upload, streamed from the file -> "Pushed"
//! -> the config blob, the same way -> the manifest PUT as its stored bytes, in its media type
//! -> the digest recorded as the image's RepoDigest
//! ```
//!
//! A pulled image is pushed as the very blobs and manifest it was pulled as, so its digests
//! stay the same; an image berth made has the compressed blobs `layer_in` kept for it. Layers
//! go up on a few threads, as a pull's come down.

use crate::digest::Digest;
use crate::local::{self, LocalError};
use crate::manifest::OCI_MANIFEST;
use crate::reference::Reference;
use crate::registry::client::{ClientOptions, RegistryClient, RegistryError};
use crate::registry::credentials::{CredentialsError, DockerConfig};
use crate::registry::upload::PushTarget;
use crate::store::Store;
use berth_error::IoContext;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many layers upload at once.
const PARALLEL_LAYERS: usize = 3;

/// A push that failed. The registry may hold some of the blobs; the store is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// No image has the name.
    #[error("An image does not exist locally with the tag: {0}")]
    NoSuchImage(String),
    /// The name is not usable.
    #[error(transparent)]
    Local(LocalError),
    /// Talking to the registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Reading credentials failed.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The store could not be read or written.
    #[error(transparent)]
    Io(#[from] IoContext),
    /// A blob of the image is not in the store.
    #[error(
        "{image}: blob {blob} is not in the store (the image was pulled by an older berth, which kept no layer blobs); pull the image again to push it"
    )]
    MissingBlob {
        /// The image.
        image: String,
        /// The missing blob.
        blob: Digest,
    },
    /// The stored manifest is of no use.
    #[error("{image}: malformed stored manifest {digest}: {why}")]
    Manifest {
        /// The image.
        image: String,
        /// The manifest's digest.
        digest: Digest,
        /// Why.
        why: String,
    },
}

/// How a push reaches registries.
pub struct PushOptions {
    /// Registry connection options.
    pub client: ClientOptions,
    /// Where credentials are.
    pub credentials: DockerConfig,
}

/// How the registry came to have a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerPushed {
    /// It had it already.
    Exists,
    /// It was mounted from this repository of the same registry.
    Mounted(String),
    /// It was uploaded.
    Uploaded,
}

/// Progress of a push, shown by the CLI as bars or lines.
pub trait PushProgress: Sync {
    /// A layer (its blob, of `size` bytes) is to be pushed.
    fn layer_waiting(&self, layer: &Digest, size: u64);
    /// `sent` bytes of the layer have been sent so far (0 again when its upload restarts).
    fn layer_sent(&self, layer: &Digest, sent: u64);
    /// The registry has the layer now.
    fn layer_done(&self, layer: &Digest, how: &LayerPushed);
}

/// What a finished push of one tag tells.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The tag pushed.
    pub tag: String,
    /// The manifest's digest.
    pub digest: Digest,
    /// The manifest's size in bytes.
    pub size: usize,
}

/// A blob of the image: its digest and size.
struct Blob {
    digest: Digest,
    size: u64,
}

/// Pushes the image that `reference` (with a tag) names in `store` to its registry.
pub fn push(
    store: &Store,
    reference: &Reference,
    options: &PushOptions,
    progress: &dyn PushProgress,
) -> Result<Pushed, PushError> {
    let tag = reference.tag.clone().unwrap_or_else(|| "latest".to_owned());
    let reference = reference.with_tag(&tag);
    let name = reference.to_string();
    let images = store.images()?;
    let id = match local::resolve(&images, &name) {
        Ok(id) => id,
        Err(LocalError::NoSuchImage(_)) => {
            return Err(PushError::NoSuchImage(reference.familiar_name()));
        }
        Err(e) => return Err(PushError::Local(e)),
    };
    let record = &images.images[&id];
    let manifest_bytes = store.read_blob(&record.manifest)?;
    let (media_type, config, layers) =
        parse_manifest(&manifest_bytes).map_err(|why| PushError::Manifest {
            image: name.clone(),
            digest: record.manifest.clone(),
            why,
        })?;
    if let Some(missing) = layers
        .iter()
        .chain([&config])
        .find(|l| !store.has_blob(&l.digest))
    {
        return Err(PushError::MissingBlob {
            image: name,
            blob: missing.digest.clone(),
        });
    }
    // The image's own repositories first, then those of images it shares layers with (the
    // image a commit or a build started from).
    let related = images
        .images
        .iter()
        .filter(|(other, r)| *other != &id && r.layers.iter().any(|l| record.layers.contains(l)))
        .flat_map(|(_, r)| r.repo_digests.iter().cloned());
    let repo_digests: Vec<String> = record.repo_digests.iter().cloned().chain(related).collect();
    let mount_from = mount_sources(&repo_digests, &reference);

    let credentials = options.credentials.get(&reference.registry)?;
    let client = RegistryClient::connect(reference.api_host(), credentials, &options.client)?;
    let target = client.push_target(&reference.repository, &mount_from);
    for layer in layers.iter().rev() {
        progress.layer_waiting(&layer.digest, layer.size);
    }
    let push_layer = |layer: &Blob| {
        let how = push_blob(store, &target, layer, &mount_from, &|sent| {
            progress.layer_sent(&layer.digest, sent)
        })?;
        progress.layer_done(&layer.digest, &how);
        Ok::<(), PushError>(())
    };
    on_threads(&layers, push_layer)?;
    push_blob(store, &target, &config, &mount_from, &|_| {})?;
    let digest = target.put_manifest(&tag, &media_type, &manifest_bytes)?;

    let full_name = reference.full_name();
    let repo_digest = format!("{full_name}@{digest}");
    store.update_images(|images| {
        if let Some(record) = images.images.get_mut(&id)
            && !record.repo_digests.contains(&repo_digest)
        {
            record
                .repo_digests
                .retain(|d| !d.starts_with(&format!("{full_name}@")));
            record.repo_digests.push(repo_digest);
        }
    })?;
    Ok(Pushed {
        tag,
        digest,
        size: manifest_bytes.len(),
    })
}

/// The media type, config and layers of a stored image manifest.
fn parse_manifest(bytes: &[u8]) -> Result<(String, Blob, Vec<Blob>), String> {
    let manifest: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let blob = |descriptor: &serde_json::Value| -> Result<Blob, String> {
        let digest = Digest::parse(descriptor["digest"].as_str().unwrap_or(""))
            .map_err(|e| e.to_string())?;
        let size = descriptor["size"]
            .as_u64()
            .ok_or_else(|| format!("descriptor of {digest} without a size"))?;
        Ok(Blob { digest, size })
    };
    let layers = manifest["layers"]
        .as_array()
        .ok_or("no layers")?
        .iter()
        .map(blob)
        .collect::<Result<Vec<_>, _>>()?;
    let media_type = manifest["mediaType"].as_str().unwrap_or(OCI_MANIFEST);
    Ok((media_type.to_owned(), blob(&manifest["config"])?, layers))
}

/// The repositories of `reference`'s registry, other than its own, that the image (or one it
/// shares layers with) was pulled from or pushed to: their blobs are there to mount.
fn mount_sources(repo_digests: &[String], reference: &Reference) -> Vec<String> {
    let mut sources = Vec::new();
    for repo_digest in repo_digests {
        if let Ok(other) = Reference::parse(repo_digest)
            && other.registry == reference.registry
            && other.repository != reference.repository
            && !sources.contains(&other.repository)
        {
            sources.push(other.repository);
        }
    }
    sources
}

/// Sees that the registry has `blob`: already, by a mount from the first of `mount_from`, or
/// by an upload from the store.
fn push_blob(
    store: &Store,
    target: &PushTarget<'_>,
    blob: &Blob,
    mount_from: &[String],
    sent: &dyn Fn(u64),
) -> Result<LayerPushed, PushError> {
    if target.has_blob(&blob.digest)? {
        return Ok(LayerPushed::Exists);
    }
    let mut session = None;
    if let Some(from) = mount_from.first() {
        match target.mount(&blob.digest, from)? {
            None => return Ok(LayerPushed::Mounted(from.clone())),
            Some(location) => session = Some(location),
        }
    }
    let path = store.blob_path(&blob.digest);
    target.upload(&blob.digest, blob.size, &path, session, sent)?;
    Ok(LayerPushed::Uploaded)
}

/// Runs `work` on each item, on up to `PARALLEL_LAYERS` threads; the first error stops the
/// rest from starting and is returned.
fn on_threads<T: Sync>(
    items: &[T],
    work: impl Fn(&T) -> Result<(), PushError> + Sync,
) -> Result<(), PushError> {
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<PushError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_LAYERS.min(items.len()) {
            scope.spawn(|| {
                while first_error.lock().expect("error lock").is_none() {
                    let Some(item) = items.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        return;
                    };
                    if let Err(e) = work(item) {
                        first_error.lock().expect("error lock").get_or_insert(e);
                    }
                }
            });
        }
    });
    match first_error.into_inner().expect("error lock") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer_in::{Compression, Expected, Keep, store_layer};
    use crate::new_image::{ManifestFormat, record_image};
    use crate::pull::{Progress, PullOptions, pull};

    struct Quiet;

    impl PushProgress for Quiet {
        fn layer_waiting(&self, _: &Digest, _: u64) {}
        fn layer_sent(&self, _: &Digest, _: u64) {}
        fn layer_done(&self, _: &Digest, _: &LayerPushed) {}
    }

    impl Progress for Quiet {
        fn layer_waiting(&self, _: &Digest, _: u64) {}
        fn layer_exists(&self, _: &Digest) {}
        fn layer_bytes(&self, _: &Digest, _: u64) {}
        fn layer_done(&self, _: &Digest) {}
    }

    fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
        builder.into_inner().unwrap()
    }

    /// An image berth made (as commit and import make one) goes out as its gzip blob and
    /// manifest, and comes back in with the same digests.
    #[test]
    fn a_made_image_is_pushed_and_pulled_back() {
        let registry = berth_testkit::registry::Registry::start_open().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a")).unwrap();
        let layer = store_layer(
            &store,
            &tar_of("made", b"by berth")[..],
            &Expected::default(),
            Keep::Compressed(Compression::Gzip),
            None,
            1 << 20,
        )
        .unwrap();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.received.diff_id.to_string()]},
        }))
        .unwrap();
        let tag = Reference::parse(&format!("{}/made/one:1", registry.host())).unwrap();
        let id = record_image(
            &store,
            &config,
            std::slice::from_ref(&layer),
            ManifestFormat::Docker,
            std::slice::from_ref(&tag),
        )
        .unwrap();
        let options = PushOptions {
            client: ClientOptions::default(),
            credentials: DockerConfig::at(dir.path().join("config.json")),
        };
        let pushed = push(&store, &tag, &options, &Quiet).unwrap();
        let manifest = store.images().unwrap().images[&id].manifest.clone();
        assert_eq!(pushed.digest, manifest);
        assert!(
            store.images().unwrap().images[&id]
                .repo_digests
                .contains(&format!("{}@{manifest}", tag.full_name()))
        );
        let blob = registry
            .client(None)
            .get_blob("made/one", &layer.received.blob.to_string())
            .unwrap();
        assert_eq!(
            blob,
            std::fs::read(store.blob_path(&layer.received.blob)).unwrap()
        );

        let other = Store::open(&dir.path().join("b")).unwrap();
        let pull_options = PullOptions {
            platform: None,
            client: ClientOptions::default(),
            credentials: DockerConfig::at(dir.path().join("config.json")),
            docker_io_mirrors: Vec::new(),
            max_layer_size: 1 << 20,
        };
        let pulled = pull(&other, &tag, &pull_options, &Quiet).unwrap();
        assert_eq!((pulled.id, pulled.digest), (id, manifest));
    }
}
