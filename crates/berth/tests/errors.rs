//! Bad input and what berth says about it: each failure is a non-zero exit with exactly one
//! stderr line naming the problem, leaves nothing behind (no state dir, no cgroup, no stray
//! process), and reaches the --log file (text and JSON) as one line; `--debug` logs each step
//! with its duration and keeps the output clean. These tests run as root.

mod common;

use std::fs;

use common::*;
use serde_json::{json, Value};

const WRONG_TYPES: &[(&str, &str, &str)] = &[
    // (JSON pointer, bad value as JSON, the field's name in the config)
    ("/process/args", "\"sh -c true\"", "args"),
    ("/process/user/uid", "\"root\"", "uid"),
    ("/mounts", "{\"destination\": \"/x\"}", "mounts"),
    ("/process/terminal", "\"no\"", "terminal"),
];

fn create_with_wrong_type(ptr: &str, bad: &str) -> (Ctr, std::process::Output) {
    let mut c = Ctr::new("badtype", &["true"]);
    let bad: serde_json::Value = serde_json::from_str(bad).unwrap();
    c.patch(|cfg| *cfg.pointer_mut(ptr).unwrap() = bad);
    let o = c.create();
    (c, o)
}

/// 2026-11-24T23:12:59.123Z style.
fn humantime_like(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b'T'
        && (t.ends_with('Z') || t.contains('+'))
}

#[test]
fn missing_bundle() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("nobundle", &["true"]);
    let o = run_detached_stdio({
        let mut cmd = c.berth();
        cmd.args(["create", "--bundle", "/nonexistent/bundle-dir", &c.id]);
        cmd
    });
    assert_one_line_error(&o, &["/nonexistent/bundle-dir"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn bundle_without_config_json() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("noconfig", &["true"]);
    fs::remove_file(c.bundle.path().join("config.json")).unwrap();
    let o = c.create();
    assert_one_line_error(&o, &["config.json"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn malformed_json() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("badjson", &["true"]);
    fs::write(
        c.bundle.path().join("config.json"),
        "{\"ociVersion\": \"1.0.2\", ",
    )
    .unwrap();
    let o = c.create();
    assert_one_line_error(&o, &["config.json"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn wrong_field_types() {
    if !need_root() {
        return;
    }
    for (ptr, bad, _) in WRONG_TYPES {
        let (c, o) = create_with_wrong_type(ptr, bad);
        assert_one_line_error(&o, &["config.json", "invalid type"]);
        c.assert_nothing_left();
        assert_root_empty(&c);
    }
}

#[test]

fn wrong_field_type_error_names_the_field() {
    for (ptr, bad, field) in WRONG_TYPES {
        let (_c, o) = create_with_wrong_type(ptr, bad);
        assert_one_line_error(&o, &[field]);
    }
}

#[test]
fn missing_process_args() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("noargs", &["true"]);
    c.patch(|cfg| cfg["process"]["args"] = json!([]));
    let o = c.create();
    assert_one_line_error(&o, &["args"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn invalid_ids() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("badid", &["true"]);
    // One byte over a file name (NAME_MAX): refused as an ID, not by mkdir half way.
    let long = "x".repeat(256);
    for bad in ["../x", "", "a/b", "/abs", "..", &long] {
        let o = run_detached_stdio({
            let mut cmd = c.berth();
            cmd.arg("create")
                .arg("--bundle")
                .arg(c.bundle.path())
                .arg(bad);
            cmd
        });
        assert_one_line_error(&o, &["invalid container id"]);
        for sub in ["state", "start", "delete", "kill"] {
            let o = c.cmd(&[sub, bad]);
            assert_one_line_error(&o, &["invalid container id"]);
        }
        assert_root_empty(&c);
    }
    // No cgroup named after a bad ID appeared beside the root's parent either.
    assert!(!c
        .root
        .path()
        .parent()
        .unwrap()
        .join("x")
        .join("state.json")
        .exists());
    c.assert_nothing_left();
}

#[test]
fn program_missing_from_rootfs_fails_at_create() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("noprog", &["/bin/definitely-not-here", "arg"]);
    let o = c.create();
    assert_one_line_error(&o, &["/bin/definitely-not-here"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn program_missing_from_path_fails_at_create() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("nopathprog", &["not-on-path"]);
    let o = c.create();
    assert_one_line_error(&o, &["not-on-path"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn program_missing_fails_run_too() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("noprogrun", &["/nope"]);
    let o = c.run();
    assert_one_line_error(&o, &["/nope"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn cwd_missing_from_rootfs_fails_at_create() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("nocwd", &["true"]);
    c.patch(|cfg| cfg["process"]["cwd"] = json!("/no/such/dir"));
    let o = c.create();
    assert_one_line_error(&o, &["/no/such/dir"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn missing_rootfs_fails_at_create() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("norootfs", &["true"]);
    c.patch(|cfg| cfg["root"]["path"] = json!("/nonexistent/rootfs"));
    let o = c.create();
    assert_one_line_error(&o, &["/nonexistent/rootfs"]);
    c.assert_nothing_left();
    assert_root_empty(&c);
}

#[test]
fn json_log_gets_one_error_line_for_a_failing_command() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("logjson", &["true"]);
    let log = c.bundle.path().join("berth.log");
    let o = c
        .berth()
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "state", "no-such-container"])
        .output()
        .unwrap();
    assert_one_line_error(&o, &["no-such-container"]);
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["level"], "error");
    assert!(
        v["msg"].as_str().unwrap().contains("no-such-container"),
        "{v}"
    );
    let time = v["time"].as_str().unwrap();
    assert!(humantime_like(time), "time {time:?} is not RFC 3339");
}

#[test]
fn json_log_as_containerd_passes_it_for_a_failing_create() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("logcreate", &["/bin/no-such-program"]);
    c.patch(|_| {});
    let log = c.bundle.path().join("log.json");
    let pid_file = c.bundle.path().join("pid");
    // containerd's exact form: global flags first.
    let o = run_detached_stdio({
        let mut cmd = c.berth();
        cmd.arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "create", "--bundle"])
            .arg(c.bundle.path())
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(&c.id);
        cmd
    });
    assert_one_line_error(&o, &["no-such-program"]);
    let text = fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["level"], "error");
    assert!(
        v["msg"].as_str().unwrap().contains("no-such-program"),
        "{v}"
    );
    assert!(!pid_file.exists());
    c.assert_nothing_left();
}

#[test]
fn text_log_gets_one_error_line() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("logtext", &["true"]);
    let log = c.bundle.path().join("berth.log");
    let o = c
        .berth()
        .arg("--log")
        .arg(&log)
        .args(["state", "nope-text"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let text = fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("level=error") && text.contains("nope-text"),
        "{text}"
    );
}

/// `--debug` writes each step of create, start and delete with its duration to --log (JSON
/// and text); without it the same commands write nothing there.
#[test]
fn debug_logs_each_step_with_its_duration_and_nothing_without_it() {
    if !need_root() {
        return;
    }
    let lifecycle = |c: &Ctr, log: &std::path::Path, flags: &[&str]| {
        for args in [
            vec![
                "create",
                "--bundle",
                c.bundle.path().to_str().unwrap(),
                &c.id,
            ],
            vec!["start", &c.id],
            vec!["delete", "--force", &c.id],
        ] {
            let o = run_detached_stdio({
                let mut cmd = c.berth();
                cmd.arg("--log").arg(log).args(flags).args(&args);
                cmd
            });
            assert_ok(&o, args[0]);
        }
        fs::read_to_string(log).unwrap_or_default()
    };
    let c = Ctr::new("debugjson", &["sleep", "60"]);
    let log = c.bundle.path().join("debug.json");
    let text = lifecycle(&c, &log, &["--debug", "--log-format", "json"]);
    let steps: Vec<String> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["level"], "debug", "{l}");
            v["msg"].as_str().unwrap().to_string()
        })
        .collect();
    for want in [
        "create: claim the ID: ",
        "create: clone the init: ",
        "create: the init sets up the container: ",
        "start: wait for the program to run: ",
        "delete: kill the processes: ",
        "delete: remove the state: ",
    ] {
        assert!(
            steps
                .iter()
                .any(|s| s.starts_with(want) && s.ends_with('s')),
            "no {want:?} step with a duration in {steps:?}"
        );
    }
    let c = Ctr::new("debugtext", &["sleep", "60"]);
    let log = c.bundle.path().join("debug.log");
    let text = lifecycle(&c, &log, &["--debug"]);
    assert!(
        text.contains("level=debug msg=\"create: clone the init: "),
        "{text}"
    );
    let c = Ctr::new("nodebug", &["sleep", "60"]);
    let log = c.bundle.path().join("quiet.log");
    assert_eq!(lifecycle(&c, &log, &[]), "");
}

#[test]
fn debug_flag_keeps_the_output_clean() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("debug", &["echo", "quiet"]);
    let log = c.bundle.path().join("debug.log");
    let o = c
        .berth()
        .arg("--debug")
        .arg("--log")
        .arg(&log)
        .args(["--log-format", "json", "run", "--bundle"])
        .arg(c.bundle.path())
        .arg(&c.id)
        .output()
        .unwrap();
    assert_ok(&o, "run --debug");
    assert_eq!(stdout(&o), "quiet\n");
    assert_eq!(stderr(&o), "");
    // Whatever debug lines berth writes, each is one JSON object.
    for line in fs::read_to_string(&log).unwrap_or_default().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["level"].is_string() && v["msg"].is_string(), "{line}");
    }
}
