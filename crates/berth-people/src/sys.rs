//! The people face's unsafe calls: for the monitor's resident memory, `madvise` over the
//! executable's read-only mappings and `malloc_trim`; for `--init`, a `pre_exec` hook; for
//! `cp`, a mount namespace of one thread.
#![allow(unsafe_code)]

use std::io;

/// Gives free heap memory back, and drops this process's page-table entries for the read-only file mappings no page of which
/// was ever written (`Anonymous: 0` in /proc/self/smaps: the executable's text and rodata,
/// not its relocated RELRO): the pages stay in the page cache, shared with every other berth
/// process, and fault back in when touched again. For a long-lived process that ran much
/// code once (the monitor, after create and start): only what it runs from then on stays
/// resident.
pub fn release_memory() -> io::Result<()> {
    // The heap's free memory (create and start freed most of what they used) back first.
    // SAFETY: malloc_trim only returns free heap memory to the kernel; no pointer changes.
    unsafe { libc::malloc_trim(0) };
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut candidate: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let Some(first) = f.next() else { continue };
        if let Some((a, b)) = first.split_once('-') {
            // A mapping's header: range perms offset dev inode path.
            let (perms, path) = (f.next(), f.nth(3));
            candidate = match (
                usize::from_str_radix(a, 16),
                usize::from_str_radix(b, 16),
                perms,
                path,
            ) {
                (Ok(start), Ok(end), Some("r--p" | "r-xp"), Some(p)) if p.starts_with('/') => {
                    Some((start, end))
                }
                _ => None,
            };
            continue;
        }
        if first != "Anonymous:" {
            continue;
        }
        let (Some((start, end)), Some("0")) = (candidate.take(), f.next()) else {
            continue;
        };
        // SAFETY: [start, end) is a whole read-only private mapping of a file with no
        // anonymous (written, copied-on-write) page: MADV_DONTNEED only drops its page-table
        // entries, and every later access (this function's own code included) faults the
        // same file contents back in.
        let ret =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

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
