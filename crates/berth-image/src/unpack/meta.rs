//! An entry's metadata: owner, mode, xattrs (never overlayfs's own) and mtime.

use super::paths::fd_path;
use super::UnpackError;
use rustix::fs::{self as rfs, AtFlags, Mode, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::OwnedFd;

/// Ownership, mode, xattrs and mtime for a just-created entry (`base` None: `dir` itself).
pub(super) fn apply_meta<R: Read>(
    dir: &OwnedFd,
    base: Option<&OsString>,
    entry: &tar::Entry<'_, R>,
    xattrs: &[(String, Vec<u8>)],
    as_root: bool,
    name: &str,
) -> Result<(), UnpackError> {
    let h = entry.header();
    let kind = h.entry_type();
    let target: &OsStr = base.map(|b| b.as_os_str()).unwrap_or(OsStr::new(""));
    let flags = if base.is_some() {
        AtFlags::SYMLINK_NOFOLLOW
    } else {
        AtFlags::EMPTY_PATH
    };
    let err = |step: &'static str| {
        move |e: Errno| UnpackError::Entry {
            entry: name.to_string(),
            step,
            source: e.into(),
        }
    };
    if as_root {
        let uid = h.uid().unwrap_or(0) as u32;
        let gid = h.gid().unwrap_or(0) as u32;
        rfs::chownat(
            dir,
            target,
            Some(rfs::Uid::from_raw(uid)),
            Some(rfs::Gid::from_raw(gid)),
            flags,
        )
        .map_err(err("chown"))?;
    }
    if !kind.is_symlink() {
        // After chown, which clears setuid/setgid bits.
        let mode = Mode::from_bits_truncate(h.mode().unwrap_or(0o644) & 0o7777);
        match base {
            Some(b) => rfs::chmodat(dir, b.as_os_str(), mode, AtFlags::empty()),
            None => rfs::fchmod(dir, mode),
        }
        .map_err(err("chmod"))?;
    }
    if !xattrs.is_empty() {
        let path = match base {
            Some(b) => fd_path(dir).join(b),
            None => fd_path(dir),
        };
        for (xname, value) in xattrs {
            rfs::lsetxattr(&path, xname.as_str(), value, XattrFlags::empty())
                .map_err(err("set xattr"))?;
        }
    }
    if !kind.is_dir() {
        let mtime = h.mtime().unwrap_or(0) as i64;
        let ts = Timespec {
            tv_sec: mtime,
            tv_nsec: 0,
        };
        rfs::utimensat(
            dir,
            target,
            &Timestamps {
                last_access: ts,
                last_modification: ts,
            },
            flags,
        )
        .map_err(err("set mtime"))?;
    }
    Ok(())
}

/// `SCHILY.xattr.*` PAX records of an entry, as (name, value).
pub(super) fn entry_xattrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    name: &str,
) -> Result<Vec<(String, Vec<u8>)>, UnpackError> {
    let mut out = Vec::new();
    let exts = entry.pax_extensions().map_err(|err| UnpackError::Entry {
        entry: name.to_string(),
        step: "read PAX headers",
        source: err,
    })?;
    for ext in exts.into_iter().flatten() {
        let ext = ext.map_err(|err| UnpackError::Entry {
            entry: name.to_string(),
            step: "parse PAX record",
            source: err,
        })?;
        if let Some(xname) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
            // overlayfs reads its own trusted.overlay.* attributes (redirect, metacopy, origin)
            // from layer files: only berth's whiteout handling may set them.
            if xname.starts_with("trusted.overlay.") {
                continue;
            }
            out.push((xname.to_string(), ext.value_bytes().to_vec()));
        }
    }
    Ok(out)
}
