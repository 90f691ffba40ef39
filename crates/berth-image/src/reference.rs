//! Image references, parsed and normalised as Docker does.
//!
//! `ubuntu` is `docker.io/library/ubuntu:latest`; `user/repo:tag`, `host:5000/team/repo@sha256:…`,
//! `repo:tag@digest` and `localhost/x` are all understood. A first component is a registry host
//! when it contains a `.` or a `:`, or is `localhost`.

use crate::digest::Digest;
use std::fmt;

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";

/// Where Docker Hub's registry API really is.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A reference that is not valid, with Docker's explanation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// The reference is empty.
    #[error("invalid reference format: the image name is empty")]
    Empty,
    /// The repository name has upper-case letters.
    #[error("invalid reference format: repository name \"{0}\" must be lowercase")]
    Uppercase(String),
    /// Something else is off.
    #[error("invalid reference format: \"{reference}\": {why}")]
    Invalid {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// A fully qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (and port): `docker.io`, `127.0.0.1:5000`, `localhost`.
    pub registry: String,
    /// Repository path: `library/ubuntu`, `team/app`.
    pub repository: String,
    /// The tag, if any (`latest` when neither tag nor digest was given).
    pub tag: Option<String>,
    /// The digest, if any.
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference as Docker does.
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        let invalid = |why| ReferenceError::Invalid {
            reference: text.to_owned(),
            why,
        };
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (
                rest,
                Some(
                    Digest::parse(digest)
                        .map_err(|_| invalid("the digest is not sha256:<64 hex digits>"))?,
                ),
            ),
            None => (text, None),
        };
        // The tag follows the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(invalid(
                "a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
            ));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_owned(), path.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        if !valid_host(&registry) {
            return Err(invalid("the registry host is not a valid host[:port]"));
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(path));
        }
        if path.is_empty() || !path.split('/').all(valid_component) {
            return Err(invalid(
                "repository components are lowercase letters and digits, separated by '.', '_', '__' or '-'",
            ));
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if registry.len() + 1 + repository.len() > 255 {
            return Err(invalid("the repository name is longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, None) => Some("latest".to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host to talk to for this registry: Docker Hub's API host for `docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// What to ask the registry for: the digest when there is one, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// `registry/repository` as Docker shows it: `ubuntu` for `docker.io/library/ubuntu`.
    pub fn familiar_name(&self) -> String {
        if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_owned()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// The familiar name with its tag or digest, as `pull` reports it: `busybox:latest`,
    /// `host:5000/app@sha256:...`, or the bare name when neither was given.
    pub fn familiar(&self) -> String {
        match (&self.tag, &self.digest) {
            (_, Some(digest)) => format!("{}@{digest}", self.familiar_name()),
            (Some(tag), None) => format!("{}:{tag}", self.familiar_name()),
            (None, None) => self.familiar_name(),
        }
    }

    /// `registry/repository`, fully qualified.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository with only `tag`.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    /// The fully qualified form: `docker.io/library/ubuntu:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.full_name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(']') || host.starts_with('[') => (name, Some(port)),
        _ => (host, None),
    };
    let name_ok = if let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    name_ok
        && port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Reference {
        Reference::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn short_names_are_docker_hub_library_latest() {
        let r = parse("ubuntu");
        assert_eq!(r.to_string(), "docker.io/library/ubuntu:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.familiar_name(), "ubuntu");
        assert_eq!(
            parse("user/repo:tag").to_string(),
            "docker.io/user/repo:tag"
        );
        assert_eq!(
            parse("docker.io/library/ubuntu:22.04").to_string(),
            "docker.io/library/ubuntu:22.04"
        );
    }

    #[test]
    fn hosts_ports_and_digests() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("host:5000/team/repo@{digest}"));
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("host:5000", "team/repo")
        );
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_reference(), digest);
        let r = parse(&format!("repo:tag@{digest}"));
        assert_eq!(r.tag.as_deref(), Some("tag"));
        assert_eq!(r.manifest_reference(), digest);
        let r = parse("localhost/x");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost", "x")
        );
        let r = parse("127.0.0.1:5000/busybox:1.36");
        assert_eq!(r.familiar_name(), "127.0.0.1:5000/busybox");
        assert_eq!(r.tag.as_deref(), Some("1.36"));
        assert_eq!(parse("reg.io/a__b/e--f:v").repository, "a__b/e--f");
    }

    #[test]
    fn bad_references_are_explained() {
        for bad in [
            "",
            "Ubuntu",
            "ubuntu:",
            "ubuntu:-x",
            "ubuntu@sha256:abc",
            "-x",
            "a//b",
            "a_/b",
            "host:port/x",
            "x:tag:more",
            "a..b",
        ] {
            let err = Reference::parse(bad).expect_err(bad);
            assert!(
                err.to_string().starts_with("invalid reference format"),
                "{bad}: {err}"
            );
        }
        let long = format!("x:{}", "t".repeat(129));
        assert!(Reference::parse(&long).is_err());
    }
}
