//! A layer into the store: its blob read once, checked, kept and unpacked.
//!
//! ```text
//! blob bytes -> sha256 (the blob's digest) -> a copy into `<work>/blob`
//!            -> decompression (checked against the magic bytes) -> size cap
//!            -> sha256 (the diff id) [-> a compressed copy into `<work>/blob`] -> unpack into `<work>/diff`
//! ```
//!
//! Pull (a registry's blob), load (an archive's layer) and import or commit (a tar berth made)
//! all come through here, so that one set of checks guards every way in. The blob is kept as it
//! came (a pulled layer is pushed again with the same digest); a plain tar can be compressed on
//! the way (`Keep::Compressed`), once, so that a layer berth made has a blob to push. Nothing is
//! visible before both digests check: the caller renames the work directory into place
//! (`Store::commit_layer`) and the blob into `blobs/` (`place_blob`).

use crate::digest::{Digest, HashingReader, HashingWriter, chain_ids};
use crate::store::{LayerRecord, Store};
use crate::unpack::{UnpackError, UnpackOptions, Unpacked, unpack_counted};
use berth_error::{Context, IoContext};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A layer blob's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (`tar+gzip`, Docker's `tar.gzip`).
    Gzip,
    /// zstd (`tar+zstd`).
    Zstd,
    /// A plain tar.
    None,
}

impl Compression {
    /// The compression a layer media type names; `None` for a media type that is no layer's.
    pub fn of_media_type(media_type: &str) -> Option<Compression> {
        if media_type.ends_with("tar.gzip") || media_type.ends_with("tar+gzip") {
            Some(Compression::Gzip)
        } else if media_type.ends_with("tar.zstd") || media_type.ends_with("tar+zstd") {
            Some(Compression::Zstd)
        } else if media_type.ends_with(".tar")
            || media_type.ends_with("diff.tar")
            || media_type.ends_with("layer.v1.tar")
        {
            Some(Compression::None)
        } else {
            None
        }
    }

    /// The compression the first bytes of a blob show.
    pub fn of_magic(magic: &[u8]) -> Compression {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI layer media type of a blob with this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
        }
    }

    /// The Docker (schema 2) layer media type of a blob with this compression, where one exists.
    pub fn docker_media_type(self) -> Option<&'static str> {
        match self {
            Compression::Gzip => Some("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Compression::Zstd => None,
            Compression::None => Some("application/vnd.docker.image.rootfs.diff.tar"),
        }
    }
}

/// What the stream is declared to be (by a manifest or an archive); `None` where nothing is.
#[derive(Debug, Clone, Default)]
pub struct Expected<'a> {
    /// The blob's digest and size.
    pub blob: Option<(&'a Digest, u64)>,
    /// The digest of the uncompressed tar.
    pub diff_id: Option<&'a Digest>,
    /// The compression its media type names; the bytes must show the same.
    pub compression: Option<Compression>,
}

/// Which blob to keep for the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The stream's own bytes (a pulled or loaded layer keeps its digest).
    AsIs,
    /// A plain tar is compressed this way; a compressed stream is kept as it is.
    Compressed(Compression),
}

/// How berth stores the layers it makes or loads from plain tars: the cap on what one layer
/// unpacks to, and the compression of its kept blob (gzip by default; zstd on request, config
/// `layer-compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MadeLayers {
    /// The largest uncompressed layer, in bytes.
    pub max_size: u64,
    /// The compression a plain tar's blob gets.
    pub compression: Compression,
}

impl MadeLayers {
    /// What `receive` keeps for such a layer.
    pub fn keep(&self) -> Keep {
        Keep::Compressed(self.compression)
    }
}

/// What was received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The kept blob's digest, size and compression.
    pub blob: Digest,
    /// Its size in bytes.
    pub blob_size: u64,
    /// Its compression.
    pub compression: Compression,
    /// The digest of the uncompressed tar.
    pub diff_id: Digest,
    /// The total size of the regular files unpacked.
    pub size: u64,
}

/// A layer stream that was refused or could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum LayerInError {
    /// The bytes are not what was declared.
    #[error("{0}")]
    Invalid(String),
    /// The bytes show another compression than the media type names.
    #[error("its bytes are {found:?} but its media type says {declared:?}")]
    CompressionMismatch {
        /// What the bytes show.
        found: Compression,
        /// What was declared.
        declared: Compression,
    },
    /// Reading the stream failed (a registry's or a file's error).
    #[error("{0}")]
    Source(io::Error),
    /// Unpacked, the layer is larger than the limit.
    #[error(
        "unpacked, it is larger than {0} bytes, the limit of max-layer-size in berth's config file (refused)"
    )]
    TooLarge(u64),
    /// The archive could not be unpacked.
    #[error(transparent)]
    Unpack(UnpackError),
    /// Writing the kept blob, or the store, failed.
    #[error(transparent)]
    Io(#[from] IoContext),
}

/// Reads `source` as a layer blob into `work_dir` (`diff/`, which must exist and be empty, and
/// `blob`), checking it against `expected`. `max_layer_size` caps the uncompressed tar.
///
/// Two threads share the work: this one reads, hashes and keeps the blob and decompresses it;
/// a scoped one hashes the tar (and compresses it, for `Keep::Compressed`) and unpacks it. The
/// tar passes between them in chunks through a bounded channel, so at most
/// `CHUNKS_IN_FLIGHT` chunks are held, whatever the speed of either side.
pub fn receive(
    source: impl Read,
    expected: &Expected<'_>,
    keep: Keep,
    work_dir: &Path,
    max_layer_size: u64,
) -> Result<Received, LayerInError> {
    let blob_path = work_dir.join("blob");
    let blob_error =
        |source: io::Error| LayerInError::Io(IoContext::new(writing_blob(&blob_path), source));
    let blob_file = File::create(&blob_path).map_err(blob_error)?;
    let started = Instant::now();
    let (download, reading, blob_copy, unpacking, waiting) = (
        Spent::default(),
        Spent::default(),
        Spent::default(),
        Spent::default(),
        Spent::default(),
    );
    let failure = SourceFailure::default();
    // A write of the kept blob that fails (a full disk) is told as the blob's, not as a
    // broken stream: it happens on the decompressing side, ahead of the unpacker.
    let blob_failure = SourceFailure::default();
    let mut compressed = BufReader::with_capacity(
        256 << 10,
        HashingReader::new(Recording {
            inner: Timed {
                inner: source,
                spent: &download,
            },
            failure: &failure,
        }),
    );
    let magic = compressed
        .fill_buf()
        .map_err(|e| failure.take().unwrap_or(LayerInError::Source(e)))?;
    let compression = Compression::of_magic(magic);
    if let Some(declared) = expected.compression
        && declared != compression
    {
        return Err(LayerInError::CompressionMismatch {
            found: compression,
            declared,
        });
    }
    let recompress = match keep {
        Keep::Compressed(to) if compression == Compression::None && to != Compression::None => {
            Some(to)
        }
        _ => None,
    };
    let kept = recompress.unwrap_or(compression);

    // The stream's own bytes are copied as they pass (Keep::AsIs, or already compressed): the
    // kept blob is then the source, with its digest; otherwise the tar is compressed on its
    // way to the unpacker.
    let mut as_is = match recompress {
        None => Some(Timed {
            inner: Recording {
                inner: BufWriter::with_capacity(
                    256 << 10,
                    blob_file.try_clone().map_err(blob_error)?,
                ),
                failure: &blob_failure,
            },
            spent: &blob_copy,
        }),
        Some(_) => None,
    };
    let encoder = match recompress {
        Some(to) => Some(Encoder::new(to, blob_file).map_err(blob_error)?),
        None => None,
    };

    let (chunks, tar_chunks) = mpsc::sync_channel::<io::Result<Vec<u8>>>(CHUNKS_IN_FLIGHT);
    let (free, free_chunks) = mpsc::channel::<Vec<u8>>();
    let diff = work_dir.join("diff");
    let (unpacked, exceeded) = std::thread::scope(|scope| {
        let (unpacking, waiting) = (&unpacking, &waiting);
        let unpacker = scope.spawn(move || {
            let started = Instant::now();
            let result = unpack_tar(
                Chunks {
                    chunks: tar_chunks,
                    free,
                    current: Vec::new(),
                    at: 0,
                    waiting,
                },
                encoder,
                &diff,
            );
            unpacking.add(started);
            result
        });
        let exceeded = (|| {
            let teed = Tee {
                inner: &mut compressed,
                copy: as_is.as_mut().map(|w| w as &mut dyn Write),
            };
            let decompressed: Box<dyn Read + '_> = match compression {
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(teed)),
                Compression::Zstd => match zstd::stream::read::Decoder::new(teed) {
                    Ok(decoder) => Box::new(decoder),
                    Err(e) => {
                        let _ = chunks.send(Err(e));
                        return false;
                    }
                },
                Compression::None => Box::new(teed),
            };
            let mut capped = Capped {
                inner: Box::new(Timed {
                    inner: decompressed,
                    spent: &reading,
                }),
                left: max_layer_size,
                exceeded: false,
            };
            loop {
                let mut chunk = free_chunks
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
                match fill(&mut capped, &mut chunk) {
                    // The unpacker has stopped (the tar ended or it failed): it tells why.
                    Ok(0) => return capped.exceeded,
                    Ok(_) => {
                        if chunks.send(Ok(chunk)).is_err() {
                            return capped.exceeded;
                        }
                    }
                    Err(e) => {
                        let _ = chunks.send(Err(e));
                        return capped.exceeded;
                    }
                }
            }
        })();
        drop(chunks);
        let unpacked = unpacker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (unpacked, exceeded)
    });
    let unpacked = unpacked.map_err(|error| {
        if let Some(source) = failure.take() {
            return source;
        }
        if let Some(e) = blob_failure.0.take() {
            return blob_error(e);
        }
        match error {
            TarError::Unpack(UnpackError::Archive(_)) if exceeded => {
                LayerInError::TooLarge(max_layer_size)
            }
            TarError::Unpack(error) => LayerInError::Unpack(error),
            TarError::Blob(e) => blob_error(e),
        }
    })?;
    // What follows the tar in the blob (gzip's trailer, zero padding) is part of the blob.
    let rest = Tee {
        inner: &mut compressed,
        copy: as_is.as_mut().map(|w| w as &mut dyn Write),
    };
    copy_to_end(rest).map_err(|e| {
        failure
            .take()
            .or_else(|| blob_failure.0.take().map(blob_error))
            .unwrap_or(LayerInError::Source(e))
    })?;
    let (source_digest, source_size) = compressed.into_inner().finish();
    if let Some((digest, size)) = expected.blob {
        if source_size != size {
            return Err(LayerInError::Invalid(format!(
                "it has {source_size} bytes; {size} were declared"
            )));
        }
        if &source_digest != digest {
            return Err(LayerInError::Invalid(format!(
                "content does not match its digest: got {source_digest}"
            )));
        }
    }
    if let Some(declared) = expected.diff_id
        && &unpacked.diff_id != declared
    {
        return Err(LayerInError::Invalid(format!(
            "uncompressed content {} does not match the config's diff id {declared}",
            unpacked.diff_id
        )));
    }
    let (blob, blob_size) = match (as_is, unpacked.blob) {
        (Some(writer), _) => {
            writer
                .inner
                .inner
                .into_inner()
                .map_err(|e| blob_error(e.into_error()))?;
            (source_digest, source_size)
        }
        (None, Some(compressed)) => compressed,
        (None, None) => unreachable!("one of the two keeps the blob"),
    };
    let total = started.elapsed();
    let (download, reading, blob_copy, unpacking, waiting) = (
        download.get(),
        reading.get(),
        blob_copy.get(),
        unpacking.get(),
        waiting.get(),
    );
    tracing::debug!(
        blob = %blob,
        entries = unpacked.unpacked.entries,
        bytes = unpacked.unpacked.size,
        total_ms = ms(total),
        download_ms = ms(download),
        decompress_ms = ms(reading.saturating_sub(download + blob_copy)),
        blob_ms = ms(blob_copy),
        unpack_wait_ms = ms(waiting),
        create_ms = ms(unpacking.saturating_sub(waiting + unpacked.unpacked.metadata)),
        metadata_ms = ms(unpacked.unpacked.metadata),
        "layer received"
    );
    Ok(Received {
        blob,
        blob_size,
        compression: kept,
        diff_id: unpacked.diff_id,
        size: unpacked.unpacked.size,
    })
}

/// What a failed write of the layer's blob `path` was doing.
fn writing_blob(path: &Path) -> String {
    format!("cannot write the layer's blob {}", path.display())
}

/// The size of the chunks of tar that pass from the decompressor to the unpacker.
const CHUNK: usize = 256 << 10;
/// How many chunks may wait for the unpacker.
const CHUNKS_IN_FLIGHT: usize = 8;

/// What the unpacking side of `receive` made of the tar.
struct UnpackedTar {
    diff_id: Digest,
    unpacked: Unpacked,
    /// The compressed blob's digest and size, for `Keep::Compressed`.
    blob: Option<(Digest, u64)>,
}

/// Why the unpacking side failed.
enum TarError {
    Unpack(UnpackError),
    Blob(io::Error),
}

/// The unpacking side of `receive`: the tar hashed (the diff id), compressed into the blob
/// when `encoder` is given, and unpacked into `diff`.
fn unpack_tar(
    chunks: Chunks<'_>,
    mut encoder: Option<Encoder>,
    diff: &Path,
) -> Result<UnpackedTar, TarError> {
    let mut tar = HashingReader::new(Tee {
        inner: chunks,
        copy: encoder.as_mut().map(|e| e as &mut dyn Write),
    });
    let unpacked = unpack_counted(&mut tar, diff, UnpackOptions::for_current_user())
        .map_err(TarError::Unpack)?;
    // The tar's trailing padding counts toward the diff id.
    io::copy(&mut tar, &mut io::sink()).map_err(|e| TarError::Unpack(UnpackError::Archive(e)))?;
    let (diff_id, _) = tar.finish();
    let blob = match encoder {
        Some(encoder) => Some(encoder.finish().map_err(TarError::Blob)?),
        None => None,
    };
    Ok(UnpackedTar {
        diff_id,
        unpacked,
        blob,
    })
}

/// Reads `reader` into `chunk` (emptied first) until it is `CHUNK` bytes long or the reader
/// ends; returns how many bytes it holds.
fn fill(reader: &mut impl Read, chunk: &mut Vec<u8>) -> io::Result<usize> {
    chunk.clear();
    chunk.resize(CHUNK, 0);
    let mut len = 0;
    while len < CHUNK {
        match reader.read(&mut chunk[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    chunk.truncate(len);
    Ok(len)
}

/// The tar as the unpacker reads it: chunks from the decompressing side, each handed back for
/// reuse once read. An error sent is the stream's; the channel's end is the tar's. The time
/// spent waiting for a chunk goes into `waiting`.
struct Chunks<'a> {
    chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
    free: mpsc::Sender<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
    waiting: &'a Spent,
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            let started = Instant::now();
            let next = self.chunks.recv();
            self.waiting.add(started);
            match next {
                Ok(Ok(chunk)) => {
                    let used = std::mem::replace(&mut self.current, chunk);
                    let _ = self.free.send(used);
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(mpsc::RecvError) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A duration in milliseconds, for the timeline's events.
pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// Time spent in one stage of a layer's stream, summed over its calls (from any thread).
#[derive(Default)]
struct Spent(AtomicU64);

impl Spent {
    fn add(&self, since: Instant) {
        self.0
            .fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

/// Counts the time spent in the reads or writes of `inner` into `spent`.
struct Timed<'a, T> {
    inner: T,
    spent: &'a Spent,
}

impl<R: Read> Read for Timed<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let started = Instant::now();
        let n = self.inner.read(buf);
        self.spent.add(started);
        n
    }
}

impl<W: Write> Write for Timed<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let started = Instant::now();
        let n = self.inner.write(buf);
        self.spent.add(started);
        n
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Moves the blob `receive` kept in `work_dir` into `blobs/` (dropped when already there).
pub fn place_blob(store: &Store, work_dir: &Path, received: &Received) -> Result<(), LayerInError> {
    let from = work_dir.join("blob");
    let to = store.blob_path(&received.blob);
    let moved = match to.exists() {
        true => std::fs::remove_file(&from),
        false => std::fs::rename(&from, &to),
    };
    moved
        .with_context(|| writing_blob(&to))
        .map_err(LayerInError::Io)
}

/// A layer received and stored on top of the chain `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLayer {
    /// What was received.
    pub received: Received,
    /// Its chain id on top of the parent.
    pub chain_id: Digest,
}

/// Receives a layer whose diff id may be unknown before it is read (a loaded archive's, an
/// imported or committed tar) into the store, on top of the chain `parent`: `receive_pending`
/// then `Pending::store_on`.
pub fn store_layer(
    store: &Store,
    source: impl Read,
    expected: &Expected<'_>,
    keep: Keep,
    parent: Option<&Digest>,
    max_layer_size: u64,
) -> Result<StoredLayer, LayerInError> {
    receive_pending(store, source, expected, keep, max_layer_size)?.store_on(store, parent)
}

/// A layer received and unpacked in a work directory of its own, not yet in the store: its
/// place (the chain it goes on top of) may be known only later (an archive names its layers'
/// order after their bytes). Dropped, its work directory goes.
pub struct Pending {
    work_dir: std::path::PathBuf,
    received: Received,
    _scratch_lock: crate::store::LayerLock,
}

/// Receives a layer into a work directory of its own (under its own lock, so that a killed
/// berth's is swept by the next pull), checked against `expected`, unpacked but not stored.
pub fn receive_pending(
    store: &Store,
    source: impl Read,
    expected: &Expected<'_>,
    keep: Keep,
    max_layer_size: u64,
) -> Result<Pending, LayerInError> {
    let scratch = scratch_id();
    let scratch_lock = store.lock_layer(&scratch)?;
    let work_dir = store.layer_work_dir(&scratch)?;
    let received = receive(source, expected, keep, &work_dir, max_layer_size);
    let pending = |received| Pending {
        work_dir: work_dir.clone(),
        received,
        _scratch_lock: scratch_lock,
    };
    match received {
        Ok(received) => Ok(pending(received)),
        Err(e) => {
            remove_work_dir(&work_dir);
            Err(e)
        }
    }
}

impl Pending {
    /// What was received.
    pub fn received(&self) -> &Received {
        &self.received
    }

    /// Stores the layer on top of the chain `parent`: its work directory is renamed into place
    /// unless another berth stored the same chain meanwhile, and its blob into `blobs/`.
    pub fn store_on(
        self,
        store: &Store,
        parent: Option<&Digest>,
    ) -> Result<StoredLayer, LayerInError> {
        let received = self.received.clone();
        let chain_id = match parent {
            None => received.diff_id.clone(),
            Some(parent) => chain_ids(&[parent.clone(), received.diff_id.clone()])[1].clone(),
        };
        let _lock = store.lock_layer(&chain_id)?;
        place_blob(store, &self.work_dir, &received)?;
        if store.layer(&chain_id).is_none() {
            store.commit_layer(
                &self.work_dir,
                &chain_id,
                &LayerRecord {
                    diff_id: received.diff_id.clone(),
                    size: received.size,
                },
            )?;
        }
        Ok(StoredLayer { received, chain_id })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        remove_work_dir(&self.work_dir);
    }
}

/// Removes a layer's work directory if it is still there (not renamed into the store).
fn remove_work_dir(work_dir: &Path) {
    if work_dir.exists()
        && let Err(e) = crate::unpack::remove_dir_all(work_dir)
    {
        tracing::warn!(dir = %work_dir.display(), error = %e, "cannot remove a layer's work dir");
    }
}

/// A fresh, unique 64-hex name for a work directory whose chain id is not known yet.
fn scratch_id() -> Digest {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Digest::of(
        format!(
            "berth scratch {} {} {}",
            std::process::id(),
            now.as_nanos(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
        .as_bytes(),
    )
}

/// Reads to the end of `reader`, dropping the bytes.
fn copy_to_end(mut reader: impl Read) -> io::Result<u64> {
    io::copy(&mut reader, &mut io::sink())
}

/// Where the source's (or the kept blob's) own error is kept, so that it is told as itself, not
/// as a broken archive.
#[derive(Default)]
struct SourceFailure(std::cell::Cell<Option<io::Error>>);

impl SourceFailure {
    /// Keeps the first error noted; returns a copy of `error` to pass on.
    fn note(&self, error: io::Error) -> io::Error {
        let told = io::Error::new(error.kind(), error.to_string());
        let previous = self.0.take();
        self.0.set(Some(previous.unwrap_or(error)));
        told
    }

    fn take(&self) -> Option<LayerInError> {
        self.0.take().map(LayerInError::Source)
    }
}

/// Passes reads (or writes) through, recording the first error of the source (or the sink).
struct Recording<'a, R> {
    inner: R,
    failure: &'a SourceFailure,
}

impl<R: Read> Read for Recording<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| self.failure.note(e))
    }
}

impl<W: Write> Write for Recording<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf).map_err(|e| self.failure.note(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| self.failure.note(e))
    }
}

/// Copies what is read through it into `copy`.
struct Tee<'a, R> {
    inner: R,
    copy: Option<&'a mut dyn Write>,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(copy) = self.copy.as_mut() {
            // A write error here is the blob file's: told as an I/O error of the stream.
            copy.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Passes on at most `left` bytes; one more is an error, and `exceeded` tells it was this.
struct Capped<'a> {
    inner: Box<dyn Read + 'a>,
    left: u64,
    exceeded: bool,
}

impl Read for Capped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            self.exceeded = true;
            return Err(io::Error::other("the layer is larger than its limit"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A compressor into the blob file that hashes what it writes.
enum Encoder {
    Gzip(flate2::write::GzEncoder<HashingWriter<BufWriter<File>>>),
    Zstd(zstd::stream::write::Encoder<'static, HashingWriter<BufWriter<File>>>),
}

impl Encoder {
    fn new(to: Compression, file: File) -> io::Result<Encoder> {
        let out = HashingWriter::new(BufWriter::with_capacity(256 << 10, file));
        Ok(match to {
            // Level 1: a layer made here is compressed once, at the speed of the disk; its
            // size is within a few percent of the default level's on file system trees.
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::fast(),
            )),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(out, 3)?),
            Compression::None => unreachable!("a plain tar is kept as it is"),
        })
    }

    fn finish(self) -> io::Result<(Digest, u64)> {
        let out = match self {
            Encoder::Gzip(e) => e.finish()?,
            Encoder::Zstd(e) => e.finish()?,
        };
        let (digest, size, mut file) = out.into_parts();
        file.flush()?;
        Ok((digest, size))
    }
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn work() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("diff")).unwrap();
        dir
    }

    #[test]
    fn media_types_name_their_compression() {
        let of = Compression::of_media_type;
        assert_eq!(
            of("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            of("application/vnd.oci.image.layer.v1.tar+gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(
            of("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(Compression::Zstd)
        );
        assert_eq!(
            of("application/vnd.oci.image.layer.v1.tar"),
            Some(Compression::None)
        );
        assert_eq!(
            of("application/vnd.docker.image.rootfs.diff.tar"),
            Some(Compression::None)
        );
        assert_eq!(of("application/vnd.oci.image.layer.v1.tar+bzip2"), None);
    }

    #[test]
    fn a_compressed_blob_is_kept_as_it_came() {
        let tar = tar_of(&[("a", b"hello")]);
        let blob = gzip(&tar);
        let (digest, diff_id) = (Digest::of(&blob), Digest::of(&tar));
        let dir = work();
        let expected = Expected {
            blob: Some((&digest, blob.len() as u64)),
            diff_id: Some(&diff_id),
            compression: Some(Compression::Gzip),
        };
        let got = receive(&blob[..], &expected, Keep::AsIs, dir.path(), 1 << 20).unwrap();
        assert_eq!(got.blob, digest);
        assert_eq!(got.diff_id, diff_id);
        assert_eq!(got.compression, Compression::Gzip);
        assert_eq!(std::fs::read(dir.path().join("blob")).unwrap(), blob);
        assert_eq!(std::fs::read(dir.path().join("diff/a")).unwrap(), b"hello");
    }

    #[test]
    fn a_plain_tar_is_compressed_once_on_the_way() {
        let tar = tar_of(&[("a", b"hello"), ("b/c", b"world")]);
        let dir = work();
        let got = receive(
            &tar[..],
            &Expected::default(),
            Keep::Compressed(Compression::Gzip),
            dir.path(),
            1 << 20,
        )
        .unwrap();
        let blob = std::fs::read(dir.path().join("blob")).unwrap();
        assert_eq!(got.blob, Digest::of(&blob));
        assert_eq!(got.blob_size, blob.len() as u64);
        assert_eq!(got.compression, Compression::Gzip);
        assert_eq!(got.diff_id, Digest::of(&tar));
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&blob[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, tar, "the kept blob holds the very tar");
    }

    #[test]
    fn a_lie_about_the_stream_is_refused() {
        let tar = tar_of(&[("a", b"hello")]);
        let blob = gzip(&tar);
        let wrong = Digest::of(b"other");
        let right = Digest::of(&blob);
        let cases = [
            Expected {
                blob: Some((&wrong, blob.len() as u64)),
                ..Expected::default()
            },
            Expected {
                blob: Some((&right, blob.len() as u64 + 1)),
                ..Expected::default()
            },
            Expected {
                diff_id: Some(&wrong),
                ..Expected::default()
            },
            Expected {
                compression: Some(Compression::Zstd),
                ..Expected::default()
            },
        ];
        for expected in cases {
            let dir = work();
            let err = receive(&blob[..], &expected, Keep::AsIs, dir.path(), 1 << 20).unwrap_err();
            assert!(
                matches!(
                    err,
                    LayerInError::Invalid(_) | LayerInError::CompressionMismatch { .. }
                ),
                "{err}"
            );
        }
        let dir = work();
        let err = receive(&tar[..], &Expected::default(), Keep::AsIs, dir.path(), 3).unwrap_err();
        assert!(matches!(err, LayerInError::TooLarge(3)), "{err}");
    }

    #[test]
    fn stored_layers_stack_by_chain_and_share() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let bottom = tar_of(&[("a", b"1")]);
        let top = tar_of(&[("b", b"2")]);
        let keep = Keep::Compressed(Compression::Gzip);
        let none = Expected::default();
        let first = store_layer(&store, &bottom[..], &none, keep, None, 1 << 20).unwrap();
        assert_eq!(first.chain_id, Digest::of(&bottom));
        let second = store_layer(
            &store,
            &top[..],
            &none,
            keep,
            Some(&first.chain_id),
            1 << 20,
        )
        .unwrap();
        assert_eq!(
            second.chain_id,
            chain_ids(&[Digest::of(&bottom), Digest::of(&top)])[1]
        );
        assert!(store.layer(&second.chain_id).is_some());
        assert!(store.has_blob(&second.received.blob));
        // The same layer again: shared, and no work left behind.
        let again = store_layer(&store, &bottom[..], &none, keep, None, 1 << 20).unwrap();
        assert_eq!(again.chain_id, first.chain_id);
        let left: Vec<_> = std::fs::read_dir(store.tmp_dir())
            .unwrap()
            .flatten()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
