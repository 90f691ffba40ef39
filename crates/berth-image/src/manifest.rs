//! Manifests and indexes as registries serve them: Docker v2 schema 2, Docker manifest lists,
//! OCI manifests and OCI indexes; and the choice of one platform from a list.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use std::fmt;

/// Docker image manifest, v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The `Accept` header berth sends for manifests: every type it can use.
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json";

/// A manifest that berth cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Docker's old schema 1.
    #[error(
        "{0} is a schema 1 manifest, which berth (like current Docker) does not support: push the image again with a current tool"
    )]
    Schema1(String),
    /// Some other media type.
    #[error("unsupported manifest media type \"{0}\"")]
    Unknown(String),
    /// The JSON does not parse as the type says.
    #[error("malformed {kind}: {why}")]
    Malformed {
        /// What it claimed to be.
        kind: &'static str,
        /// The parser's complaint.
        why: String,
    },
}

/// A manifest of one image, or an index of several.
#[derive(Debug, Clone)]
pub enum Manifest {
    /// One image: a config and layers.
    Image(Box<ImageManifest>),
    /// Several images, one per platform.
    Index(Box<ImageIndex>),
}

impl Manifest {
    /// Parses `bytes` served with `content_type` (or, when that is missing or generic, the
    /// `mediaType` field of the JSON).
    pub fn parse(content_type: &str, bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let content_type = content_type.split(';').next().unwrap_or("").trim();
        let media_type = match content_type {
            "" | "application/json" | "text/plain" | "application/octet-stream" => {
                embedded_media_type(bytes)?
            }
            other => other.to_owned(),
        };
        let malformed = |kind, e: serde_json::Error| ManifestError::Malformed {
            kind,
            why: e.to_string(),
        };
        match media_type.as_str() {
            DOCKER_MANIFEST | OCI_MANIFEST => serde_json::from_slice(bytes)
                .map(|m| Manifest::Image(Box::new(m)))
                .map_err(|e| malformed("image manifest", e)),
            DOCKER_LIST | OCI_INDEX => serde_json::from_slice(bytes)
                .map(|i| Manifest::Index(Box::new(i)))
                .map_err(|e| malformed("image index", e)),
            t if t.starts_with("application/vnd.docker.distribution.manifest.v1") => {
                Err(ManifestError::Schema1(t.to_owned()))
            }
            t => Err(ManifestError::Unknown(t.to_owned())),
        }
    }
}

/// The `mediaType` inside a manifest, or the schema 1 marker.
fn embedded_media_type(bytes: &[u8]) -> Result<String, ManifestError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        schema_version: Option<u32>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed {
        kind: "manifest",
        why: e.to_string(),
    })?;
    match (probe.schema_version, probe.media_type) {
        (Some(1), _) => Err(ManifestError::Schema1("the manifest".into())),
        (_, Some(t)) => Ok(t),
        (_, None) if probe.manifests.is_some() => Ok(OCI_INDEX.into()),
        (_, None) => Ok(OCI_MANIFEST.into()),
    }
}

/// An OS, architecture and optional variant: `linux/arm64/v8`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`
    pub os: String,
    /// `amd64`, `arm64`, `arm`, ...
    pub architecture: String,
    /// `v8`, `v7`, ... (empty when none)
    pub variant: String,
}

impl Platform {
    /// The platform berth runs on.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", ""),
            "aarch64" => ("arm64", "v8"),
            "arm" => ("arm", "v7"),
            "x86" => ("386", ""),
            "powerpc64" => ("ppc64le", ""),
            "s390x" => ("s390x", ""),
            "riscv64" => ("riscv64", ""),
            other => (other, ""),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.into(),
        }
    }

    /// Parses `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(text: &str) -> Option<Platform> {
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty())?;
        let architecture = parts.next().filter(|s| !s.is_empty())?;
        let variant = parts.next().unwrap_or("");
        if parts.next().is_some() {
            return None;
        }
        Some(
            Platform {
                os: os.to_lowercase(),
                architecture: architecture.to_lowercase(),
                variant: variant.to_lowercase(),
            }
            .normalized(),
        )
    }

    /// Docker's normalisation: `aarch64` is `arm64`, `x86_64` is `amd64`; `arm64` means `v8`
    /// unless said otherwise.
    fn normalized(mut self) -> Platform {
        match self.architecture.as_str() {
            "aarch64" => self.architecture = "arm64".into(),
            "x86_64" | "x86-64" => self.architecture = "amd64".into(),
            "armhf" => {
                self.architecture = "arm".into();
                self.variant = "v7".into();
            }
            _ => {}
        }
        if self.architecture == "arm64" && self.variant.is_empty() {
            self.variant = "v8".into();
        }
        self
    }

    fn of_descriptor(descriptor: &Descriptor) -> Option<Platform> {
        let p = descriptor.platform().as_ref()?;
        Some(
            Platform {
                os: p.os().to_string(),
                architecture: p.architecture().to_string(),
                variant: p.variant().clone().unwrap_or_default(),
            }
            .normalized(),
        )
    }

    /// Whether an image for `other` runs here when `self` is wanted. An empty variant on either
    /// side matches any variant.
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_empty()
                || other.variant.is_empty()
                || self.variant == other.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// No image in an index runs on the wanted platform.
#[derive(Debug, thiserror::Error)]
#[error("no image for {wanted} in the manifest list; it offers: {}", if offered.is_empty() { "nothing".to_owned() } else { offered.join(", ") })]
pub struct NoMatchingPlatform {
    /// What was asked for.
    pub wanted: Platform,
    /// What the index has.
    pub offered: Vec<String>,
}

/// Picks the descriptor for `wanted` from `index`: an exact variant match first, then one that
/// leaves the variant open.
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    wanted: &Platform,
) -> Result<&'a Descriptor, NoMatchingPlatform> {
    let candidates: Vec<(&Descriptor, Platform)> = index
        .manifests()
        .iter()
        .filter_map(|d| Platform::of_descriptor(d).map(|p| (d, p)))
        .collect();
    candidates
        .iter()
        .find(|(_, p)| p == wanted)
        .or_else(|| candidates.iter().find(|(_, p)| wanted.matches(p)))
        .map(|(d, _)| *d)
        .ok_or_else(|| NoMatchingPlatform {
            wanted: wanted.clone(),
            offered: candidates.iter().map(|(_, p)| p.to_string()).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(platforms: &[(&str, &str, Option<&str>)]) -> ImageIndex {
        let manifests: Vec<serde_json::Value> = platforms
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant))| {
                let mut platform = serde_json::json!({ "os": os, "architecture": arch });
                if let Some(v) = variant {
                    platform["variant"] = serde_json::json!(v);
                }
                serde_json::json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": format!("sha256:{}", format!("{i}").repeat(64)),
                    "size": 1,
                    "platform": platform,
                })
            })
            .collect();
        let json = serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
        match Manifest::parse(OCI_INDEX, json.to_string().as_bytes()).unwrap() {
            Manifest::Index(index) => *index,
            Manifest::Image(_) => panic!("not an index"),
        }
    }

    #[test]
    fn picks_the_wanted_platform() {
        let idx = index(&[
            ("linux", "amd64", None),
            ("linux", "arm64", Some("v8")),
            ("linux", "arm", Some("v7")),
        ]);
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert_eq!(
            select_platform(&idx, &arm64).unwrap().digest().to_string(),
            format!("sha256:{}", "1".repeat(64))
        );
        let amd64 = Platform::parse("linux/amd64").unwrap();
        assert!(
            select_platform(&idx, &amd64)
                .unwrap()
                .digest()
                .to_string()
                .ends_with(&"0".repeat(64))
        );
        let err = select_platform(&idx, &Platform::parse("linux/s390x").unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no image for linux/s390x in the manifest list; it offers: linux/amd64, linux/arm64/v8, linux/arm/v7"
        );
        assert!(select_platform(&idx, &Platform::parse("linux/arm/v6").unwrap()).is_err());
    }

    #[test]
    fn parses_platform_flags() {
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(
            Platform::parse("linux/aarch64").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert!(Platform::parse("linux").is_none());
        assert!(Platform::parse("linux/a/b/c").is_none());
    }

    #[test]
    fn media_types_decide_the_kind() {
        let schema1 = br#"{"schemaVersion": 1, "name": "x", "fsLayers": []}"#;
        assert!(matches!(
            Manifest::parse("application/json", schema1),
            Err(ManifestError::Schema1(_))
        ));
        assert!(matches!(
            Manifest::parse(
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
                b"{}"
            ),
            Err(ManifestError::Schema1(_))
        ));
        assert!(matches!(
            Manifest::parse("application/x-weird", b"{}"),
            Err(ManifestError::Unknown(_))
        ));
        assert!(matches!(
            Manifest::parse(OCI_MANIFEST, b"{not json"),
            Err(ManifestError::Malformed { .. })
        ));
    }
}
