//! The service: a single-threaded tokio runtime that accepts connections, serves HTTP/1.1 on
//! each, and runs every request's engine work on the blocking pool. It exits after `idle`
//! without a connection (Podman's `--time`), or when SIGTERM or SIGINT arrives.

use crate::body::Body;
use crate::listen::Bound;
use crate::reply::ApiError;
use crate::request::{Request, parse_query, percent_decode, strip_version};
use berth_engine::config::EngineConfig;
use berth_engine::paths::Roots;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};

/// The largest request body the service reads (a container's create options, a tag).
const MAX_BODY: usize = 4 << 20;

/// How long the end of the service waits for blocking work still under way.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What every request may use: the roots and configuration the command line resolved, and a
/// handle on the runtime for producers that outlive their handler.
pub struct State {
    /// The data roots.
    pub roots: Roots,
    /// The engine's configuration.
    pub config: EngineConfig,
    /// The runtime, for blocking producers of streamed bodies.
    pub runtime: tokio::runtime::Handle,
}

/// Connections open, and when the last one closed.
struct Activity {
    open: AtomicUsize,
    last: Mutex<Instant>,
}

/// The service failed to start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The runtime could not be made.
    #[error("start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The listener could not be handed to the runtime.
    #[error("listen: {0}")]
    Listen(std::io::Error),
}

/// Serves the API on `bound` until `idle` passes without a connection (never for `None`).
pub fn serve(
    roots: Roots,
    config: EngineConfig,
    bound: Bound,
    idle: Option<Duration>,
) -> Result<(), ServiceError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServiceError::Runtime)?;
    let state = Arc::new(State {
        roots,
        config,
        runtime: runtime.handle().clone(),
    });
    let socket_path = match &bound {
        Bound::Unix { path, .. } => path.clone(),
        Bound::Tcp(_) => None,
    };
    let result = runtime.block_on(accept_loop(state, bound, idle));
    // Producers whose clients went away end at their next send; none is waited for long.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    if let Some(path) = socket_path {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// A listener in the runtime.
enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

/// Accepts until idle; each connection is served on a task of its own.
async fn accept_loop(
    state: Arc<State>,
    bound: Bound,
    idle: Option<Duration>,
) -> Result<(), ServiceError> {
    let listener = match bound {
        Bound::Unix { listener, .. } => {
            listener
                .set_nonblocking(true)
                .map_err(ServiceError::Listen)?;
            Listener::Unix(
                tokio::net::UnixListener::from_std(listener).map_err(ServiceError::Listen)?,
            )
        }
        Bound::Tcp(listener) => {
            listener
                .set_nonblocking(true)
                .map_err(ServiceError::Listen)?;
            Listener::Tcp(
                tokio::net::TcpListener::from_std(listener).map_err(ServiceError::Listen)?,
            )
        }
    };
    let activity = Arc::new(Activity {
        open: AtomicUsize::new(0),
        last: Mutex::new(Instant::now()),
    });
    // A stop signal ends the loop: each wakes the accept below through this channel.
    let (stop_tx, mut stop_rx) = tokio::sync::mpsc::channel::<()>(1);
    spawn_signal_watch(stop_tx);
    loop {
        let wait = match idle {
            None => Duration::from_secs(3600),
            Some(idle) => {
                let since = activity.last.lock().map_or(Duration::ZERO, |t| t.elapsed());
                idle.saturating_sub(since).max(Duration::from_millis(10))
            }
        };
        let next = std::future::poll_fn(|cx| {
            if stop_rx.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(None);
            }
            let accepted = match &listener {
                Listener::Unix(l) => l.poll_accept(cx).map(|r| r.map(|(s, _)| Conn::Unix(s))),
                Listener::Tcp(l) => l.poll_accept(cx).map(|r| r.map(|(s, _)| Conn::Tcp(s))),
            };
            accepted.map(Some)
        });
        match tokio::time::timeout(wait, next).await {
            Ok(None) => return Ok(()),
            Ok(Some(Ok(conn))) => {
                activity.open.fetch_add(1, Ordering::SeqCst);
                let (state, activity) = (state.clone(), activity.clone());
                tokio::spawn(async move {
                    match conn {
                        Conn::Unix(s) => serve_connection(state, s).await,
                        Conn::Tcp(s) => serve_connection(state, s).await,
                    }
                    if let Ok(mut last) = activity.last.lock() {
                        *last = Instant::now();
                    }
                    activity.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Ok(Some(Err(e))) => tracing::warn!(error = %e, "accept failed"),
            Err(_elapsed) => {
                let quiet = activity.last.lock().map_or(Duration::ZERO, |t| t.elapsed());
                if let Some(idle) = idle
                    && activity.open.load(Ordering::SeqCst) == 0
                    && quiet >= idle
                {
                    return Ok(());
                }
            }
        }
    }
}

/// An accepted connection.
enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

/// Sends on `stop` when SIGTERM or SIGINT arrives (through a self-pipe that the signal's
/// handler writes, watched by a thread of its own that ends with the process).
fn spawn_signal_watch(stop: tokio::sync::mpsc::Sender<()>) {
    let Ok((read, write)) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) else {
        return;
    };
    let write = std::os::fd::IntoRawFd::into_raw_fd(write);
    SIGNAL_PIPE.store(write, Ordering::SeqCst);
    extern "C" fn on_signal(_: libc::c_int) {
        let fd = SIGNAL_PIPE.load(Ordering::SeqCst);
        // SAFETY: write(2) is async-signal-safe; the buffer is one static byte.
        unsafe { libc::write(fd, b"s".as_ptr().cast(), 1) };
    }
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only calls write(2), which is async-signal-safe.
        unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
    }
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        if rustix::io::read(&read, &mut byte).is_ok() {
            let _ = stop.blocking_send(());
        }
    });
}

/// The write end of the signal pipe.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// Serves HTTP/1.1 on one connection.
async fn serve_connection<S>(state: Arc<State>, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| handle(state.clone(), request));
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "connection ended");
    }
}

/// One request: parsed, routed, answered; an error becomes Docker's error body.
async fn handle(
    state: Arc<State>,
    request: hyper::Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    tracing::debug!(method = %request.method(), uri = %request.uri(), "request");
    let reply = match parse(request).await {
        Ok(request) => {
            let state = state.clone();
            match tokio::task::spawn_blocking(move || crate::route::route(&state, &request)).await {
                Ok(reply) => reply,
                Err(e) => Err(ApiError::internal(format!("the handler failed: {e}"))),
            }
        }
        Err(e) => Err(e),
    };
    Ok(reply.unwrap_or_else(|e| e.response()))
}

/// The request's version checked, its path and query decoded, its body read.
async fn parse(request: hyper::Request<Incoming>) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let path = strip_version(parts.uri.path())?;
    let segments = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s, false))
        .collect();
    let query = parts.uri.query().map(parse_query).unwrap_or_default();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            ApiError::with(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read the request body: {e}"),
            )
        })?
        .to_bytes();
    Ok(Request {
        method: parts.method,
        segments,
        query,
        headers: parts.headers,
        body,
    })
}
