//! Entry paths: normalized components, parents opened without following symlinks, the entry
//! a new one replaces.

use super::UnpackError;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// The parent directory of the previous entry, reused while entries stay in one directory
/// (tars list a directory's files together), which saves a walk from the root per entry.
pub(super) struct ParentCache {
    pub(super) key: Vec<OsString>,
    pub(super) fd: Option<OwnedFd>,
}

impl ParentCache {
    /// Forgets the cached directory if an entry replaces `touched` and `touched` is the cached
    /// directory or one of its ancestors: the fd would point at a directory no longer in the tree.
    pub(super) fn invalidate(&mut self, touched: &[OsString]) {
        if self.key.starts_with(touched) {
            self.fd = None;
        }
    }

    pub(super) fn get(
        &mut self,
        root: &OwnedFd,
        parents: &[OsString],
        entry: &str,
    ) -> Result<&OwnedFd, UnpackError> {
        if self.fd.is_none() || self.key != parents {
            self.fd = None;
            self.key = parents.to_vec();
        }
        match &mut self.fd {
            Some(fd) => Ok(fd),
            slot => Ok(slot.insert(open_parent(root, parents, entry, true)?)),
        }
    }
}

/// Splits a tar path into safe components: leading `/` and `.` dropped, `..` refused.
pub(super) fn normalize(raw: &[u8], entry: &str) -> Result<Vec<OsString>, UnpackError> {
    let mut out = Vec::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                return Err(UnpackError::Escape {
                    entry: entry.to_string(),
                    why: "'..' path component",
                })
            }
            Component::Prefix(_) => {
                return Err(UnpackError::Escape {
                    entry: entry.to_string(),
                    why: "path prefix",
                })
            }
        }
    }
    Ok(out)
}

/// Opens the directory `parents` below `root`, one component at a time with O_NOFOLLOW, creating
/// missing ones (mode 0755) if `create`.
pub(super) fn open_parent(
    root: &OwnedFd,
    parents: &[OsString],
    entry: &str,
    create: bool,
) -> Result<OwnedFd, UnpackError> {
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut cur =
        rfs::openat(root, ".", flags, Mode::empty()).map_err(|err| UnpackError::Entry {
            entry: entry.to_string(),
            step: "reopen layer root",
            source: err.into(),
        })?;
    for comp in parents {
        let next = match rfs::openat(&cur, comp.as_os_str(), flags, Mode::empty()) {
            Err(Errno::NOENT) if create => {
                match rfs::mkdirat(&cur, comp.as_os_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(err) => {
                        return Err(UnpackError::Entry {
                            entry: entry.to_string(),
                            step: "create parent directory",
                            source: err.into(),
                        })
                    }
                }
                rfs::openat(&cur, comp.as_os_str(), flags, Mode::empty())
            }
            other => other,
        };
        cur = match next {
            Ok(fd) => fd,
            Err(Errno::LOOP) | Err(Errno::NOTDIR) => {
                return Err(UnpackError::ThroughSymlink {
                    entry: entry.to_string(),
                    component: comp.to_string_lossy().into_owned(),
                })
            }
            Err(err) => {
                return Err(UnpackError::Entry {
                    entry: entry.to_string(),
                    step: "open parent directory",
                    source: err.into(),
                })
            }
        };
    }
    Ok(cur)
}

/// Clears the way for a new entry: a later entry replaces an earlier one, except that a
/// directory over a directory merges.
pub(super) fn remove_existing(
    parent: &OwnedFd,
    base: &OsStr,
    new_is_dir: bool,
    entry: &str,
) -> Result<(), UnpackError> {
    let st = match rfs::statat(parent, base, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Ok(()),
        Err(err) => {
            return Err(UnpackError::Entry {
                entry: entry.to_string(),
                step: "stat existing",
                source: err.into(),
            })
        }
    };
    let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    if is_dir && new_is_dir {
        return Ok(());
    }
    if is_dir {
        // /proc/self/fd/N is the real parent directory; remove_dir_all never follows symlinks.
        let path = fd_path(parent).join(base);
        std::fs::remove_dir_all(&path).map_err(|err| UnpackError::Entry {
            entry: entry.to_string(),
            step: "remove replaced directory",
            source: err,
        })
    } else {
        rfs::unlinkat(parent, base, AtFlags::empty()).map_err(|err| UnpackError::Entry {
            entry: entry.to_string(),
            step: "remove replaced entry",
            source: err.into(),
        })
    }
}

pub(super) fn fd_path(fd: &OwnedFd) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd()))
}
