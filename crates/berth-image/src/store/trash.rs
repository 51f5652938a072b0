//! The trash: container roots whose removal runs after the command that released them.
//!
//! Removing a root is mostly giving its directories back to the disk (on an ext4 mounted with
//! `discard`, every rmdir waits for a discard) and unmounting its overlay (the kernel waits out
//! an RCU grace period in every unmount: ~0.2 ms here), and nobody waits for either but the
//! command that released the root. So the release renames `containers/<id>`, still mounted,
//! into `trash/` (the ID is free at once and no listing shows it; a mount moves with its
//! directory), and the caller hands the entry to a remover that runs on its own
//! ([`Trashed`]): it unmounts the overlay, then keeps a spare or removes the rest. The entry
//! stays flocked while its remover lives; one that was killed leaves an unlocked entry, maybe
//! still mounted, which the next store command unmounts and removes ([`Store::open`]).

use super::*;
use rustix::fs::{renameat_with, Mode, OFlags, RenameFlags, CWD};
use rustix::io::Errno;
use std::os::fd::{AsFd, OwnedFd};

const TRASH: &str = "trash";

/// A container root moved into the trash, flocked through `lock` (an fd of the entry): the
/// lock is held while any copy of that fd is open, so the remover it is handed to (as an
/// inherited fd) holds it until it is done or dies.
#[derive(Debug)]
pub struct Trashed {
    /// `trash/<name>`.
    pub dir: PathBuf,
    pub lock: OwnedFd,
    /// A container's root, moved here still mounted: once its overlay unmounts cleanly, what a
    /// spare keeps of it is kept (spare.rs).
    pub(super) root: bool,
}

impl Trashed {
    /// The remover's work: the root's overlay unmounted, what a spare root keeps of the entry
    /// becomes one (when the overlay was not busy), the rest is removed. Off the command's
    /// path: the release has only moved the root here.
    pub fn finish(&self, store: &Store) -> Result<(), StoreError> {
        if self.root && crate::overlay::unmount_merged_clean(&self.dir)? {
            if let Some(garbage) = store.salvage(&self.dir) {
                return garbage.remove();
            }
        }
        self.remove()
    }

    /// Unmounts and removes the entry (the lock holder does this, or the sweep of an
    /// unlocked one).
    pub fn remove(&self) -> Result<(), StoreError> {
        remove_entry(&self.dir)
    }
}

impl Store {
    /// `trash/`, beside `containers/` (one filesystem: an entry gets there by a rename).
    pub(super) fn trash_dir(&self) -> PathBuf {
        self.root.join(TRASH)
    }

    /// Moves the root of container `id`, still mounted, into the trash, locked; None when the
    /// container has no root (gone already, or being released by another command). A root
    /// with the user's upper dir (`run --upper DIR`) is not trashed: its work dir beside DIR
    /// must be gone before another container may use DIR, so it is unmounted and removed at
    /// once. The remover unmounts the overlay; one that unmounts cleanly leaves its
    /// directories as a spare root for the next container (spare.rs, [`Trashed::finish`]).
    pub fn trash_container_root(&self, container_id: &str) -> Result<Option<Trashed>, StoreError> {
        let dir = self.container_dir(container_id)?;
        if self.user_upper(container_id)?.is_some() {
            self.remove_container_root(container_id)?;
            return Ok(None);
        }
        let lock = match open_dir(CWD, &dir) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(IoError::new("open container dir", &dir, e).into()),
        };
        match rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => return Ok(None),
            Err(e) => return Err(IoError::new("flock", &dir, e).into()),
        }
        let trash = self.trash_dir();
        let trash_fd = match open_dir(CWD, &trash) {
            // A store made before the trash (the release opens it as it is).
            Err(Errno::NOENT) => {
                match rustix::fs::mkdir(&trash, Mode::from_raw_mode(0o700)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(IoError::new("create", &trash, e).into()),
                }
                open_dir(CWD, &trash)
            }
            other => other,
        }
        .step("open", &trash)?;
        // An entry of the same ID may still be on its way out: the next free name.
        let name = match move_free(CWD, &dir, &trash_fd, container_id) {
            Ok(name) => name,
            // Released meanwhile by another command (it had opened it before this lock).
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(IoError::new("move to the trash", &dir, e).into()),
        };
        let dir = trash.join(name);
        Ok(Some(Trashed {
            dir,
            lock,
            root: true,
        }))
    }

    /// Removes every trash entry that no remover holds: one whose remover was killed. An
    /// empty trash costs one open and one read of the directory.
    pub fn sweep_trash(&self) -> Result<usize, StoreError> {
        let trash = self.trash_dir();
        let mut n = 0;
        for name in list_names(&trash)? {
            let dir = trash.join(&name);
            let fd = match open_dir(CWD, &dir) {
                Ok(fd) => fd,
                // Its remover finished meanwhile.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(IoError::new("open trash entry", &dir, e).into()),
            };
            if rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err() {
                continue;
            }
            remove_entry(&dir)?;
            n += 1;
        }
        Ok(n)
    }
}

/// Renames `from` (relative to `from_dir`) into `to_dir` under the first free name of `base`,
/// `base.1`, `base.2`, …, and returns that name.
pub(super) fn move_free(
    from_dir: impl AsFd,
    from: impl rustix::path::Arg + Copy,
    to_dir: &OwnedFd,
    base: &str,
) -> Result<String, Errno> {
    for n in 0u32.. {
        let name = match n {
            0 => base.to_string(),
            n => format!("{base}.{n}"),
        };
        match renameat_with(&from_dir, from, to_dir, &name, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(name),
            Err(Errno::EXIST) | Err(Errno::NOTEMPTY) => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("u32 names run out before the trash does")
}

/// A directory opened without following a symlink, its fd close-on-exec.
pub(super) fn open_dir(at: impl AsFd, path: impl rustix::path::Arg) -> Result<OwnedFd, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rustix::fs::openat(at, path, flags, Mode::empty())
}

fn remove_entry(dir: &Path) -> Result<(), StoreError> {
    // A root comes here mounted: its remover unmounts it first, and so does the sweep of one
    // whose remover was killed before (an overlay still busy is detached). Nothing below is
    // removed through a mount.
    crate::overlay::unmount_merged(dir)?;
    match crate::overlay::remove_tree(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IoError::new("remove trash entry", dir, e).into()),
    }
}
