//! OCI hooks for real: poststart and poststop run, failing or timed-out hooks fail the
//! create, each kind of hook reads the spec's state with its status on stdin, late failures
//! are warnings, and a failing startContainer hook fails `start`. These tests run as root.

mod common;

use std::fs;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

#[test]
fn poststart_and_poststop_hooks_run() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("hooks", &["sleep", "100"]);
    let dir = c.bundle.path().to_path_buf();
    c.patch(|cfg| {
        let hook = |name: &str| {
            json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/{name}.json", dir.display())]}])
        };
        cfg["hooks"] = json!({
            "poststart": hook("poststart"),
            "poststop": hook("poststop"),
        });
    });
    c.create_and_start();
    let st: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("poststart.json")).unwrap()).unwrap();
    assert_eq!(st["status"], "running");
    assert!(!dir.join("poststop.json").exists());
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete --force");
    let st: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("poststop.json")).unwrap()).unwrap();
    assert_eq!(st["status"], "stopped");
    assert_eq!(st["id"], c.id.as_str());
    c.assert_nothing_left();
}

/// A hook past its timeout is killed and fails the create with one line; a failing hook
/// fails it naming its exit status. Either way nothing is left behind.
#[test]
fn hooks_that_time_out_or_fail_fail_the_create() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("hook-timeout", &["true"]);
    c.patch(|cfg| {
        cfg["hooks"] = json!({"createRuntime": [
            {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}
        ]});
    });
    let started = std::time::Instant::now();
    let o = c.create();
    let took = started.elapsed();
    assert_one_line_error(&o, &["createRuntime", "/bin/sleep", "timed out after 1s"]);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    c.assert_nothing_left();

    let mut c = Ctr::new("hook-fails", &["true"]);
    c.patch(|cfg| {
        cfg["hooks"] = json!({"prestart": [
            {"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}
        ]});
    });
    let o = c.create();
    assert_one_line_error(&o, &["prestart", "/bin/sh", "exit status: 3"]);
    c.assert_nothing_left();
}

/// Every kind of hook reads the state with the status the spec gives for its point, with
/// runc's fields (the spec's State: no pid once stopped); hooks run in the container see the
/// container's pid. Failing poststart and poststop hooks are
/// warnings (stderr and --log): the lifecycle and the remaining hooks go on.
#[test]
fn hooks_read_their_status_and_late_failures_are_warnings() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("hook-status", &["sleep", "100"]);
    let out = c.bundle.path().join("out");
    fs::create_dir(&out).unwrap();
    let host = out.display().to_string();
    let record = |dir: &str, name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {dir}/{name}.json")]});
    let fail = json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 7"]});
    c.patch(|cfg| {
        cfg["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/out", "type": "bind", "source": host, "options": ["rbind", "rw"]
        }));
        cfg["hooks"] = json!({
            "prestart": [record(&host, "prestart")],
            "createRuntime": [record(&host, "createRuntime")],
            // Before pivot_root: host paths still resolve.
            "createContainer": [record(&host, "createContainer")],
            "startContainer": [record("/out", "startContainer")],
            "poststart": [fail.clone(), record(&host, "poststart")],
            "poststop": [fail, record(&host, "poststop")],
        });
    });
    assert_ok(&c.create(), "create");
    let host_pid = c.pid();
    let log = c.bundle.path().join("hooks.log");
    let o = with_log(&c, &log, &["--log-format", "json", "start", &c.id]);
    assert_ok(&o, "start with a failing poststart hook");
    assert!(
        stderr(&o).contains("warning: poststart hook /bin/sh"),
        "{}",
        stderr(&o)
    );
    assert_eq!(c.status(), "running");
    let o = with_log(
        &c,
        &log,
        &["--log-format", "json", "delete", "--force", &c.id],
    );
    assert_ok(&o, "delete with a failing poststop hook");
    let warnings: Vec<Value> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["level"] == "warning")
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0]["msg"].as_str().unwrap().contains("poststart"));
    assert!(warnings[1]["msg"].as_str().unwrap().contains("poststop"));

    for (name, status, in_container) in [
        ("prestart", "created", false),
        ("createRuntime", "created", false),
        ("createContainer", "created", true),
        ("startContainer", "created", true),
        ("poststart", "running", false),
        ("poststop", "stopped", false),
    ] {
        let text = fs::read_to_string(out.join(format!("{name}.json")))
            .unwrap_or_else(|e| panic!("{name} hook did not run: {e}"));
        let st: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(st["status"], status, "{name}: {st}");
        assert_eq!(st["id"], c.id.as_str(), "{name}: {st}");
        if name != "poststop" {
            let want = if in_container { 1 } else { host_pid };
            assert_eq!(st["pid"], want, "{name}: {st}");
        }
        // runc's field set for hooks: no pid once stopped, nothing of berth's own state.
        let mut keys: Vec<&str> = st.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        let mut want = vec!["bundle", "id", "ociVersion", "status"];
        if name != "poststop" {
            want.push("pid");
            want.sort_unstable();
        }
        assert_eq!(keys, want, "{name}: {st}");
        assert_eq!(
            st["bundle"],
            c.bundle.path().to_str().unwrap(),
            "{name}: {st}"
        );
    }
    c.assert_nothing_left();
}

/// A failing startContainer hook runs in the init after `start` reached it: `start` fails
/// with the hook's error (before, the init printed it to the container's stderr and `start`
/// exited 0).
#[test]
fn failing_start_container_hook_fails_start() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("startc-fails", &["sleep", "100"]);
    c.patch(|cfg| {
        cfg["hooks"] = json!({"startContainer": [
            {"path": "/bin/sh", "args": ["sh", "-c", "exit 5"]}
        ]});
    });
    assert_ok(&c.create(), "create");
    let o = c.start();
    assert_one_line_error(&o, &["startContainer hook /bin/sh", "exit status: 5"]);
    c.wait_status("stopped");
}
