//! One error for a failed I/O step, for every crate: what was being done (`step`), to which
//! file if any (`path`), and the system's answer (`source`). Error enums wrap it
//! (`#[error(transparent)] Io(#[from] IoError)`) instead of each carrying its own copy.
//!
//! ```text
//! fs::read_to_string(path).step("read config", path)?;   // read config /x/config.json: …
//! clone3(…).during("clone")?;                             // clone: …
//! ```

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A failed I/O step. Shown as `STEP PATH: CAUSE`, or `STEP: CAUSE` without a path.
#[derive(Debug)]
pub struct IoError {
    pub step: &'static str,
    pub path: Option<PathBuf>,
    pub source: io::Error,
}

impl IoError {
    /// `step` on `path` failed with `source`.
    pub fn new(step: &'static str, path: impl Into<PathBuf>, source: impl Into<io::Error>) -> Self {
        IoError {
            step,
            path: Some(path.into()),
            source: source.into(),
        }
    }

    /// `step`, which names no file, failed with `source`.
    pub fn during(step: &'static str, source: impl Into<io::Error>) -> Self {
        IoError {
            step,
            path: None,
            source: source.into(),
        }
    }

    /// For `map_err`: the error of `step` on `path`, made from the cause.
    pub fn at<E: Into<io::Error>>(
        step: &'static str,
        path: impl AsRef<Path>,
    ) -> impl FnOnce(E) -> IoError {
        let path = path.as_ref().to_path_buf();
        move |source| IoError::new(step, path, source)
    }

    /// The kind of the underlying error (`NotFound`, …).
    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{} {}: {}", self.step, path.display(), self.source),
            None => write!(f, "{}: {}", self.step, self.source),
        }
    }
}

impl std::error::Error for IoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// An io error keeps its kind, with the step and path in its message.
impl From<IoError> for io::Error {
    fn from(e: IoError) -> Self {
        io::Error::new(e.source.kind(), e)
    }
}

/// Names the step (and the file) of a failing I/O result: `fs::read(p).step("read", p)?`.
/// Works on any error that converts into `io::Error` (std and rustix errnos).
pub trait Step<T> {
    /// The step failed on `path`.
    fn step(self, step: &'static str, path: impl AsRef<Path>) -> Result<T, IoError>;
    /// The step, which names no file, failed.
    fn during(self, step: &'static str) -> Result<T, IoError>;
}

impl<T, E: Into<io::Error>> Step<T> for Result<T, E> {
    fn step(self, step: &'static str, path: impl AsRef<Path>) -> Result<T, IoError> {
        self.map_err(|e| IoError::new(step, path.as_ref(), e))
    }

    fn during(self, step: &'static str) -> Result<T, IoError> {
        self.map_err(|e| IoError::during(step, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_step_path_and_cause() {
        let e = Err::<(), _>(io::Error::from(io::ErrorKind::NotFound))
            .step("open", "/a b")
            .unwrap_err();
        assert_eq!(e.to_string(), "open /a b: entity not found");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let e = Err::<(), _>(io::Error::other("boom"))
            .during("clone")
            .unwrap_err();
        assert_eq!(e.to_string(), "clone: boom");
        let back: io::Error = e.into();
        assert_eq!(back.to_string(), "clone: boom");
    }
}
