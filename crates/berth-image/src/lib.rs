//! Image store, layer unpacking, overlay roots and the registry client for berth.
//!
//! One call per people-facing command, all on [`Store`] (root default [`DEFAULT_ROOT`]):
//!
//! | command | call |
//! |---|---|
//! | `berth image ls` | [`Store::list`] (+ [`Store::disk_usage`]) |
//! | `berth image inspect REF` | [`Store::inspect`] |
//! | `berth image rm [-f] REF` | [`Store::remove`] |
//! | `berth image prune` | [`Store::prune`] |
//! | `berth image import PATH NAME` | [`Store::import`] (kind detected; [`Store::import_source`] to force one) |
//! | `berth image pull [--insecure] REF` | [`Store::pull`] with [`PullOptions`] |
//! | `berth image push LOCAL [REMOTE]` | [`Store::push`] (layers rebuilt by [`Store::layer_tar`]) |
//! | `berth image tag SRC DST` | [`Store::tag`] |
//! | `berth image save` / `load` | [`Store::save`] / [`Store::load`] |
//! | `berth run IMAGE` (create) | [`Store::create_container_root`] → rootfs path + image config (volatile when it is removed at exit) |
//! | `berth delete` of such a container | [`Store::trash_container_root`] (moved, still mounted), then [`Trashed::finish`] after the command (unmounted, kept as a spare or removed) (or [`Store::remove_container_root`] at once; both idempotent) |
//!
//! Lower-level pieces are public for the runtime and tests: [`unpack::unpack_layer`] (safe layer
//! extraction), [`mount_overlay`] / [`unmount_overlay`], [`Reference`] parsing.
//! Nothing here spawns threads except `pull` (layer workers) and directory import (one tar
//! producer); nothing here is async.

pub mod auth;
pub mod commit;
pub mod digest;
pub mod import;
pub mod manifest;
pub mod overlay;
pub mod reference;
pub mod registry;
pub mod save;
pub mod store;
mod sys;
mod tarlimit;
pub mod unpack;

pub use import::{ImportError, ImportSource};
pub use manifest::Platform;
pub use overlay::{mount_overlay, mount_overlay_on, unmount_overlay, OverlayError, OverlayOptions};
pub use reference::{Reference, ReferenceError};
pub use registry::{ProgressMode, PullError, PullOptions};
pub use save::{SaveError, SaveFormat};
pub use store::containers::{ContainerLayers, RootSource, UserUpper};
pub use store::export::ExportedImage;
pub use store::trash::Trashed;
pub use store::{
    ContainerRoot, DiskUsage, ImageDetails, ImageRecord, ImageSummary, PruneReport, Store,
    StoreError, DEFAULT_ROOT,
};
