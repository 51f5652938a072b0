//! Image store, layer unpacking, overlay roots and the registry client for berth.

pub mod digest;
pub mod unpack;
