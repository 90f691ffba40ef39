//! berth's config file: registries that may speak plain HTTP, mirrors for docker.io, and where
//! registry CAs are. JSON in Docker's `daemon.json` words:
//!
//! ```json
//! { "insecure-registries": ["myregistry:5000"],
//!   "registry-mirrors": ["https://mirror.example.com"],
//!   "certs-dir": "/etc/docker/certs.d",
//!   "bridge": "berth0", "bip": "172.17.0.1/16", "firewall-table": "berth",
//!   "max-layer-size": 34359738368, "registry-idle-timeout": 60 }
//! ```
//!
//! It lives at `/etc/berth/config.json` (root) or `$XDG_CONFIG_HOME/berth/config.json`, or where
//! `--config` / `BERTH_CONFIG` say. A missing file means the defaults.

use crate::networks::NetworkDefaults;
use berth_image::layer_in::{Compression, MadeLayers};
use berth_image::manifest::Platform;
use berth_image::pull::PullOptions;
use berth_image::registry::client::ClientOptions;
use berth_image::registry::credentials::DockerConfig;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The config file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("config file {path}: {why}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub why: String,
}

/// The settings of the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EngineConfig {
    /// `host:port`s that may use plain HTTP.
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Mirrors tried first for docker.io images (URLs or `host:port`).
    #[serde(default)]
    pub registry_mirrors: Vec<String>,
    /// Docker's per-registry CA directory.
    pub certs_dir: Option<PathBuf>,
    /// The default network's bridge device (`berth0`), when it is first made.
    pub bridge: Option<String>,
    /// The default bridge's address and prefix (`172.17.0.1/16`), when it is first made;
    /// a free subnet of the pool otherwise.
    pub bip: Option<String>,
    /// berth's nftables table (`berth`) for networks made from now on.
    pub firewall_table: Option<String>,
    /// The cgroup, in each hierarchy, that containers' cgroups are made in (`berth`; Docker's
    /// `cgroup-parent`). It stays when they go, as Docker's `docker` does.
    pub cgroup_parent: Option<String>,
    /// The largest uncompressed layer a pull unpacks, in bytes (32 GiB).
    pub max_layer_size: Option<u64>,
    /// Seconds a registry may send nothing before a request fails (60).
    pub registry_idle_timeout: Option<u64>,
    /// The compression of the layers berth makes (commit, import, build, plain layers that
    /// load stores): `gzip` (the default, what every registry and engine reads) or `zstd`.
    pub layer_compression: Option<LayerCompression>,
}

/// `layer-compression` in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerCompression {
    /// gzip.
    Gzip,
    /// zstd (read by Docker 23+, containerd 1.5+, Podman 4+).
    Zstd,
}

impl EngineConfig {
    /// The default location for this user.
    pub fn default_path() -> PathBuf {
        if rustix::process::geteuid().is_root() {
            return PathBuf::from("/etc/berth/config.json");
        }
        std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
            .unwrap_or_else(|| PathBuf::from("/etc"))
            .join("berth/config.json")
    }

    /// Reads the file at `path`; missing means the defaults.
    pub fn load(path: &Path) -> Result<EngineConfig, ConfigError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let config: EngineConfig =
                    serde_json::from_slice(&bytes).map_err(|e| ConfigError {
                        path: path.to_owned(),
                        why: e.to_string(),
                    })?;
                if config.cgroup_parent().split('/').any(|c| c == "..") {
                    return Err(ConfigError {
                        path: path.to_owned(),
                        why: "cgroup-parent must stay below the cgroup hierarchies' roots".into(),
                    });
                }
                Ok(config)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(EngineConfig::default()),
            Err(e) => Err(ConfigError {
                path: path.to_owned(),
                why: e.to_string(),
            }),
        }
    }

    /// The cgroup containers' cgroups are made in, relative to each hierarchy's root.
    pub fn cgroup_parent(&self) -> &str {
        self.cgroup_parent
            .as_deref()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty())
            .unwrap_or("berth")
    }

    /// How networks are made.
    pub fn network_defaults(&self) -> NetworkDefaults {
        let defaults = NetworkDefaults::default();
        NetworkDefaults {
            bridge: self.bridge.clone().unwrap_or(defaults.bridge),
            bip: self.bip.clone(),
            table: self.firewall_table.clone().unwrap_or(defaults.table),
        }
    }

    /// How to reach registries.
    pub fn client_options(&self) -> ClientOptions {
        let mut options = ClientOptions {
            insecure_registries: self.insecure_registries.clone(),
            ..ClientOptions::default()
        };
        if let Some(seconds) = self.registry_idle_timeout {
            options.idle_timeout = std::time::Duration::from_secs(seconds.max(1));
        }
        if let Some(dir) = &self.certs_dir {
            options.certs_dir = dir.clone();
        }
        options
    }

    /// How the layers berth makes are stored: the pull's size cap, the configured compression.
    pub fn made_layers(&self) -> MadeLayers {
        MadeLayers {
            max_size: self
                .max_layer_size
                .unwrap_or(berth_image::pull::DEFAULT_MAX_LAYER_SIZE),
            compression: match self.layer_compression {
                Some(LayerCompression::Zstd) => Compression::Zstd,
                Some(LayerCompression::Gzip) | None => Compression::Gzip,
            },
        }
    }

    /// Everything a pull needs, for `platform` (the host's when `None`).
    pub fn pull_options(&self, platform: Option<Platform>) -> PullOptions {
        PullOptions {
            platform,
            client: self.client_options(),
            credentials: DockerConfig::default_location(),
            docker_io_mirrors: self
                .registry_mirrors
                .iter()
                .map(|m| mirror_host(m))
                .collect(),
            max_layer_size: self
                .max_layer_size
                .unwrap_or(berth_image::pull::DEFAULT_MAX_LAYER_SIZE),
        }
    }
}

/// `host[:port]` of a mirror given as a URL or a host.
fn mirror_host(mirror: &str) -> String {
    let rest = mirror.split_once("://").map_or(mirror, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_words_and_rejects_typos() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert_eq!(EngineConfig::load(&path).unwrap(), EngineConfig::default());
        std::fs::write(
            &path,
            r#"{"insecure-registries":["r:5000"],"registry-mirrors":["https://m.example/"]}"#,
        )
        .unwrap();
        let config = EngineConfig::load(&path).unwrap();
        assert_eq!(config.insecure_registries, ["r:5000"]);
        assert_eq!(
            config.pull_options(None).max_layer_size,
            berth_image::pull::DEFAULT_MAX_LAYER_SIZE
        );
        std::fs::write(&path, r#"{"max-layer-size":5,"registry-idle-timeout":2}"#).unwrap();
        let limits = EngineConfig::load(&path).unwrap().pull_options(None);
        assert_eq!(limits.max_layer_size, 5);
        assert_eq!(
            limits.client.idle_timeout,
            std::time::Duration::from_secs(2)
        );
        assert_eq!(config.pull_options(None).docker_io_mirrors, ["m.example"]);
        std::fs::write(&path, r#"{"insecure-registry":["r:5000"]}"#).unwrap();
        assert!(
            EngineConfig::load(&path)
                .unwrap_err()
                .to_string()
                .contains("unknown field")
        );
    }

    #[test]
    fn the_cgroup_parent_defaults_to_berth_and_stays_below_the_roots() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        assert_eq!(EngineConfig::default().cgroup_parent(), "berth");
        std::fs::write(&path, r#"{"cgroup-parent":"/ci/berth/"}"#).unwrap();
        assert_eq!(
            EngineConfig::load(&path).unwrap().cgroup_parent(),
            "ci/berth"
        );
        std::fs::write(&path, r#"{"cgroup-parent":"a/../.."}"#).unwrap();
        assert!(
            EngineConfig::load(&path)
                .unwrap_err()
                .to_string()
                .contains("cgroup-parent")
        );
    }
}
