//! Atomic file replacement, one implementation for every store.

use crate::io::{IoError, Step};
use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// What must survive once [`write_atomic`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// A killed process leaves the old or the new content, never a mix. Nothing waits for the
    /// disk: after a power loss the file may be empty. For what describes only things that
    /// live until the next boot (container state under /run, leases, pid files).
    Crash,
    /// Also across a power loss: the data is fsynced before the rename, so the file holds the
    /// old or the new content, complete (the rename itself may be lost: the directory is not
    /// fsynced, so the old content may come back). For stores on disk that outlive a boot.
    PowerLoss,
}

/// Writes `bytes` as the whole content of `path` (created if missing) into the blocks the file
/// already has. A truncate to zero first (`std::fs::write`) would free them, and on an ext4
/// mounted with `discard` and no journal a freed block is discarded before the call returns.
/// Not atomic: for files nobody reads while they are written (a bundle's, before its
/// container exists).
pub fn overwrite(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .step("create", path)?;
    f.write_all(bytes).step("write", path)?;
    f.set_len(bytes.len() as u64).step("truncate", path)
}

/// Replaces `path` with `bytes` through a temporary file beside it (`<name>.tmp-<pid>`) and a
/// rename (for `Crash`, an exchange: see [`exchange`]): readers see the old or the new content, never half of one; `durability` says what
/// survives a crash. With `mode` the file has exactly that mode before any byte is written
/// (also when a temporary file left by a killed writer is reused); without, the default
/// (0666 less the umask).
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
    durability: Durability,
) -> Result<(), IoError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    if let Some(mode) = mode {
        opts.mode(mode);
    }
    let mut f: File = opts.open(&tmp).step("create", &tmp)?;
    if let Some(mode) = mode {
        f.set_permissions(Permissions::from_mode(mode))
            .step("chmod", &tmp)?;
    }
    let written = f.write_all(bytes).step("write", &tmp).and_then(|()| {
        if durability == Durability::PowerLoss {
            f.sync_all().step("fsync", &tmp)
        } else {
            Ok(())
        }
    });
    let done = written.and_then(|()| match durability {
        Durability::Crash => exchange(&tmp, path),
        Durability::PowerLoss => std::fs::rename(&tmp, path).step("rename", path),
    });
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

/// Puts `tmp` in `path`'s place by exchanging the two, then unlinks the old content (now at
/// `tmp`); a plain rename where there is nothing to exchange with. Why not always rename: on
/// ext4, a rename over an existing file makes the kernel allocate the new file's blocks at once
/// (`auto_da_alloc`, a heuristic for editors that do not fsync), so the file that replaces is
/// written out and, when it goes, its blocks are freed (and discarded, on a disk mounted with
/// `discard`): 0.1-0.3 ms per state update and per delete on such a disk. Exchanged, neither
/// file is forced out, and a short-lived container's state never reaches the disk.
fn exchange(tmp: &Path, path: &Path) -> Result<(), IoError> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, tmp, CWD, path, RenameFlags::EXCHANGE) {
        Ok(()) => std::fs::remove_file(tmp).step("remove the replaced", tmp),
        // Nothing to exchange with, or a filesystem without RENAME_EXCHANGE.
        Err(Errno::NOENT | Errno::INVAL) => std::fs::rename(tmp, path).step("rename", path),
        Err(e) => Err(e).step("rename", path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_with_the_mode_asked_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(&p, "old").unwrap();
        // A loose temporary left by a killed writer with this pid gets the mode too.
        let stale = dir
            .path()
            .join(format!("state.json.tmp-{}", std::process::id()));
        std::fs::write(&stale, "stale").unwrap();
        std::fs::set_permissions(&stale, Permissions::from_mode(0o666)).unwrap();
        write_atomic(&p, b"new", Some(0o600), Durability::PowerLoss).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = write_atomic(&dir.path().join("no/such"), b"x", None, Durability::Crash);
        assert_eq!(e.unwrap_err().step, "create");
    }

    /// Whether `path`'s data is still delayed allocation (ext4: no block yet), by FIEMAP as
    /// e2fsprogs' filefrag shows it; None without filefrag.
    fn delalloc(path: &Path) -> Option<bool> {
        let out = std::process::Command::new("filefrag")
            .arg("-v")
            .arg(path)
            .output()
            .ok()?;
        assert!(out.status.success(), "filefrag: {out:?}");
        Some(String::from_utf8_lossy(&out.stdout).contains("delalloc"))
    }

    /// The reason `Crash` exchanges instead of renaming over: on ext4 a rename over a file
    /// forces the new one's blocks out (auto_da_alloc); exchanged, it stays in the page cache.
    #[test]
    fn a_crash_durable_replacement_is_not_forced_to_disk() {
        let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let stat = rustix::fs::statfs(dir.path()).unwrap();
        if stat.f_type != 0xEF53 {
            crate::skip!("the temporary directory is not on ext4 (auto_da_alloc is ext4's)");
        }
        // A new file's blocks wait for writeback (delayed allocation), else nothing to test.
        let fresh = dir.path().join("fresh");
        std::fs::write(&fresh, b"fresh").unwrap();
        match delalloc(&fresh) {
            None => crate::skip!("no filefrag (e2fsprogs) to read the file's extents"),
            Some(false) => crate::skip!("this ext4 allocates at once (no delayed allocation)"),
            Some(true) => std::fs::remove_file(&fresh).unwrap(),
        }
        let p = dir.path().join("state.json");
        write_atomic(&p, b"first", None, Durability::Crash).unwrap();
        write_atomic(&p, b"second", None, Durability::Crash).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(
            delalloc(&p),
            Some(true),
            "the replacement was forced to disk"
        );
        // A plain rename over it allocates at once: what the exchange avoids.
        let q = dir.path().join("renamed");
        std::fs::write(&q, b"third").unwrap();
        std::fs::rename(&q, &p).unwrap();
        assert_eq!(
            delalloc(&p),
            Some(false),
            "ext4 without auto_da_alloc: the test proves nothing here"
        );
    }
}
