//! What the monitor records beyond the exit code (root): an OOM kill, read from the
//! container's memory cgroup before the cgroup goes.

mod common;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, World};

#[test]
fn an_oom_kill_is_recorded() {
    require_root!();
    let w = World::new();
    let id = name("oom");
    // PID 1 itself reads 256 MiB into a shell variable under a 32 MiB limit.
    w.ok(&[
        "run",
        "-d",
        "--name",
        &id,
        "--net",
        "none",
        "--memory",
        "32m",
        "busybox",
        "sh",
        "-c",
        "x=$(head -c 268435456 /dev/zero | tr '\\0' a); echo survived",
    ]);
    let code = w.ok(&["wait", &id]);
    let rec: serde_json::Value = serde_json::from_str(&w.ok(&["inspect", &id])).unwrap();
    if rec[0]["oomKilled"] != true && code == "0\n" {
        // No memory controller enforces the limit here.
        w.ok(&["rm", &id]);
        berth_common::skip!("the memory limit was not enforced (no memory cgroup controller)");
    }
    assert_eq!(code, "137\n");
    assert_eq!(rec[0]["oomKilled"], true, "{rec}");
    let line = w.ok(&["ps", "-a"]);
    assert!(line.contains("Exited (137) (OOM killed)"), "{line}");
    w.ok(&["rm", &id]);
}
