//! The error of an import: each names the file or entry involved.

use crate::store::StoreError;
use berth_common::io::IoError;
use std::path::{Path, PathBuf};

/// Errors from importing an image; each names the file or entry involved.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{path}: {what}")]
    Format { path: PathBuf, what: String },
    #[error("{what}: digest mismatch, expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("build image metadata: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
}

pub(super) fn format_err(path: &Path, what: impl Into<String>) -> ImportError {
    ImportError::Format {
        path: path.to_path_buf(),
        what: what.into(),
    }
}
