//! The container's cgroups through the CLI: joined in every hierarchy and removed by
//! `delete`, `events` stats and OOM kills, blkio on cgroup v1, and systemd cgroup paths
//! without systemd. berth-cgroups' own tests (crates/berth-cgroups/tests/host.rs) check the
//! files. Real containers: these tests run as root.

mod common;

use std::fs;
use std::io::BufRead;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[test]
fn container_joins_its_cgroup_in_every_hierarchy_and_delete_removes_everything() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("cleanup", &["sh", "-c", "sleep 100 & wait"]);
    c.create_and_start();
    let pid = c.pid();
    for d in c.cgroup_dirs() {
        assert!(d.is_dir(), "cgroup {} missing", d.display());
        let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "init {pid} not in {}: {procs:?}",
            d.display()
        );
    }
    wait_until("2 processes", Duration::from_secs(5), || {
        pids_in_cgroup(&c.cgroup).len() == 2
    });
    let pids = pids_in_cgroup(&c.cgroup);
    assert_ok(&c.cmd(&["kill", &c.id, "KILL"]), "kill");
    c.wait_status("stopped");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
    for p in pids {
        assert!(!alive(p), "pid {p} survived delete");
    }
    c.assert_nothing_left();
    let o = c.cmd(&["state", &c.id]);
    assert!(!o.status.success());
}

/// `events --stats` prints one stats event; `events` streams stats until the container stops
/// and reports the OOM kill its memory limit causes (as runc's `{"type":"oom"}`).
#[test]
fn events_print_stats_and_report_an_oom_kill() {
    if !need_root() {
        return;
    }
    let limit = 16 * 1024 * 1024;
    // The OOM kill waits for /tmp/go, made once `events` has taken its first look: a kill before
    // that would be in the counters it starts from, and never reported.
    let mut c = Ctr::new(
        "events",
        &[
            "sh",
            "-c",
            "while [ ! -e /tmp/go ]; do sleep 0.05; done; tail /dev/zero; sleep 1",
        ],
    );
    c.patch(|cfg| {
        // swap = limit: no swapping around the OOM killer.
        cfg["linux"]["resources"]["memory"] = json!({"limit": limit, "swap": limit});
    });
    c.create_and_start();

    let o = c.cmd(&["events", "--stats", &c.id]);
    assert_ok(&o, "events --stats");
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["type"], "stats");
    assert_eq!(lines[0]["id"], c.id.as_str());
    assert_eq!(lines[0]["data"]["memory"]["usage"]["limit"], limit);

    // Streams until the container stops: the shell outlives the killed tail by a second.
    let mut events = c
        .berth()
        .args(["events", "--interval", "100ms", &c.id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(events.stdout.take().unwrap()).lines();
    // Its first stats line comes after it has read the counters it starts from.
    let first = lines.next().unwrap().unwrap();
    assert_ok(&c.cmd(&["exec", &c.id, "touch", "/tmp/go"]), "exec touch");
    let types: Vec<String> = std::iter::once(first)
        .chain(lines.map(Result::unwrap))
        .map(|l| serde_json::from_str::<Value>(&l).unwrap()["type"].to_string())
        .collect();
    assert!(events.wait().unwrap().success(), "events failed");
    assert!(types.iter().any(|t| t == "\"oom\""), "{types:?}");
    assert!(types.iter().any(|t| t == "\"stats\""), "{types:?}");
    assert_ok(&c.cmd(&["delete", &c.id]), "delete");
}

/// blkio on cgroup v1 through create: zero weights, empty lists and throttles on a real
/// device run (as runc); a setting the host cannot honour is one error line naming it.
#[test]
fn blkio_settings_apply_what_the_host_offers() {
    let blkio = std::path::Path::new("/sys/fs/cgroup/blkio");
    if !blkio.join("cgroup.procs").exists() {
        berth_common::skip!("no cgroup v1 blkio hierarchy");
    }
    let dev = fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("dev")).ok())
        .map(|d| d.trim().to_string())
        .min();
    let Some(dev) = dev else {
        berth_common::skip!("no block device");
    };
    let (maj, min) = dev.split_once(':').unwrap();
    let (maj, min): (i64, i64) = (maj.parse().unwrap(), min.parse().unwrap());
    let mut c = Ctr::new("blkio", &["true"]);
    c.patch(|cfg| {
        cfg["linux"]["resources"]["blockIO"] = json!({
            "weight": 0, "leafWeight": 0,
            "weightDevice": [{"major": maj, "minor": min, "weight": 0, "leafWeight": 0}],
            "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
            "throttleWriteBpsDevice": [], "throttleReadIOPSDevice": [],
            "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 300}]
        })
    });
    assert_ok(&c.create(), "create with blkio throttles");
    let dir = blkio.join(c.cgroup.trim_start_matches('/'));
    let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(
        read("blkio.throttle.read_bps_device"),
        format!("{dev} 1048576\n")
    );
    assert_eq!(
        read("blkio.throttle.write_iops_device"),
        format!("{dev} 300\n")
    );
    if !blkio.join("blkio.leaf_weight").exists() {
        let mut c = Ctr::new("blkleaf", &["true"]);
        c.patch(|cfg| cfg["linux"]["resources"]["blockIO"] = json!({"leafWeight": 300}));
        assert_one_line_error(&c.create(), &["blockIO.leafWeight", "not supported"]);
    }
}

#[test]
fn systemd_cgroup_is_a_clear_error() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("systemd", &["true"]);
    let o = run_detached_stdio({
        let mut cmd = c.berth();
        cmd.args(["--systemd-cgroup", "create", "--bundle"])
            .arg(c.bundle.path())
            .arg(&c.id);
        cmd
    });
    assert_one_line_error(&o, &["systemd"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}
