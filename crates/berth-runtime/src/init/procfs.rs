//! Writes into /proc (sysctls, domainname) that no mount can redirect.
//!
//! A path under /proc is only as trustworthy as the mounts along it: a bind of another
//! procfs directory over /proc/sys/net would turn a namespaced `net.*` sysctl into a write
//! to the host's kernel knobs. So every write goes through a file opened from a /proc that
//! is verified to be the root of a procfs (fstatfs PROC_SUPER_MAGIC, inode 1), with
//! openat2 RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS: the walk may not cross any mount point or
//! follow any link, so the file is the one at that exact path in that procfs. The opened
//! file is checked again (procfs, and its path read back from the fd) before the write.
//!
//! This is the part of libpathrs' procfs handle berth needs, on the openat2 helpers it
//! already uses for mount targets (docs/SECURITY.md says why not the `pathrs` crate).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use rustix::fs::{
    fstat, fstatfs, openat2, readlinkat, Mode, OFlags, ResolveFlags, PROC_SUPER_MAGIC,
};

use crate::init::error::{Ctx, InitError};

/// The inode number of every procfs root directory.
const PROC_ROOT_INO: u64 = 1;

/// Writes `value` to `/proc/<rel>` of this process's root (e.g. "sys/net/ipv4/ip_forward").
pub fn write(rel: &str, value: &str) -> Result<(), InitError> {
    let root = open_root().ctx(|| format!("write /proc/{rel}"))?;
    write_at(&root, rel, value)
}

fn write_at(root: &OwnedFd, rel: &str, value: &str) -> Result<(), InitError> {
    let step = || format!("write /proc/{rel}");
    let file = open_beneath(root, rel).ctx(step)?;
    rustix::io::write(&file, value.as_bytes()).ctx(step)?;
    Ok(())
}

fn open_root() -> Result<OwnedFd, String> {
    let root = rustix::fs::open(
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open /proc: {e}"))?;
    let fs = fstatfs(&root).map_err(|e| format!("statfs /proc: {e}"))?;
    let st = fstat(&root).map_err(|e| format!("stat /proc: {e}"))?;
    if fs.f_type != PROC_SUPER_MAGIC || st.st_ino != PROC_ROOT_INO {
        return Err("/proc is not the root of a procfs".into());
    }
    Ok(root)
}

fn open_beneath(root: &OwnedFd, rel: &str) -> Result<OwnedFd, String> {
    let file = openat2(
        root.as_fd(),
        rel,
        OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH
            | ResolveFlags::NO_XDEV
            | ResolveFlags::NO_SYMLINKS
            | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| match e {
        rustix::io::Errno::XDEV => "a mount covers part of the path: refused".to_string(),
        rustix::io::Errno::LOOP => "a symlink is part of the path: refused".to_string(),
        e => e.to_string(),
    })?;
    let fs = fstatfs(&file).map_err(|e| format!("statfs: {e}"))?;
    if fs.f_type != PROC_SUPER_MAGIC {
        return Err("the file is not on procfs".into());
    }
    // The kernel's own name for what we opened, read through the verified procfs.
    let link = format!("thread-self/fd/{}", file.as_raw_fd());
    let actual = readlinkat(root.as_fd(), link.as_str(), Vec::new())
        .map_err(|e| format!("readlink: {e}"))?;
    let actual = std::ffi::OsString::from_vec(actual.into_bytes());
    let wanted = Path::new("/proc").join(rel);
    if Path::new(&actual) != wanted {
        return Err(format!("the file opened is {actual:?}, not {wanted:?}"));
    }
    Ok(file)
}
