//! Entering the root (pivot_root, or MS_MOVE + chroot) and what follows it: sysctls,
//! read-only and masked paths, a read-only root, the root's final propagation.

use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};
use oci_spec::runtime::Spec;

use super::masks::{mask, make_readonly};
use super::mounts::remount;
use super::propagation_flag;
use crate::init::error::{Ctx, InitError};
use crate::init::procfs;

/// Makes `rootfs` the root: pivot_root without a put-old directory (as runc), or a
/// MS_MOVE + chroot with --no-pivot.
pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<(), InitError> {
    if no_pivot {
        chdir(rootfs).ctx(|| format!("chdir {rootfs:?}"))?;
        mount(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .ctx(|| "move rootfs to /".into())?;
        chroot(".").ctx(|| "chroot".into())?;
        return chdir("/").ctx(|| "chdir /".into());
    }
    let dir = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old = nix::fcntl::open("/", dir, Mode::empty()).ctx(|| "open /".into())?;
    let new = nix::fcntl::open(rootfs, dir, Mode::empty()).ctx(|| "open rootfs".into())?;
    fchdir(new.as_fd()).ctx(|| "fchdir rootfs".into())?;
    pivot_root(".", ".").ctx(|| "pivot_root".into())?;
    // The old root is now stacked under the new one: detach it without letting the
    // unmount propagate to the host.
    fchdir(old.as_fd()).ctx(|| "fchdir old root".into())?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "make old root slave".into())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach old root".into())?;
    chdir("/").ctx(|| "chdir /".into())
}

/// After entering the root: sysctls, read-only and masked paths, a read-only root, and
/// the root's final propagation.
pub fn finish(spec: &Spec) -> Result<(), InitError> {
    let linux = spec.linux().as_ref();
    for (key, value) in linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        procfs::write(&format!("sys/{}", key.replace('.', "/")), value)
            .map_err(|e| InitError(format!("sysctl {key}: {e}")))?;
    }
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open /".into())?;
    for path in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        make_readonly(root.as_fd(), Path::new(path))
            .map_err(|e| InitError(format!("readonly path {path}: {}", e.0)))?;
    }
    let mut null = None;
    for path in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask(root.as_fd(), Path::new(path), &mut null)
            .map_err(|e| InitError(format!("mask {path}: {}", e.0)))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount(Path::new("/"), MsFlags::MS_RDONLY)?;
    }
    if let Some(p) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
    {
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>)
            .ctx(|| "set root propagation".into())?;
    }
    Ok(())
}
