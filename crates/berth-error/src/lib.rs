//! One way to say what failed: an OS error together with what was being done.
//!
//! The convention across berth's crates: a failed system call (a [`std::io::Error`] or a
//! [`rustix::io::Errno`]) is given its context at the call site with [`Context::context`]
//! (or [`Context::with_context`] when building the text costs something), which turns it
//! into an [`IoContext`] whose message is `<what was being done>: <the OS error>`, e.g.
//! `mount /proc: Operation not permitted (os error 1)`. Each crate's error type has one
//! `#[error(transparent)] Io(#[from] IoContext)` variant (or an equivalent conversion), so
//! `?` carries it up unchanged; callers that act on the cause (ENOSPC, ENOENT, ...) ask
//! [`IoContext::kind`] or [`IoContext::raw_os_error`]. No crate writes its own
//! `map_err(|e| ... what ...)` closure.
//!
//! [`rustix::io::Errno`]: https://docs.rs/rustix/latest/rustix/io/struct.Errno.html

use std::fmt::Display;
use std::io;

/// A failed system call and what was being done when it failed.
///
/// Displays as `<what>: <source>`; [`std::error::Error::source`] is the OS error.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct IoContext {
    what: String,
    source: io::Error,
}

impl IoContext {
    /// `source` happened while doing `what`.
    pub fn new(what: impl Display, source: impl Into<io::Error>) -> IoContext {
        IoContext {
            what: what.to_string(),
            source: source.into(),
        }
    }

    /// What was being done.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The OS error.
    pub fn io(&self) -> &io::Error {
        &self.source
    }

    /// The kind of the OS error, e.g. [`io::ErrorKind::NotFound`].
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }

    /// The OS error number (`errno`), if the error came from the OS.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// Says what was being done when a system call failed.
///
/// Implemented for every `Result` whose error converts into [`io::Error`], which includes
/// `io::Error` itself and `rustix::io::Errno`.
pub trait Context<T> {
    /// Gives the error the context `what`.
    fn context(self, what: impl Display) -> Result<T, IoContext>;

    /// Gives the error the context `what()`, which is only called on failure.
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, IoContext>;
}

impl<T, E: Into<io::Error>> Context<T> for Result<T, E> {
    fn context(self, what: impl Display) -> Result<T, IoContext> {
        self.map_err(|e| IoContext::new(what, e))
    }

    fn with_context(self, what: impl FnOnce() -> String) -> Result<T, IoContext> {
        self.map_err(|e| IoContext::new(what(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::Errno;

    #[test]
    fn io_error_says_what_then_why() {
        let e = std::fs::read("/nonexistent/berth-error-test")
            .context("read /nonexistent/berth-error-test")
            .unwrap_err();
        assert_eq!(e.what(), "read /nonexistent/berth-error-test");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(e.raw_os_error(), Some(Errno::NOENT.raw_os_error()));
        assert_eq!(
            e.to_string(),
            "read /nonexistent/berth-error-test: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn errno_keeps_its_number() {
        let e = Err::<(), _>(Errno::NOSPC).context("write x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(Errno::NOSPC.raw_os_error()));
        assert!(e.to_string().starts_with("write x: "), "{e}");
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
    }

    #[test]
    fn with_context_is_lazy() {
        let ok: Result<u8, Errno> = Ok(7);
        assert_eq!(ok.with_context(|| unreachable!()).unwrap(), 7);
        let e = Err::<(), _>(Errno::PERM)
            .with_context(|| format!("mount {}", "/proc"))
            .unwrap_err();
        assert_eq!(e.what(), "mount /proc");
    }

    #[test]
    fn source_is_the_os_error() {
        let e = IoContext::new("open", Errno::ACCESS);
        let source = std::error::Error::source(&e).expect("a source");
        assert_eq!(source.to_string(), e.io().to_string());
    }
}
