//! The registry API client (OCI distribution / Docker registry v2).
//!
//! One client talks to one registry host. It picks HTTPS, or plain HTTP only for loopback and
//! `--insecure-registry` hosts (as Docker does); answers basic and bearer challenges with one
//! token per repository scope, reused until it expires and refreshed on a 401; retries 5xx,
//! 429 (honouring `Retry-After`) and dropped connections with backoff; follows redirects to blob
//! storage without sending credentials to another host; and resumes interrupted blobs with
//! `Range`.

pub use super::error::RegistryError;
pub use super::transport::{ClientOptions, DEFAULT_IDLE_TIMEOUT};

use super::auth::{Auth, Challenge, parse_challenge};
use super::credentials::Credentials;
use super::error::error_message;
use super::transport::{Transport, header, host_of};
use crate::digest::Digest;
use std::io::Read;
use std::sync::Arc;
use ureq::http::{self, Method, Response};

/// A client for one registry host. Cheap to share between threads behind an `Arc`.
pub struct RegistryClient {
    pub(super) transport: Transport,
    pub(super) host: String,
    pub(super) base: String,
    pub(super) auth: Auth,
}

/// A response body as a plain reader.
pub type Body = ureq::BodyReader<'static>;

/// What a request may do: the token scope it asks for, and how a refusal is told.
pub(super) struct Access {
    /// `pull` or `push`.
    action: &'static str,
    /// The repository acted on.
    repository: String,
    /// The token scope: `repository:NAME:ACTIONS`, several separated by spaces.
    pub(super) scope: String,
}

impl Access {
    /// Pulling from `repository`.
    pub(super) fn pull(repository: &str) -> Access {
        Access {
            action: "pull",
            repository: repository.to_owned(),
            scope: format!("repository:{repository}:pull"),
        }
    }

    /// Pushing to `repository`, and pulling from each of `mount_from` (cross-repository mounts).
    pub(super) fn push(repository: &str, mount_from: &[String]) -> Access {
        let mut scope = format!("repository:{repository}:push,pull");
        for from in mount_from.iter().filter(|f| *f != repository) {
            scope.push_str(&format!(" repository:{from}:pull"));
        }
        Access {
            action: "push",
            repository: repository.to_owned(),
            scope,
        }
    }

    /// The refusal of a request with this access.
    pub(super) fn denied(&self, host: &str, message: String) -> RegistryError {
        RegistryError::Denied {
            action: self.action,
            repository: self.repository.clone(),
            host: host.to_owned(),
            message: match self.action {
                "pull" => message,
                _ => format!("{message} (scope \"{}\")", self.scope),
            },
        }
    }
}
impl RegistryClient {
    /// Connects to `host` (`registry-1.docker.io`, `127.0.0.1:5000`): pings `/v2/` over HTTPS,
    /// and over plain HTTP when HTTPS fails and the host may be insecure.
    pub fn connect(
        host: &str,
        credentials: Option<Credentials>,
        options: &ClientOptions,
    ) -> Result<RegistryClient, RegistryError> {
        let insecure = is_loopback(host) || options.insecure_registries.iter().any(|h| h == host);
        let transport = Transport::new(host, options)?;
        let mut client = RegistryClient {
            transport,
            host: host.to_owned(),
            base: format!("https://{host}"),
            auth: Auth::new(credentials),
        };
        if insecure && client.speaks_plain_http() {
            tracing::debug!(host, "using plain HTTP (insecure registry)");
            client.base = format!("http://{host}");
        }
        client.ping()?;
        Ok(client)
    }

    /// One plain-HTTP request to `/v2/`, without retries or credentials. A TLS server answers
    /// it at once with a 400 (Go's registry: "Client sent an HTTP request to an HTTPS server"),
    /// which this asks first so that no TLS handshake waits on a server that speaks none.
    fn speaks_plain_http(&self) -> bool {
        let request = http::Request::get(format!("http://{}/v2/", self.host)).body(());
        request.is_ok_and(|r| {
            self.transport
                .agent
                .run(r)
                .is_ok_and(|response| response.status() != 400)
        })
    }

    /// The host this client talks to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `GET /v2/`: learns how the registry wants callers to authenticate.
    fn ping(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base);
        let response = self
            .transport
            .run_with_retries(Method::GET, &url, &[], None)?;
        let challenge = match response.status().as_u16() {
            200..=299 => Challenge::None,
            401 => parse_challenge(header(&response, "www-authenticate")),
            status => {
                return Err(RegistryError::Status {
                    what: format!("ping {url}"),
                    status,
                    message: error_message(response),
                });
            }
        };
        *self.auth.challenge.lock().expect("challenge lock") = challenge;
        Ok(())
    }

    /// Checks the credentials: a token for `scope` (bearer registries) or an authorised ping.
    pub fn check_login(&self) -> Result<(), RegistryError> {
        let challenge = self.auth.challenge.lock().expect("challenge lock").clone();
        match challenge {
            Challenge::None => Ok(()),
            Challenge::Bearer { .. } => self
                .auth
                .fetch_token(&self.transport, &self.host, "")
                .map(|_| ()),
            Challenge::Basic => {
                let url = format!("{}/v2/", self.base);
                let auth = self
                    .auth
                    .authorization(&self.transport, &self.host, "", false)?;
                let response =
                    self.transport
                        .run_with_retries(Method::GET, &url, &[], auth.as_deref())?;
                if response.status() == 401 {
                    return Err(RegistryError::BadCredentials {
                        host: self.host.clone(),
                        message: "unauthorized: incorrect username or password".into(),
                    });
                }
                Ok(())
            }
        }
    }

    /// Fetches a manifest by tag or digest: its media type, digest and bytes. A manifest asked
    /// for by digest is verified against it.
    pub fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<(String, Digest, Vec<u8>), RegistryError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let what = format!("manifest for {}/{repository}:{reference}", self.host);
        let headers = [("Accept", crate::manifest::ACCEPT)];
        let mut response = self.request(Method::GET, &url, &headers, repository, &what)?;
        let content_type = header(&response, "content-type").to_owned();
        // Manifests are small; 8 MiB is far above any real one.
        let bytes = response
            .body_mut()
            .with_config()
            .limit(8 << 20)
            .read_to_vec()
            .map_err(|e| RegistryError::Protocol(format!("{what}: {e}")))?;
        let actual = Digest::of(&bytes);
        if let Ok(expected) = Digest::parse(reference)
            && expected != actual
        {
            return Err(RegistryError::DigestMismatch {
                what,
                expected,
                actual,
            });
        }
        Ok((content_type, actual, bytes))
    }

    /// The digest of the manifest a tag points at, from a `HEAD` request.
    pub fn manifest_digest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let what = format!("manifest for {}/{repository}:{reference}", self.host);
        let headers = [("Accept", crate::manifest::ACCEPT)];
        let response = self.request(Method::HEAD, &url, &headers, repository, &what)?;
        Ok(Digest::parse(header(&response, "docker-content-digest")).ok())
    }

    /// Fetches a small blob (a config) whole, verified against its digest.
    pub fn blob_bytes(
        self: &Arc<Self>,
        repository: &str,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let what = format!("blob {digest}");
        if size > limit {
            return Err(RegistryError::Protocol(format!(
                "{what} is larger than {limit} bytes"
            )));
        }
        let mut bytes = Vec::new();
        self.blob(repository, digest, size)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| RegistryError::Protocol(format!("{what}: {e}")))?;
        if bytes.len() as u64 > limit {
            return Err(RegistryError::Protocol(format!(
                "{what} is larger than {limit} bytes"
            )));
        }
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                what,
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// One API request with authentication, retries and redirects; a non-2xx answer becomes an
    /// error that says what was asked for.
    pub(super) fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        repository: &str,
        what: &str,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let access = Access::pull(repository);
        self.request_with(method, url, headers, &access, what)
    }

    /// `request` with the access (token scope) of a push or a pull.
    pub(super) fn request_with(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        access: &Access,
        what: &str,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let scope = &access.scope;
        let mut url = url.to_owned();
        let mut refreshed = false;
        for _ in 0..10 {
            let same_host = host_of(&url) == host_of(&self.base);
            let auth = if same_host {
                self.auth
                    .authorization(&self.transport, &self.host, scope, false)?
            } else {
                None
            };
            let response =
                self.transport
                    .run_with_retries(method.clone(), &url, headers, auth.as_deref())?;
            let status = response.status().as_u16();
            match status {
                200..=299 => return Ok(response),
                301 | 302 | 303 | 307 | 308 => {
                    let location = header(&response, "location");
                    url = resolve_location(&url, location).ok_or_else(|| {
                        RegistryError::Protocol(format!(
                            "{what}: redirect without a usable Location"
                        ))
                    })?;
                }
                401 if same_host && !refreshed => {
                    // A new challenge may name another realm; an expired token needs renewing.
                    let challenge = parse_challenge(header(&response, "www-authenticate"));
                    if !matches!(challenge, Challenge::None) {
                        *self.auth.challenge.lock().expect("challenge lock") = challenge;
                    }
                    self.auth.tokens.lock().expect("token lock").remove(scope);
                    self.auth
                        .authorization(&self.transport, &self.host, scope, true)?;
                    refreshed = true;
                }
                401 | 403 => return Err(access.denied(&self.host, error_message(response))),
                404 => {
                    return Err(RegistryError::NotFound {
                        what: what.to_owned(),
                        message: error_message(response),
                    });
                }
                _ => {
                    return Err(RegistryError::Status {
                        what: what.to_owned(),
                        status,
                        message: error_message(response),
                    });
                }
            }
        }
        Err(RegistryError::Protocol(format!(
            "{what}: too many redirects"
        )))
    }
}

/// Whether `host` (with optional port) is on the loopback network.
pub fn is_loopback(host: &str) -> bool {
    let name = host_without_port(host);
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

pub(super) fn resolve_location(current: &str, location: &str) -> Option<String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_owned());
    }
    let (scheme, rest) = current.split_once("://")?;
    let host = rest.split('/').next()?;
    location
        .starts_with('/')
        .then(|| format!("{scheme}://{host}{location}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1:5000",
            "localhost",
            "localhost:80",
            "[::1]:5000",
            "127.1.2.3",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["10.0.0.1:5000", "registry-1.docker.io", "example.com:5000"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn redirects_resolve() {
        assert_eq!(
            resolve_location("http://a:1/v2/x", "/b/c").unwrap(),
            "http://a:1/b/c"
        );
        assert_eq!(
            resolve_location("http://a:1/v2/x", "https://s3/y").unwrap(),
            "https://s3/y"
        );
        assert_eq!(host_of("https://a:1/v2/x"), "a:1");
    }
}
