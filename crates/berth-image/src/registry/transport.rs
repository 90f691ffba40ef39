//! The HTTP transport to one registry: its agent (timeouts, trusted CAs), and one request
//! sent with retries and backoff on dropped connections, 5xx and 429.

use super::error::RegistryError;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use ureq::http::{self, Method, Response};

/// How many times one request is tried before its error is final.
const ATTEMPTS: u32 = 5;
/// The first backoff; it doubles each time.
pub(super) const BACKOFF: Duration = Duration::from_millis(200);
/// The longest `Retry-After` berth waits.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// How long a registry may send nothing (no answer, no body bytes) by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

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

/// The agent that sends a client's requests, and how long it waits for a silent registry.
pub(super) struct Transport {
    pub(super) agent: ureq::Agent,
    idle_timeout: Duration,
}

impl Transport {
    /// The transport to `host`, with its CAs and timeouts from `options`.
    pub(super) fn new(host: &str, options: &ClientOptions) -> Result<Transport, RegistryError> {
        Ok(Transport {
            agent: build_agent(host, options)?,
            idle_timeout: options.idle_timeout,
        })
    }

    /// Sends one request, retrying dropped connections, 5xx and 429 with backoff.
    pub(super) fn run_with_retries(
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
                    let retryable = is_retryable_status(status);
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

    /// Sends one request with a body of `length` bytes read from `body`, once: a body that
    /// broke off may have been partly taken, so the caller starts its upload again instead.
    pub(super) fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        authorization: Option<&str>,
        body: &mut dyn io::Read,
        length: u64,
    ) -> Result<Response<ureq::Body>, RegistryError> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(url)
            .header("Content-Length", length.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let request = request
            .body(ureq::SendBody::from_reader(body))
            .map_err(|e| RegistryError::Protocol(format!("bad request for {url}: {e}")))?;
        self.agent
            .run(request)
            .map_err(|e| RegistryError::Unreachable {
                host: host_of(url).to_owned(),
                why: self.describe(&e),
            })
    }

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
    pub(super) fn describe_io(&self, error: &io::Error) -> String {
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

/// Whether an answer with `status` is worth asking again: the registry is busy or broken for
/// now (429, 5xx).
pub(super) fn is_retryable_status(status: u16) -> bool {
    status == 429 || matches!(status, 500 | 502 | 503 | 504)
}

/// Whether a request is worth sending again. A timeout is not: the registry already had the
/// whole idle timeout to answer.
fn is_transient(error: &ureq::Error) -> bool {
    matches!(error, ureq::Error::Io(_) | ureq::Error::ConnectionFailed)
}

/// The value of header `name`, or "".
pub(super) fn header<'a>(response: &'a Response<ureq::Body>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The wait a 429 or 503 asks for (`Retry-After` in seconds), at most `MAX_RETRY_AFTER`.
pub(super) fn retry_after(response: &Response<ureq::Body>) -> Option<Duration> {
    let seconds: u64 = header(response, "retry-after").trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// `scheme://host[:port]` of a URL.
pub(super) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}
