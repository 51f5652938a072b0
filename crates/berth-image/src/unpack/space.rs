//! The free-space budget a layer's data is charged against before it is written.

use super::UnpackError;
use rustix::fs as rfs;
use std::os::fd::AsFd;
use std::path::Path;

/// What the unpack may still write: the space free under the layer directory when it began.
/// Each file's data is charged before it is written, so a layer that cannot fit is refused
/// before it fills the store's filesystem (concurrent writers can still take the space first:
/// then the write fails with ENOSPC, and the caller removes the partial layer all the same).
pub(crate) struct SpaceBudget {
    left: u64,
    block: u64,
}

impl SpaceBudget {
    /// The budget of the filesystem holding `root` (an fd of the directory `dest`).
    pub(crate) fn of(root: impl AsFd, dest: &Path) -> Result<SpaceBudget, UnpackError> {
        let st = rfs::fstatvfs(root).map_err(|e| UnpackError::OpenRoot {
            path: dest.to_path_buf(),
            source: e.into(),
        })?;
        Ok(SpaceBudget {
            left: st.f_bavail.saturating_mul(st.f_frsize),
            block: st.f_frsize.max(1),
        })
    }

    /// Takes `bytes` (rounded up to whole blocks) from the budget, or refuses the entry.
    pub(crate) fn charge(&mut self, bytes: u64, entry: &str) -> Result<(), UnpackError> {
        let need = bytes.div_ceil(self.block).saturating_mul(self.block);
        if need > self.left {
            return Err(UnpackError::NoSpace {
                entry: entry.to_string(),
                need: bytes,
                free: self.left,
            });
        }
        self.left -= need;
        Ok(())
    }
}
