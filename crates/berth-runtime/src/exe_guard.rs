//! Keeps the berth binary out of a container's reach (CVE-2019-5736).
//!
//! Every process berth starts inside a container (the init of `create`, the child of
//! `exec`) is a clone of the berth process until it calls execve, and a container program
//! of `#!/proc/self/exe` makes that execve run berth itself inside the container. Its
//! /proc/<pid>/exe then hands the container a file on the host: once nothing executes it
//! (ETXTBSY), reopening that handle for writing would overwrite berth.
//!
//! The protection: `create`, `run` and `exec` first re-execute berth from a detached,
//! read-only bind mount of its own binary (open_tree + mount_setattr, no copy, no mount in
//! any namespace). /proc/<pid>/exe of every process cloned from it then names a file on a
//! read-only mount, and any reopen for writing fails with EROFS. The re-exec costs one
//! execve; a binary that is already not writable (a read-only /usr, or a rootless user who
//! does not own it) is not re-executed at all. Where mounts are not permitted it falls back to
//! a sealed memfd copy (crun's way, slower). Owns nothing else.

use std::ffi::{CString, OsString};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStringExt;

use rustix::fs::{Access, SealFlags};

#[derive(Debug, thiserror::Error)]
pub enum ExeGuardError {
    #[error("protect the berth binary: clone a read-only mount of /proc/self/exe: {0} (berth refuses to run containers from a binary they could overwrite)")]
    Clone(std::io::Error),
    #[error("protect the berth binary: find its own path: {0}")]
    OwnPath(std::io::Error),
    #[error("protect the berth binary: re-execute from the read-only mount: {0}")]
    Exec(std::io::Error),
    #[error("protect the berth binary: argument or environment {0:?} contains a NUL byte")]
    Nul(OsString),
}

/// True when this process's binary can be opened for writing by the real user (access(2)
/// also reports a read-only mount).
/// A sealed memfd (the fallback) passes access(2) but refuses writes: its seals say so.
pub fn exe_writable() -> bool {
    if rustix::fs::access("/proc/self/exe", Access::WRITE_OK).is_err() {
        return false;
    }
    let sealed = std::fs::File::open("/proc/self/exe")
        .is_ok_and(|f| rustix::fs::fcntl_get_seals(&f).is_ok_and(|s| s.contains(SealFlags::WRITE)));
    !sealed
}

/// Where the re-executed berth came from: its /proc/self/exe names the detached mount
/// (or memfd), which is no path anyone else can run.
pub const ORIGINAL_EXE: &str = "BERTH_ORIGINAL_EXE";

/// The path of the berth binary on the host, for what runs berth again later (hooks that
/// call berth): `std::env::current_exe` after the re-exec names the read-only clone.
pub fn original_exe() -> std::io::Result<std::path::PathBuf> {
    match std::env::var_os(ORIGINAL_EXE) {
        Some(p) if !p.is_empty() && !exe_writable() => Ok(p.into()),
        _ => std::env::current_exe(),
    }
}

/// Returns at once when the running binary is not writable; otherwise re-executes berth
/// (same argv and environment) from a read-only detached mount and never returns.
pub fn ensure_readonly_exe() -> Result<(), ExeGuardError> {
    if !exe_writable() {
        return Ok(());
    }
    let original = std::env::current_exe().map_err(ExeGuardError::OwnPath)?;
    // Where mounts are not allowed (berth itself in a container without CAP_SYS_ADMIN), fall
    // back to what crun does on every call: a sealed in-memory copy.
    let tree = match crate::sys::readonly_detached_clone(c"/proc/self/exe") {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) => sealed_copy()
            .map_err(|c| {
                ExeGuardError::Clone(std::io::Error::other(format!(
                    "{e}; sealed memfd copy: {c}"
                )))
            })?,
        Err(e) => return Err(ExeGuardError::Clone(e)),
    };
    Err(exec_tree(tree, &original, std::env::args_os()))
}

/// Executes the binary at `path` (another berth executable: `berth` handing a command over to
/// `berth-people`) from a read-only detached mount of it, with `args` (argv[0] first) and this
/// environment, so it starts already protected and its own [`ensure_readonly_exe`] returns
/// at once: one execve instead of two. Returns only on failure; [`ExeGuardError::Clone`] where
/// mounts are not permitted, and the caller may execute `path` as usual (it then protects
/// itself).
pub fn exec_readonly(
    path: &std::path::Path,
    args: impl IntoIterator<Item = OsString>,
) -> ExeGuardError {
    let cpath = match CString::new(path.as_os_str().as_encoded_bytes()) {
        Ok(c) => c,
        Err(_) => return ExeGuardError::Nul(path.as_os_str().to_owned()),
    };
    match crate::sys::readonly_detached_clone(&cpath) {
        Ok(tree) => exec_tree(tree, path, args),
        Err(e) => ExeGuardError::Clone(e),
    }
}

/// execveat of the read-only `tree` with `args` and this environment, noting `original` (the
/// binary's path on the host) in [`ORIGINAL_EXE`].
fn exec_tree(
    tree: std::os::fd::OwnedFd,
    original: &std::path::Path,
    args: impl IntoIterator<Item = OsString>,
) -> ExeGuardError {
    let cstr = |s: OsString| CString::new(s.clone().into_vec()).map_err(|_| ExeGuardError::Nul(s));
    let argv: Vec<CString> = match args.into_iter().map(cstr).collect() {
        Ok(a) => a,
        Err(e) => return e,
    };
    let envp: Result<Vec<CString>, _> = std::env::vars_os()
        .filter(|(k, _)| k != ORIGINAL_EXE)
        .chain([(ORIGINAL_EXE.into(), original.as_os_str().to_owned())])
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstr(kv)
        })
        .collect();
    let envp = match envp {
        Ok(e) => e,
        Err(e) => return e,
    };
    // The tree fd is close-on-exec: the running image keeps the mount alive by itself.
    ExeGuardError::Exec(crate::sys::execveat(tree.as_fd(), &argv, &envp))
}

/// A sealed memfd holding a copy of the running binary: nobody can write it again.
fn sealed_copy() -> std::io::Result<std::os::fd::OwnedFd> {
    use rustix::fs::{memfd_create, MemfdFlags};
    let fd = memfd_create(c"berth", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut file = std::fs::File::from(fd);
    std::io::copy(&mut std::fs::File::open("/proc/self/exe")?, &mut file)?;
    let seals = SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE;
    rustix::fs::fcntl_add_seals(&file, seals)?;
    Ok(std::os::fd::OwnedFd::from(file))
}
