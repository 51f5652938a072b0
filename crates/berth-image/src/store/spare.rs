//! Spare roots: a released container root's directories, kept for the next container.
//!
//! Every inode made on the store's disk costs there, and so does every one freed: on an ext4
//! without a journal each allocation scans the group's recently freed inodes
//! (`recently_deleted()`), and with `discard` each freed block waits for its discard. So the
//! release keeps a cleanly unmounted root's `upper`, `work` and `merged` and the two bundle
//! files written in place for every container (`image.json`, `config.json`: no container sees
//! them) as `spare/<n>` (at most [`SPARES`]), and the next root is a spare renamed into
//! `containers/<id>` instead of four directories and two files made. What must go (the
//! overlay's `work/work`, an upper the container changed, every other file) is moved into a
//! trash entry for the remover (trash.rs).
//!
//! A root that was only detached (busy) is never kept: its overlay lives on over its upper and
//! work dirs. A spare is checked when it is taken ([`holds_nothing`]): `work` and `merged`
//! empty, `merged` no mount point, `upper` missing or pristine ([`pristine_upper`]), no other
//! entry; one that fails goes to the trash and the root is made new. A spare is complete or
//! absent at every instant (renames only), so a killed command leaves nothing a spare could
//! carry: a release killed half-way leaves unlocked trash entries, swept by the next store
//! command.

use super::trash::{move_free, open_dir, Trashed};
use super::*;
use rustix::fs::{renameat_with, FileType, FlockOperation, Mode, RenameFlags, CWD};
use rustix::io::Errno;
use std::ffi::CString;
use std::os::fd::OwnedFd;

const SPARE: &str = "spare";
/// Spares kept at most: as many as releases that run side by side reuse.
pub const SPARES: usize = 4;

impl Store {
    fn spare_dir(&self) -> PathBuf {
        self.root.join(SPARE)
    }

    /// Renames a spare root to `dir` (`containers/<id>`); false when none is left. A spare
    /// that holds anything of its last container goes to the trash.
    pub(super) fn take_spare(&self, dir: &Path) -> Result<bool, StoreError> {
        let spare = self.spare_dir();
        let spare_fd = match open_dir(CWD, &spare) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(false),
            Err(e) => return Err(IoError::new("open", &spare, e).into()),
        };
        for n in 0..SPARES {
            let name = n.to_string();
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

    /// Makes the trash entry `name` (a root just unmounted cleanly, locked by the caller) a
    /// spare: what must go is moved into the overlay's `work/work`, which becomes its own
    /// trash entry, returned locked for the remover. None when the entry has no `work/work`
    /// (never mounted) or that cannot be moved out: then the whole entry goes.
    pub(super) fn salvage(&self, trash: &OwnedFd, name: &str) -> Option<Trashed> {
        let entry = open_dir(trash, name).ok()?;
        let garbage = open_dir(&entry, "work/work").ok()?;
        rustix::fs::flock(&garbage, FlockOperation::NonBlockingLockExclusive).ok()?;
        let gname = move_free(&entry, "work/work", trash, name).ok()?;
        let garbage = Trashed {
            dir: self.trash_dir().join(gname),
            lock: garbage,
        };
        let kept = (|| -> Result<bool, Errno> {
            for (n, kind) in entries(&entry)? {
                let keep = match n.to_bytes() {
                    b"work" | b"merged" => kind == FileType::Directory,
                    b"upper" => kind == FileType::Directory && pristine_upper(&entry)?,
                    b"image.json" | b"config.json" => kind == FileType::RegularFile,
                    _ => false,
                };
                if !keep {
                    renameat_with(&entry, &n, &garbage.lock, &n, RenameFlags::NOREPLACE)?;
                }
            }
            if !holds_nothing(&entry)? {
                return Ok(false);
            }
            self.park(trash, name)
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

/// Whether a spare holds nothing of an earlier container: only the entries a spare keeps,
/// `work` and `merged` empty directories, `merged` no mount point, `upper` missing or
/// pristine, the two files regular files (rewritten whole).
fn holds_nothing(dir: &OwnedFd) -> Result<bool, Errno> {
    for (name, kind) in entries(dir)? {
        let ok = match name.to_bytes() {
            b"work" | b"merged" => {
                kind == FileType::Directory && entries(&open_dir(dir, &name)?)?.is_empty()
            }
            b"upper" => kind == FileType::Directory && pristine_upper(dir)?,
            b"image.json" | b"config.json" => kind == FileType::RegularFile,
            _ => false,
        };
        if !ok {
            return Ok(false);
        }
    }
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

/// Whether `dir/upper` is as berth made it, so a new container's root starts from the image
/// alone: empty, with the mode, owner and inode flags of `dir/work` (made beside it the same
/// way, and never within a container's reach), and no extended attribute but overlayfs' own
/// (`trusted.overlay.*`, which only overlayfs and the host's root can set). A container that
/// changed its `/` (chmod, chown, an attribute or ACL) leaves an upper that is not reused.
fn pristine_upper(dir: &OwnedFd) -> Result<bool, Errno> {
    let (upper, work) = (open_dir(dir, "upper")?, open_dir(dir, "work")?);
    if !entries(&upper)?.is_empty() {
        return Ok(false);
    }
    let (u, w) = (rustix::fs::fstat(&upper)?, rustix::fs::fstat(&work)?);
    if (u.st_mode, u.st_uid, u.st_gid) != (w.st_mode, w.st_uid, w.st_gid) {
        return Ok(false);
    }
    if rustix::fs::ioctl_getflags(&upper).ok() != rustix::fs::ioctl_getflags(&work).ok() {
        return Ok(false);
    }
    let mut names = [0u8; 1024];
    let n = match rustix::fs::flistxattr(&upper, &mut names[..]) {
        Ok(n) => n,
        // More names than overlayfs sets.
        Err(Errno::RANGE) => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(names[..n]
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .all(|a| a.starts_with(b"trusted.overlay.")))
}

/// The entries of a directory but `.` and `..`, with their types.
fn entries(dir: &OwnedFd) -> Result<Vec<(CString, FileType)>, Errno> {
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::Unknown => FileType::from_raw_mode(
                rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)?.st_mode,
            ),
            kind => kind,
        };
        out.push((name.to_owned(), kind));
    }
    Ok(out)
}
