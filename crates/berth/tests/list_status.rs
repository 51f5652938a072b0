//! `list` reads each container's state.json and /proc/<pid>/stat itself (not through the
//! container's lock or the full state parse): the status it shows for a paused container
//! (the cgroup paths parsed only then) and for a state.json larger than its read buffer.
//! Real containers: these tests run as root.

mod common;

use common::*;
use serde_json::{json, Value};

/// (status, pid) of `c` in `list --format json`, and its row of the table.
fn listed(c: &Ctr) -> (String, i64, String) {
    let o = c.cmd(&["list", "--format", "json"]);
    assert_ok(&o, "list");
    let entries: Vec<Value> = serde_json::from_slice(&o.stdout).expect("list prints JSON");
    let e = entries
        .iter()
        .find(|e| e["id"] == c.id.as_str())
        .unwrap_or_else(|| panic!("{} not in list {entries:?}", c.id));
    let table = stdout(&c.cmd(&["list"]));
    let row = table
        .lines()
        .find(|l| l.starts_with(&c.id))
        .unwrap_or_else(|| panic!("{} not in the table {table}", c.id))
        .to_string();
    (
        e["status"].as_str().unwrap().to_string(),
        e["pid"].as_i64().unwrap(),
        row,
    )
}

#[test]
fn list_shows_paused_and_running_as_state_does() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("lspause", &["sleep", "100"]);
    c.create_and_start();
    let pid = c.pid() as i64;
    assert_eq!(listed(&c).0, "running");

    assert_ok(&c.cmd(&["pause", &c.id]), "pause");
    assert_eq!(c.status(), "paused");
    let (status, listed_pid, row) = listed(&c);
    assert_eq!((status.as_str(), listed_pid), ("paused", pid), "{row}");
    assert!(row.contains(" paused "), "{row}");

    assert_ok(&c.cmd(&["resume", &c.id]), "resume");
    assert_eq!(listed(&c).0, "running");
    assert_ok(&c.cmd(&["kill", &c.id, "KILL"]), "kill");
    c.wait_status("stopped");
    let (status, listed_pid, _) = listed(&c);
    assert_eq!((status.as_str(), listed_pid), ("stopped", 0));
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
}

#[test]
fn a_state_file_larger_than_the_read_buffer_is_listed() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("lsbig", &["sleep", "100"]);
    // 40 KiB of annotations: state.json outgrows list's first 16 KiB buffer twice.
    let big = "x".repeat(40 << 10);
    c.patch(|cfg| cfg["annotations"] = json!({ "berth.test/big": big }));
    assert_ok(&c.create(), "create");
    let size = std::fs::metadata(c.state_dir().join("state.json"))
        .unwrap()
        .len();
    assert!(size > 32 << 10, "state.json is {size} bytes");
    let (status, pid, _) = listed(&c);
    assert_eq!((status.as_str(), pid), ("created", c.pid() as i64));
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
}
