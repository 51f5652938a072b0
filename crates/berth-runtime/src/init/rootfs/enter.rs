//! Entering the root (pivot_root, or MS_MOVE + chroot) and what follows it: sysctls,
//! read-only and masked paths, a read-only root, the root's final propagation.

use std::os::fd::AsFd;
use std::path::Path;

use oci_spec::runtime::Spec;
use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags, UnmountFlags};

use super::masks::{make_readonly, mask};
use super::mounts::remount;
use super::propagation_flag;
use super::syscall::{ms, Syscall};
use crate::init::error::{Ctx, InitError};
use crate::init::procfs;

/// Makes `rootfs` the root: pivot_root without a put-old directory (as runc), or a
/// MS_MOVE + chroot with --no-pivot.
pub fn enter(os: &dyn Syscall, rootfs: &Path, no_pivot: bool) -> Result<(), InitError> {
    if no_pivot {
        os.chdir(rootfs).ctx(|| format!("chdir {rootfs:?}"))?;
        os.mount(Some(rootfs), Path::new("/"), None, ms::MOVE, None)
            .ctx(|| "move rootfs to /".into())?;
        os.chroot(Path::new(".")).ctx(|| "chroot".into())?;
        return os.chdir(Path::new("/")).ctx(|| "chdir /".into());
    }
    let dir = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC;
    let old = rustix::fs::open("/", dir, Mode::empty()).ctx(|| "open /".into())?;
    let new = rustix::fs::open(rootfs, dir, Mode::empty()).ctx(|| "open rootfs".into())?;
    os.fchdir(new.as_fd()).ctx(|| "fchdir rootfs".into())?;
    os.pivot_root(Path::new("."), Path::new("."))
        .ctx(|| "pivot_root".into())?;
    // The old root is now stacked under the new one: detach it without letting the
    // unmount propagate to the host.
    os.fchdir(old.as_fd()).ctx(|| "fchdir old root".into())?;
    os.mount(
        None,
        Path::new("."),
        None,
        ms::SLAVE | MountFlags::REC,
        None,
    )
    .ctx(|| "make old root slave".into())?;
    os.umount(Path::new("."), UnmountFlags::DETACH)
        .ctx(|| "detach old root".into())?;
    os.chdir(Path::new("/")).ctx(|| "chdir /".into())
}

/// After entering the root: sysctls, read-only and masked paths, a read-only root, and
/// the root's final propagation. `root_path` is where the root is: "/" once entered.
pub fn finish(os: &dyn Syscall, spec: &Spec, root_path: &Path) -> Result<(), InitError> {
    let linux = spec.linux().as_ref();
    for (key, value) in linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        procfs::write(&format!("sys/{}", key.replace('.', "/")), value)
            .map_err(|e| InitError(format!("sysctl {key}: {e}")))?;
    }
    let root = rustix::fs::open(
        root_path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {root_path:?}"))?;
    for path in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        make_readonly(os, root.as_fd(), Path::new(path))
            .map_err(|e| InitError(format!("readonly path {path}: {}", e.0)))?;
    }
    let mut null = None;
    for path in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask(os, root.as_fd(), Path::new(path), &mut null)
            .map_err(|e| InitError(format!("mask {path}: {}", e.0)))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount(os, root_path, MountFlags::RDONLY)?;
    }
    if let Some(p) = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
    {
        os.mount(None, root_path, None, p, None)
            .ctx(|| "set root propagation".into())?;
    }
    Ok(())
}
