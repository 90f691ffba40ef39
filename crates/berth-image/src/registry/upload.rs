//! Uploads, the push side of the distribution API: whether the registry has a blob (`HEAD`),
//! cross-repository mounts (`POST ?mount=&from=`), blob uploads (`POST`, then one `PUT` with the
//! digest for a small blob, or `PATCH`es with `Content-Range` and an empty `PUT` for a large
//! one) and manifests (`PUT` in their own media type).
//!
//! A blob streams from its file: memory stays at a buffer whatever its size. An upload whose
//! body broke off (a dropped connection, a 5xx or 429, an expired token) may have been partly
//! taken, so it starts again with a new upload session, with backoff, a few times.

use super::client::{Access, RegistryClient, resolve_location};
use super::error::{RegistryError, error_message};
use super::transport::{BACKOFF, header, host_of, is_retryable_status, retry_after};
use crate::digest::Digest;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;
use ureq::http::{Method, Response};

/// Blobs up to this size go in one `PUT`; larger ones in `PATCH`es of this size. One request
/// per 16 MiB costs a round trip per 16 MiB (nothing at LAN speeds), and stays below the body
/// limits of proxies in front of registries (often 32 to 100 MiB).
pub const CHUNK_SIZE: u64 = 16 << 20;
/// How many times one upload (a blob's, a manifest's) is started.
const ATTEMPTS: u32 = 5;

/// The requests of a push to one repository, with its token scope.
pub struct PushTarget<'a> {
    client: &'a RegistryClient,
    repository: String,
    access: Access,
}

/// A failed attempt: worth another (`Again`, after the wait the registry asked for, if any)
/// or not.
enum Failed {
    Again(RegistryError, Option<Duration>),
    Final(RegistryError),
}

impl From<RegistryError> for Failed {
    fn from(error: RegistryError) -> Failed {
        Failed::Final(error)
    }
}

impl RegistryClient {
    /// Pushes to `repository`, with a token that may also pull from `mount_from` (the
    /// repositories of this registry that blobs may be mounted from).
    pub fn push_target(&self, repository: &str, mount_from: &[String]) -> PushTarget<'_> {
        PushTarget {
            client: self,
            repository: repository.to_owned(),
            access: Access::push(repository, mount_from),
        }
    }
}

impl PushTarget<'_> {
    /// Whether the repository has the blob `digest`.
    pub fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let what = format!("blob {digest} in {}", self.place());
        match self
            .client
            .request_with(Method::HEAD, &url, &[], &self.access, &what)
        {
            Ok(_) => Ok(true),
            Err(RegistryError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Mounts the blob `digest` from the repository `from` of the same registry. `Ok(None)`
    /// when it is mounted; otherwise the registry opened an upload instead, whose location is
    /// returned for `upload`.
    pub fn mount(&self, digest: &Digest, from: &str) -> Result<Option<String>, RegistryError> {
        let url = self.url(&format!("blobs/uploads/?mount={digest}&from={from}"));
        let what = format!("mount of blob {digest} from {from} into {}", self.place());
        let response = self.client.request_with(
            Method::POST,
            &url,
            &[("Content-Length", "0")],
            &self.access,
            &what,
        )?;
        match response.status().as_u16() {
            201 => Ok(None),
            _ => self.location(&url, &response, &what).map(Some),
        }
    }

    /// Uploads the blob `digest` of `size` bytes from the file `path`, in the upload session
    /// `session` if the registry opened one already (a mount it declined). `sent` is told how
    /// many bytes of it have been sent so far (back to 0 when the upload starts again).
    pub fn upload(
        &self,
        digest: &Digest,
        size: u64,
        path: &Path,
        mut session: Option<String>,
        sent: &dyn Fn(u64),
    ) -> Result<(), RegistryError> {
        let what = format!("upload of blob {digest} to {}", self.place());
        self.attempts(&what, || {
            let location = match session.take() {
                Some(location) => location,
                None => self.start_upload(digest)?,
            };
            self.send_blob(location, digest, size, path, sent)
        })
    }

    /// Puts the manifest `bytes` of `media_type` as `reference` (a tag or its digest); returns
    /// its digest.
    pub fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let digest = Digest::of(bytes);
        let what = format!("manifest {}:{reference}", self.place());
        self.attempts(&what, || {
            let headers = [("Content-Type", media_type)];
            let response = self.send(
                Method::PUT,
                &url,
                &headers,
                &mut &bytes[..],
                bytes.len() as u64,
                &what,
            )?;
            let answered = header(&response, "docker-content-digest");
            if !answered.is_empty() && answered != digest.to_string() {
                return Err(Failed::Final(RegistryError::Protocol(format!(
                    "{what}: the registry stored it as {answered}, not {digest}"
                ))));
            }
            Ok(())
        })?;
        Ok(digest)
    }

    /// `host/repository`, for messages.
    fn place(&self) -> String {
        format!("{}/{}", self.client.host, self.repository)
    }

    /// `<base>/v2/<repository>/<rest>`
    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.client.base, self.repository)
    }

    /// Runs `attempt` until it succeeds, fails for good, or has failed `ATTEMPTS` times, with
    /// backoff between attempts.
    fn attempts(
        &self,
        what: &str,
        mut attempt: impl FnMut() -> Result<(), Failed>,
    ) -> Result<(), RegistryError> {
        let mut delay = BACKOFF;
        for n in 1..=ATTEMPTS {
            match attempt() {
                Ok(()) => return Ok(()),
                Err(Failed::Final(e)) => return Err(e),
                Err(Failed::Again(e, _)) if n == ATTEMPTS => {
                    return Err(RegistryError::Protocol(format!(
                        "{what} failed {ATTEMPTS} times; the last time: {e}"
                    )));
                }
                Err(Failed::Again(e, wait)) => {
                    tracing::debug!(what, attempt = n, error = %e, "starting again");
                    std::thread::sleep(wait.unwrap_or(delay));
                    delay *= 2;
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Opens an upload session; returns its location.
    fn start_upload(&self, digest: &Digest) -> Result<String, RegistryError> {
        let url = self.url("blobs/uploads/");
        let what = format!("upload of blob {digest} to {}", self.place());
        let response = self.client.request_with(
            Method::POST,
            &url,
            &[("Content-Length", "0")],
            &self.access,
            &what,
        )?;
        self.location(&url, &response, &what)
    }

    /// The blob's bytes into the session at `location`: one `PUT`, or `PATCH`es and a `PUT`.
    fn send_blob(
        &self,
        mut location: String,
        digest: &Digest,
        size: u64,
        path: &Path,
        sent: &dyn Fn(u64),
    ) -> Result<(), Failed> {
        let what = format!("upload of blob {digest} to {}", self.place());
        let unreadable = |e: io::Error| {
            Failed::Final(RegistryError::Protocol(format!(
                "{what}: cannot read {}: {e}",
                path.display()
            )))
        };
        let mut file = File::open(path).map_err(unreadable)?;
        let on_disk = file.metadata().map_err(unreadable)?.len();
        if on_disk != size {
            return Err(Failed::Final(RegistryError::Protocol(format!(
                "{what}: {} has {on_disk} bytes; the manifest says {size}",
                path.display()
            ))));
        }
        sent(0);
        let octets = ("Content-Type", "application/octet-stream");
        if size <= CHUNK_SIZE {
            let mut body = Counting::new(&mut file, 0, sent);
            let url = with_digest(&location, digest);
            self.send(Method::PUT, &url, &[octets], &mut body, size, &what)?;
            return Ok(());
        }
        let mut offset = 0;
        while offset < size {
            let length = CHUNK_SIZE.min(size - offset);
            file.seek(SeekFrom::Start(offset)).map_err(unreadable)?;
            let range = format!("{offset}-{}", offset + length - 1);
            let mut body = Counting::new((&mut file).take(length), offset, sent);
            let headers = [octets, ("Content-Range", range.as_str())];
            let response =
                self.send(Method::PATCH, &location, &headers, &mut body, length, &what)?;
            location = self.location(&location, &response, &what)?;
            offset += length;
        }
        let url = with_digest(&location, digest);
        self.send(Method::PUT, &url, &[octets], &mut io::empty(), 0, &what)?;
        Ok(())
    }

    /// Sends one request with a body, with this push's credentials when it goes to the
    /// registry itself; an answer other than 2xx is a failure, worth another attempt when the
    /// registry may take it next time.
    fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: &mut dyn Read,
        length: u64,
        what: &str,
    ) -> Result<Response<ureq::Body>, Failed> {
        let client = self.client;
        let authorization = match host_of(url) == host_of(&client.base) {
            true => client.auth.authorization(
                &client.transport,
                &client.host,
                &self.access.scope,
                false,
            )?,
            false => None,
        };
        let response = client
            .transport
            .send_once(method, url, headers, authorization.as_deref(), body, length)
            .map_err(|e| Failed::Again(e, None))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(response),
            401 => {
                // An expired token: the next attempt asks for a new one.
                client
                    .auth
                    .tokens
                    .lock()
                    .expect("token lock")
                    .remove(&self.access.scope);
                Err(Failed::Again(
                    self.access.denied(&client.host, error_message(response)),
                    None,
                ))
            }
            403 => Err(Failed::Final(
                self.access.denied(&client.host, error_message(response)),
            )),
            404 => Err(Failed::Final(RegistryError::NotFound {
                what: what.to_owned(),
                message: error_message(response),
            })),
            _ => {
                let wait = retry_after(&response);
                let error = RegistryError::Status {
                    what: what.to_owned(),
                    status,
                    message: error_message(response),
                };
                match is_retryable_status(status) {
                    true => Err(Failed::Again(error, wait)),
                    false => Err(Failed::Final(error)),
                }
            }
        }
    }

    /// The upload location an answer to a request for `url` gives.
    fn location(
        &self,
        url: &str,
        response: &Response<ureq::Body>,
        what: &str,
    ) -> Result<String, RegistryError> {
        resolve_location(url, header(response, "location")).ok_or_else(|| {
            RegistryError::Protocol(format!(
                "{what}: the registry answered HTTP {} without a usable Location",
                response.status()
            ))
        })
    }
}

/// The upload `location` with the blob's digest added to its query.
fn with_digest(location: &str, digest: &Digest) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={digest}")
}

/// A reader that tells how many bytes of the blob have passed (from `start`).
struct Counting<'a, R> {
    inner: R,
    total: u64,
    sent: &'a dyn Fn(u64),
}

impl<'a, R: Read> Counting<'a, R> {
    fn new(inner: R, start: u64, sent: &'a dyn Fn(u64)) -> Self {
        Counting {
            inner,
            total: start,
            sent,
        }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        (self.sent)(self.total);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_joins_the_query() {
        let digest = Digest::of(b"x");
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/u", &digest),
            format!("http://r/v2/a/blobs/uploads/u?digest={digest}")
        );
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/u?_state=s", &digest),
            format!("http://r/v2/a/blobs/uploads/u?_state=s&digest={digest}")
        );
    }
}
