//! Runtime-spec corners where berth does what runc and crun do (issue 12): the features
//! document, repeated global flags, FIFO devices, blkio on cgroup v1, exec into a config
//! without a `linux` section, and containers without a mount namespace of their own.
//! These tests run as root and start real containers.

mod common;

use std::fs;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

/// `features` parses as the spec's Features structure and states every section as it is.
#[test]
fn features_document_is_complete_and_true() {
    let o = Command::new(BERTH).arg("features").output().unwrap();
    assert_ok(&o, "features");
    let typed: Result<oci_spec::runtime::Features, _> = serde_json::from_slice(&o.stdout);
    assert!(typed.is_ok(), "not a Features document: {typed:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ociVersionMin"], "1.0.0");
    assert_eq!(v["ociVersionMax"], "1.2.1");
    let linux = &v["linux"];
    assert_eq!(
        linux["intelRdt"],
        json!({"enabled": false, "schemata": false})
    );
    assert_eq!(linux["memoryPolicy"], json!({"modes": [], "flags": []}));
    assert_eq!(
        linux["mountExtensions"],
        json!({"idmap": {"enabled": false}})
    );
    assert_eq!(linux["netDevices"], json!({"enabled": false}));
    assert_eq!(linux["cgroup"]["rdma"], true);
    assert_eq!(
        v["potentiallyUnsafeConfigAnnotations"],
        json!(["dev.berth."])
    );
}

/// What `features` says is not supported is refused at create, not silently ignored.
#[test]
fn unsupported_linux_sections_are_refused() {
    for (field, value) in [
        ("netDevices", json!({"eth9": {"name": "eth0"}})),
        ("memoryPolicy", json!({"mode": "MPOL_BIND", "nodes": "0"})),
    ] {
        let mut c = Ctr::new("unsup", &["true"]);
        c.patch(|cfg| cfg["linux"][field] = value);
        assert_one_line_error(&c.create(), &[field, "not supported"]);
        assert!(!c.state_dir().exists(), "{field}: state left behind");
    }
}

/// Clients put their own --root in front of a user's: the last one wins (runc, crun).
#[test]
fn repeated_root_takes_the_last() {
    let c = Ctr::new("twice", &["true"]);
    let decoy = tempfile::tempdir().unwrap();
    let o = run_detached_stdio({
        let mut cmd = Command::new(BERTH);
        cmd.arg("--root").arg(decoy.path());
        cmd.arg("--root").arg(c.root.path());
        cmd.args(["--debug", "--debug", "create", "--bundle"]);
        cmd.arg(c.bundle.path()).arg(&c.id);
        cmd
    });
    assert_ok(&o, "create with --root twice");
    assert!(c.state_dir().exists(), "state not in the last --root");
    assert!(
        fs::read_dir(decoy.path()).unwrap().next().is_none(),
        "the first --root was used"
    );
    assert_eq!(c.status(), "created");
}

/// A FIFO in linux.devices (type p): the node is made and no cgroup rule is written for it
/// (the v1 controller refuses "p …" rules; the v2 program is never asked about FIFOs).
#[test]
fn fifo_device_is_created_without_a_cgroup_rule() {
    let mut c = Ctr::new(
        "fifo",
        &[
            "sh",
            "-c",
            "ls -ln /dev/myfifo; [ -p /dev/myfifo ] && echo fifo",
        ],
    );
    c.patch(|cfg| {
        cfg["linux"]["devices"] = json!([{
            "path": "/dev/myfifo", "type": "p", "major": 8, "minor": 666,
            "fileMode": 0o640, "uid": 7, "gid": 8
        }]);
        // A deny-all rule for p as a client could write: it must not reach the kernel either.
        cfg["linux"]["resources"]["devices"]
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": false, "type": "p", "access": "rwm"}));
    });
    let o = c.run();
    assert_ok(&o, "run with a FIFO device");
    let out = stdout(&o);
    assert!(
        out.starts_with("prw-r-----") && out.contains(" 7 ") && out.contains(" 8 "),
        "{out}"
    );
    assert!(out.ends_with("fifo\n"), "{out}");
}

/// blkio on cgroup v1 through create: zero weights, empty lists and throttles on a real
/// device run (as runc); a setting the host cannot honour is one error line naming it.
#[test]
fn blkio_settings_apply_what_the_host_offers() {
    let blkio = std::path::Path::new("/sys/fs/cgroup/blkio");
    if !blkio.join("cgroup.procs").exists() {
        eprintln!("skipped: no cgroup v1 blkio hierarchy");
        return;
    }
    let dev = fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("dev")).ok())
        .map(|d| d.trim().to_string())
        .min();
    let Some(dev) = dev else {
        eprintln!("skipped: no block device");
        return;
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
