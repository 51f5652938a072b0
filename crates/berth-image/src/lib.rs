//! Image store, layer unpacking, overlay roots and the registry client for berth.

pub mod auth;
pub mod digest;
pub mod import;
pub mod manifest;
pub mod overlay;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use import::{ImportError, ImportSource};
pub use manifest::Platform;
pub use overlay::{mount_overlay, unmount_overlay, OverlayError};
pub use reference::{Reference, ReferenceError};
pub use registry::{ProgressMode, PullError, PullOptions};
pub use store::{
    ContainerRoot, DiskUsage, ImageDetails, ImageRecord, ImageSummary, PruneReport, Store,
    StoreError, DEFAULT_ROOT,
};
