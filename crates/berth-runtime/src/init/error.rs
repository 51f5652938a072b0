//! The init's error: text with the failing step, since it crosses the handshake as a
//! string. Its own module, so the init's parts depend on it and not on each other.

use std::fmt::Display;

/// An error inside the init, already formatted: it crosses the handshake as text.
#[derive(Debug)]
pub struct InitError(pub String);

impl Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Adds the failing step to any error.
pub trait Ctx<T> {
    fn ctx(self, step: impl FnOnce() -> String) -> Result<T, InitError>;
}

impl<T, E: Display> Ctx<T> for Result<T, E> {
    fn ctx(self, step: impl FnOnce() -> String) -> Result<T, InitError> {
        self.map_err(|e| InitError(format!("{}: {}", step(), e)))
    }
}
