//! The monitor's unsafe calls, for its resident memory: `malloc_trim` and `madvise` over the
//! executable's read-only mappings.
#![allow(unsafe_code)]

use std::io;

/// Gives free heap memory back, and drops this process's page-table entries for the read-only
/// file mappings no page of which was ever written (`Anonymous: 0` in /proc/self/smaps: the executable's text and rodata,
/// not its relocated RELRO): the pages stay in the page cache, shared with every other
/// monitor, and fault back in when touched again. The monitor ran most of its code once
/// (setup, the spawns of `berth`); only what its loop runs from then on stays resident.
pub fn release_memory() -> io::Result<()> {
    // The heap's free memory (setup freed most of what it used) back first.
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
