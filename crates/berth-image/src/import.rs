//! `import`: a tar (plain or compressed) becomes an image of one layer, as `docker import`
//! makes it; and what `commit` shares with it: a layer stored on top of a chain, then an
//! image recorded with a new history entry.

use crate::digest::Digest;
use crate::layer_in::{
    Compression, Expected, LayerInError, MadeLayers, Received, StoredLayer, store_layer,
};
use crate::local::LocalError;
use crate::manifest::Platform;
use crate::new_image::{ManifestFormat, record_image};
use crate::reference::Reference;
use crate::store::Store;
use serde_json::{Value, json};
use std::io::Read;

/// Making an image failed.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// A `-c` change is not valid.
    #[error("{0}")]
    Change(String),
    /// The layer could not be read or stored.
    #[error("{0}")]
    Layer(#[from] LayerInError),
    /// The image could not be recorded.
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// What a new image's history entry and top-level fields say.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    /// When (RFC 3339).
    pub created: &'a str,
    /// `-a`: the author.
    pub author: Option<&'a str>,
    /// `-m`: the comment.
    pub comment: Option<&'a str>,
}

/// Stores the tar `source` as a layer on top of the layers `parent` (compressed once as `made`
/// says, so that it can be pushed), then records an image of `config` (an image config whose
/// `rootfs.diff_ids` are the parent's) with that layer and a history entry added, tagged
/// `tags`. Returns the image id.
pub fn layer_image(
    store: &Store,
    source: impl Read,
    parent: &[StoredLayer],
    mut config: Value,
    entry: &Entry<'_>,
    tags: &[Reference],
    made: MadeLayers,
) -> Result<Digest, MakeError> {
    let layer = store_layer(
        store,
        source,
        &Expected::default(),
        made.keep(),
        parent.last().map(|l| &l.chain_id),
        made.max_size,
    )?;
    let mut layers = parent.to_vec();
    layers.push(layer.clone());
    config["created"] = json!(entry.created);
    let mut history = json!({ "created": entry.created });
    if let Some(author) = entry.author.filter(|a| !a.is_empty()) {
        config["author"] = json!(author);
        history["author"] = json!(author);
    }
    if let Some(comment) = entry.comment.filter(|c| !c.is_empty()) {
        config["comment"] = json!(comment);
        history["comment"] = json!(comment);
    }
    push(
        &mut config["rootfs"]["diff_ids"],
        json!(layer.received.diff_id.to_string()),
    );
    config["rootfs"]["type"] = json!("layers");
    push(&mut config["history"], history);
    let bytes = serde_json::to_vec(&config).expect("a config serialises");
    Ok(record_image(
        store,
        &bytes,
        &layers,
        ManifestFormat::Docker,
        tags,
    )?)
}

/// The layers of the image `id` as `record_image` takes them: blob, media type and size from
/// its manifest, diff id and size from the stored layer.
pub fn stored_layers(store: &Store, id: &Digest) -> Result<Vec<StoredLayer>, MakeError> {
    let images = store.images().map_err(LocalError::from)?;
    let record = images
        .images
        .get(id)
        .ok_or_else(|| LocalError::NoSuchImage(id.to_string()))?;
    let manifest = store
        .read_blob(&record.manifest)
        .map_err(LocalError::from)?;
    let broken = |why: &str| {
        MakeError::Layer(LayerInError::Invalid(format!(
            "the manifest of image {}: {why}",
            id.short()
        )))
    };
    let manifest: Value = serde_json::from_slice(&manifest).map_err(|_| broken("not JSON"))?;
    let blobs = manifest["layers"].as_array().cloned().unwrap_or_default();
    if blobs.len() != record.layers.len() {
        return Err(broken("its layers are not the image's"));
    }
    blobs
        .iter()
        .zip(&record.layers)
        .map(|(blob, chain_id)| {
            let layer = store
                .layer(chain_id)
                .ok_or_else(|| broken("a layer is missing from the store"))?;
            Ok(StoredLayer {
                received: Received {
                    blob: Digest::parse(blob["digest"].as_str().unwrap_or(""))
                        .map_err(|_| broken("a layer digest is malformed"))?,
                    blob_size: blob["size"].as_u64().unwrap_or(0),
                    compression: Compression::of_media_type(
                        blob["mediaType"].as_str().unwrap_or(""),
                    )
                    .ok_or_else(|| broken("a layer media type is unknown"))?,
                    diff_id: layer.diff_id,
                    size: layer.size,
                },
                chain_id: chain_id.clone(),
            })
        })
        .collect()
}

/// The body of an http(s) GET of `url` (redirects followed), for `import URL`.
pub fn fetch(url: &str) -> Result<impl Read + use<>, ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(std::time::Duration::from_secs(15)))
        .timeout_per_read(Some(std::time::Duration::from_secs(60)))
        .build()
        .into();
    Ok(agent.get(url).call()?.into_body().into_reader())
}

/// Appends `item` to the array `list` (made when missing).
fn push(list: &mut Value, item: Value) {
    if !list.is_array() {
        *list = json!([]);
    }
    list.as_array_mut().expect("an array").push(item);
}

/// Imports the tar `source` as a one-layer image: its run config made by `changes`, its
/// platform `platform` (the host's when `None`), its history comment `message` (Docker's
/// `Imported from SOURCE` when `None`).
#[allow(clippy::too_many_arguments)]
pub fn import(
    store: &Store,
    source: impl Read,
    changes: &[String],
    message: Option<&str>,
    default_message: &str,
    platform: Option<&Platform>,
    created: &str,
    tags: &[Reference],
    made: MadeLayers,
) -> Result<Digest, MakeError> {
    let mut run_config = json!({});
    crate::changes::apply(&mut run_config, changes).map_err(MakeError::Change)?;
    let platform = platform.cloned().unwrap_or_else(Platform::host);
    let mut config = json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "config": run_config,
        "rootfs": { "type": "layers", "diff_ids": [] },
    });
    if !platform.variant.is_empty() {
        config["variant"] = json!(platform.variant);
    }
    let entry = Entry {
        created,
        author: None,
        comment: Some(message.unwrap_or(default_message)),
    };
    layer_image(store, source, &[], config, &entry, tags, made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_imported_tar_is_a_one_layer_image_with_its_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o644);
        builder.append_data(&mut header, "hi", &b"hi"[..]).unwrap();
        let tar = builder.into_inner().unwrap();
        let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gzipped, &tar).unwrap();
        let tag = Reference::parse("imported:1").unwrap();
        let id = import(
            &store,
            &gzipped.finish().unwrap()[..],
            &[r#"CMD ["/hi"]"#.to_owned()],
            None,
            "Imported from -",
            None,
            "2024-01-02T03:04:05Z",
            std::slice::from_ref(&tag),
            MadeLayers {
                max_size: 1 << 20,
                compression: Compression::Gzip,
            },
        )
        .unwrap();
        let config: Value = serde_json::from_slice(&store.read_blob(&id).unwrap()).unwrap();
        assert_eq!(config["config"]["Cmd"], json!(["/hi"]));
        assert_eq!(
            config["rootfs"]["diff_ids"],
            json!([Digest::of(&tar).to_string()])
        );
        assert_eq!(
            config["history"],
            json!([{"created": "2024-01-02T03:04:05Z", "comment": "Imported from -"}])
        );
        assert_eq!(store.images().unwrap().tags[&tag.to_string()], id);
        let bad = import(
            &store,
            &tar[..],
            &["RUN x".into()],
            None,
            "",
            None,
            "",
            &[],
            MadeLayers {
                max_size: 1 << 20,
                compression: Compression::Gzip,
            },
        );
        assert!(matches!(bad, Err(MakeError::Change(_))));
    }

    #[test]
    fn a_plain_tar_is_stored_zstd_compressed_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o644);
        builder.append_data(&mut header, "hi", &b"hi"[..]).unwrap();
        let tar = builder.into_inner().unwrap();
        let made = MadeLayers {
            max_size: 1 << 20,
            compression: Compression::Zstd,
        };
        let id = import(&store, &tar[..], &[], None, "", None, "", &[], made).unwrap();
        let record = &store.images().unwrap().images[&id];
        let manifest: Value =
            serde_json::from_slice(&store.read_blob(&record.manifest).unwrap()).unwrap();
        // zstd has no Docker media type: the manifest is OCI's.
        assert_eq!(manifest["mediaType"], crate::new_image::OCI_MANIFEST);
        assert_eq!(
            manifest["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        let blob = Digest::parse(manifest["layers"][0]["digest"].as_str().unwrap()).unwrap();
        let bytes = std::fs::read(store.blob_path(&blob)).unwrap();
        assert_eq!(Compression::of_magic(&bytes), Compression::Zstd);
        let mut unpacked = Vec::new();
        std::io::Read::read_to_end(
            &mut zstd::stream::read::Decoder::new(&bytes[..]).unwrap(),
            &mut unpacked,
        )
        .unwrap();
        assert_eq!(unpacked, tar);
    }
}
