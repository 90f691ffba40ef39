//! A response body: whole bytes, or chunks that a blocking producer sends as they come (a
//! pull's progress, `logs --follow`, events). When the client goes away hyper drops the body,
//! the channel closes, and the producer's next send fails, which ends it.

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// How many chunks a producer may be ahead of the client.
const CHUNKS_AHEAD: usize = 16;

/// The body of every response the service sends.
pub enum Body {
    /// All of it at once (`None` once sent).
    Full(Option<Bytes>),
    /// Chunks from a producer, until it drops its sender.
    Stream(mpsc::Receiver<Bytes>),
}

impl Body {
    /// A body of `bytes`.
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        Body::Full(Some(bytes.into()))
    }

    /// An empty body.
    pub fn empty() -> Body {
        Body::Full(None)
    }

    /// A streamed body and the sender that feeds it (from a blocking thread:
    /// `Sender::blocking_send`).
    pub fn channel() -> (mpsc::Sender<Bytes>, Body) {
        let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
        (tx, Body::Stream(rx))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}
