//! The privileged calls that build the container's root, behind one narrow trait: `Host`
//! makes them; the unit tests' recorder writes them down instead, so the order and flags of
//! the mounts a config asks for are checked without root. Path resolution inside the root
//! (openat2, mkdirat, the files berth creates) is not behind it: it needs no privilege and
//! the tests run it for real on a scratch root.
//!
//! The init passes `&Host` once, as `&dyn Syscall`; one indirect call per mount costs
//! nothing next to the syscall.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::LinuxIdMapping;
use rustix::fs::{AtFlags, FileType, Gid, Mode, Uid};
use rustix::io::Result;
use rustix::mount::{MountFlags, UnmountFlags};

use crate::sys;

/// The mount(2) flags rustix keeps for its special-purpose calls (mount_remount,
/// mount_change, mount_move): `Syscall::mount` takes them in one word, as the kernel does.
pub mod ms {
    use rustix::mount::MountFlags;
    pub const REMOUNT: MountFlags = MountFlags::from_bits_retain(libc::MS_REMOUNT as u32);
    pub const MOVE: MountFlags = MountFlags::from_bits_retain(libc::MS_MOVE as u32);
    pub const PRIVATE: MountFlags = MountFlags::from_bits_retain(libc::MS_PRIVATE as u32);
    pub const SHARED: MountFlags = MountFlags::from_bits_retain(libc::MS_SHARED as u32);
    pub const SLAVE: MountFlags = MountFlags::from_bits_retain(libc::MS_SLAVE as u32);
    pub const UNBINDABLE: MountFlags = MountFlags::from_bits_retain(libc::MS_UNBINDABLE as u32);
}

pub trait Syscall {
    /// mount(2).
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MountFlags,
        data: Option<&str>,
    ) -> Result<()>;
    /// umount2(2).
    fn umount(&self, target: &Path, flags: UnmountFlags) -> Result<()>;
    /// See [`sys::mount_setattr`].
    fn mount_setattr(
        &self,
        mount: BorrowedFd<'_>,
        recursive: bool,
        set: u64,
        clear: u64,
        propagation: u64,
    ) -> io::Result<()>;
    /// See [`sys::clone_tree`].
    fn clone_tree(&self, fd: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd>;
    /// See [`sys::move_mount`].
    fn move_mount(&self, tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()>;
    /// See [`sys::detached_tmpfs`].
    fn detached_tmpfs(&self, attrs: u64) -> io::Result<OwnedFd>;
    /// See [`crate::userns::with_maps`].
    fn userns_with_maps(
        &self,
        uids: &[LinuxIdMapping],
        gids: &[LinuxIdMapping],
    ) -> io::Result<OwnedFd>;
    /// See [`sys::mount_setattr_idmap`].
    fn idmap(
        &self,
        tree: BorrowedFd<'_>,
        recursive: bool,
        userns: BorrowedFd<'_>,
    ) -> io::Result<()>;
    /// mknodat(2).
    fn mknod(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        kind: FileType,
        mode: Mode,
        dev: libc::dev_t,
    ) -> Result<()>;
    /// fchownat(2), never following a symlink.
    fn chown(&self, dir: BorrowedFd<'_>, name: &OsStr, uid: Uid, gid: Gid) -> Result<()>;
    /// symlinkat(2).
    fn symlink(&self, target: &str, dir: BorrowedFd<'_>, name: &str) -> Result<()>;
    /// pivot_root(2).
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()>;
    /// chroot(2).
    fn chroot(&self, path: &Path) -> Result<()>;
    /// chdir(2).
    fn chdir(&self, path: &Path) -> Result<()>;
    /// fchdir(2).
    fn fchdir(&self, dir: BorrowedFd<'_>) -> Result<()>;
}

/// The real calls.
pub struct Host;

impl Syscall for Host {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MountFlags,
        data: Option<&str>,
    ) -> Result<()> {
        // rustix passes no NULL source or type: "none" is what the kernel records for a
        // missing source, and the type is read only for a new mount, which names one.
        let data = data.map(std::ffi::CString::new).transpose();
        let data = data.map_err(|_| rustix::io::Errno::INVAL)?;
        rustix::mount::mount(
            source.unwrap_or(Path::new("none")),
            target,
            fstype.unwrap_or(""),
            flags,
            data.as_deref(),
        )
    }

    fn umount(&self, target: &Path, flags: UnmountFlags) -> Result<()> {
        rustix::mount::unmount(target, flags)
    }

    fn mount_setattr(
        &self,
        mount: BorrowedFd<'_>,
        recursive: bool,
        set: u64,
        clear: u64,
        propagation: u64,
    ) -> io::Result<()> {
        sys::mount_setattr(mount, recursive, set, clear, propagation)
    }

    fn clone_tree(&self, fd: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd> {
        sys::clone_tree(fd, recursive)
    }

    fn move_mount(&self, tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
        sys::move_mount(tree, target)
    }

    fn detached_tmpfs(&self, attrs: u64) -> io::Result<OwnedFd> {
        sys::detached_tmpfs(attrs)
    }

    fn userns_with_maps(
        &self,
        uids: &[LinuxIdMapping],
        gids: &[LinuxIdMapping],
    ) -> io::Result<OwnedFd> {
        crate::userns::with_maps(uids, gids)
    }

    fn idmap(
        &self,
        tree: BorrowedFd<'_>,
        recursive: bool,
        userns: BorrowedFd<'_>,
    ) -> io::Result<()> {
        sys::mount_setattr_idmap(tree, recursive, userns)
    }

    fn mknod(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        kind: FileType,
        mode: Mode,
        dev: libc::dev_t,
    ) -> Result<()> {
        rustix::fs::mknodat(dir, name, kind, mode, dev)
    }

    fn chown(&self, dir: BorrowedFd<'_>, name: &OsStr, uid: Uid, gid: Gid) -> Result<()> {
        rustix::fs::chownat(dir, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
    }

    fn symlink(&self, target: &str, dir: BorrowedFd<'_>, name: &str) -> Result<()> {
        rustix::fs::symlinkat(target, dir, name)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()> {
        rustix::process::pivot_root(new_root, put_old)
    }

    fn chroot(&self, path: &Path) -> Result<()> {
        rustix::process::chroot(path)
    }

    fn chdir(&self, path: &Path) -> Result<()> {
        rustix::process::chdir(path)
    }

    fn fchdir(&self, dir: BorrowedFd<'_>) -> Result<()> {
        rustix::process::fchdir(dir)
    }
}
