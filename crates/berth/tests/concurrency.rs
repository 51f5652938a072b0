//! Concurrent commands on one ID and on one cgroup parent: exactly one winner, no corrupt
//! state, nothing left behind. Real containers: these tests run as root.

mod common;

use std::fs;
use std::sync::{Arc, Barrier};

use common::*;
use serde_json::{json, Value};

/// Runs `f` on `n` threads released together.
fn race<T: Send + 'static>(n: usize, f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (b, f) = (barrier.clone(), f.clone());
            std::thread::spawn(move || {
                b.wait();
                f(i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn concurrent_delete_force_all_succeed_and_leave_nothing() {
    if !need_root() {
        return;
    }
    let c = Arc::new(Ctr::new("racedel", &["sleep", "100"]));
    c.create_and_start();
    let pid = c.pid();
    let cc = c.clone();
    let outs = race(8, move |_| cc.cmd(&["delete", "--force", &cc.id]));
    for o in &outs {
        assert_ok(o, "concurrent delete --force");
    }
    assert!(!alive(pid));
    c.assert_nothing_left();
}

#[test]
fn concurrent_start_kill_delete_do_not_corrupt_state() {
    if !need_root() {
        return;
    }
    let c = Arc::new(Ctr::new("racemix", &["sleep", "100"]));
    assert_ok(&c.create(), "create");
    let pid = c.pid();
    let cc = c.clone();
    let outs = race(8, move |i| {
        let id = cc.id.as_str();
        let args: &[&str] = match i % 4 {
            0 => &["start", id],
            1 => &["kill", id, "KILL"],
            2 => &["state", id],
            _ => &["delete", "--force", id],
        };
        (
            i,
            run_detached_stdio({
                let mut cmd = cc.berth();
                cmd.args(args);
                cmd
            }),
        )
    });
    for (i, o) in &outs {
        // Whatever the order, a command either succeeds or fails with one clean line.
        if !o.status.success() {
            assert_eq!(stderr(o).lines().count(), 1, "command {i}: {:?}", stderr(o));
            assert!(!stderr(o).contains("panicked"), "{}", stderr(o));
        }
        if i % 4 == 2 && o.status.success() {
            let st: Value = serde_json::from_slice(&o.stdout).expect("state JSON intact");
            assert!(st["status"].is_string());
        }
        if i % 4 == 3 {
            assert_ok(o, "delete --force");
        }
    }
    assert!(!alive(pid));
    c.assert_nothing_left();
}

#[test]
fn concurrent_create_of_one_id_has_exactly_one_winner() {
    if !need_root() {
        return;
    }
    let c = Arc::new(Ctr::new("racecreate", &["sleep", "100"]));
    let cc = c.clone();
    let outs = race(6, move |_| cc.create());
    let winners = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert_one_line_error(o, &["already exists"]);
    }
    assert_eq!(c.status(), "created");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    c.assert_nothing_left();
}

#[test]
fn containers_sharing_a_cgroup_parent_come_and_go_concurrently() {
    if !need_root() {
        return;
    }
    // Like Docker's /docker/<id>: parents are shared, created and removed around each other.
    let parent = format!("berthtest-shared-{}", std::process::id());
    let p = parent.clone();
    let outs = race(6, move |_| {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let mut c = Ctr::new("shared", &["true"]);
            c.cgroup = format!("/{p}/{}", c.id);
            let cg = c.cgroup.clone();
            c.patch(|cfg| cfg["linux"]["cgroupsPath"] = json!(cg));
            let o = c.run();
            if !o.status.success() {
                failures.push(stderr(&o));
            }
            c.assert_nothing_left();
        }
        failures
    });
    for h in cgroup_hierarchies() {
        let _ = fs::remove_dir(h.join(&parent));
    }
    let failures: Vec<String> = outs.into_iter().flatten().collect();
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn concurrent_start_has_exactly_one_winner() {
    if !need_root() {
        return;
    }
    let c = Arc::new(Ctr::new("racestart", &["sleep", "100"]));
    assert_ok(&c.create(), "create");
    let cc = c.clone();
    let outs = race(6, move |_| cc.start());
    let winners = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        winners,
        1,
        "{:?}",
        outs.iter().map(stderr).collect::<Vec<_>>()
    );
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert_one_line_error(o, &[&c.id]);
    }
    assert_eq!(c.status(), "running");
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    c.assert_nothing_left();
}
