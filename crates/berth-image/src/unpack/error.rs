//! The error of an unpack: each names the tar entry or path involved.

use std::io;
use std::path::PathBuf;

/// Errors from unpacking a layer; each names the tar entry or path involved.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("open layer directory {path}: {source}")]
    OpenRoot { path: PathBuf, source: io::Error },
    #[error("read layer stream: {0}")]
    Read(#[source] io::Error),
    #[error("tar entry {entry:?} escapes the layer directory ({why})")]
    Escape { entry: String, why: &'static str },
    #[error("tar entry {entry:?}: parent component {component:?} is a symlink or not a directory")]
    ThroughSymlink { entry: String, component: String },
    #[error("tar entry {entry:?}: {step}: {source}")]
    Entry {
        entry: String,
        step: &'static str,
        source: io::Error,
    },
    #[error(
        "tar entry {entry:?}: {need} bytes of data do not fit in the {free} bytes left free \
         on the store's filesystem"
    )]
    NoSpace { entry: String, need: u64, free: u64 },
}
