//! What the engine tells the user along the way, beside its results and errors: Docker's
//! warnings (`WARNING: ...`) and notes (`Unable to find image 'x' locally`), and a pull's
//! progress. The engine prints nothing itself; each front door (the CLI) shows them its way.

use berth_image::pull::Progress;

/// Where the engine's warnings, notes and pull progress go.
pub trait Notices: Progress {
    /// Something the user should know that does not stop the command (Docker's `WARNING:`).
    fn warning(&self, text: &str);
    /// What the command is doing on the user's behalf (e.g. pulling a missing image).
    fn note(&self, text: &str);
}
