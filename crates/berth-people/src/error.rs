//! The people face's error: one variant per source, naming the step and the value involved.

use berth_common::io::IoError;
use std::path::Path;

/// Everything the people face can fail at, naming the step and the value involved.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Image(#[from] berth_image::StoreError),
    #[error(transparent)]
    Net(#[from] berth_net::attach::AttachError),
    #[error(transparent)]
    NetStore(#[from] berth_net::store::StoreError),
    #[error(transparent)]
    Ipam(#[from] berth_net::ipam::IpamError),
    #[error(transparent)]
    Tap(#[from] berth_net::tap::TapError),
    #[error(transparent)]
    Etc(#[from] berth_net::etc::EtcError),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Criu(#[from] crate::criu::CriuError),
}

/// The error of `step` on `path`, for `map_err` (elsewhere `berth_common::io::Step` does it).
pub(crate) fn io_err(
    step: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> PeopleError {
    let path = path.to_path_buf();
    move |source| IoError::new(step, path, source).into()
}
