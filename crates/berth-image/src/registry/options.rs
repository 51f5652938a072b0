//! What `image pull` is told: registry access, platform, progress, parallelism.

use crate::manifest::Platform;
use std::path::PathBuf;

/// How pull reports progress (on stderr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    Bars,
    Lines,
    Quiet,
}

/// Options of `image pull`.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// Talk plain HTTP to the registry (`--insecure`).
    pub insecure: bool,
    /// Read credentials from this file only, instead of the usual ones.
    pub auth_file: Option<PathBuf>,
    /// Platform to select from a multi-platform image; the host's by default.
    pub platform: Option<Platform>,
    pub progress: ProgressMode,
    /// Layers fetched at once.
    pub jobs: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            insecure: false,
            auth_file: None,
            platform: None,
            progress: ProgressMode::Auto,
            jobs: 3,
        }
    }
}
