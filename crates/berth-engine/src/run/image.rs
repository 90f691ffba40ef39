//! The container's image: found in the store or pulled (for the asked platform), its init
//! layer, the files and exposed ports read from it.

use super::error::RunError;
use crate::config::EngineConfig;
use crate::notices::Notices;
use crate::options::RunOptions;
use berth_error::Context;
use berth_image::digest::Digest;
use berth_image::local::{self, LocalError};
use berth_image::manifest::Platform;
use berth_image::pull;
use berth_image::reference::Reference;
use berth_image::store::{ImageRecord, Placeholder, Store};
use berth_net::ports::{PortRequest, Protocol};
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

/// The image id for the reference, pulling it first when it is not in the store.
pub(super) fn find_or_pull(
    store: &Store,
    config: &EngineConfig,
    options: &RunOptions,
    notices: &dyn Notices,
) -> Result<(Digest, ImageRecord), RunError> {
    let read = || {
        store
            .images()
            .map_err(std::io::Error::other)
            .context("read images")
    };
    let images = read()?;
    let wanted = match &options.platform {
        Some(p) => Some(
            Platform::parse(p)
                .ok_or_else(|| RunError::Options(format!("invalid platform \"{p}\"")))?,
        ),
        None => None,
    };
    let id = match local::resolve(&images, &options.image) {
        Ok(id) => match wanted.as_ref().map(|w| (w, platform_of(store, &id))) {
            // Docker pulls the asked platform over a local image of another one, and refuses
            // when none can be had.
            Some((wanted, Some(actual))) if !wanted.matches(&actual) => {
                let pulled = Reference::parse(&options.image)
                    .map_err(|e| e.to_string())
                    .and_then(|reference| {
                        let pull_options = config.pull_options(Some(wanted.clone()));
                        pull::pull(store, &reference, &pull_options, notices)
                            .map_err(|e| e.to_string())
                    });
                let pulled = pulled.map_err(|why| {
                    RunError::Options(format!(
                        "image with reference {} was found but does not match the specified platform: wanted {wanted}, actual: {actual} ({why})",
                        options.image
                    ))
                })?;
                return image_record(read()?, pulled.id, options);
            }
            _ => id,
        },
        Err(LocalError::NoSuchImage(_)) => {
            let reference =
                Reference::parse(&options.image).map_err(|e| RunError::Options(e.to_string()))?;
            notices.note(&format!("Unable to find image '{}' locally", options.image));
            let id = pull::pull(store, &reference, &config.pull_options(wanted), notices)?.id;
            let name = reference.familiar_name();
            let tag = reference.tag.as_deref().unwrap_or("latest");
            crate::events::image(store.root(), "pull", &format!("{name}:{tag}"), &name);
            return image_record(read()?, id, options);
        }
        Err(e) => return Err(e.into()),
    };
    image_record(images, id, options)
}

/// The record of image `id` in `images`.
fn image_record(
    images: berth_image::store::Images,
    id: Digest,
    options: &RunOptions,
) -> Result<(Digest, ImageRecord), RunError> {
    let record = images
        .images
        .get(&id)
        .cloned()
        .ok_or_else(|| RunError::Image(LocalError::NoSuchImage(options.image.clone())))?;
    Ok((id, record))
}

/// The platform that the config of image `id` names.
fn platform_of(store: &Store, id: &Digest) -> Option<Platform> {
    let config: serde_json::Value = serde_json::from_slice(&store.read_blob(id).ok()?).ok()?;
    let text = |key: &str| config[key].as_str().unwrap_or("").to_owned();
    Platform::parse(&format!(
        "{}/{}/{}",
        text("os"),
        text("architecture"),
        text("variant")
    ))
}

/// The mount targets of every container (berth's spec mounts /proc, /sys, /dev and the three
/// files of /etc it writes), as an image's init layer holds them where the image lacks them.
const MOUNT_TARGETS: [Placeholder; 6] = [
    Placeholder::Dir("proc"),
    Placeholder::Dir("sys"),
    Placeholder::Dir("dev"),
    Placeholder::File("etc/hostname"),
    Placeholder::File("etc/hosts"),
    Placeholder::File("etc/resolv.conf"),
];

/// The image's init layer (see `Store::init_layer`), when it has layers. Without one (a full
/// disk, say) the container still runs: its mount targets are then made in its own layer.
pub(super) fn init_layer(
    store: &Store,
    image: &ImageRecord,
    layers_top_first: &[PathBuf],
) -> Option<PathBuf> {
    let top = image.layers.last()?;
    store
        .init_layer(top, layers_top_first, &MOUNT_TARGETS)
        .map_err(|e| tracing::warn!(%e, "no init layer: mount targets go to the container's layer"))
        .ok()
}

/// The file at `path` in the topmost layer that has it, or "".
pub(super) fn read_image_file(layers_top_first: &[PathBuf], path: &str) -> String {
    layers_top_first
        .iter()
        .find_map(|layer| fs::read_to_string(layer.join(path)).ok())
        .unwrap_or_default()
}

/// The ports the image exposes (`ExposedPorts`), each to publish on a free host port (`-P`).
pub(super) fn exposed_ports(image: &serde_json::Value) -> Vec<PortRequest> {
    let Some(exposed) = image["ExposedPorts"].as_object() else {
        return Vec::new();
    };
    exposed
        .keys()
        .filter_map(|key| {
            let (port, protocol) = key.split_once('/').unwrap_or((key, "tcp"));
            Some(PortRequest {
                host_ip: None,
                host_ports: (0, 0),
                container_port: port.parse().ok()?,
                protocol: Protocol::parse(protocol)?,
            })
        })
        .collect()
}

/// The container's labels: the image's (`config.Labels`), then the run's over them.
pub(super) fn labels(
    image_config: &serde_json::Value,
    run: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = image_config["config"]["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    labels.extend(run.iter().map(|(k, v)| (k.clone(), v.clone())));
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_ports_become_requests() {
        let image =
            serde_json::json!({ "ExposedPorts": { "80/tcp": {}, "53/udp": {}, "x/tcp": {} } });
        let mut ports: Vec<(u16, Protocol)> = exposed_ports(&image)
            .iter()
            .map(|p| (p.container_port, p.protocol))
            .collect();
        ports.sort_by_key(|p| p.0);
        assert_eq!(ports, [(53, Protocol::Udp), (80, Protocol::Tcp)]);
    }
}
