//! berth images: references, the registry client, the content store and layer unpacking.

pub mod archive;
pub mod digest;
pub mod layer_in;
pub mod local;
pub mod manifest;
pub mod new_image;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;
