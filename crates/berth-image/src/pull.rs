//! `pull`: a reference in, a verified image in the store out.
//!
//! Each missing layer is streamed once through `layer_in::receive`: registry bytes -> sha256 of
//! the blob (and a copy of it, kept so that the image can be pushed and saved with the same
//! digests) -> decompression (by media type, checked against the magic bytes) -> sha256 of the
//! tar (the config's diff id) -> extraction into `tmp/`. Only when both digests and the size
//! match are the layer and its blob renamed into the store. Layers download in parallel on a few threads; a layer another process is
//! unpacking is waited for, not fetched twice.

use crate::digest::{Digest, HashingReader, chain_ids};
use crate::layer_in::{
    Compression, Expected, Keep, LayerInError, Received, ms, place_blob, receive,
};
use crate::manifest::{Manifest, ManifestError, NoMatchingPlatform, Platform, select_platform};
use crate::reference::Reference;
use crate::registry::client::{ClientOptions, RegistryClient, RegistryError};
use crate::registry::credentials::{CredentialsError, DockerConfig};
use crate::store::at;
use crate::store::{ImageRecord, LayerRecord, Store};
use crate::unpack::UnpackError;
use berth_error::{Context, IoContext};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How many layers download at once.
const PARALLEL_LAYERS: usize = 3;
/// The largest image config berth accepts.
const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// The largest uncompressed layer berth unpacks by default: 32 GiB.
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 32 << 30;

/// A pull that failed. The store is left as it was, but for layers completed and verified.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// Talking to the registry failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// Reading credentials failed.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The manifest is of no use.
    #[error("{reference}: {source}")]
    Manifest {
        /// The image.
        reference: String,
        /// Why.
        source: ManifestError,
    },
    /// No image for this platform.
    #[error("{reference}: {source}")]
    Platform {
        /// The image.
        reference: String,
        /// What was wanted and what is offered.
        source: NoMatchingPlatform,
    },
    /// The config is malformed or does not fit the manifest.
    #[error("{reference}: malformed image config {digest}: {why}")]
    Config {
        /// The image.
        reference: String,
        /// The config's digest.
        digest: Digest,
        /// Why.
        why: String,
    },
    /// A layer's bytes are not what the manifest promised.
    #[error("layer {layer}: {why}")]
    Layer {
        /// The layer blob's digest.
        layer: Digest,
        /// What does not match.
        why: String,
    },
    /// A layer could not be unpacked.
    #[error("layer {layer}: {source}")]
    Unpack {
        /// The layer blob's digest.
        layer: Digest,
        /// Why.
        source: UnpackError,
    },
    /// The store could not be written.
    #[error(transparent)]
    Io(#[from] IoContext),
}

/// What a pull may be told and how it reports.
pub struct PullOptions {
    /// The platform to pick from an index; the host's when `None`.
    pub platform: Option<Platform>,
    /// Registry connection options.
    pub client: ClientOptions,
    /// Where credentials are.
    pub credentials: DockerConfig,
    /// Registries to try first for `docker.io` images (`host:port`).
    pub docker_io_mirrors: Vec<String>,
    /// The largest uncompressed layer (its tar stream, in bytes) a pull unpacks.
    pub max_layer_size: u64,
}

/// Progress of a pull, shown by the CLI as bars or lines.
pub trait Progress: Sync {
    /// A layer is needed; `size` is its compressed size.
    fn layer_waiting(&self, layer: &Digest, size: u64);
    /// The layer is already in the store.
    fn layer_exists(&self, layer: &Digest);
    /// `bytes` more of the layer arrived.
    fn layer_bytes(&self, layer: &Digest, bytes: u64);
    /// The layer is verified and stored.
    fn layer_done(&self, layer: &Digest);
}

/// What a finished pull tells.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image id (the config digest).
    pub id: Digest,
    /// The digest the reference resolved to (index or manifest), as `docker pull` prints it.
    pub digest: Digest,
    /// Whether anything new was stored.
    pub downloaded: bool,
}

/// Pulls `reference` into `store`.
pub fn pull(
    store: &Store,
    reference: &Reference,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<Pulled, PullError> {
    store.remove_stale_work();
    let hosts: Vec<String> = if reference.registry == crate::reference::DOCKER_HUB {
        options
            .docker_io_mirrors
            .iter()
            .cloned()
            .chain([reference.api_host().to_owned()])
            .collect()
    } else {
        vec![reference.api_host().to_owned()]
    };
    let mut last_error = None;
    for (i, host) in hosts.iter().enumerate() {
        let is_last = i + 1 == hosts.len();
        match pull_from(store, host, reference, options, progress) {
            Err(PullError::Registry(e)) if !is_last => {
                tracing::warn!(mirror = host, error = %e, "mirror failed; trying the next registry");
                last_error = Some(e);
            }
            other => return other,
        }
    }
    Err(PullError::Registry(last_error.expect("at least one host")))
}

fn pull_from(
    store: &Store,
    host: &str,
    reference: &Reference,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<Pulled, PullError> {
    let name = reference.to_string();
    let credentials = options.credentials.get(&reference.registry)?;
    let client = Arc::new(RegistryClient::connect(host, credentials, &options.client)?);
    let repository = &reference.repository;
    let manifest_error = |source| PullError::Manifest {
        reference: name.clone(),
        source,
    };

    let (content_type, top_digest, top_bytes) =
        client.manifest(repository, &reference.manifest_reference())?;
    let mut blobs_to_keep = vec![top_bytes.clone()];
    let manifest: ImageManifest =
        match Manifest::parse(&content_type, &top_bytes).map_err(manifest_error)? {
            Manifest::Image(manifest) => *manifest,
            Manifest::Index(index) => {
                let wanted = options.platform.clone().unwrap_or_else(Platform::host);
                let descriptor =
                    select_platform(&index, &wanted).map_err(|source| PullError::Platform {
                        reference: name.clone(),
                        source,
                    })?;
                let digest = Digest::parse(descriptor.digest().as_ref()).map_err(|e| {
                    manifest_error(ManifestError::Malformed {
                        kind: "image index",
                        why: e.to_string(),
                    })
                })?;
                let (content_type, _, bytes) = client.manifest(repository, &digest.to_string())?;
                blobs_to_keep.push(bytes.clone());
                match Manifest::parse(&content_type, &bytes).map_err(manifest_error)? {
                    Manifest::Image(manifest) => *manifest,
                    Manifest::Index(_) => {
                        return Err(manifest_error(ManifestError::Malformed {
                            kind: "image index",
                            why: "an index inside an index".into(),
                        }));
                    }
                }
            }
        };

    let config_digest = descriptor_digest(manifest.config(), &name)?;
    let config_bytes = match store.read_blob(&config_digest) {
        Ok(bytes) => bytes,
        Err(_) => client.blob_bytes(
            repository,
            &config_digest,
            manifest.config().size(),
            MAX_CONFIG_BYTES,
        )?,
    };
    let config_error = |why: String| PullError::Config {
        reference: name.clone(),
        digest: config_digest.clone(),
        why,
    };
    let config: ImageConfiguration =
        serde_json::from_slice(&config_bytes).map_err(|e| config_error(e.to_string()))?;
    let diff_ids = config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d).map_err(|e| config_error(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if diff_ids.len() != manifest.layers().len() {
        return Err(config_error(format!(
            "{} diff ids for {} layers",
            diff_ids.len(),
            manifest.layers().len()
        )));
    }
    let chains = chain_ids(&diff_ids);
    let layer_digests = manifest
        .layers()
        .iter()
        .map(|d| descriptor_digest(d, &name))
        .collect::<Result<Vec<_>, _>>()?;

    // Layers: the missing ones, on a few threads.
    let mut jobs = Vec::new();
    for (i, descriptor) in manifest.layers().iter().enumerate() {
        let digest = layer_digests[i].clone();
        if store.layer(&chains[i]).is_some() && store.has_blob(&digest) {
            progress.layer_exists(&digest);
        } else {
            progress.layer_waiting(&digest, descriptor.size());
            jobs.push(LayerJob {
                descriptor,
                digest,
                diff_id: &diff_ids[i],
                chain_id: &chains[i],
            });
        }
    }
    let downloaded_layers = fetch_layers(
        store,
        &client,
        repository,
        &jobs,
        options.max_layer_size,
        progress,
    )?;

    // Blobs, then the image record: the image exists once its layers all do.
    store.write_blob(&config_bytes)?;
    for bytes in &blobs_to_keep {
        store.write_blob(bytes)?;
    }
    let manifest_digest = Digest::of(blobs_to_keep.last().expect("a manifest"));
    let size = chains
        .iter()
        .filter_map(|c| store.layer(c))
        .map(|l| l.size)
        .sum();
    let repo_digest = format!("{}@{top_digest}", reference.full_name());
    let tag = reference
        .tag
        .as_ref()
        .map(|t| format!("{}:{t}", reference.full_name()));
    let changed = store.update_images(|images| {
        // A concurrent `rmi` may have collected a layer this pull found present.
        if let Some(missing) = chains
            .iter()
            .find(|c| store.layer(c).is_none())
            .or_else(|| layer_digests.iter().find(|b| !store.has_blob(b)))
        {
            return Err(PullError::Layer {
                layer: missing.clone(),
                why: "removed by another berth command during this pull; pull again".into(),
            });
        }
        let record = images
            .images
            .entry(config_digest.clone())
            .or_insert_with(|| ImageRecord {
                manifest: manifest_digest.clone(),
                repo_digests: Vec::new(),
                layers: chains.clone(),
                size,
            });
        let mut changed = false;
        if !record.repo_digests.contains(&repo_digest) {
            record
                .repo_digests
                .retain(|d| !d.starts_with(&format!("{}@", reference.full_name())));
            record.repo_digests.push(repo_digest.clone());
            changed = true;
        }
        if let Some(tag) = &tag {
            changed |= images
                .tags
                .insert(tag.clone(), config_digest.clone())
                .as_ref()
                != Some(&config_digest);
        }
        Ok(changed)
    })??;
    Ok(Pulled {
        id: config_digest,
        digest: top_digest,
        downloaded: downloaded_layers > 0 || changed,
    })
}

fn descriptor_digest(descriptor: &Descriptor, reference: &str) -> Result<Digest, PullError> {
    Digest::parse(descriptor.digest().as_ref()).map_err(|e| PullError::Manifest {
        reference: reference.to_owned(),
        source: ManifestError::Malformed {
            kind: "image manifest",
            why: e.to_string(),
        },
    })
}

struct LayerJob<'a> {
    descriptor: &'a Descriptor,
    digest: Digest,
    diff_id: &'a Digest,
    chain_id: &'a Digest,
}

/// Runs the jobs on up to `PARALLEL_LAYERS` threads; returns how many layers were stored here.
fn fetch_layers(
    store: &Store,
    client: &Arc<RegistryClient>,
    repository: &str,
    jobs: &[LayerJob<'_>],
    max_layer_size: u64,
    progress: &dyn Progress,
) -> Result<usize, PullError> {
    let next = AtomicUsize::new(0);
    let stored = AtomicUsize::new(0);
    let first_error: Mutex<Option<PullError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_LAYERS.min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    if first_error.lock().expect("error lock").is_some() {
                        return;
                    }
                    let Some(job) = jobs.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        return;
                    };
                    match fetch_layer(store, client, repository, job, max_layer_size, progress) {
                        Ok(true) => {
                            stored.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(false) => {}
                        Err(e) => {
                            first_error.lock().expect("error lock").get_or_insert(e);
                            return;
                        }
                    }
                }
            });
        }
    });
    match first_error.into_inner().expect("error lock") {
        Some(e) => Err(e),
        None => Ok(stored.into_inner()),
    }
}

/// Fetches, verifies and stores one layer; `false` when another process stored it meanwhile.
fn fetch_layer(
    store: &Store,
    client: &Arc<RegistryClient>,
    repository: &str,
    job: &LayerJob<'_>,
    max_layer_size: u64,
    progress: &dyn Progress,
) -> Result<bool, PullError> {
    let started = std::time::Instant::now();
    let _lock = store.lock_layer(job.chain_id)?;
    tracing::debug!(layer = %job.digest, lock_ms = ms(started.elapsed()), "layer started");
    if store.layer(job.chain_id).is_some() {
        if !store.has_blob(&job.digest) {
            fetch_blob(store, client, repository, job)?;
        }
        progress.layer_done(&job.digest);
        return Ok(false);
    }
    let work_dir = store.layer_work_dir(job.chain_id)?;
    let result = unpack_verified(client, repository, job, &work_dir, max_layer_size, progress);
    let renaming = std::time::Instant::now();
    let result = result.and_then(|received| {
        place_blob(store, &work_dir, &received).map_err(|e| layer_in_error(&job.digest, "", e))?;
        Ok(received)
    });
    match result {
        Ok(received) => {
            store.commit_layer(
                &work_dir,
                job.chain_id,
                &LayerRecord {
                    diff_id: job.diff_id.clone(),
                    size: received.size,
                },
            )?;
            tracing::debug!(
                layer = %job.digest,
                rename_ms = ms(renaming.elapsed()),
                total_ms = ms(started.elapsed()),
                "layer stored"
            );
            progress.layer_done(&job.digest);
            Ok(true)
        }
        Err(e) => {
            if let Err(cleanup) = crate::unpack::remove_dir_all(&work_dir) {
                tracing::warn!(dir = %work_dir.display(), error = %cleanup, "cannot remove a failed layer's work dir");
            }
            Err(e)
        }
    }
}

/// Counts bytes into the progress display as they pass.
struct Counting<'a, R> {
    inner: R,
    layer: &'a Digest,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.layer_bytes(self.layer, n as u64);
        Ok(n)
    }
}

/// Downloads, checks and unpacks one layer into `work_dir`, keeping its blob as it came.
fn unpack_verified(
    client: &Arc<RegistryClient>,
    repository: &str,
    job: &LayerJob<'_>,
    work_dir: &std::path::Path,
    max_layer_size: u64,
    progress: &dyn Progress,
) -> Result<Received, PullError> {
    let media_type = job.descriptor.media_type().to_string();
    let compression = Compression::of_media_type(&media_type).ok_or_else(|| PullError::Layer {
        layer: job.digest.clone(),
        why: format!("unsupported layer media type \"{media_type}\""),
    })?;
    let download = Counting {
        inner: client.blob(repository, &job.digest, job.descriptor.size()),
        layer: &job.digest,
        progress,
    };
    let expected = Expected {
        blob: Some((&job.digest, job.descriptor.size())),
        diff_id: Some(job.diff_id),
        compression: Some(compression),
    };
    receive(download, &expected, Keep::AsIs, work_dir, max_layer_size)
        .map_err(|e| layer_in_error(&job.digest, &media_type, e))
}

/// A layer stream's failure as the pull tells it.
fn layer_in_error(layer: &Digest, media_type: &str, error: LayerInError) -> PullError {
    let why = match error {
        LayerInError::Unpack(source) => {
            return PullError::Unpack {
                layer: layer.clone(),
                source,
            };
        }
        LayerInError::Io(e) => return PullError::Io(e),
        LayerInError::CompressionMismatch { found, declared } => {
            format!("its bytes are {found:?} but its media type \"{media_type}\" says {declared:?}")
        }
        other => other.to_string(),
    };
    PullError::Layer {
        layer: layer.clone(),
        why,
    }
}

/// Downloads and checks the blob of a layer that is stored without it (unpacked by a berth
/// that kept no blobs), so that the image can be pushed and saved.
fn fetch_blob(
    store: &Store,
    client: &Arc<RegistryClient>,
    repository: &str,
    job: &LayerJob<'_>,
) -> Result<(), PullError> {
    let layer_error = |why: String| PullError::Layer {
        layer: job.digest.clone(),
        why,
    };
    let tmp_dir = store.tmp_dir();
    let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir).with_context(|| at(&tmp_dir))?;
    let mut reader =
        HashingReader::new(client.blob(repository, &job.digest, job.descriptor.size()));
    io::copy(&mut reader, &mut io::BufWriter::new(tmp.as_file_mut()))
        .map_err(|e| layer_error(e.to_string()))?;
    let (digest, size) = reader.finish();
    if size != job.descriptor.size() || digest != job.digest {
        return Err(layer_error(format!(
            "content does not match its digest: got {digest} ({size} bytes)"
        )));
    }
    let path = store.blob_path(&job.digest);
    tmp.persist(&path)
        .map_err(|e| e.error)
        .with_context(|| at(&path))?;
    Ok(())
}
