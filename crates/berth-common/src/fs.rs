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

/// Replaces `path` with `bytes` through a temporary file beside it (`<name>.tmp-<pid>`) and a
/// rename: readers see the old or the new content, never half of one; `durability` says what
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
    let done = written.and_then(|()| std::fs::rename(&tmp, path).step("rename", path));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
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
}
