//! The monitor is its own small executable (root): `berth-monitor`, beside berth-people,
//! keeps a detached container without mapping berth-people; the container's init, orphaned
//! when the monitor's `berth create` exits, is the monitor's child (it is a child subreaper);
//! after the exit it records it and tears the runtime container down, then ends.

mod common;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, wait_for, World};

fn keeper(w: &World, id: &str) -> i32 {
    w.inspect(id)["keeper"]["pid"].as_i64().unwrap() as i32
}

fn status_field(pid: i64, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line[field.len()..].trim().to_string()
}

#[test]
fn a_detached_container_is_kept_by_the_berth_monitor_executable() {
    require_root!();
    let w = World::new();
    let id = name("monexe");
    w.ok(&[
        "run",
        "-d",
        "--name",
        &id,
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo up; exec sleep 1000",
    ]);
    let monitor = keeper(&w, &id);
    let exe = std::fs::read_link(format!("/proc/{monitor}/exe")).unwrap();
    assert_eq!(exe.file_name().unwrap(), "berth-monitor", "{exe:?}");
    let maps = std::fs::read_to_string(format!("/proc/{monitor}/maps")).unwrap();
    assert!(!maps.contains("berth-people"), "{maps}");
    // The init came to the monitor when `berth create` exited.
    let state: serde_json::Value = serde_json::from_str(&w.ok(&["state", &id])).unwrap();
    let init = state["pid"].as_i64().unwrap();
    assert_eq!(status_field(init, "PPid:"), monitor.to_string());
    // `run -d` returns at the start; the echo reaches the log through the monitor after that.
    wait_for("the first line in the log", || {
        w.ok(&["logs", &id]) == "up\n"
    });

    // stop returns once the monitor has recorded the exit; start waits for its teardown,
    // after which the old monitor is gone and a new one keeps the container.
    w.ok(&["stop", "-t", "0", &id]);
    let rec = w.inspect(&id);
    assert_eq!(rec["status"], "exited", "{rec}");
    assert_eq!(rec["exitCode"], 137, "{rec}");
    w.ok(&["start", &id]);
    let gone = std::fs::read_to_string(format!("/proc/{monitor}/status")).map_or(true, |s| {
        s.contains("State:\tZ") || !s.contains("berth-monitor")
    });
    assert!(gone, "the first monitor {monitor} outlived its container");
    let second = keeper(&w, &id);
    assert_ne!(second, monitor);
    let exe = std::fs::read_link(format!("/proc/{second}/exe")).unwrap();
    assert_eq!(exe.file_name().unwrap(), "berth-monitor");
    w.ok(&["rm", "-f", &id]);
    assert!(w.kept().is_empty());
}
