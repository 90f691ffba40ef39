//! An image berth made (load, import, commit, build) into the store: its config and a manifest
//! written as blobs, then the image recorded and tagged, as a pull records one.

use crate::digest::Digest;
use crate::layer_in::{Compression, StoredLayer};
use crate::local::LocalError;
use crate::reference::Reference;
use crate::store::{ImageRecord, Store};
use berth_error::IoContext;
use serde_json::json;
use std::io;

/// Docker's image manifest media type (schema 2).
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's image config media type.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// The manifest flavour an image gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// Docker's schema 2 (what `docker commit` and `docker load` make), unless a layer is zstd,
    /// which only OCI can name.
    Docker,
    /// OCI's.
    Oci,
}

/// The manifest of `layers` over the config `config` (its bytes), and its media type.
pub fn manifest_for(
    config: &[u8],
    layers: &[StoredLayer],
    format: ManifestFormat,
) -> (Vec<u8>, &'static str) {
    let docker = format == ManifestFormat::Docker
        && layers
            .iter()
            .all(|l| l.received.compression.docker_media_type().is_some());
    let layer_type = |c: Compression| match docker {
        true => c.docker_media_type().expect("checked"),
        false => c.oci_media_type(),
    };
    let (manifest_type, config_type) = match docker {
        true => (DOCKER_MANIFEST, DOCKER_CONFIG),
        false => (OCI_MANIFEST, OCI_CONFIG),
    };
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {
            "mediaType": config_type,
            "digest": Digest::of(config).to_string(),
            "size": config.len(),
        },
        "layers": layers.iter().map(|l| json!({
            "mediaType": layer_type(l.received.compression),
            "digest": l.received.blob.to_string(),
            "size": l.received.blob_size,
        })).collect::<Vec<_>>(),
    });
    (
        serde_json::to_vec_pretty(&manifest).expect("a manifest serialises"),
        manifest_type,
    )
}

/// Records an image of `layers` (bottom first, each already stored by `layer_in::store_layer`)
/// with the config `config` (its JSON bytes, whose `rootfs.diff_ids` must name the layers), and
/// points each of `tags` at it (an image they pointed at before keeps its other names, or
/// becomes dangling, as with Docker). Returns the image id.
pub fn record_image(
    store: &Store,
    config: &[u8],
    layers: &[StoredLayer],
    format: ManifestFormat,
    tags: &[Reference],
) -> Result<Digest, LocalError> {
    check_diff_ids(config, layers)?;
    let (manifest, _) = manifest_for(config, layers, format);
    let id = store.write_blob(config)?;
    let manifest_digest = store.write_blob(&manifest)?;
    let size = layers.iter().map(|l| l.received.size).sum();
    let chains: Vec<Digest> = layers.iter().map(|l| l.chain_id.clone()).collect();
    store.update_images(|images| {
        // A concurrent `rmi` may have collected a layer meanwhile.
        if let Some(missing) = layers
            .iter()
            .find(|l| store.layer(&l.chain_id).is_none() || !store.has_blob(&l.received.blob))
        {
            return Err(LocalError::Io(IoContext::new(
                crate::store::at(&store.layer_dir(&missing.chain_id)),
                io::Error::other("removed by another berth command meanwhile; try again"),
            )));
        }
        images
            .images
            .entry(id.clone())
            .or_insert_with(|| ImageRecord {
                manifest: manifest_digest.clone(),
                repo_digests: Vec::new(),
                layers: chains,
                size,
            });
        for tag in tags {
            images.tags.insert(tag.to_string(), id.clone());
        }
        Ok(())
    })??;
    Ok(id)
}

/// Refuses a config whose diff ids are not the layers'.
fn check_diff_ids(config: &[u8], layers: &[StoredLayer]) -> Result<(), LocalError> {
    let invalid = |why: String| {
        LocalError::Io(IoContext::new(
            "image store: config",
            io::Error::new(io::ErrorKind::InvalidData, why),
        ))
    };
    let parsed: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| invalid(format!("malformed config: {e}")))?;
    let diff_ids: Vec<&str> = parsed["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|d| d.as_str()).collect())
        .unwrap_or_default();
    let wanted: Vec<String> = layers
        .iter()
        .map(|l| l.received.diff_id.to_string())
        .collect();
    if diff_ids != wanted {
        return Err(invalid(format!(
            "the config's diff ids {diff_ids:?} are not its layers' {wanted:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer_in::{Expected, Keep, store_layer};

    fn tar_of(name: &str, data: &[u8]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, data).unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn a_made_image_is_recorded_tagged_and_its_blobs_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let keep = Keep::Compressed(Compression::Gzip);
        let layer = store_layer(
            &store,
            &tar_of("a", b"1")[..],
            &Expected::default(),
            keep,
            None,
            1 << 20,
        )
        .unwrap();
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux", "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.received.diff_id.to_string()]},
        }))
        .unwrap();
        let tag = Reference::parse("made:1").unwrap();
        let id = record_image(
            &store,
            &config,
            std::slice::from_ref(&layer),
            ManifestFormat::Docker,
            std::slice::from_ref(&tag),
        )
        .unwrap();
        assert_eq!(id, Digest::of(&config));
        let images = store.images().unwrap();
        assert_eq!(images.tags[&tag.to_string()], id);
        let record = &images.images[&id];
        assert_eq!(record.layers, vec![layer.chain_id.clone()]);
        let manifest: serde_json::Value =
            serde_json::from_slice(&store.read_blob(&record.manifest).unwrap()).unwrap();
        assert_eq!(manifest["mediaType"], DOCKER_MANIFEST);
        assert_eq!(
            manifest["layers"][0]["digest"],
            layer.received.blob.to_string()
        );
        assert_eq!(
            crate::local::layer_blobs(&store, &record.manifest),
            vec![layer.received.blob.clone()]
        );

        // A config that names other layers is refused.
        let bad = serde_json::to_vec(&json!({"rootfs": {"diff_ids": []}})).unwrap();
        assert!(record_image(&store, &bad, &[layer], ManifestFormat::Oci, &[]).is_err());
    }
}
