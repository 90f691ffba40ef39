//! The image a stage is building: its config (as JSON, the way the store keeps it) and its
//! layers; each step records a new (untagged) image of them, so that the next `RUN` has an
//! image to run in and the cache an id to point at.

use crate::builder::error::BuildError;
use berth_image::digest::Digest;
use berth_image::import::stored_layers;
use berth_image::layer_in::StoredLayer;
use berth_image::manifest::Platform;
use berth_image::new_image::{ManifestFormat, record_image};
use berth_image::store::Store;
use serde_json::{Value, json};
use std::path::PathBuf;

/// A stage's image so far.
#[derive(Debug, Clone)]
pub struct Image {
    /// Its id; `None` for `scratch` before its first step.
    pub id: Option<Digest>,
    /// Its whole config.
    pub config: Value,
    /// Its layers, bottom first.
    pub layers: Vec<StoredLayer>,
}

impl Image {
    /// An empty image (`FROM scratch`) for `platform`.
    pub fn scratch(platform: &Platform) -> Image {
        let mut config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        if !platform.variant.is_empty() {
            config["variant"] = json!(platform.variant);
        }
        Image {
            id: None,
            config,
            layers: Vec::new(),
        }
    }

    /// The image `id` of the store.
    pub fn stored(store: &Store, id: &Digest) -> Result<Image, BuildError> {
        let config: Value = store
            .read_blob(id)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                BuildError::Failed(format!(
                    "the config of image {} is missing or unreadable",
                    id.short()
                ))
            })?;
        let layers = stored_layers(store, id)
            .map_err(|e| BuildError::failed("read the image's layers", e))?;
        Ok(Image {
            id: Some(id.clone()),
            config,
            layers,
        })
    }

    /// What a cache key starts from: the id, or `scratch`.
    pub fn parent_key(&self) -> String {
        self.id
            .as_ref()
            .map_or_else(|| "scratch".to_owned(), Digest::to_string)
    }

    /// The layer directories, topmost first.
    pub fn layer_dirs(&self, store: &Store) -> Vec<PathBuf> {
        self.layers
            .iter()
            .rev()
            .map(|l| store.layer_dir(&l.chain_id).join("diff"))
            .collect()
    }

    /// Records the image with `layer` added (`None`: an `empty_layer` step) and a history entry
    /// saying `created_by`; it becomes this image.
    pub fn commit(
        &mut self,
        store: &Store,
        layer: Option<StoredLayer>,
        created_by: &str,
    ) -> Result<Digest, BuildError> {
        let created = berth_engine::time::now();
        let mut history = json!({"created": created, "created_by": created_by});
        match layer {
            Some(layer) => {
                append(
                    &mut self.config["rootfs"]["diff_ids"],
                    json!(layer.received.diff_id.to_string()),
                );
                self.layers.push(layer);
            }
            None => history["empty_layer"] = json!(true),
        }
        self.config["rootfs"]["type"] = json!("layers");
        append(&mut self.config["history"], history);
        self.config["created"] = json!(created);
        if let Some(fields) = self.config.as_object_mut() {
            for stale in ["container", "container_config"] {
                fields.remove(stale);
            }
        }
        let bytes = serde_json::to_vec(&self.config).expect("a config serialises");
        let id = record_image(store, &bytes, &self.layers, ManifestFormat::Docker, &[])
            .map_err(|e| BuildError::failed("record the step's image", e))?;
        self.id = Some(id.clone());
        Ok(id)
    }
}

/// Appends `item` to the array `list` (made when missing).
fn append(list: &mut Value, item: Value) {
    if !list.is_array() {
        *list = json!([]);
    }
    list.as_array_mut().expect("an array").push(item);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_add_history_and_layers_and_each_is_an_image() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut image = Image::scratch(&Platform::host());
        assert_eq!(image.parent_key(), "scratch");
        image.config["config"]["Cmd"] = json!(["sh"]);
        let first = image
            .commit(&store, None, "/bin/sh -c #(nop)  CMD [\"sh\"]")
            .unwrap();
        let again = Image::stored(&store, &first).unwrap();
        assert_eq!(again.config["config"]["Cmd"], json!(["sh"]));
        assert_eq!(again.config["history"][0]["empty_layer"], json!(true));
        assert!(again.layers.is_empty());
    }
}
