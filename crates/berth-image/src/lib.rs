//! berth images: references, the registry client, the content store and layer unpacking.
