//! A container without a mount namespace of its own (no `mount` entry in linux.namespaces)
//! shares the caller's: as runc and crun do, its mounts are made there, under the rootfs,
//! and it enters the rootfs with chroot. Nothing that would change the caller's own view
//! is done: no propagation change of "/", no pivot_root or MS_MOVE onto "/". Masked and
//! read-only paths are refused at validation (spec.rs), as runc refuses them.
//!
//! The mounts all hang under one private bind of the rootfs onto itself, which the parent
//! makes before the clone and `delete` detaches by its mount ID (`container/shared_rootfs.rs`):
//! unlike runc and crun, nothing stays in the caller's namespace after the container.

use std::path::Path;

use super::error::{Ctx, InitError};
use super::rootfs::Syscall;

/// Makes the rootfs this process's root without touching the shared namespace.
pub fn enter(os: &dyn Syscall, rootfs: &Path) -> Result<(), InitError> {
    os.chdir(rootfs).ctx(|| format!("chdir {rootfs:?}"))?;
    os.chroot(Path::new(".")).ctx(|| "chroot".into())?;
    os.chdir(Path::new("/")).ctx(|| "chdir /".into())
}
