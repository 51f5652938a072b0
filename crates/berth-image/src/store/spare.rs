//! Spare roots: a released container root's directories, kept for the next container.
//!
//! Every inode made on the store's disk costs there, and so does every one freed: on an ext4
//! without a journal each allocation scans the group's recently freed inodes
//! (`recently_deleted()`), and with `discard` each freed block waits for its discard. So the
//! remover keeps a cleanly unmounted root's `upper`, `work` and `merged` and the bundle files
//! berth writes for every container ([`FILES`], written again in place, in their blocks) as
//! `spare/<n>` (at most [`SPARES`]), and the next root is a spare renamed into
//! `containers/<id>` instead of four directories and up to four files made. What must go (the
//! overlay's `work/work`, an upper or a file the container changed, every other file) is moved
//! into a trash entry for the remover (trash.rs).
//!
//! A root that was only detached (busy) is never kept: its overlay lives on over its upper and
//! work dirs; nor one the remover found unmounted (a stopped kept container's: its unmount
//! may have been such a detach). A spare is checked when it is taken ([`holds_nothing`]): `work` and `merged`
//! empty, `merged` no mount point, `upper` missing or pristine ([`pristine_upper`]), the files
//! a container sees (`hosts`, `resolv.conf`, bound into it) pristine ([`pristine_file`]), no
//! other entry; one that fails goes to the trash and the root is made new. A spare with a file
//! its taker does not write (a `--net host` run writes no `hosts`) is left to another. A spare is complete or
//! absent at every instant (renames only), so a killed command leaves nothing a spare could
//! carry: a release or remover killed half-way leaves unlocked trash entries (a root maybe
//! still mounted), unmounted and removed by the next store command.

use super::trash::{move_free, open_dir, Trashed};
use super::*;
use rustix::fs::{renameat_with, FileType, FlockOperation, Mode, OFlags, RenameFlags, CWD};
use rustix::io::Errno;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, OwnedFd};

const SPARE: &str = "spare";
/// Spares kept at most: as many as releases that run side by side reuse.
pub const SPARES: usize = 4;
/// The files of a root's directory a spare keeps: the store's `image.json` and what the
/// people face writes for every container (config.json; hosts and resolv.conf, which the
/// container sees).
pub const FILES: [&str; 4] = ["image.json", "config.json", "hosts", "resolv.conf"];

impl Store {
    fn spare_dir(&self) -> PathBuf {
        self.root.join(SPARE)
    }

    /// Renames a spare root to `dir` (`containers/<id>`); false when none is left. `writes`:
    /// the files of [`FILES`] the caller writes (over the spare's); a spare with another is
    /// left. A spare that holds anything of its last container goes to the trash.
    pub(super) fn take_spare(&self, dir: &Path, writes: &[&str]) -> Result<bool, StoreError> {
        let spare = self.spare_dir();
        let spare_fd = match open_dir(CWD, &spare) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(IoError::new("open", &spare, e).into()),
        };
        for n in 0..SPARES {
            let name = n.to_string();
            let fits = |e: &(CString, FileType)| {
                let name = e.0.to_bytes();
                name == b"image.json"
                    || !FILES.iter().any(|f| f.as_bytes() == name)
                    || writes.iter().any(|f| f.as_bytes() == name)
            };
            let Ok(candidate) = open_dir(&spare_fd, &name) else {
                continue;
            };
            match entries(&candidate) {
                Ok(e) if e.iter().all(fits) => {}
                _ => continue,
            }
            // Its remover may still hold it (removing what it moved out), and its last
            // container's maker may not have exited yet: the remover's lock would keep the
            // next release from trashing the root, the maker's would make the next root look
            // taken (containers.rs, hold_and_write). Either way, not yet.
            match rustix::fs::flock(&candidate, FlockOperation::NonBlockingLockShared) {
                Ok(()) => {}
                Err(_) => continue,
            }
            if super::containers::maker_alive(&candidate).unwrap_or(true) {
                continue;
            }
            match renameat_with(&spare_fd, &name, CWD, dir, RenameFlags::NOREPLACE) {
                Ok(()) => {}
                // Taken by another command, or never made.
                Err(Errno::NOENT) => continue,
                Err(Errno::EXIST) | Err(Errno::NOTEMPTY) => {
                    return Err(StoreError::ContainerExists(dir.display().to_string()))
                }
                Err(e) => return Err(IoError::new("take a spare root", spare.join(name), e).into()),
            }
            let fd = open_dir(CWD, dir).step("open", dir)?;
            if holds_nothing(&fd).step("check the spare root", dir)? {
                return Ok(true);
            }
            let trash = self.trash_dir();
            let trash_fd = open_dir(CWD, &trash).step("open", &trash)?;
            move_free(CWD, dir, &trash_fd, "refused-spare").step("move to the trash", dir)?;
        }
        Ok(false)
    }

    /// Makes the trash entry `dir` (a root its remover unmounted cleanly, locked by it) a spare:
    /// what must go is moved into the overlay's `work/work`, which becomes its own trash
    /// entry, returned locked for the caller to remove. None when the entry has no
    /// `work/work` (never mounted) or that cannot be moved out: then the whole entry goes.
    pub(super) fn salvage(&self, dir: &Path) -> Option<Trashed> {
        let trash = &open_dir(CWD, self.trash_dir()).ok()?;
        let name = dir.file_name()?.to_str()?;
        let entry = open_dir(trash, name).ok()?;
        let garbage = open_dir(&entry, "work/work").ok()?;
        rustix::fs::flock(&garbage, FlockOperation::NonBlockingLockExclusive).ok()?;
        let gname = move_free(&entry, "work/work", trash, name).ok()?;
        let garbage = Trashed {
            dir: self.trash_dir().join(gname),
            lock: garbage,
            root: false,
        };
        let kept = (|| -> Result<bool, Errno> {
            for (n, kind) in entries(&entry)? {
                if !keeps(&entry, &n, kind)? {
                    renameat_with(&entry, &n, &garbage.lock, &n, RenameFlags::NOREPLACE)?;
                }
            }
            Ok(is_no_mount_point(&entry)? && self.park(trash, name)?)
        })();
        if kept != Ok(true) {
            // Best effort: left in the trash unlocked, the next sweep removes it.
            let _ = renameat_with(trash, name, &garbage.lock, "root", RenameFlags::NOREPLACE);
        }
        Some(garbage)
    }

    /// Renames trash entry `name` to a free `spare/<n>`; false when all are taken.
    fn park(&self, trash: &OwnedFd, name: &str) -> Result<bool, Errno> {
        let spare = self.spare_dir();
        let spare_fd = match open_dir(CWD, &spare) {
            Err(Errno::NOENT) => {
                match rustix::fs::mkdir(&spare, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e),
                }
                open_dir(CWD, &spare)?
            }
            other => other?,
        };
        for n in 0..SPARES {
            match renameat_with(
                trash,
                name,
                &spare_fd,
                n.to_string(),
                RenameFlags::NOREPLACE,
            ) {
                Ok(()) => return Ok(true),
                Err(Errno::EXIST) | Err(Errno::NOTEMPTY) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }
}

/// Whether a spare holds nothing of an earlier container: each entry one it [`keeps`], and
/// `merged` no mount point.
fn holds_nothing(dir: &OwnedFd) -> Result<bool, Errno> {
    for (name, kind) in entries(dir)? {
        if !keeps(dir, &name, kind)? {
            return Ok(false);
        }
    }
    is_no_mount_point(dir)
}

/// Whether a spare keeps the entry `name` of `dir`: `work` and `merged` empty directories,
/// `upper` pristine, the store's and berth's own files regular files, those a container sees
/// pristine.
fn keeps(dir: &OwnedFd, name: &CStr, kind: FileType) -> Result<bool, Errno> {
    let (dirs, file) = (kind == FileType::Directory, kind == FileType::RegularFile);
    Ok(match name.to_bytes() {
        b"work" | b"merged" => dirs && is_empty(open_dir(dir, name)?)?,
        b"upper" => dirs && pristine_upper(dir)?,
        b"image.json" | b"config.json" => file,
        b"hosts" | b"resolv.conf" => file && pristine_file(dir, name)?,
        _ => false,
    })
}

fn is_no_mount_point(dir: &OwnedFd) -> Result<bool, Errno> {
    let mnt_id = |fd: &OwnedFd| -> Result<u64, Errno> {
        let flags = rustix::fs::AtFlags::EMPTY_PATH;
        Ok(rustix::fs::statx(fd, "", flags, rustix::fs::StatxFlags::MNT_ID)?.stx_mnt_id)
    };
    match open_dir(dir, "merged") {
        Ok(merged) => Ok(mnt_id(&merged)? == mnt_id(dir)?),
        Err(Errno::NOENT) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Whether the file `name` in `dir`, which a container saw (bound into it), is as berth
/// wrote it, so writing a new content over it leaves nothing of the last container: open
/// nowhere else (a file lease: no process holds a descriptor of it), one link,
/// the mode, owner, inode flags and extended attributes of `image.json` beside it (written the
/// same way, and never within a container's reach). Its content is written over whole.
fn pristine_file(dir: &OwnedFd, name: &CStr) -> Result<bool, Errno> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let open = |n: &CStr| rustix::fs::openat(dir, n, flags, Mode::empty());
    let (f, image) = match (open(name), open(c"image.json")) {
        (Ok(f), Ok(i)) => (f, i),
        (Err(Errno::NOENT), _) | (_, Err(Errno::NOENT)) => return Ok(false),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    // A container can hand its /etc/hosts to a process outside (over a socket it was given):
    // a file open anywhere else is never reused, or that process would write the next
    // container's /etc/hosts.
    let alone = crate::sys::open_nowhere_else(f.as_fd())
        .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
    let (s, i) = (rustix::fs::fstat(&f)?, rustix::fs::fstat(&image)?);
    Ok(alone
        && s.st_nlink == 1
        && (s.st_mode, s.st_uid, s.st_gid) == (i.st_mode, i.st_uid, i.st_gid)
        && rustix::fs::ioctl_getflags(&f).ok() == rustix::fs::ioctl_getflags(&image).ok()
        && xattrs(&f)?.is_some_and(|a| Some(a) == xattrs(&image).ok().flatten()))
}

/// The extended attributes of a file, names and values, sorted; None when there are more
/// than berth makes (names over 1 KiB, a value over 4 KiB).
type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;
fn xattrs(fd: &OwnedFd) -> Result<Option<Xattrs>, Errno> {
    let mut names = vec![0u8; 1024];
    match rustix::fs::flistxattr(fd, &mut names[..]) {
        Ok(n) => names.truncate(n),
        Err(Errno::RANGE) => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 4096];
        let name = CString::new(name).map_err(|_| Errno::INVAL)?;
        match rustix::fs::fgetxattr(fd, name.as_c_str(), &mut value[..]) {
            Ok(n) => value.truncate(n),
            Err(Errno::RANGE) => return Ok(None),
            Err(e) => return Err(e),
        }
        out.push((name.into_bytes(), value));
    }
    out.sort();
    Ok(Some(out))
}

/// Whether `dir/upper` is as berth made it, so a new container's root starts from the image
/// alone: empty, with the mode, owner and inode flags of `dir/work` (made beside it the same
/// way, and never within a container's reach), and the extended attributes of `work` (a
/// security label) plus overlayfs' own (`trusted.overlay.*`, which only overlayfs and the
/// host's root can set). A container that changed its `/` (chmod, chown, an attribute or ACL)
/// leaves an upper that is not reused.
fn pristine_upper(dir: &OwnedFd) -> Result<bool, Errno> {
    let (upper, work) = (open_dir(dir, "upper")?, open_dir(dir, "work")?);
    let (u, w) = (rustix::fs::fstat(&upper)?, rustix::fs::fstat(&work)?);
    if (u.st_mode, u.st_uid, u.st_gid) != (w.st_mode, w.st_uid, w.st_gid) {
        return Ok(false);
    }
    if rustix::fs::ioctl_getflags(&upper).ok() != rustix::fs::ioctl_getflags(&work).ok() {
        return Ok(false);
    }
    // Overlayfs' own aside, the attributes `work` has (a security label), no other.
    let own = |a: Xattrs| -> Xattrs {
        a.into_iter()
            .filter(|(n, _)| !n.starts_with(b"trusted.overlay."))
            .collect()
    };
    let attrs = match (xattrs(&upper)?, xattrs(&work)?) {
        (Some(u), Some(w)) => own(u) == own(w),
        _ => false,
    };
    Ok(attrs && is_empty(upper)?)
}

/// The entries of a directory but `.` and `..`, with their types.
fn entries(dir: &OwnedFd) -> Result<Vec<(CString, FileType)>, Errno> {
    list(dir, rustix::fs::Dir::read_from(dir)?)
}

/// Whether the directory `dir` (read through this fd, not a copy) has no entry.
fn is_empty(dir: OwnedFd) -> Result<bool, Errno> {
    for entry in rustix::fs::Dir::new(dir)? {
        let name = entry?.file_name().to_owned();
        if name.as_c_str() != c"." && name.as_c_str() != c".." {
            return Ok(false);
        }
    }
    Ok(true)
}

fn list(at: &OwnedFd, dir: rustix::fs::Dir) -> Result<Vec<(CString, FileType)>, Errno> {
    let mut out = Vec::new();
    for entry in dir {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::Unknown => FileType::from_raw_mode(
                rustix::fs::statat(at, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?.st_mode,
            ),
            kind => kind,
        };
        out.push((name.to_owned(), kind));
    }
    Ok(out)
}
