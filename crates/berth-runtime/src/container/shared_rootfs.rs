//! The rootfs of a container without a mount namespace of its own (`init/shared_mnt.rs`):
//! its mounts are made in the caller's namespace, all under one private recursive bind of
//! the rootfs onto itself. The parent makes that bind as a detached tree and records the
//! tree's mount ID in the state before attaching it, so whoever deletes the container (even
//! after a create killed half way) detaches exactly that bind and every mount under it, and
//! never a bind another container made over the same rootfs. runc and crun leave them.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::{io, Result};
use crate::state::{ContainerDir, State};
use crate::sys;
use berth_common::io::{IoError, Step};

/// Binds the rootfs onto itself, private (so the container's mounts never propagate to the
/// caller's peers), with the bind's mount ID saved in the state before it is attached.
pub(super) fn bind(dir: &ContainerDir, state: &mut State, rootfs: &Path) -> Result<()> {
    let target = open_path(rootfs).step("open rootfs", rootfs)?;
    let tree = sys::clone_tree(target.as_fd(), true).step("bind rootfs", rootfs)?;
    sys::mount_setattr(tree.as_fd(), true, 0, 0, libc::MS_PRIVATE)
        .step("make private the bind of rootfs", rootfs)?;
    // Intent first: a crash before the attach leaves an ID that matches nothing, and the
    // detached tree goes with the fd.
    state.rootfs_mount =
        Some(sys::mount_id(tree.as_fd()).step("read the mount ID of rootfs", rootfs)?);
    dir.save(state)?;
    Ok(sys::move_mount(tree.as_fd(), target.as_fd()).step("attach the bind of rootfs", rootfs)?)
}

/// Detaches the bind `bind` made, with every mount under it, if it is still the top mount
/// of the rootfs. Repeatable: once detached, its ID matches nothing.
pub(super) fn release(state: &State) -> Result<()> {
    let Some(id) = state.rootfs_mount else {
        return Ok(());
    };
    let root = match open_path(&state.rootfs) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(IoError::new("open rootfs", &state.rootfs, e).into()),
    };
    let top = sys::mount_id(root.as_fd()).map_err(io("read the rootfs mount ID"))?;
    if top != id {
        if is_mounted(id) {
            crate::warn::warn(&format!(
                "the mounts of container {} under {} are kept: another mount covers them",
                state.id,
                state.rootfs.display()
            ));
        }
        return Ok(());
    }
    // Through the fd: the mount checked above is the one detached, whatever the path
    // leads to by now.
    let by_fd = format!("/proc/self/fd/{}", root.as_raw_fd());
    rustix::mount::unmount(by_fd.as_str(), rustix::mount::UnmountFlags::DETACH)
        .step("unmount rootfs", &state.rootfs)?;
    Ok(())
}

fn open_path(path: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Whether a mount with this ID is in this process's mount namespace.
fn is_mounted(id: u64) -> bool {
    let id = id.to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .is_ok_and(|m| m.lines().any(|l| l.split(' ').next() == Some(&id)))
}
