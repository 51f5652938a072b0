//! The people face's unsafe call: for `cp`, a mount namespace of one thread.
#![allow(unsafe_code)]

use std::io;

/// Gives the calling thread a mount namespace (and the fs state: root, cwd, umask) of its
/// own, copied from the process's: what it mounts then is seen by no other thread or process.
pub fn unshare_thread_mounts() -> io::Result<()> {
    use rustix::thread::UnshareFlags;
    // SAFETY: rustix marks unshare unsafe because CLONE_FS and CLONE_FILES change state other
    // threads share; with CLONE_FS this thread stops sharing its fs state instead, which is
    // the point: the other threads keep theirs, and the mount namespace goes with this thread.
    Ok(unsafe { rustix::thread::unshare_unsafe(UnshareFlags::FS | UnshareFlags::NEWNS) }?)
}
