//! Blob downloads: a reader of a blob's bytes that resumes with `Range` after a dropped
//! connection, and refuses more bytes than the manifest declares.

use super::client::{Body, RegistryClient};
use super::error::RegistryError;
use super::transport::{BACKOFF, header};
use crate::digest::Digest;
use std::io::{self, Read};
use std::sync::Arc;
use ureq::http::Method;

/// How many times one blob download resumes after a dropped connection.
const RESUMES: u32 = 10;

impl RegistryClient {
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
    pub(super) fn open_blob(
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
                        self.client.transport.describe_io(&e)
                    ))));
                }
            }
        }
    }
}
