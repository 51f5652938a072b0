//! A container without a mount namespace of its own (no `mount` entry in linux.namespaces)
//! shares the caller's: as runc and crun do, its mounts are made there, under the rootfs,
//! and it enters the rootfs with chroot. Nothing that would change the caller's own view
//! is done: no propagation change of "/", no pivot_root or MS_MOVE onto "/". Masked and
//! read-only paths are refused at validation (spec.rs), as runc refuses them.
//!
//! The mounts stay in the caller's namespace after the container is gone, as with runc and
//! crun: they all hang under one bind of the rootfs onto itself, so one
//! `umount -l <rootfs>` removes them.

use std::path::Path;

use nix::mount::MsFlags;

use super::error::{Ctx, InitError};
use super::rootfs::Syscall;

/// Binds the rootfs onto itself, private, so the container's mounts (and a read-only root
/// remount) apply to that bind only and never propagate to the caller's peers.
pub fn prepare(os: &dyn Syscall, rootfs: &Path) -> Result<(), InitError> {
    os.mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .ctx(|| format!("bind rootfs {rootfs:?}"))?;
    os.mount(
        None,
        rootfs,
        None,
        MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        None,
    )
    .ctx(|| format!("make rootfs {rootfs:?} private"))
}

/// Makes the rootfs this process's root without touching the shared namespace.
pub fn enter(os: &dyn Syscall, rootfs: &Path) -> Result<(), InitError> {
    os.chdir(rootfs).ctx(|| format!("chdir {rootfs:?}"))?;
    os.chroot(Path::new(".")).ctx(|| "chroot".into())?;
    os.chdir(Path::new("/")).ctx(|| "chdir /".into())
}
