//! The monitor's part of a kept container's record, `<bundle>/container.json` (berth-people's
//! `record` owns its form): at the exit it sets the status, exit code, OOM kill and finish
//! time, and leaves every other field as it is. The record is edited as a JSON value, so the
//! monitor needs to know only these four fields; the code runs once, at the exit, and costs no
//! resident memory while the container runs.

use std::path::Path;

use berth_common::fs::{write_atomic, Durability};
use berth_common::io::{IoError, Step};
use serde_json::{Map, Value};

/// The record's file name in the bundle (berth's `container_cli::RECORD_FILE`).
pub const RECORD_FILE: &str = "container.json";

/// What [`record_exit`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The exit is in the record.
    Yes,
    /// A `--rm` container: it is removed whole, nothing is recorded.
    Remove,
    /// No record: a `delete` or `rm -f` came first and removed everything.
    Gone,
}

/// Whether the record names process `pid` its keeper. The spawner writes that before it closes
/// the monitor's stdin; a spawner killed first leaves the record as it was (`Created`, no
/// keeper), and a monitor that went on would run a container nobody's record says runs.
pub fn names_keeper(bundle: &Path, pid: u32) -> bool {
    let Ok(bytes) = std::fs::read(bundle.join(RECORD_FILE)) else {
        return false;
    };
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("keeper")?.get("pid")?.as_u64())
        == Some(u64::from(pid))
}

/// Records that the container's program exited with `code` (128+N for signal N; None if it
/// could not be collected), OOM-killed or not, now.
pub fn record_exit(
    bundle: &Path,
    code: Option<i32>,
    oom_killed: bool,
) -> Result<Recorded, IoError> {
    let path = bundle.join(RECORD_FILE);
    let bytes = match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Recorded::Gone),
        r => r.step("read", &path)?,
    };
    let mut record: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|e| IoError::new("parse", &path, std::io::Error::other(e)))?;
    if record.get("rm") == Some(&Value::Bool(true)) {
        return Ok(Recorded::Remove);
    }
    record.insert("status".into(), "exited".into());
    record.insert("exitCode".into(), code.into());
    record.insert("oomKilled".into(), oom_killed.into());
    record.insert("finishedAt".into(), berth_common::now_rfc3339().into());
    let bytes = serde_json::to_vec_pretty(&record)
        .map_err(|e| IoError::new("serialize", &path, std::io::Error::other(e)))?;
    // As berth-people saves it: no fsync (the upper layer it describes is not synced either).
    write_atomic(&path, &bytes, Some(0o600), Durability::Crash)?;
    Ok(Recorded::Yes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_is_recorded_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECORD_FILE);
        assert_eq!(
            record_exit(dir.path(), Some(1), false).unwrap(),
            Recorded::Gone
        );
        std::fs::write(&path, r#"{"id":"c","status":"running","keeper":{"pid":1}}"#).unwrap();
        assert_eq!(
            record_exit(dir.path(), Some(137), true).unwrap(),
            Recorded::Yes
        );
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["status"], "exited");
        assert_eq!(v["exitCode"], 137);
        assert_eq!(v["oomKilled"], true);
        assert_eq!(v["keeper"]["pid"], 1);
        assert!(names_keeper(dir.path(), 1));
        assert!(!names_keeper(dir.path(), 2));
        assert!(!names_keeper(&dir.path().join("gone"), 1));
        assert!(v["finishedAt"].as_str().unwrap().ends_with('Z'));
        std::fs::write(&path, r#"{"id":"c","status":"running","rm":true}"#).unwrap();
        assert_eq!(
            record_exit(dir.path(), None, false).unwrap(),
            Recorded::Remove
        );
    }
}
