//! `berth commit` and `berth export`: a container's file system out of it.
//!
//! Commit: the container's upper directory becomes a layer on top of its image's (written by
//! `layer_out` on one thread, stored by `layer_in` on this one, through a bounded channel),
//! and the new image's run config is the container's (its command, environment, working
//! directory, user, stop signal) with the `-c` changes applied. A running container is frozen
//! meanwhile unless told not to, and thawed after even when the commit fails.
//!
//! Export: the merged file system (the upper directory over the image's layers, whiteouts
//! applied in user space, so no mount is made and none can leak) as a plain tar.

use crate::config::EngineConfig;
use crate::containers::{Containers, FindError};
use crate::lifecycle;
use crate::paths::Roots;
use crate::record::Record;
use berth_error::{Context, IoContext};
use berth_image::digest::Digest;
use berth_image::import::{Entry, MakeError, layer_image, stored_layers};
use berth_image::layer_out;
use berth_image::reference::Reference;
use berth_image::store::Store;
use serde_json::{Value, json};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// A commit or an export failed.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// No such container.
    #[error(transparent)]
    Find(#[from] FindError),
    /// Making the image failed.
    #[error(transparent)]
    Make(#[from] MakeError),
    /// Anything else, in words.
    #[error("{0}")]
    Failed(String),
    /// A system call failed.
    #[error(transparent)]
    Io(#[from] IoContext),
}

/// What `berth commit` was asked.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `-a`
    pub author: Option<String>,
    /// `-m`
    pub message: Option<String>,
    /// `-c`
    pub changes: Vec<String>,
    /// `-p` (Docker's default: true).
    pub pause: bool,
    /// `REPO[:TAG]`
    pub tag: Option<Reference>,
}

/// Commits the container `name` as a new image; returns its id.
pub fn commit(
    roots: &Roots,
    config: &EngineConfig,
    name: &str,
    options: &CommitOptions,
) -> Result<Digest, CommitError> {
    let containers = Containers::new(&roots.root);
    let record = containers.find(name)?;
    let store = Store::open(&roots.root)?;
    let image_id = Digest::parse(&record.image_id)
        .map_err(|e| CommitError::Failed(format!("the container's image id is malformed: {e}")))?;
    let parent = stored_layers(&store, &image_id)?;
    let mut image: Value = store
        .read_blob(&image_id)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            CommitError::Failed(format!(
                "the config of image {} is missing or unreadable",
                image_id.short()
            ))
        })?;
    let dir = containers.dir(&record.id);
    let spec: Value = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut run_config = container_config(&record, &spec, &image["config"]);
    berth_image::changes::apply(&mut run_config, &options.changes)
        .map_err(|e| CommitError::Make(MakeError::Change(e)))?;
    image["config"] = run_config;
    for stale in ["container", "container_config", "author", "comment"] {
        if let Some(fields) = image.as_object_mut() {
            fields.remove(stale);
        }
    }
    let _frozen = match options.pause && record.is_running() && !record.paused {
        true => Some(Frozen::new(&containers, &record)?),
        false => None,
    };
    let created = crate::time::now();
    let entry = Entry {
        created: &created,
        author: options.author.as_deref(),
        comment: options.message.as_deref(),
    };
    let tags: Vec<Reference> = options.tag.iter().cloned().collect();
    let upper = dir.join("upper");
    let made = config.made_layers();
    through_channel(
        |out| layer_out::write_layer(&upper, out).map(drop),
        |tar| layer_image(&store, tar, &parent, image, &entry, &tags, made),
    )
}

/// Writes the merged file system of the container `name` as a tar into `out`.
pub fn export(roots: &Roots, name: &str, out: impl Write) -> Result<(), CommitError> {
    let containers = Containers::new(&roots.root);
    let record = containers.find(name)?;
    let layers = stack(&containers, &record);
    let layers: Vec<&Path> = layers.iter().map(PathBuf::as_path).collect();
    let mut out = layer_out::write_merged(&layers, out).context("write the archive")?;
    Ok(out.flush().context("write the archive")?)
}

/// The container's layer directories, topmost (its upper directory) first.
pub fn stack(containers: &Containers, record: &Record) -> Vec<PathBuf> {
    std::iter::once(containers.dir(&record.id).join("upper"))
        .chain(record.layers.iter().map(PathBuf::from))
        .collect()
}

/// The run config of the container, as Docker's commit starts from it: the image's, with the
/// container's command, environment and working directory (from its runtime spec).
fn container_config(record: &Record, spec: &Value, image: &Value) -> Value {
    let mut config = match image {
        Value::Object(_) => image.clone(),
        _ => json!({}),
    };
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let entrypoint = strings(&image["Entrypoint"]);
    let args = &record.command;
    if !args.is_empty() {
        // The spec's arguments are the entrypoint and the command in one list.
        let (entrypoint, cmd) = if !entrypoint.is_empty() && args.starts_with(&entrypoint) {
            (json!(entrypoint), args[entrypoint.len()..].to_vec())
        } else if !entrypoint.is_empty() {
            (json!([args[0]]), args[1..].to_vec())
        } else {
            (Value::Null, args.clone())
        };
        config["Entrypoint"] = entrypoint;
        config["Cmd"] = if cmd.is_empty() {
            Value::Null
        } else {
            json!(cmd)
        };
    }
    let image_env = strings(&image["Env"]);
    let added_by_berth = |entry: &str| {
        let key = entry.split('=').next().unwrap_or("");
        // HOSTNAME is the container's own; HOME and TERM are filled in at run time.
        key == "HOSTNAME"
            || (["HOME", "TERM"].contains(&key)
                && !image_env.iter().any(|e| e.starts_with(&format!("{key}="))))
    };
    let env: Vec<String> = strings(&spec["process"]["env"])
        .into_iter()
        .filter(|e| !added_by_berth(e))
        .collect();
    if !env.is_empty() {
        config["Env"] = json!(env);
    }
    if let Some(cwd) = spec["process"]["cwd"].as_str() {
        let image_dir = image["WorkingDir"].as_str().unwrap_or("");
        if !(cwd == "/" && image_dir.is_empty()) {
            config["WorkingDir"] = json!(cwd);
        }
    }
    if !record.stop_signal.is_empty() && record.stop_signal != "SIGTERM" {
        config["StopSignal"] = json!(record.stop_signal);
    }
    config
}

/// A container frozen for a commit, thawed when dropped.
struct Frozen<'a> {
    containers: &'a Containers,
    id: String,
}

impl<'a> Frozen<'a> {
    fn new(containers: &'a Containers, record: &Record) -> Result<Frozen<'a>, CommitError> {
        lifecycle::set_paused(containers, &record.id, true)
            .map_err(|e| CommitError::Failed(format!("pause the container: {e}")))?;
        Ok(Frozen {
            containers,
            id: record.id.clone(),
        })
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        if let Err(e) = lifecycle::set_paused(self.containers, &self.id, false) {
            tracing::warn!(container = %self.id, error = %e, "cannot unpause after the commit");
        }
    }
}

/// Runs `write` on a thread of its own into a bounded channel that `read` reads on this one:
/// the tar never is in memory or on disk whole. A failure of the writer is told as itself.
fn through_channel<T>(
    write: impl FnOnce(&mut ChunkWriter) -> io::Result<()> + Send,
    read: impl FnOnce(ChunkReader) -> Result<T, MakeError>,
) -> Result<T, CommitError> {
    let (sender, receiver) = sync_channel(8);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            let mut out = ChunkWriter {
                sender,
                buffer: Vec::with_capacity(CHUNK),
            };
            let result = write(&mut out).and_then(|()| out.flush());
            if let Err(e) = &result {
                // The reader fails on this rather than taking a cut tar for a whole one.
                let _ = out
                    .sender
                    .send(Err(io::Error::new(e.kind(), e.to_string())));
            }
            result
        });
        let read_result = read(ChunkReader {
            receiver,
            chunk: Vec::new(),
            at: 0,
        });
        let write_result = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writer of the layer panicked")));
        match (write_result, read_result) {
            // The store stopped reading (a full disk, say): its error is the cause.
            (Err(e), Err(read)) if e.kind() == io::ErrorKind::BrokenPipe => {
                Err(CommitError::from(read))
            }
            (Err(e), _) => Err(CommitError::Failed(format!(
                "read the container's file system: {e}"
            ))),
            (Ok(()), result) => result.map_err(CommitError::from),
        }
    })
}

const CHUNK: usize = 256 << 10;

/// The writing end: chunks of up to `CHUNK` bytes.
struct ChunkWriter {
    sender: SyncSender<io::Result<Vec<u8>>>,
    buffer: Vec<u8>,
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.buffer.len());
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == CHUNK {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.sender
            .send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the layer store stopped"))
    }
}

/// The reading end.
struct ChunkReader {
    receiver: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.receiver.recv() {
                Ok(chunk) => {
                    self.chunk = chunk?;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_splits_into_the_images_entrypoint_and_the_rest() {
        let image = json!({"Entrypoint": ["/init"], "Cmd": ["serve"], "Env": ["PATH=/bin"]});
        let record = Record {
            command: vec!["/init".into(), "run".into(), "fast".into()],
            stop_signal: "SIGTERM".into(),
            ..Record::default()
        };
        let spec = json!({"process": {"env": ["PATH=/bin", "HOSTNAME=abc", "A=1", "HOME=/root"], "cwd": "/"}});
        let c = container_config(&record, &spec, &image);
        assert_eq!(c["Entrypoint"], json!(["/init"]));
        assert_eq!(c["Cmd"], json!(["run", "fast"]));
        assert_eq!(c["Env"], json!(["PATH=/bin", "A=1"]));
        assert!(c.get("WorkingDir").is_none());
        let plain = Record {
            command: vec!["sh".into(), "-c".into(), "true".into()],
            ..Record::default()
        };
        let c = container_config(&plain, &json!({}), &json!({"Cmd": ["sh"]}));
        assert_eq!(
            (c["Entrypoint"].clone(), c["Cmd"].clone()),
            (Value::Null, json!(["sh", "-c", "true"]))
        );
    }

    #[test]
    fn the_channel_carries_every_byte_and_a_writers_failure() {
        let data: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| i as u8).collect();
        let got = through_channel(
            |out| out.write_all(&data),
            |mut tar| {
                let mut all = Vec::new();
                tar.read_to_end(&mut all).unwrap();
                Ok(all)
            },
        )
        .unwrap();
        assert_eq!(got, data);
        let failed = through_channel(
            |out| {
                out.write_all(&data[..CHUNK + 1])?;
                Err(io::Error::other("disk gone"))
            },
            |mut tar| {
                let mut all = Vec::new();
                assert!(tar.read_to_end(&mut all).is_err());
                Ok(())
            },
        );
        assert!(matches!(failed, Err(CommitError::Failed(m)) if m.contains("disk gone")));
    }
}
