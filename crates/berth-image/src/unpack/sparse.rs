//! GNU sparse entries: the data they store, written with their holes kept.

use super::paths::fd_path;
use super::UnpackError;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::OwnedFd;

/// The bytes of data a GNU sparse entry stores: its header's size field, unless a PAX `size`
/// record overrides it (the tar crate reads that many).
pub(super) fn sparse_data_size<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &str,
) -> Result<u64, UnpackError> {
    let bad = |source| UnpackError::Entry {
        entry: name.to_string(),
        step: "read the size of a sparse file",
        source,
    };
    if let Some(exts) = entry.pax_extensions().map_err(bad)? {
        for ext in exts.flatten() {
            if ext.key() == Ok("size") {
                let size = ext.value().ok().and_then(|v| v.parse().ok());
                return size.ok_or_else(|| bad(io::Error::other("PAX size is not a number")));
            }
        }
    }
    entry.header().entry_size().map_err(bad)
}

/// Writes a GNU sparse entry as a sparse file. The tar crate knows the entry's map of data
/// regions and holes (including extension headers) but exposes it only through
/// `Entry::unpack`, which writes the data and seeks over the holes; reading the entry instead
/// would produce every zero of the holes (a 12 KB tar can describe an 8 GiB file). The path
/// goes through `/proc/self/fd` of the safely opened parent, and the file is created with
/// `O_CREAT | O_EXCL`, which never follows a symlink.
pub(super) fn write_sparse<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    parent: &OwnedFd,
    base: &OsStr,
    name: &str,
) -> Result<(), UnpackError> {
    // apply_meta sets the mtime with everything else, after this.
    entry.set_preserve_mtime(false);
    entry
        .unpack(fd_path(parent).join(base))
        .map_err(|err| UnpackError::Entry {
            entry: name.to_string(),
            step: "write sparse file",
            source: err,
        })?;
    Ok(())
}
