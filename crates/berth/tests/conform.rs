//! Runtime-spec corners where berth does what runc and crun do (issue 12), through the real
//! CLI: the features document (complete, true, and listing what the tests use), unsupported
//! `linux` sections refused, and repeated global flags. These tests run as root.

mod common;

use std::fs;
use std::process::Command;

use common::*;
use serde_json::{json, Value};

/// `features` parses as the spec's Features structure and states every section as it is.
#[test]
fn features_document_is_complete_and_true() {
    if !need_root() {
        return;
    }
    let o = Command::new(BERTH).arg("features").output().unwrap();
    assert_ok(&o, "features");
    let typed: Result<oci_spec::runtime::Features, _> = serde_json::from_slice(&o.stdout);
    assert!(typed.is_ok(), "not a Features document: {typed:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ociVersionMin"], "1.0.0");
    assert_eq!(v["ociVersionMax"], "1.3.0");
    let linux = &v["linux"];
    assert_eq!(
        linux["intelRdt"],
        json!({"enabled": false, "schemata": false})
    );
    assert_eq!(
        linux["memoryPolicy"]["modes"].as_array().map(Vec::len),
        Some(7)
    );
    assert_eq!(
        linux["memoryPolicy"]["flags"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(
        linux["mountExtensions"],
        json!({"idmap": {"enabled": true}})
    );
    assert_eq!(linux["netDevices"], json!({"enabled": true}));
    assert_eq!(linux["cgroup"]["rdma"], true);
    assert_eq!(
        v["potentiallyUnsafeConfigAnnotations"],
        json!(["dev.berth."])
    );
}

/// What `features` says is not supported is refused at create, not silently ignored.
#[test]
fn unsupported_linux_sections_are_refused() {
    if !need_root() {
        return;
    }
    // Without resctrl (spec13.rs checks the message), or berth's own refusal with it.
    let mut c = Ctr::new("unsup", &["true"]);
    c.patch(|cfg| cfg["linux"]["intelRdt"] = json!({"closID": "berth"}));
    assert_one_line_error(&c.create(), &["intelRdt"]);
    assert!(!c.state_dir().exists(), "intelRdt: state left behind");
}

/// Clients put their own --root in front of a user's: the last one wins (runc, crun).
#[test]
fn repeated_root_takes_the_last() {
    if !need_root() {
        return;
    }
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

#[test]
fn features_document_is_json_and_lists_what_tests_use() {
    if !need_root() {
        return;
    }
    let o = std::process::Command::new(BERTH)
        .arg("features")
        .output()
        .unwrap();
    assert_ok(&o, "features");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["ociVersionMax"].as_str().is_some(), "{v}");
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    for want in ["pid", "network", "ipc", "uts", "mount", "user", "cgroup"] {
        assert!(ns.contains(&want), "{want} not in {ns:?}");
    }
}
