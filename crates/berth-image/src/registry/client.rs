//! The registry API client (OCI distribution / Docker registry v2).
//!
//! One client talks to one registry host. It picks HTTPS, or plain HTTP only for loopback and
//! `--insecure-registry` hosts (as Docker does); answers basic and bearer challenges with one
//! token per repository scope, reused until it expires and refreshed on a 401; retries 5xx,
//! 429 (honouring `Retry-After`) and dropped connections with backoff; follows redirects to blob
//! storage without sending credentials to another host; and resumes interrupted blobs with
//! `Range`.

use super::credentials::Credentials;
use crate::digest::Digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ureq::http::{self, Method, Response};

/// How many times one request is tried before its error is final.
const ATTEMPTS: u32 = 5;
/// How many times one blob download resumes after a dropped connection.
const RESUMES: u32 = 10;
/// The first backoff; it doubles each time.
const BACKOFF: Duration = Duration::from_millis(200);
/// The longest `Retry-After` berth waits.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// How long a registry may send nothing (no answer, no body bytes) by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A registry request that failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached.
    #[error("cannot reach registry {host}: {why}")]
    Unreachable {
        /// host[:port]
        host: String,
        /// The transport's complaint.
        why: String,
    },
    /// Credentials were refused, or there were none and they are needed.
    #[error(
        "{action} access denied for {repository} on {host}: {message}; the repository may not exist, or it may require 'berth login {host}'"
    )]
    Denied {
        /// `pull` or `push`.
        action: &'static str,
        /// The repository.
        repository: String,
        /// host[:port]
        host: String,
        /// What the registry said.
        message: String,
    },
    /// The token endpoint refused the credentials.
    #[error("login to {host} failed: {message}")]
    BadCredentials {
        /// host[:port]
        host: String,
        /// What the token endpoint said.
        message: String,
    },
    /// The manifest or blob does not exist.
    #[error("{what} not found: {message}")]
    NotFound {
        /// What was asked for.
        what: String,
        /// What the registry said.
        message: String,
    },
    /// Any other unexpected status.
    #[error("{what}: registry answered HTTP {status}: {message}")]
    Status {
        /// What was asked for.
        what: String,
        /// The HTTP status.
        status: u16,
        /// What the registry said.
        message: String,
    },
    /// Bytes that do not hash to the digest they were asked for.
    #[error("{what}: content does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what arrived.
        actual: Digest,
    },
    /// Anything else that is wrong with the exchange.
    #[error("{0}")]
    Protocol(String),
}

/// How to reach registries: which may speak plain HTTP, where their CAs are.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `host:port`s that may use plain HTTP or untrusted TLS (loopback always may).
    pub insecure_registries: Vec<String>,
    /// Docker's per-registry CA directory: `<dir>/<host:port>/ca.crt` (`/etc/docker/certs.d`).
    pub certs_dir: PathBuf,
    /// The system CA bundle.
    pub system_ca_bundle: PathBuf,
    /// How long a registry may send nothing, while berth waits for an answer or for more of
    /// a body, before the request fails (and a download resumes).
    pub idle_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure_registries: Vec::new(),
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
            system_ca_bundle: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

struct Token {
    value: String,
    expires: Instant,
}

/// What the registry's `/v2/` asked for.
#[derive(Clone, Debug)]
enum Challenge {
    None,
    Basic,
    Bearer { realm: String, service: String },
}

/// A client for one registry host. Cheap to share between threads behind an `Arc`.
pub struct RegistryClient {
    agent: ureq::Agent,
    host: String,
    idle_timeout: Duration,
    base: String,
    credentials: Option<Credentials>,
    challenge: Mutex<Challenge>,
    tokens: Mutex<HashMap<String, Token>>,
}

/// A response body as a plain reader.
pub type Body = ureq::BodyReader<'static>;

impl RegistryClient {
    /// Connects to `host` (`registry-1.docker.io`, `127.0.0.1:5000`): pings `/v2/` over HTTPS,
    /// and over plain HTTP when HTTPS fails and the host may be insecure.
    pub fn connect(
        host: &str,
        credentials: Option<Credentials>,
        options: &ClientOptions,
    ) -> Result<RegistryClient, RegistryError> {
        let insecure = is_loopback(host) || options.insecure_registries.iter().any(|h| h == host);
        let agent = build_agent(host, options)?;
        let mut client = RegistryClient {
            agent,
            host: host.to_owned(),
            idle_timeout: options.idle_timeout,
            base: format!("https://{host}"),
            credentials,
            challenge: Mutex::new(Challenge::None),
            tokens: Mutex::new(HashMap::new()),
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
            self.agent
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
        let response = self.run_with_retries(Method::GET, &url, &[], None)?;
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
        *self.challenge.lock().expect("challenge lock") = challenge;
        Ok(())
    }

    /// Checks the credentials: a token for `scope` (bearer registries) or an authorised ping.
    pub fn check_login(&self) -> Result<(), RegistryError> {
        let challenge = self.challenge.lock().expect("challenge lock").clone();
        match challenge {
            Challenge::None => Ok(()),
            Challenge::Bearer { .. } => self.fetch_token("").map(|_| ()),
            Challenge::Basic => {
                let url = format!("{}/v2/", self.base);
                let auth = self.authorization("", false)?;
                let response = self.run_with_retries(Method::GET, &url, &[], auth.as_deref())?;
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

    /// A reader of a blob of `size` bytes, from the start, that resumes with `Range` when the
    /// connection drops (with an error, or with an end before `size` bytes). It does not check
    /// the digest: the caller hashes what it reads.
    pub fn blob(self: &Arc<Self>, repository: &str, digest: &Digest, size: u64) -> BlobReader {
        BlobReader {
            client: Arc::clone(self),
            repository: repository.to_owned(),
            digest: digest.clone(),
            size,
            offset: 0,
            body: None,
            resumes_left: RESUMES,
        }
    }

    /// Opens a blob at `offset`: the response body, after redirects, with its status checked.
    fn open_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        offset: u64,
    ) -> Result<Body, RegistryError> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let what = format!("blob {digest}");
        let range = format!("bytes={offset}-");
        let headers: Vec<(&str, &str)> = if offset > 0 {
            vec![("Range", &range)]
        } else {
            Vec::new()
        };
        let response = self.request(Method::GET, &url, &headers, repository, &what)?;
        if offset > 0 && response.status() != 206 {
            return Err(RegistryError::Protocol(format!(
                "{what}: the registry does not resume downloads (HTTP {} to a Range request)",
                response.status()
            )));
        }
        if let Ok(length) = header(&response, "content-length").parse::<u64>()
            && length > size - offset
        {
            return Err(too_long(digest, size));
        }
        Ok(response.into_body().into_reader())
    }

    /// One API request with authentication, retries and redirects; a non-2xx answer becomes an
    /// error that says what was asked for.
    fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        repository: &str,
        what: &str,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let scope = format!("repository:{repository}:pull");
        let mut url = url.to_owned();
        let mut refreshed = false;
        for _ in 0..10 {
            let same_host = host_of(&url) == host_of(&self.base);
            let auth = if same_host {
                self.authorization(&scope, false)?
            } else {
                None
            };
            let response = self.run_with_retries(method.clone(), &url, headers, auth.as_deref())?;
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
                        *self.challenge.lock().expect("challenge lock") = challenge;
                    }
                    self.tokens.lock().expect("token lock").remove(&scope);
                    self.authorization(&scope, true)?;
                    refreshed = true;
                }
                401 | 403 => {
                    return Err(RegistryError::Denied {
                        action: "pull",
                        repository: repository.to_owned(),
                        host: self.host.clone(),
                        message: error_message(response),
                    });
                }
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

    /// The `Authorization` header for `scope`: a cached or new bearer token, or basic
    /// credentials, or nothing.
    fn authorization(&self, scope: &str, renew: bool) -> Result<Option<String>, RegistryError> {
        let challenge = self.challenge.lock().expect("challenge lock").clone();
        match challenge {
            Challenge::None => Ok(None),
            Challenge::Basic => Ok(self.credentials.as_ref().map(|c| {
                format!(
                    "Basic {}",
                    B64.encode(format!("{}:{}", c.username, c.password))
                )
            })),
            Challenge::Bearer { .. } => {
                if !renew
                    && let Some(token) = self.tokens.lock().expect("token lock").get(scope)
                    && token.expires > Instant::now()
                {
                    return Ok(Some(format!("Bearer {}", token.value)));
                }
                let token = self.fetch_token(scope)?;
                let header = format!("Bearer {}", token.value);
                self.tokens
                    .lock()
                    .expect("token lock")
                    .insert(scope.to_owned(), token);
                Ok(Some(header))
            }
        }
    }

    /// Asks the token endpoint for a token for `scope` ("" for a login check).
    fn fetch_token(&self, scope: &str) -> Result<Token, RegistryError> {
        let Challenge::Bearer { realm, service } =
            self.challenge.lock().expect("challenge lock").clone()
        else {
            return Err(RegistryError::Protocol(
                "no bearer challenge to answer".into(),
            ));
        };
        let mut url = format!("{realm}?service={}", encode_query(&service));
        if !scope.is_empty() {
            url.push_str(&format!("&scope={}", encode_query(scope)));
        }
        let basic = self.credentials.as_ref().map(|c| {
            format!(
                "Basic {}",
                B64.encode(format!("{}:{}", c.username, c.password))
            )
        });
        let mut response = self.run_with_retries(Method::GET, &url, &[], basic.as_deref())?;
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(RegistryError::BadCredentials {
                host: self.host.clone(),
                message: format!(
                    "unauthorized: incorrect username or password ({})",
                    error_message(response)
                ),
            });
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| RegistryError::Protocol(format!("token endpoint {realm}: {e}")))?;
        if status != 200 {
            return Err(RegistryError::Status {
                what: format!("token from {realm}"),
                status,
                message: body,
            });
        }
        let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
            RegistryError::Protocol(format!("token endpoint {realm} answered invalid JSON: {e}"))
        })?;
        let value = json["token"]
            .as_str()
            .or_else(|| json["access_token"].as_str())
            .ok_or_else(|| {
                RegistryError::Protocol(format!("token endpoint {realm} answered without a token"))
            })?;
        // The spec's default lifetime is 60 s; renew a little early.
        let lifetime = json["expires_in"].as_u64().unwrap_or(60).max(1);
        Ok(Token {
            value: value.to_owned(),
            expires: Instant::now()
                + Duration::from_secs(lifetime).saturating_sub(Duration::from_secs(5)),
        })
    }

    /// Sends one request, retrying dropped connections, 5xx and 429 with backoff.
    fn run_with_retries(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        authorization: Option<&str>,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let mut delay = BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let mut request = http::Request::builder().method(method.clone()).uri(url);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(value) = authorization {
                request = request.header("Authorization", value);
            }
            let request = request
                .body(())
                .map_err(|e| RegistryError::Protocol(format!("bad request for {url}: {e}")))?;
            match self.agent.run(request) {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retryable = status == 429 || matches!(status, 500 | 502 | 503 | 504);
                    if !retryable || attempt == ATTEMPTS {
                        return Ok(response);
                    }
                    let wait = retry_after(&response).unwrap_or(delay);
                    tracing::debug!(url, status, ?wait, "retrying");
                    std::thread::sleep(wait);
                }
                Err(e) => {
                    if attempt == ATTEMPTS || !is_transient(&e) {
                        return Err(RegistryError::Unreachable {
                            host: host_of(url).to_owned(),
                            why: self.describe(&e),
                        });
                    }
                    tracing::debug!(url, error = %e, "retrying");
                    std::thread::sleep(delay);
                }
            }
            delay *= 2;
        }
        unreachable!("the last attempt returns")
    }
}

impl RegistryClient {
    /// What went wrong with a request, in words: a timeout and a connection closed without an
    /// answer say so (ureq's own words are "timeout: per read", "unexpected end of file").
    fn describe(&self, error: &ureq::Error) -> String {
        match error {
            ureq::Error::Timeout(ureq::Timeout::PerRead) => format!(
                "it sent nothing for {}s (registry-idle-timeout in berth's config file)",
                self.idle_timeout.as_secs_f64()
            ),
            ureq::Error::Io(e) if is_closed(e) => {
                "it closed the connection without answering".into()
            }
            other => other.to_string(),
        }
    }

    /// What went wrong with reading a body, in words (see `describe`).
    fn describe_io(&self, error: &io::Error) -> String {
        match error
            .get_ref()
            .and_then(|e| e.downcast_ref::<ureq::Error>())
        {
            Some(e) => self.describe(e),
            None if error.kind() == io::ErrorKind::TimedOut => {
                self.describe(&ureq::Error::Timeout(ureq::Timeout::PerRead))
            }
            None if is_closed(error) => "the registry closed the connection".into(),
            None => error.to_string(),
        }
    }
}

/// Whether the peer hung up.
fn is_closed(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// The error of a registry that sends more of a blob than the manifest declares.
fn too_long(digest: &Digest, size: u64) -> RegistryError {
    RegistryError::Protocol(format!(
        "the registry sends more of blob {digest} than the {size} bytes the manifest declares (refused)"
    ))
}

/// A blob's bytes that resumes with `Range` after a dropped connection or a 5xx.
pub struct BlobReader {
    client: Arc<RegistryClient>,
    repository: String,
    digest: Digest,
    size: u64,
    offset: u64,
    body: Option<Body>,
    resumes_left: u32,
}

impl Read for BlobReader {
    /// Reads at most the declared size: a byte more is an error, and so is a registry that
    /// stays silent past the idle timeout more often than a download resumes.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.offset >= self.size {
                if let Some(mut body) = self.body.take() {
                    let mut probe = [0u8; 1];
                    if body.read(&mut probe).is_ok_and(|n| n > 0) {
                        return Err(io::Error::other(too_long(&self.digest, self.size)));
                    }
                }
                return Ok(0);
            }
            if self.body.is_none() {
                let body = self
                    .client
                    .open_blob(&self.repository, &self.digest, self.size, self.offset)
                    .map_err(|e| match self.offset {
                        0 => io::Error::other(e),
                        at => io::Error::other(RegistryError::Protocol(format!(
                            "download of {} broke off at byte {at} and did not resume: {e}",
                            self.digest
                        ))),
                    })?;
                self.body = Some(body);
            }
            let body = self.body.as_mut().expect("just opened");
            let left = usize::try_from(self.size - self.offset).unwrap_or(usize::MAX);
            let want = buf.len().min(left);
            let result = match body.read(&mut buf[..want]) {
                Ok(0) if want > 0 => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed early",
                )),
                other => other,
            };
            match result {
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if self.resumes_left > 0 => {
                    tracing::debug!(digest = %self.digest, offset = self.offset, error = %e, "download dropped; resuming");
                    self.resumes_left -= 1;
                    self.body = None;
                    std::thread::sleep(BACKOFF);
                }
                Err(e) => {
                    return Err(io::Error::other(RegistryError::Protocol(format!(
                        "download of {} from {} broke off at byte {}: {}",
                        self.digest,
                        self.client.host,
                        self.offset,
                        self.client.describe_io(&e)
                    ))));
                }
            }
        }
    }
}

fn build_agent(host: &str, options: &ClientOptions) -> Result<ureq::Agent, RegistryError> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_per_read(Some(options.idle_timeout));
    // The system bundle plus the registry's own CA from certs.d, as Docker trusts them.
    let mut pem = std::fs::read(&options.system_ca_bundle).unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir(options.certs_dir.join(host)) {
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "crt") {
                let bytes = std::fs::read(entry.path()).map_err(|e| {
                    RegistryError::Protocol(format!("{}: {e}", entry.path().display()))
                })?;
                pem.extend_from_slice(b"\n");
                pem.extend_from_slice(&bytes);
            }
        }
    }
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert.to_owned()),
            _ => None,
        })
        .collect();
    if !certs.is_empty() {
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
                .build(),
        );
    }
    Ok(config.build().into())
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

/// Whether a request is worth sending again. A timeout is not: the registry already had the
/// whole idle timeout to answer.
fn is_transient(error: &ureq::Error) -> bool {
    matches!(error, ureq::Error::Io(_) | ureq::Error::ConnectionFailed)
}

fn header<'a>(response: &'a Response<ureq::Body>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn retry_after(response: &Response<ureq::Body>) -> Option<Duration> {
    let seconds: u64 = header(response, "retry-after").trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// `scheme://host[:port]` of a URL.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

fn resolve_location(current: &str, location: &str) -> Option<String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_owned());
    }
    let (scheme, rest) = current.split_once("://")?;
    let host = rest.split('/').next()?;
    location
        .starts_with('/')
        .then(|| format!("{scheme}://{host}{location}"))
}

fn parse_challenge(value: &str) -> Challenge {
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::None;
    }
    let mut params = HashMap::new();
    for part in split_params(rest) {
        if let Some((key, value)) = part.split_once('=') {
            params.insert(
                key.trim().to_ascii_lowercase(),
                value.trim().trim_matches('"').to_owned(),
            );
        }
    }
    Challenge::Bearer {
        realm: params.remove("realm").unwrap_or_default(),
        service: params.remove("service").unwrap_or_default(),
    }
}

/// Splits `a="x,y",b=z` at the commas outside quotes.
fn split_params(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn encode_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/' | b':' | b',')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The registry's error text: `code: message` of its first error, or the body.
fn error_message(mut response: Response<ureq::Body>) -> String {
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .unwrap_or_default();
    let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
    if let Some(first) = json.as_ref().and_then(|j| j["errors"].get(0)) {
        let code = first["code"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .replace('_', " ");
        let message = first["message"].as_str().unwrap_or("");
        return if code.is_empty() {
            message.to_owned()
        } else {
            format!("{code}: {message}")
        };
    }
    if let Some(details) = json.as_ref().and_then(|j| j["details"].as_str()) {
        return details.to_owned();
    }
    let body = body.trim();
    if body.is_empty() {
        format!("HTTP {}", response.status())
    } else {
        body.chars().take(300).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull,push""#,
        );
        match c {
            Challenge::Bearer { realm, service } => {
                assert_eq!(realm, "https://auth.docker.io/token");
                assert_eq!(service, "registry.docker.io");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_challenge(r#"Basic realm="x""#),
            Challenge::Basic
        ));
    }

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
