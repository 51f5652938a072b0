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
use std::path::Path;

use nix::fcntl::{openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstat, Mode};
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

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
    nix::unistd::write(&file, value.as_bytes()).ctx(step)?;
    Ok(())
}

fn open_root() -> Result<OwnedFd, String> {
    let root = nix::fcntl::open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open /proc: {e}"))?;
    let fs = fstatfs(&root).map_err(|e| format!("statfs /proc: {e}"))?;
    let st = fstat(&root).map_err(|e| format!("stat /proc: {e}"))?;
    if fs.filesystem_type() != PROC_SUPER_MAGIC || st.st_ino != PROC_ROOT_INO {
        return Err("/proc is not the root of a procfs".into());
    }
    Ok(root)
}

fn open_beneath(root: &OwnedFd, rel: &str) -> Result<OwnedFd, String> {
    let how = OpenHow::new()
        .flags(OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_XDEV
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    let file = openat2(root.as_fd(), rel, how).map_err(|e| match e {
        nix::errno::Errno::EXDEV => "a mount covers part of the path: refused".to_string(),
        nix::errno::Errno::ELOOP => "a symlink is part of the path: refused".to_string(),
        e => e.to_string(),
    })?;
    let fs = fstatfs(&file).map_err(|e| format!("statfs: {e}"))?;
    if fs.filesystem_type() != PROC_SUPER_MAGIC {
        return Err("the file is not on procfs".into());
    }
    // The kernel's own name for what we opened, read through the verified procfs.
    let link = format!("thread-self/fd/{}", file.as_raw_fd());
    let actual = readlinkat(root.as_fd(), link.as_str()).map_err(|e| format!("readlink: {e}"))?;
    let wanted = Path::new("/proc").join(rel);
    if Path::new(&actual) != wanted {
        return Err(format!("the file opened is {actual:?}, not {wanted:?}"));
    }
    Ok(file)
}
