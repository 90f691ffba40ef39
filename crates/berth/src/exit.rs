//! Exit codes as Docker uses them, and the error type that carries one.

/// The engine failed (bad flag, bad reference, missing image, registry error ...).
pub const ENGINE: i32 = 125;

/// An error with the exit code berth ends with.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code.
    pub code: i32,
    /// What went wrong, shown as `berth: <error>`.
    pub error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure {
            code: ENGINE,
            error,
        }
    }
}

/// What a command returns: its exit code, or a failure.
pub type Outcome = Result<i32, Failure>;

/// An error and its causes in one line, each cause added only when the text so far does not
/// already say it (many errors print their source themselves).
pub fn message(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
