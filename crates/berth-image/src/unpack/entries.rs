//! The walk over a layer tar's entries: each entry created in its safely opened parent.

use super::meta::{apply_meta, entry_xattrs};
use super::paths::{normalize, open_parent, remove_existing, ParentCache};
use super::space::SpaceBudget;
use super::sparse::{sparse_data_size, write_sparse};
use super::split::Recorder;
use super::UnpackError;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Unpacks the tar `reader` into `dest`; with `split`, tells it where each file's content is
/// (the reader is then a [`super::split::Recording`] feeding the same recorder).
pub(super) fn unpack_tar<R: Read>(
    reader: R,
    dest: &Path,
    split: Option<&std::cell::RefCell<Recorder>>,
) -> Result<u64, UnpackError> {
    let root = rfs::open(
        dest,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::OpenRoot {
        path: dest.to_path_buf(),
        source: e.into(),
    })?;
    let as_root = rustix::process::geteuid().is_root();
    let mut space = SpaceBudget::of(&root, dest)?;
    let mut archive = tar::Archive::new(crate::tarlimit::Limited::new(reader));
    let mut dir_times: Vec<(Vec<OsString>, u64)> = Vec::new();
    let mut size = 0u64;
    let mut parents_cache = ParentCache {
        key: Vec::new(),
        fd: None,
    };
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let comps = normalize(&raw, &name)?;
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader) {
            continue;
        }
        let xattrs = entry_xattrs(&mut entry, &name)?;
        let e = |step: &'static str| {
            let name = name.clone();
            move |err: Errno| UnpackError::Entry {
                entry: name,
                step,
                source: err.into(),
            }
        };
        let Some((base, parents)) = comps.split_last() else {
            // The layer root itself ("./"): keep its mode and owner, it becomes the merged root's.
            apply_meta(&root, None, &entry, &xattrs, as_root, &name)?;
            continue;
        };
        let base_bytes = base.as_bytes();
        if base_bytes == b".wh..wh..opq" {
            let dir = parents_cache.get(&root, parents, &name)?;
            rfs::fsetxattr(dir, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                .map_err(e("set trusted.overlay.opaque"))?;
            continue;
        }
        if let Some(target) = base_bytes.strip_prefix(b".wh.") {
            if target.starts_with(b".wh.") {
                // aufs bookkeeping (.wh..wh.plnk etc.): meaningless for overlayfs.
                continue;
            }
            if target.is_empty() || target == b"." || target == b".." {
                return Err(UnpackError::Escape {
                    entry: name,
                    why: "whiteout of . or ..",
                });
            }
            let target = OsStr::from_bytes(target);
            let mut touched = parents.to_vec();
            touched.push(target.to_os_string());
            parents_cache.invalidate(&touched);
            let dir = parents_cache.get(&root, parents, &name)?;
            remove_existing(dir, target, false, &name)?;
            rfs::mknodat(
                dir,
                target,
                FileType::CharacterDevice,
                Mode::empty(),
                rfs::makedev(0, 0),
            )
            .map_err(e("create whiteout device"))?;
            continue;
        }
        parents_cache.invalidate(&comps);
        let parent = parents_cache.get(&root, parents, &name)?;
        let is_dir = kind.is_dir();
        remove_existing(parent, base, is_dir, &name)?;
        let mode = Mode::from_bits_truncate(entry.header().mode().unwrap_or(0o644) & 0o7777);
        match kind {
            tar::EntryType::Directory => {
                match rfs::mkdirat(parent, base.as_os_str(), Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {
                        let mtime = entry.header().mtime().unwrap_or(0);
                        dir_times.push((comps.clone(), mtime));
                    }
                    Err(err) => return Err(e("mkdir")(err)),
                }
            }
            tar::EntryType::GNUSparse => {
                // Only the data regions are stored (and charged); holes stay holes.
                let data = sparse_data_size(&mut entry, &name)?;
                space.charge(data, &name)?;
                write_sparse(&mut entry, parent, base, &name)?;
                size += data;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                space.charge(entry.size(), &name)?;
                if let Some(r) = split {
                    r.borrow_mut()
                        .content(entry.raw_file_position(), entry.size(), &comps)
                        .map_err(UnpackError::Read)?;
                }
                let fd = rfs::openat(
                    parent,
                    base.as_os_str(),
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(e("create file"))?;
                let mut file = std::fs::File::from(fd);
                size += io::copy(&mut entry, &mut file).map_err(|err| UnpackError::Entry {
                    entry: name.clone(),
                    step: "write file contents",
                    source: err,
                })?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| UnpackError::Entry {
                        entry: name.clone(),
                        step: "read symlink target",
                        source: io::Error::new(
                            io::ErrorKind::InvalidData,
                            "symlink without target",
                        ),
                    })?
                    .into_owned();
                // The target is stored, not followed: it is resolved inside the container root at run time.
                rfs::symlinkat(OsStr::from_bytes(&target), parent, base.as_os_str())
                    .map_err(e("create symlink"))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let tcomps = normalize(&target, &name)?;
                let Some((tbase, tparents)) = tcomps.split_last() else {
                    return Err(UnpackError::Escape {
                        entry: name,
                        why: "hard link to the layer root",
                    });
                };
                let tdir = open_parent(&root, tparents, &name, false)?;
                rfs::linkat(
                    &tdir,
                    tbase.as_os_str(),
                    parent,
                    base.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(e("create hard link"))?;
                // Metadata belongs to the shared inode, already set by the entry that made it.
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                rfs::mknodat(
                    parent,
                    base.as_os_str(),
                    ft,
                    mode,
                    rfs::makedev(major, minor),
                )
                .map_err(e("create device node"))?;
            }
            // PAX/GNU extension headers are folded into the next entry by the tar crate; anything
            // else (unknown vendor types) carries nothing a root filesystem needs.
            _ => continue,
        }
        apply_meta(parent, Some(base), &entry, &xattrs, as_root, &name)?;
    }
    // Directory mtimes last: creating entries inside a directory bumps its mtime.
    for (comps, mtime) in dir_times.iter().rev() {
        let Some((base, parents)) = comps.split_last() else {
            continue;
        };
        let Ok(dir) = open_parent(&root, parents, "", false) else {
            continue;
        };
        let ts = Timespec {
            tv_sec: *mtime as i64,
            tv_nsec: 0,
        };
        let _ = rfs::utimensat(
            &dir,
            base.as_os_str(),
            &Timestamps {
                last_access: ts,
                last_modification: ts,
            },
            AtFlags::SYMLINK_NOFOLLOW,
        );
    }
    Ok(size)
}
