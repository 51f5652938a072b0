//! The people face's unsafe calls: for `--init`, a `pre_exec` hook; for `cp`, a mount
//! namespace of one thread.
#![allow(unsafe_code)]

use std::io;

/// Makes `cmd`'s process start with no signal blocked, whatever its parent blocks: the
/// `--init` blocks every signal before it starts the command, so that none sent in between
/// is lost, and the command must not inherit that mask (std's Command keeps it).
pub fn unblock_signals_on_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook runs in the child between fork and exec; it only sets the signal mask
    // (pthread_sigmask is async-signal-safe) and allocates nothing.
    unsafe {
        cmd.pre_exec(|| berth_runtime::sys::SigSet::empty().thread_set_mask());
    }
}

/// Gives the calling thread a mount namespace (and the fs state: root, cwd, umask) of its
/// own, copied from the process's: what it mounts then is seen by no other thread or process.
pub fn unshare_thread_mounts() -> io::Result<()> {
    use rustix::thread::UnshareFlags;
    // SAFETY: rustix marks unshare unsafe because CLONE_FS and CLONE_FILES change state other
    // threads share; with CLONE_FS this thread stops sharing its fs state instead, which is
    // the point: the other threads keep theirs, and the mount namespace goes with this thread.
    Ok(unsafe { rustix::thread::unshare_unsafe(UnshareFlags::FS | UnshareFlags::NEWNS) }?)
}
