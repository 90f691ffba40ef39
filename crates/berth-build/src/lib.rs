//! `berth build`: a Dockerfile and a context directory into an image.
//!
//! - [`dockerfile`]: the Dockerfile as parsed ([`dockerfile::ast`]), its parser, and variable
//!   expansion as Docker's builder does it.
//! - [`builder`]: the steps run into an image, with a cache of their results.

pub mod builder;
pub mod dockerfile;
