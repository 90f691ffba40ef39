//! `berth build`: a Dockerfile and a context directory into an image.
//!
//! - [`dockerfile`]: the Dockerfile as parsed ([`dockerfile::ast`]), its parser
//!   ([`dockerfile::parse`]), and variable expansion as Docker's builder does it
//!   ([`dockerfile::expand`]).
//! - [`dockerignore`]: which files of the context `.dockerignore` leaves out.

pub mod dockerfile;
pub mod dockerignore;
