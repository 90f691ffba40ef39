//! berth images: references, the registry client, the content store and layer unpacking.

pub mod archive;
pub mod changes;
pub mod digest;
pub mod import;
pub mod layer_in;
pub mod layer_out;
pub mod local;
pub mod manifest;
pub mod new_image;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;
