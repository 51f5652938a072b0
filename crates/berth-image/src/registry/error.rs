//! The error of a pull: each names the URL, digest or file involved.

use crate::auth;
use crate::store::StoreError;
use berth_common::io::IoError;

/// Errors from a pull; each names the URL, digest or file involved.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    /// `request` is `METHOD URL`; `hint` says what to do, when berth knows.
    #[error("{request}: {source}{hint}")]
    Http {
        request: String,
        source: Box<ureq::Error>,
        hint: String,
    },
    #[error("{request}: HTTP {status}{detail}")]
    Status {
        request: String,
        status: u16,
        detail: String,
    },
    #[error("{registry}: authentication failed: {why}")]
    Unauthorized { registry: String, why: String },
    #[error("{what}: digest mismatch, expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: {why}")]
    Document { what: String, why: String },
    #[error("{reference} has no image for platform {platform}")]
    NoPlatform { reference: String, platform: String },
    #[error(transparent)]
    Io(#[from] IoError),
}
