//! Read-only and masked paths: what covers them is made or verified by berth, never a
//! path the image chooses.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{makedev, openat2, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::resolve::open_in_root;
use super::syscall::Syscall;
use crate::init::error::{Ctx, InitError};

/// A read-only copy of the tree at `path`, submounts included (a plain read-only remount
/// would leave a mount under /proc/sys writable), put in place in one step: the copy is
/// made read-only while detached, then attached over the original.
pub(super) fn make_readonly(
    os: &dyn Syscall,
    root: BorrowedFd<'_>,
    path: &Path,
) -> Result<(), InitError> {
    let target = match open_in_root(root, path, OFlags::PATH) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(InitError(format!("open: {e}"))),
    };
    let tree = os
        .clone_tree(target.as_fd(), true)
        .ctx(|| "copy the mount tree".into())?;
    os.mount_setattr(tree.as_fd(), true, libc::MOUNT_ATTR_RDONLY, 0, 0)
        .ctx(|| "make the copy read-only".into())?;
    os.move_mount(tree.as_fd(), target.as_fd())
        .ctx(|| "attach the read-only copy".into())
}

/// Covers `path` with an object berth made or verified, never one the image can choose:
/// a directory with a fresh read-only tmpfs (which hides every mount below it), anything
/// else with a copy of the container's /dev/null that is proven to be the null device
/// (char 1:3) through an fd opened without following any symlink (CVE-2025-31133).
pub(super) fn mask(
    os: &dyn Syscall,
    root: BorrowedFd<'_>,
    path: &Path,
    null: &mut Option<OwnedFd>,
) -> Result<(), InitError> {
    let target = match open_in_root(root, path, OFlags::PATH) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(InitError(format!("open: {e}"))),
    };
    let st = rustix::fs::fstat(&target).ctx(|| "stat".into())?;
    let tree = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let attrs = libc::MOUNT_ATTR_RDONLY
            | libc::MOUNT_ATTR_NOSUID
            | libc::MOUNT_ATTR_NODEV
            | libc::MOUNT_ATTR_NOEXEC;
        os.detached_tmpfs(attrs)
            .ctx(|| "make an empty read-only tmpfs".into())?
    } else {
        if null.is_none() {
            *null = Some(verified_null(root)?);
        }
        let null = null.as_ref().expect("just set");
        os.clone_tree(null.as_fd(), false)
            .ctx(|| "copy /dev/null".into())?
    };
    os.move_mount(tree.as_fd(), target.as_fd())
        .ctx(|| "mount over it".into())
}

/// The container's /dev/null, opened without following any symlink and checked to be the
/// null device: any char 1:3 node is, whoever made it.
fn verified_null(root: BorrowedFd<'_>) -> Result<OwnedFd, InitError> {
    let fd = openat2(
        root,
        "dev/null",
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS,
    )
    .ctx(|| "open /dev/null".into())?;
    let st = rustix::fs::fstat(&fd).ctx(|| "stat /dev/null".into())?;
    let is_char = FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice;
    if !is_char || st.st_rdev != makedev(1, 3) {
        return Err(InitError(
            "/dev/null in the container is not the null device (char 1:3): refusing to mask with it"
                .into(),
        ));
    }
    Ok(fd)
}
