//! The people face's unsafe calls: for `cp`, a mount namespace of one thread; for the
//! release, a detached remover forked without an exec.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::BorrowedFd;

/// Gives the calling thread a mount namespace (and the fs state: root, cwd, umask) of its
/// own, copied from the process's: what it mounts then is seen by no other thread or process.
pub fn unshare_thread_mounts() -> io::Result<()> {
    use rustix::thread::UnshareFlags;
    // SAFETY: rustix marks unshare unsafe because CLONE_FS and CLONE_FILES change state other
    // threads share; with CLONE_FS this thread stops sharing its fs state instead, which is
    // the point: the other threads keep theirs, and the mount namespace goes with this thread.
    Ok(unsafe { rustix::thread::unshare_unsafe(UnshareFlags::FS | UnshareFlags::NEWNS) }?)
}

/// Runs `child` in a process forked from this one and returns at once in the caller, which
/// never waits for it (it is reparented when the caller exits). The child has the calling
/// thread only (glibc's fork leaves malloc usable there), its own process group (a Ctrl-C
/// at the terminal, meant for berth, does not reach it), no blocked signal, `stdin` as its
/// stdin, /dev/null as stdout and stderr and no other descriptor (a `$(berth run …)` sees
/// EOF when berth exits), and ends through `_exit` with `child`'s status: none of the
/// parent's exit handlers or destructors run there.
pub fn fork_detached(stdin: BorrowedFd<'_>, child: impl FnOnce() -> bool) -> io::Result<()> {
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    // SAFETY: the child runs only `child` and the calls below (no lock another thread of
    // the parent may have held is taken there but malloc's, which glibc's fork re-arms)
    // and leaves through `_exit`, so nothing the parent owns is dropped or flushed twice.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let ready = rustix::process::setpgid(None, None).is_ok()
                && berth_runtime::sys::SigSet::empty()
                    .thread_set_mask()
                    .is_ok()
                && rustix::stdio::dup2_stdin(stdin).is_ok()
                && rustix::stdio::dup2_stdout(&null).is_ok()
                && rustix::stdio::dup2_stderr(&null).is_ok()
                && berth_runtime::sys::close_fds_except(3, &[]).is_ok();
            berth_runtime::sys::exit_now(if ready && child() { 0 } else { 1 })
        }
        _ => Ok(()),
    }
}
