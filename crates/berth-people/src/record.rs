//! The kept record of an image-form container: `<image root>/containers/ID/container.json`,
//! beside its bundle and upper layer. The runtime container (the runtime's state) is only the
//! running incarnation; the record outlives it (image, command, times, exit code, OOM kill)
//! until `rm`, or the exit of a `--rm` container.

use std::path::{Path, PathBuf};

use berth::container_cli::RECORD_FILE;
use berth_common::fs::{write_atomic, Durability};
use berth_common::io::Step;
use berth_runtime::state::Creator;
use serde::{Deserialize, Serialize};

use crate::error::PeopleError;

/// Where a kept container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Made by `container create`, never started.
    Created,
    /// Started; its keeper records the exit.
    Running,
    /// Exited: `exit_code` and `finished_at` say how and when.
    Exited,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub id: String,
    pub image: String,
    pub command: Vec<String>,
    /// RFC 3339.
    pub created: String,
    pub status: Phase,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// The program's status (128+N if signal N killed it); none if nobody saw the exit.
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub oom_killed: bool,
    #[serde(default)]
    pub ports: Vec<String>,
    /// Removed at exit (only a `-d --rm` container's monitor reads this).
    #[serde(default)]
    pub rm: bool,
    /// The overlay is mounted read-only (`--read-only`), again at each start.
    #[serde(default)]
    pub read_only: bool,
    /// It has a terminal (`-t`): its monitor holds the pty master and serves `attach`.
    #[serde(default)]
    pub tty: bool,
    /// Its stdin stays open (`-i`): its monitor holds the write end and serves `attach`.
    #[serde(default)]
    pub interactive: bool,
    /// The process that records the exit (the monitor, or a foreground berth run): a
    /// "running" record whose keeper is gone was not told how its container ended.
    #[serde(default)]
    pub keeper: Option<Creator>,
}

impl Record {
    pub fn path(bundle: &Path) -> PathBuf {
        bundle.join(RECORD_FILE)
    }

    pub fn load(bundle: &Path) -> Result<Record, PeopleError> {
        let path = Record::path(bundle);
        let bytes = std::fs::read(&path).step("read", &path)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| PeopleError::Usage(format!("parse {}: {e}", path.display())))
    }

    /// Replaces the record whole (no fsync: the upper layer it describes is not synced either).
    pub fn save(&self, bundle: &Path) -> Result<(), PeopleError> {
        let path = Record::path(bundle);
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| PeopleError::Usage(format!("serialize {}: {e}", path.display())))?;
        write_atomic(&path, &bytes, Some(0o600), Durability::Crash)?;
        Ok(())
    }

    /// Whether the keeper that will record the exit still lives.
    pub fn keeper_alive(&self) -> bool {
        self.keeper.is_some_and(|k| k.alive())
    }

    /// The record after the program exited with `code`. The keeper stays named: it may
    /// still be tearing the runtime container down (`start` waits for it).
    pub fn exited(mut self, code: Option<i32>, oom_killed: bool) -> Record {
        self.status = Phase::Exited;
        self.exit_code = code;
        self.oom_killed = oom_killed;
        self.finished_at = Some(berth_common::now_rfc3339());
        self
    }
}

/// A kept container's bundle, or one clear error naming it. Only a path: the store is not
/// opened (its directories made, its staging cleaned), which would cost `stop` and `attach`
/// a dozen syscalls and a lock before they act.
pub fn bundle_of(image_root: &Path, id: &str) -> Result<PathBuf, PeopleError> {
    if !berth_common::id::is_valid(id) {
        return Err(berth_image::StoreError::InvalidContainerId(id.to_string()).into());
    }
    let dir = image_root.join("containers").join(id);
    if !Record::path(&dir).exists() {
        return Err(PeopleError::Usage(format!(
            "no such container: {id} (berth ps -a lists them)"
        )));
    }
    Ok(dir)
}

/// Every kept container's record, sorted by ID (unreadable ones are skipped), and the IDs of
/// container roots without a record: a foreground `--rm` run's, or what a killed command left
/// (release::reclaim_abandoned).
pub fn all(image_root: &Path) -> (Vec<Record>, Vec<String>) {
    let dir = image_root.join("containers");
    let (mut records, mut bare) = (Vec::new(), Vec::new());
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        match Record::load(&e.path()) {
            Ok(r) => records.push(r),
            Err(_) if !Record::path(&e.path()).exists() => {
                bare.extend(e.file_name().into_string().ok())
            }
            Err(_) => {}
        }
    }
    records.sort_by(|a, b| a.id.cmp(&b.id));
    (records, bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The monitor (berth-monitor) edits the record it does not link: its file name and the
    /// four fields it sets must be this record's.
    #[test]
    fn the_monitors_exit_edit_is_this_record() {
        assert_eq!(berth_monitor::record::RECORD_FILE, RECORD_FILE);
        let dir = tempfile::tempdir().unwrap();
        let rec = Record {
            id: "c1".into(),
            image: "busybox".into(),
            command: vec!["sleep".into()],
            created: berth_common::now_rfc3339(),
            status: Phase::Running,
            started_at: Some(berth_common::now_rfc3339()),
            finished_at: None,
            exit_code: None,
            oom_killed: false,
            ports: vec![],
            rm: false,
            read_only: false,
            tty: true,
            interactive: false,
            keeper: Creator::this_process(),
        };
        rec.save(dir.path()).unwrap();
        let done = berth_monitor::record::record_exit(dir.path(), Some(137), true).unwrap();
        assert_eq!(done, berth_monitor::record::Recorded::Yes);
        let got = Record::load(dir.path()).unwrap();
        assert_eq!(got.status, Phase::Exited);
        assert_eq!(got.exit_code, Some(137));
        assert!(got.oom_killed && got.tty);
        assert!(got.finished_at.is_some());
        assert_eq!(got.keeper, rec.keeper);
    }

    /// `bundle_of` computes the path the image store gives, without opening the store.
    #[test]
    fn bundle_of_is_the_stores_container_dir() {
        let dir = tempfile::tempdir().unwrap();
        let store = berth_image::Store::open(dir.path()).unwrap();
        let want = store.container_dir("c1").unwrap();
        assert!(bundle_of(dir.path(), "c1").is_err(), "no record yet");
        std::fs::create_dir_all(&want).unwrap();
        std::fs::write(Record::path(&want), "{}").unwrap();
        assert_eq!(bundle_of(dir.path(), "c1").unwrap(), want);
        assert!(bundle_of(dir.path(), "../c1").is_err());
    }
}
