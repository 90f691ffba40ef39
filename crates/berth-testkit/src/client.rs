//! A small registry API client for tests: push images and indexes, read them back, and see the
//! raw answers (status, headers) that berth's own client must handle.
//!
//! It is independent of berth's client on purpose: a test must not check berth against itself.

use crate::image::{Blob, BuiltImage, BuiltIndex};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use ureq::http::{self, HeaderMap, Method};

/// An answer from the registry, whatever its status.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value as text, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn ok(self, what: &str) -> crate::Result<Answer> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            Err(format!(
                "{what}: HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
            .into())
        }
    }
}

/// A registry client with optional credentials, answering basic and bearer challenges.
pub struct RegistryClient {
    agent: ureq::Agent,
    base: String,
    credentials: Option<(String, String)>,
    tokens: RefCell<HashMap<String, String>>,
}

impl RegistryClient {
    /// A client for the registry at `base` (`http://127.0.0.1:PORT`), trusting `ca_pem` if given.
    pub fn new(base: &str, ca_pem: Option<&str>, credentials: Option<(&str, &str)>) -> Self {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0);
        if let Some(pem) = ca_pem {
            let certs: Vec<_> = ureq::tls::parse_pem(pem.as_bytes())
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert.to_owned()),
                    _ => None,
                })
                .collect();
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
                    .build(),
            );
        }
        RegistryClient {
            agent: config.build().into(),
            base: base.trim_end_matches('/').to_owned(),
            credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
            tokens: RefCell::new(HashMap::new()),
        }
    }

    /// `GET /v2/` without credentials: any HTTP answer means the registry is up.
    pub fn ping(&self) -> crate::Result<u16> {
        Ok(self.raw(Method::GET, "/v2/", &[], Vec::new(), None)?.status)
    }

    /// One request as it is, with no credentials and no retry: for tests of the raw protocol.
    pub fn raw(
        &self,
        method: Method,
        path_or_url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        authorization: Option<&str>,
    ) -> crate::Result<Answer> {
        let url = self.url(path_or_url);
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let mut response = self.agent.run(request.body(body)?)?;
        Ok(Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response
                .body_mut()
                .with_config()
                .limit(u64::MAX)
                .read_to_vec()?,
        })
    }

    /// A request that answers the registry's auth challenge once, with this client's
    /// credentials, asking for `scope` when the challenge is a bearer one.
    pub fn request(
        &self,
        method: Method,
        path_or_url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        scope: &str,
    ) -> crate::Result<Answer> {
        let cached = self.tokens.borrow().get(scope).cloned();
        let first = self.raw(
            method.clone(),
            path_or_url,
            headers,
            body.clone(),
            cached.as_deref(),
        )?;
        if first.status != 401 {
            return Ok(first);
        }
        let challenge = first.header("www-authenticate").to_owned();
        let authorization = if challenge.starts_with("Bearer ") {
            format!("Bearer {}", self.token(&challenge, scope)?)
        } else if let Some((user, password)) = &self.credentials {
            format!("Basic {}", B64.encode(format!("{user}:{password}")))
        } else {
            return Ok(first);
        };
        self.tokens
            .borrow_mut()
            .insert(scope.to_owned(), authorization.clone());
        self.raw(method, path_or_url, headers, body, Some(&authorization))
    }

    fn token(&self, challenge: &str, scope: &str) -> crate::Result<String> {
        let params = parse_challenge(challenge);
        let realm = params
            .get("realm")
            .ok_or("bearer challenge without realm")?;
        let service = params.get("service").map_or("", String::as_str);
        let url = format!("{realm}?service={service}&scope={scope}");
        let mut request = http::Request::get(url);
        if let Some((user, password)) = &self.credentials {
            let basic = B64.encode(format!("{user}:{password}"));
            request = request.header("Authorization", format!("Basic {basic}"));
        }
        let mut response = self.agent.run(request.body(())?)?;
        let body = response.body_mut().read_to_string()?;
        if response.status() != 200 {
            return Err(format!("token endpoint: HTTP {}: {body}", response.status()).into());
        }
        let json: serde_json::Value = serde_json::from_str(&body)?;
        json["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "token endpoint answered without a token".into())
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{}", self.base, path_or_url)
        }
    }

    /// Uploads one blob (monolithic POST then PUT), unless the registry has it already.
    pub fn push_blob(&self, repo: &str, blob: &Blob) -> crate::Result<()> {
        let scope = push_scope(repo);
        let head = self.request(
            Method::HEAD,
            &format!("/v2/{repo}/blobs/{}", blob.digest),
            &[],
            Vec::new(),
            &scope,
        )?;
        if head.status == 200 {
            return Ok(());
        }
        let start = self
            .request(
                Method::POST,
                &format!("/v2/{repo}/blobs/uploads/"),
                &[],
                Vec::new(),
                &scope,
            )?
            .ok("start upload")?;
        let location = start.header("location");
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={}", blob.digest);
        let length = blob.data.len().to_string();
        self.request(
            Method::PUT,
            &url,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", &length),
            ],
            blob.data.clone(),
            &scope,
        )?
        .ok("finish upload")?;
        Ok(())
    }

    /// Puts a manifest or index under `reference` (a tag or a digest).
    pub fn put_manifest(&self, repo: &str, reference: &str, blob: &Blob) -> crate::Result<()> {
        self.request(
            Method::PUT,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", &blob.media_type)],
            blob.data.clone(),
            &push_scope(repo),
        )?
        .ok("put manifest")?;
        Ok(())
    }

    /// Pushes an image's layers, config and manifest, and tags the manifest `tag`.
    pub fn push_image(&self, repo: &str, tag: &str, image: &BuiltImage) -> crate::Result<()> {
        for blob in image.layers.iter().chain([&image.config]) {
            self.push_blob(repo, blob)?;
        }
        self.put_manifest(repo, tag, &image.manifest)
    }

    /// Pushes every image of an index by digest, then the index as `tag`.
    pub fn push_index(&self, repo: &str, tag: &str, index: &BuiltIndex) -> crate::Result<()> {
        for image in &index.images {
            for blob in image.layers.iter().chain([&image.config]) {
                self.push_blob(repo, blob)?;
            }
            self.put_manifest(repo, &image.manifest.digest, &image.manifest)?;
        }
        self.put_manifest(repo, tag, &index.index)
    }

    /// Reads a manifest or index back, accepting every type berth knows.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> crate::Result<Answer> {
        let accept = "application/vnd.docker.distribution.manifest.v2+json, \
                      application/vnd.docker.distribution.manifest.list.v2+json, \
                      application/vnd.oci.image.manifest.v1+json, \
                      application/vnd.oci.image.index.v1+json";
        self.request(
            Method::GET,
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", accept)],
            Vec::new(),
            &pull_scope(repo),
        )?
        .ok("get manifest")
    }

    /// Reads a blob back.
    pub fn get_blob(&self, repo: &str, digest: &str) -> crate::Result<Vec<u8>> {
        Ok(self
            .request(
                Method::GET,
                &format!("/v2/{repo}/blobs/{digest}"),
                &[],
                Vec::new(),
                &pull_scope(repo),
            )?
            .ok("get blob")?
            .body)
    }
}

/// The token scope for pulling from `repo`.
pub fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

/// The token scope for pushing to `repo`.
pub fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

/// The `key="value"` parameters of a `WWW-Authenticate` challenge.
pub fn parse_challenge(challenge: &str) -> HashMap<String, String> {
    let rest = challenge.split_once(' ').map_or("", |(_, r)| r);
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                value.push(c);
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        params.insert(key.trim().to_owned(), value);
    }
    params
}
