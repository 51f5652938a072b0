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
//! does not own it) is not re-executed at all. Owns nothing else.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;

use nix::unistd::AccessFlags;

#[derive(Debug, thiserror::Error)]
pub enum ExeGuardError {
    #[error("protect the berth binary: clone a read-only mount of /proc/self/exe: {0} (berth refuses to run containers from a binary they could overwrite)")]
    Clone(std::io::Error),
    #[error("protect the berth binary: re-execute from the read-only mount: {0}")]
    Exec(nix::Error),
    #[error("protect the berth binary: argument or environment {0:?} contains a NUL byte")]
    Nul(OsString),
}

/// True when this process's binary can be opened for writing by the real user (access(2)
/// also reports a read-only mount).
pub fn exe_writable() -> bool {
    nix::unistd::access("/proc/self/exe", AccessFlags::W_OK).is_ok()
}

/// Returns at once when the running binary is not writable; otherwise re-executes berth
/// (same argv and environment) from a read-only detached mount and never returns.
pub fn ensure_readonly_exe() -> Result<(), ExeGuardError> {
    if !exe_writable() {
        return Ok(());
    }
    let tree =
        crate::sys::readonly_detached_clone(c"/proc/self/exe").map_err(ExeGuardError::Clone)?;
    let cstr = |s: OsString| CString::new(s.clone().into_vec()).map_err(|_| ExeGuardError::Nul(s));
    let argv: Vec<CString> = std::env::args_os().map(cstr).collect::<Result<_, _>>()?;
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstr(kv)
        })
        .collect::<Result<_, _>>()?;
    // The tree fd is close-on-exec: the running image keeps the mount alive by itself.
    let err = nix::unistd::execveat(&tree, c"", &argv, &envp, nix::fcntl::AtFlags::AT_EMPTY_PATH)
        .expect_err("execveat returns only on failure");
    Err(ExeGuardError::Exec(err))
}
