//! The monitor holds a detached container's namespaces from its start until the exit is
//! recorded (berth-monitor's ns.rs: the kernel's teardown of them is then off `stop`'s
//! path). Through the CLI as a user types it (root): while the container runs its monitor
//! has each of the container's own namespaces open; `stop` and `rm -f` still record the exit
//! and leave no mount, and once the monitor has ended nothing of this test holds them.

use std::time::{Duration, Instant};

mod common;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, names, World};

/// The kinds the monitor holds.
const KINDS: [&str; 5] = ["mnt", "net", "ipc", "uts", "cgroup"];

/// The namespaces of `pid` that are not the host's (this test's), as nsfs names ("mnt:[N]").
fn own_namespaces(pid: i64) -> Vec<String> {
    KINDS
        .iter()
        .filter_map(|k| {
            let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{k}")).unwrap();
            let ours = std::fs::read_link(format!("/proc/self/ns/{k}")).unwrap();
            (theirs != ours).then(|| theirs.to_string_lossy().into_owned())
        })
        .collect()
}

/// What process `pid`'s open descriptors are.
fn fd_targets(pid: i64) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .collect()
}

/// The processes whose command line names this test's world (its containers' monitors and
/// teardowns, berth itself) that hold any of `namespaces` open or are in one. Other tests'
/// processes are left out: a freed namespace's number is given to the next one made.
fn holders(w: &World, namespaces: &[String]) -> Vec<String> {
    let world = w.dir.path().to_string_lossy().into_owned();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains(&world) {
            continue;
        }
        let mut held = fd_targets(pid);
        held.extend(
            KINDS
                .iter()
                .filter_map(|k| std::fs::read_link(format!("/proc/{pid}/ns/{k}")).ok())
                .map(|t| t.to_string_lossy().into_owned()),
        );
        found.extend(
            held.into_iter()
                .filter(|h| namespaces.contains(h))
                .map(|h| format!("process {pid} holds {h}")),
        );
    }
    found
}

/// Waits until process `pid` has ended (a zombie counts): the monitor ends after its teardown.
fn wait_gone(pid: i64) {
    let t = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|s| !s.contains("State:\tZ"))
    {
        assert!(t.elapsed().as_secs() < 30, "monitor {pid} never ended");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn running(w: &World, id: &str) -> (i64, i64) {
    w.ok(&[
        "run", "-d", "--name", id, "--net", "none", "busybox", "sleep", "1000",
    ]);
    let monitor = w.inspect(id)["keeper"]["pid"].as_i64().unwrap();
    let state: serde_json::Value = serde_json::from_str(&w.ok(&["state", id])).unwrap();
    (monitor, state["pid"].as_i64().unwrap())
}

#[test]
fn the_monitor_holds_the_namespaces_until_the_exit_is_recorded_then_lets_them_go() {
    require_root!();
    let w = World::new();
    let id = name("nshold");
    let (monitor, init) = running(&w, &id);
    let namespaces = own_namespaces(init);
    assert!(
        namespaces.iter().any(|n| n.starts_with("mnt:")),
        "the container has no mount namespace of its own: {namespaces:?}"
    );
    let open = fd_targets(monitor);
    for ns in &namespaces {
        assert!(
            open.contains(ns),
            "the monitor does not hold {ns}: {open:?}"
        );
    }

    // sleep as PID 1 ignores SIGTERM: killed at the timeout, and the exit is recorded.
    w.ok(&["stop", "-t", "1", &id]);
    let rec = w.inspect(&id);
    assert_eq!(rec["status"], "exited", "{rec}");
    assert_eq!(rec["exitCode"], 137, "{rec}");
    wait_gone(monitor);
    assert_eq!(holders(&w, &namespaces), Vec::<String>::new());
    assert_eq!(w.mounts(), Vec::<String>::new(), "mounts left after stop");

    // The same container started again gets new namespaces, held by its new monitor; rm -f
    // of the running container gives everything back.
    w.ok(&["start", &id]);
    let monitor = w.inspect(&id)["keeper"]["pid"].as_i64().unwrap();
    let state: serde_json::Value = serde_json::from_str(&w.ok(&["state", &id])).unwrap();
    let namespaces = own_namespaces(state["pid"].as_i64().unwrap());
    let open = fd_targets(monitor);
    assert!(namespaces.iter().all(|ns| open.contains(ns)), "{open:?}");
    w.ok(&["rm", "-f", &id]);
    wait_gone(monitor);
    assert_eq!(holders(&w, &namespaces), Vec::<String>::new());
    w.assert_clean();
    assert!(names(&w.state_root()).is_empty());
}
