//! berth images: references, the registry client, the content store and layer unpacking.

pub mod digest;
pub mod manifest;
pub mod reference;
pub mod registry;
pub mod unpack;
