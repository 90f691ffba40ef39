//! A proxy in front of a registry that misbehaves on purpose: error statuses, connections cut
//! or stalled mid-body, bodies longer than the blob, connections closed or left unanswered,
//! redirects of blobs to another host name. It records every request it sees.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use ureq::http;

/// One way to misbehave.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer `status` (with `Retry-After` when set) to the first `times` requests whose path
    /// contains `path`.
    Status {
        /// A part of the request path.
        path: String,
        /// The status to answer.
        status: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u32>,
        /// How many requests.
        times: usize,
    },
    /// Cut the connection after `after` bytes of the body, for the first `times` GETs whose
    /// path contains `path`.
    Cut {
        /// A part of the request path.
        path: String,
        /// Bytes of body sent before the cut.
        after: usize,
        /// How many requests.
        times: usize,
    },
    /// Send the body up to byte `after` of the whole (a `Range` request that starts at byte N
    /// gets `after - N` bytes, if any), then nothing for `stall`, then the rest, for the first
    /// `times` GETs whose path contains `path`.
    Stall {
        /// A part of the request path.
        path: String,
        /// The offset in the whole body where the stall is.
        after: usize,
        /// How long nothing is sent.
        stall: Duration,
        /// How many requests.
        times: usize,
    },
    /// Send the whole body and then `extra` zero bytes more, for the first `times` GETs whose
    /// path contains `path`; chunked (no `Content-Length`) when `chunked`. The proxy counts how
    /// many of the extra bytes it got to send (`extra_bytes_sent`).
    Longer {
        /// A part of the request path.
        path: String,
        /// Bytes appended to the body.
        extra: u64,
        /// Whether the answer leaves out `Content-Length`.
        chunked: bool,
        /// How many requests.
        times: usize,
    },
    /// Answer the first `times` requests whose path contains `path` with this body and
    /// content type instead of the registry's.
    Body {
        /// A part of the request path.
        path: String,
        /// The content type to answer with.
        content_type: String,
        /// The body to answer with.
        body: Vec<u8>,
        /// How many requests.
        times: usize,
    },
    /// Redirect every blob GET to the same proxy under the host name `localhost` (another
    /// host, for the client); there the blob is fetched with `upstream_basic`, if any.
    RedirectBlobs {
        /// Credentials the "blob storage" side uses upstream.
        upstream_basic: Option<(String, String)>,
    },
}

/// A request the proxy saw.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The `Host` header.
    pub host: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The `Range` header, if any.
    pub range: Option<String>,
}

struct State {
    upstream: String,
    faults: Mutex<Vec<(Fault, usize)>>,
    seen: Mutex<Vec<Seen>>,
    agent: ureq::Agent,
    port: u16,
    extra_sent: Arc<AtomicU64>,
}

/// The running proxy; stopped when dropped.
pub struct FaultProxy {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
    state: Arc<State>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port for the registry at `upstream`
    /// (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, faults: Vec<Fault>) -> crate::Result<FaultProxy> {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").map_err(|e| e.to_string())?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or("proxy has no IP address")?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let faults = faults
            .into_iter()
            .map(|f| {
                let times = match &f {
                    Fault::Status { times, .. }
                    | Fault::Cut { times, .. }
                    | Fault::Stall { times, .. }
                    | Fault::Longer { times, .. }
                    | Fault::Body { times, .. } => *times,
                    Fault::RedirectBlobs { .. } => usize::MAX,
                };
                (f, times)
            })
            .collect();
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            faults: Mutex::new(faults),
            seen: Mutex::new(Vec::new()),
            agent,
            port: addr.port(),
            extra_sent: Arc::new(AtomicU64::new(0)),
        });
        let (srv, st) = (Arc::clone(&server), Arc::clone(&state));
        let thread = std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                let st = Arc::clone(&st);
                std::thread::spawn(move || handle(&st, request));
            }
        });
        Ok(FaultProxy {
            server,
            thread: Some(thread),
            addr,
            state,
        })
    }

    /// `127.0.0.1:PORT`, to use in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("seen lock").clone()
    }

    /// How many bytes past the real bodies `Fault::Longer` got to send so far.
    pub fn extra_bytes_sent(&self) -> u64 {
        self.state.extra_sent.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The first fault that applies to this request, counted down.
fn take_fault(state: &State, method: &str, path: &str, host: &str) -> Option<Fault> {
    let mut faults = state.faults.lock().expect("faults lock");
    for (fault, left) in faults.iter_mut() {
        let applies = match fault {
            Fault::Status { path: p, .. } | Fault::Body { path: p, .. } => {
                path.contains(p.as_str())
            }
            Fault::Cut { path: p, .. }
            | Fault::Stall { path: p, .. }
            | Fault::Longer { path: p, .. } => method == "GET" && path.contains(p.as_str()),
            Fault::RedirectBlobs { .. } => {
                method == "GET" && path.contains("/blobs/sha256:") && !host.starts_with("localhost")
            }
        };
        if applies && *left > 0 {
            *left -= 1;
            return Some(fault.clone());
        }
    }
    None
}

fn handle(state: &State, mut request: tiny_http::Request) {
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_owned(),
            )
        })
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let seen = Seen {
        method: request.method().as_str().to_owned(),
        path: request.url().to_owned(),
        host: header("Host").unwrap_or_default(),
        authorization: header("Authorization"),
        range: header("Range"),
    };
    state.seen.lock().expect("seen lock").push(seen.clone());
    let fault = take_fault(state, &seen.method, &seen.path, &seen.host);
    if let Some(Fault::Status {
        status,
        retry_after,
        ..
    }) = &fault
    {
        let mut response = tiny_http::Response::from_string(
            "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"injected fault\"}]}",
        )
        .with_status_code(*status);
        if let Some(seconds) = retry_after {
            response.add_header(
                tiny_http::Header::from_bytes("Retry-After", seconds.to_string()).expect("header"),
            );
        }
        let _ = request.respond(response);
        return;
    }
    if let Some(Fault::Body {
        content_type, body, ..
    }) = &fault
    {
        let response = tiny_http::Response::from_data(body.clone()).with_header(
            tiny_http::Header::from_bytes("Content-Type", content_type.as_str()).expect("header"),
        );
        let _ = request.respond(response);
        return;
    }
    if let Some(Fault::RedirectBlobs { .. }) = &fault {
        let location = format!("http://localhost:{}{}", state.port, seen.path);
        let response = tiny_http::Response::empty(307)
            .with_header(tiny_http::Header::from_bytes("Location", location).expect("header"));
        let _ = request.respond(response);
        return;
    }

    // Forward upstream.
    let mut body = Vec::new();
    let _ = request.as_reader().read_to_end(&mut body);
    let mut upstream = http::Request::builder()
        .method(seen.method.as_str())
        .uri(format!("{}{}", state.upstream, seen.path));
    for name in ["Accept", "Range", "Content-Type", "Content-Range"] {
        if let Some(value) = header(name) {
            upstream = upstream.header(name, value);
        }
    }
    let redirected_storage = seen.host.starts_with("localhost");
    if redirected_storage {
        let creds = state
            .faults
            .lock()
            .expect("faults lock")
            .iter()
            .find_map(|(f, _)| match f {
                Fault::RedirectBlobs { upstream_basic } => upstream_basic.clone(),
                _ => None,
            });
        if let Some((user, password)) = creds {
            upstream = upstream.header(
                "Authorization",
                format!("Basic {}", B64.encode(format!("{user}:{password}"))),
            );
        }
    } else if let Some(value) = &seen.authorization {
        upstream = upstream.header("Authorization", value.as_str());
    }
    let Ok(upstream) = upstream.body(body) else {
        return;
    };
    let mut response = match state.agent.run(upstream) {
        Ok(response) => response,
        Err(_) => {
            let _ = request.respond(tiny_http::Response::empty(502));
            return;
        }
    };
    let status = response.status().as_u16();
    let mut headers = Vec::new();
    for name in [
        "Content-Type",
        "Docker-Content-Digest",
        "WWW-Authenticate",
        "Content-Range",
        "Location",
        "Docker-Distribution-Api-Version",
    ] {
        if let Some(value) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
            let value = value.replace(&state.upstream, &format!("http://127.0.0.1:{}", state.port));
            headers.push(tiny_http::Header::from_bytes(name, value).expect("header"));
        }
    }
    let data = response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .unwrap_or_default();
    let length = match &fault {
        _ if seen.method == "HEAD" => response
            .headers()
            .get("Content-Length")
            .and_then(|v| v.to_str().ok()?.parse().ok()),
        Some(Fault::Longer { chunked: true, .. }) => None,
        Some(Fault::Longer { extra, .. }) => Some(data.len() + *extra as usize),
        _ => Some(data.len()),
    };
    let reader: Box<dyn Read + Send> = match fault {
        Some(Fault::Cut { after, .. }) => Box::new(CutReader {
            data,
            at: 0,
            cut: after,
        }),
        Some(Fault::Stall { after, stall, .. }) => {
            let start: usize = seen
                .range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
                .unwrap_or(0);
            let after = after.saturating_sub(start).min(data.len());
            let rest = data[after..].to_vec();
            let mut data = data;
            data.truncate(after);
            Box::new(io::Cursor::new(data).chain(StallReader {
                stall: Some(stall),
                rest: io::Cursor::new(rest),
            }))
        }
        Some(Fault::Longer { extra, .. }) => Box::new(io::Cursor::new(data).chain(ZeroReader {
            left: extra,
            sent: Arc::clone(&state.extra_sent),
        })),
        _ => Box::new(io::Cursor::new(data)),
    };
    let _ = request.respond(tiny_http::Response::new(
        status.into(),
        headers,
        reader,
        length,
        None,
    ));
}

/// Yields `cut` bytes, then fails: the connection drops mid-body.
struct CutReader {
    data: Vec<u8>,
    at: usize,
    cut: usize,
}

impl Read for CutReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at >= self.cut.min(self.data.len()) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "injected cut",
            ));
        }
        let n = buf.len().min(self.cut.min(self.data.len()) - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Sends nothing for `stall`, then `rest`.
struct StallReader {
    stall: Option<Duration>,
    rest: io::Cursor<Vec<u8>>,
}

impl Read for StallReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(stall) = self.stall.take() {
            std::thread::sleep(stall);
        }
        self.rest.read(buf)
    }
}

/// `left` zero bytes, counted into `sent` as they are read.
struct ZeroReader {
    left: u64,
    sent: Arc<AtomicU64>,
}

impl Read for ZeroReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].fill(0);
        self.left -= n as u64;
        self.sent.fetch_add(n as u64, Ordering::SeqCst);
        Ok(n)
    }
}
