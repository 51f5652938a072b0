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

use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::LinuxIdMapping;

use crate::sys;

pub trait Syscall {
    /// mount(2).
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;
    /// umount2(2).
    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()>;
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
        kind: SFlag,
        mode: Mode,
        dev: libc::dev_t,
    ) -> nix::Result<()>;
    /// fchownat(2), never following a symlink.
    fn chown(&self, dir: BorrowedFd<'_>, name: &OsStr, uid: Uid, gid: Gid) -> nix::Result<()>;
    /// symlinkat(2).
    fn symlink(&self, target: &str, dir: BorrowedFd<'_>, name: &str) -> nix::Result<()>;
    /// pivot_root(2).
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()>;
    /// chroot(2).
    fn chroot(&self, path: &Path) -> nix::Result<()>;
    /// chdir(2).
    fn chdir(&self, path: &Path) -> nix::Result<()>;
    /// fchdir(2).
    fn fchdir(&self, dir: BorrowedFd<'_>) -> nix::Result<()>;
}

/// The real calls.
pub struct Host;

impl Syscall for Host {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        nix::mount::umount2(target, flags)
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
        kind: SFlag,
        mode: Mode,
        dev: libc::dev_t,
    ) -> nix::Result<()> {
        nix::sys::stat::mknodat(dir, name, kind, mode, dev)
    }

    fn chown(&self, dir: BorrowedFd<'_>, name: &OsStr, uid: Uid, gid: Gid) -> nix::Result<()> {
        let nofollow = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
        nix::unistd::fchownat(dir, name, Some(uid), Some(gid), nofollow)
    }

    fn symlink(&self, target: &str, dir: BorrowedFd<'_>, name: &str) -> nix::Result<()> {
        nix::unistd::symlinkat(target, dir, name)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn chroot(&self, path: &Path) -> nix::Result<()> {
        nix::unistd::chroot(path)
    }

    fn chdir(&self, path: &Path) -> nix::Result<()> {
        nix::unistd::chdir(path)
    }

    fn fchdir(&self, dir: BorrowedFd<'_>) -> nix::Result<()> {
        nix::unistd::fchdir(dir)
    }
}
