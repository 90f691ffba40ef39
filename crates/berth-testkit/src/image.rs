//! Images built from trees described in code.
//!
//! A [`Layer`] is a list of entries (files, directories, links, devices, whiteouts, opaque
//! directories, and raw entries with any name for hostile archives). An [`ImageSpec`] stacks
//! layers under a config and becomes a [`BuiltImage`]: the exact bytes of every blob and of
//! the manifest, as Docker v2 schema 2 or OCI, with gzip, zstd or plain layers. Several images
//! make a multi-platform [`BuiltIndex`].

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;

/// The mtime every entry gets unless its layer says otherwise: 2023-11-14T22:13:20Z.
pub const DEFAULT_MTIME: u64 = 1_700_000_000;

/// One entry of a layer. Each variant's fields are the tar header's fields of that name
/// (`path`, `mode`, `uid`, `gid`, `major`, `minor`, the link `target`), as its doc says.
#[derive(Clone, Debug)]
#[allow(
    missing_docs,
    reason = "the fields are tar's own, named by each variant's doc"
)]
pub enum Entry {
    /// A directory.
    Dir {
        path: String,
        mode: u32,
        uid: u64,
        gid: u64,
    },
    /// A regular file, with extended attributes (`security.capability`, `user.*`).
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
        uid: u64,
        gid: u64,
        xattrs: Vec<(String, Vec<u8>)>,
    },
    /// A symbolic link to `target`.
    Symlink { path: String, target: String },
    /// A hard link to `target`, a path earlier in the same layer.
    Hardlink { path: String, target: String },
    /// A character device.
    CharDevice {
        path: String,
        major: u32,
        minor: u32,
        mode: u32,
    },
    /// A block device.
    BlockDevice {
        path: String,
        major: u32,
        minor: u32,
        mode: u32,
    },
    /// A named pipe.
    Fifo { path: String, mode: u32 },
    /// Deletes `path` of the layers below: an empty file `.wh.<name>` beside it.
    Whiteout { path: String },
    /// Hides everything the layers below have in directory `dir`: `<dir>/.wh..wh..opq`.
    Opaque { dir: String },
    /// PAX extended-header records (`SCHILY.xattr.trusted.overlay.redirect`, ...) that apply
    /// to the entry after it.
    Pax { records: Vec<(String, Vec<u8>)> },
    /// A GNU sparse file (tar type `S`) of `real_size` bytes, all holes but `data` at its end:
    /// a few bytes in the archive that a tar reader expands to `real_size`.
    Sparse {
        path: String,
        real_size: u64,
        data: Vec<u8>,
    },
    /// This header as it is (its checksum set), then `data`: for corrupt headers.
    Header {
        header: Box<tar::Header>,
        data: Vec<u8>,
    },
    /// An entry written with exactly these name bytes and type, unchecked: for hostile
    /// archives (`../x`, `/abs`, links that point out).
    Raw {
        name: Vec<u8>,
        kind: tar::EntryType,
        link: Vec<u8>,
        data: Vec<u8>,
    },
}

/// A layer: entries in archive order.
#[derive(Clone, Debug, Default)]
pub struct Layer {
    /// The entries, written in this order.
    pub entries: Vec<Entry>,
}

impl Layer {
    /// An empty layer.
    pub fn new() -> Layer {
        Layer::default()
    }

    /// Adds a directory owned by root.
    pub fn dir(mut self, path: &str, mode: u32) -> Layer {
        self.entries.push(Entry::Dir {
            path: path.into(),
            mode,
            uid: 0,
            gid: 0,
        });
        self
    }

    /// Adds a file owned by root.
    pub fn file(mut self, path: &str, data: &[u8], mode: u32) -> Layer {
        self.entries.push(Entry::File {
            path: path.into(),
            data: data.to_vec(),
            mode,
            uid: 0,
            gid: 0,
            xattrs: Vec::new(),
        });
        self
    }

    /// Adds any entry.
    pub fn entry(mut self, entry: Entry) -> Layer {
        self.entries.push(entry);
        self
    }

    /// Adds a symbolic link.
    pub fn symlink(mut self, path: &str, target: &str) -> Layer {
        self.entries.push(Entry::Symlink {
            path: path.into(),
            target: target.into(),
        });
        self
    }

    /// Adds a hard link.
    pub fn hardlink(mut self, path: &str, target: &str) -> Layer {
        self.entries.push(Entry::Hardlink {
            path: path.into(),
            target: target.into(),
        });
        self
    }

    /// Adds a whiteout for `path`.
    pub fn whiteout(mut self, path: &str) -> Layer {
        self.entries.push(Entry::Whiteout { path: path.into() });
        self
    }

    /// Makes `dir` opaque.
    pub fn opaque(mut self, dir: &str) -> Layer {
        self.entries.push(Entry::Opaque { dir: dir.into() });
        self
    }

    /// The uncompressed tar archive.
    pub fn tar(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in &self.entries {
            append(&mut builder, entry).expect("writing a tar into memory cannot fail");
        }
        builder
            .into_inner()
            .expect("writing a tar into memory cannot fail")
    }
}

fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_uid(uid);
    header.set_gid(gid);
    header.set_size(size);
    header.set_mtime(DEFAULT_MTIME);
    header
}

fn append(builder: &mut tar::Builder<Vec<u8>>, entry: &Entry) -> std::io::Result<()> {
    use tar::EntryType as T;
    match entry {
        Entry::Dir {
            path,
            mode,
            uid,
            gid,
        } => {
            let mut h = header(T::Directory, *mode, *uid, *gid, 0);
            builder.append_data(&mut h, path, std::io::empty())
        }
        Entry::File {
            path,
            data,
            mode,
            uid,
            gid,
            xattrs,
        } => {
            if !xattrs.is_empty() {
                let pax: Vec<(String, &[u8])> = xattrs
                    .iter()
                    .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                    .collect();
                builder.append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), *v)))?;
            }
            let mut h = header(T::Regular, *mode, *uid, *gid, data.len() as u64);
            builder.append_data(&mut h, path, data.as_slice())
        }
        Entry::Symlink { path, target } => {
            let mut h = header(T::Symlink, 0o777, 0, 0, 0);
            builder.append_link(&mut h, path, target)
        }
        Entry::Hardlink { path, target } => {
            let mut h = header(T::Link, 0o644, 0, 0, 0);
            builder.append_link(&mut h, path, target)
        }
        Entry::CharDevice {
            path,
            major,
            minor,
            mode,
        }
        | Entry::BlockDevice {
            path,
            major,
            minor,
            mode,
        } => {
            let kind = if matches!(entry, Entry::CharDevice { .. }) {
                T::Char
            } else {
                T::Block
            };
            let mut h = header(kind, *mode, 0, 0, 0);
            h.set_device_major(*major)?;
            h.set_device_minor(*minor)?;
            builder.append_data(&mut h, path, std::io::empty())
        }
        Entry::Fifo { path, mode } => {
            let mut h = header(T::Fifo, *mode, 0, 0, 0);
            builder.append_data(&mut h, path, std::io::empty())
        }
        Entry::Whiteout { path } => {
            let (dir, name) = path
                .rsplit_once('/')
                .map_or(("", path.as_str()), |(d, n)| (d, n));
            let marker = if dir.is_empty() {
                format!(".wh.{name}")
            } else {
                format!("{dir}/.wh.{name}")
            };
            let mut h = header(T::Regular, 0o644, 0, 0, 0);
            builder.append_data(&mut h, marker, std::io::empty())
        }
        Entry::Opaque { dir } => {
            let mut h = header(T::Regular, 0o644, 0, 0, 0);
            builder.append_data(&mut h, format!("{dir}/.wh..wh..opq"), std::io::empty())
        }
        Entry::Pax { records } => {
            builder.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
        }
        Entry::Sparse {
            path,
            real_size,
            data,
        } => {
            let mut h = header(T::GNUSparse, 0o644, 0, 0, data.len() as u64);
            let gnu = h.as_gnu_mut().expect("a GNU header");
            gnu.set_real_size(*real_size);
            gnu.sparse[0].set_offset(real_size - data.len() as u64);
            gnu.sparse[0].set_length(data.len() as u64);
            builder.append_data(&mut h, path, data.as_slice())
        }
        Entry::Header { header, data } => {
            let mut h = (**header).clone();
            h.set_cksum();
            builder.append(&h, data.as_slice())
        }
        Entry::Raw {
            name,
            kind,
            link,
            data,
        } => {
            let mut h = header(*kind, 0o644, 0, 0, data.len() as u64);
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name);
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link);
            h.set_cksum();
            builder.append(&h, data.as_slice())
        }
    }
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `tar+gzip`
    Gzip,
    /// `tar+zstd`
    Zstd,
    /// plain `tar`
    None,
}

/// Which manifest schema an image uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Docker image manifest v2, schema 2.
    Docker,
    /// OCI image manifest.
    Oci,
}

/// A blob with its media type and digest, exactly as pushed.
#[derive(Clone, Debug)]
pub struct Blob {
    /// The media type a manifest gives it.
    pub media_type: String,
    /// `sha256:<hex>`
    pub digest: String,
    /// The bytes.
    pub data: Vec<u8>,
}

impl Blob {
    /// A blob of these bytes.
    pub fn new(media_type: &str, data: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.into(),
            digest: sha256_digest(&data),
            data,
        }
    }

    fn descriptor(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.data.len() })
    }
}

/// `sha256:<hex>` of these bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// An image to build: layers, a config, and how to encode them.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// Layers, bottom first.
    pub layers: Vec<Layer>,
    /// The `config` part of the image config: Env, Cmd, Entrypoint, WorkingDir, User, ...
    pub config: Value,
    /// `architecture`
    pub architecture: String,
    /// `os`
    pub os: String,
    /// `variant`, e.g. `v8`
    pub variant: Option<String>,
    /// Layer compression.
    pub compression: Compression,
    /// Manifest schema.
    pub format: Format,
}

impl ImageSpec {
    /// An image of these layers for linux/amd64, gzip, Docker v2 schema 2, with `Cmd` as config.
    pub fn new(layers: Vec<Layer>, cmd: &[&str]) -> ImageSpec {
        ImageSpec {
            layers,
            config: json!({ "Cmd": cmd, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] }),
            architecture: host_architecture().into(),
            os: "linux".into(),
            variant: None,
            compression: Compression::Gzip,
            format: Format::Docker,
        }
    }

    /// The same image with another layer compression.
    pub fn compression(mut self, compression: Compression) -> ImageSpec {
        self.compression = compression;
        self
    }

    /// The same image with another manifest schema.
    pub fn format(mut self, format: Format) -> ImageSpec {
        self.format = format;
        self
    }

    /// The same image for another platform.
    pub fn platform(mut self, architecture: &str, variant: Option<&str>) -> ImageSpec {
        self.architecture = architecture.into();
        self.variant = variant.map(str::to_owned);
        self
    }

    /// Encodes every blob and the manifest.
    pub fn build(&self) -> BuiltImage {
        let oci = self.format == Format::Oci;
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in &self.layers {
            let tar = layer.tar();
            diff_ids.push(sha256_digest(&tar));
            let (data, media_type) = match (self.compression, oci) {
                (Compression::Gzip, false) => (
                    gzip(&tar),
                    "application/vnd.docker.image.rootfs.diff.tar.gzip",
                ),
                (Compression::Gzip, true) => {
                    (gzip(&tar), "application/vnd.oci.image.layer.v1.tar+gzip")
                }
                (Compression::Zstd, false) => (
                    zstd(&tar),
                    "application/vnd.docker.image.rootfs.diff.tar.zstd",
                ),
                (Compression::Zstd, true) => {
                    (zstd(&tar), "application/vnd.oci.image.layer.v1.tar+zstd")
                }
                (Compression::None, false) => (tar, "application/vnd.docker.image.rootfs.diff.tar"),
                (Compression::None, true) => (tar, "application/vnd.oci.image.layer.v1.tar"),
            };
            layers.push(Blob::new(media_type, data));
        }
        let mut config = json!({
            "architecture": self.architecture,
            "os": self.os,
            "created": "2023-11-14T22:13:20Z",
            "config": self.config,
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": self.layers.iter().map(|_| json!({ "created": "2023-11-14T22:13:20Z", "created_by": "berth-testkit" })).collect::<Vec<_>>(),
        });
        if let Some(variant) = &self.variant {
            config["variant"] = json!(variant);
        }
        let config_type = if oci {
            "application/vnd.oci.image.config.v1+json"
        } else {
            "application/vnd.docker.container.image.v1+json"
        };
        let config = Blob::new(config_type, serde_json::to_vec(&config).expect("json"));
        let manifest = manifest_blob(&config, &layers);
        BuiltImage {
            layers,
            config,
            manifest,
            diff_ids,
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone(),
        }
    }
}

/// The manifest for this config and these layers, in the schema the config's media type says.
fn manifest_blob(config: &Blob, layers: &[Blob]) -> Blob {
    let manifest_type = if config.media_type.starts_with("application/vnd.oci") {
        "application/vnd.oci.image.manifest.v1+json"
    } else {
        "application/vnd.docker.distribution.manifest.v2+json"
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config.descriptor(),
        "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
    });
    Blob::new(
        manifest_type,
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
}

impl BuiltImage {
    /// The same layers under another config blob (e.g. a malformed one), with a new manifest.
    pub fn with_config_bytes(mut self, data: Vec<u8>) -> BuiltImage {
        self.config = Blob::new(&self.config.media_type, data);
        self.manifest = manifest_blob(&self.config, &self.layers);
        self
    }
}

/// An image's exact bytes.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    /// Layer blobs, bottom first, compressed as pushed.
    pub layers: Vec<Blob>,
    /// The config blob.
    pub config: Blob,
    /// The manifest.
    pub manifest: Blob,
    /// The digests of the uncompressed layers.
    pub diff_ids: Vec<String>,
    /// `architecture` of the config.
    pub architecture: String,
    /// `os` of the config.
    pub os: String,
    /// `variant` of the config.
    pub variant: Option<String>,
}

/// A multi-platform index (Docker manifest list or OCI index) and its images.
#[derive(Clone, Debug)]
pub struct BuiltIndex {
    /// The images, each with its own manifest.
    pub images: Vec<BuiltImage>,
    /// The index itself.
    pub index: Blob,
}

/// Makes an index of these images, in the format of `format`.
pub fn index(images: Vec<BuiltImage>, format: Format) -> BuiltIndex {
    let media_type = match format {
        Format::Docker => "application/vnd.docker.distribution.manifest.list.v2+json",
        Format::Oci => "application/vnd.oci.image.index.v1+json",
    };
    let manifests: Vec<Value> = images
        .iter()
        .map(|image| {
            let mut platform = json!({ "architecture": image.architecture, "os": image.os });
            if let Some(variant) = &image.variant {
                platform["variant"] = json!(variant);
            }
            let mut descriptor = image.manifest.descriptor();
            descriptor["platform"] = platform;
            descriptor
        })
        .collect();
    let index = json!({ "schemaVersion": 2, "mediaType": media_type, "manifests": manifests });
    BuiltIndex {
        images,
        index: Blob::new(media_type, serde_json::to_vec_pretty(&index).expect("json")),
    }
}

/// The OCI name of the architecture these tests run on.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// gzip-compresses `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("in memory");
    encoder.finish().expect("in memory")
}

/// zstd-compresses `data`.
pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("in memory")
}
