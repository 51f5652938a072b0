//! `berth checkpoint` where CRIU cannot run: on this host Debian's criu fails its kernel
//! feature check (kerndat vdso). The checkpoint must fail with one line naming CRIU's own
//! error and its log file, and leave the container running and untouched. Checkpoint and
//! restore themselves are tested in the node guest (tests/scripts/node/criu.sh).

use std::path::Path;
use std::process::{Command, Output, Stdio};

#[path = "../../berth/tests/common/rootfs.rs"]
mod rootfs;

mod common;
use common::BERTH;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn berth(state: &Path, args: &[&str]) -> Output {
    Command::new(&*BERTH)
        .arg("--root")
        .arg(state)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `berth run -d`: the container keeps its stdio, so nothing waits for their end.
fn run_detached(state: &Path, bundle: &Path, id: &str) {
    let st = Command::new(&*BERTH)
        .arg("--root")
        .arg(state)
        .args(["run", "-d", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "run -d {id}");
}

/// Deletes the container however the test ends.
struct Container<'a> {
    state: &'a Path,
    id: &'a str,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = berth(self.state, &["delete", "-f", self.id]);
    }
}

/// Why CRIU cannot run here (the precondition of this test), or None when it can.
fn criu_fails() -> Option<String> {
    let out = Command::new("criu").arg("check").output().ok()?;
    (!out.status.success()).then(|| text(&out.stderr))
}

#[test]
fn failed_checkpoint_names_criu_error_and_log_and_leaves_container_running() {
    if !rustix::process::geteuid().is_root() {
        berth_common::skip!("needs root");
    }
    if !Path::new("/bin/busybox").exists() {
        berth_common::skip!("needs a static busybox (Debian busybox-static)");
    }
    if Command::new("criu").arg("--version").output().is_err() {
        berth_common::skip!("criu is not installed (Debian criu, scripts/debian-packages)");
    }
    let Some(why) = criu_fails() else {
        berth_common::skip!(
            "criu works on this kernel: checkpoint and restore are tested in the node guest"
        );
    };
    assert!(why.contains("Error"), "criu check: {why}");
    let dir = tempfile::Builder::new()
        .prefix("berth-criu-")
        .tempdir()
        .unwrap();
    let bundle = dir.path().join("bundle");
    let state = dir.path().join("state");
    rootfs::write(&bundle.join("rootfs"));
    let out = berth(&state, &["spec", "--bundle", bundle.to_str().unwrap()]);
    assert!(out.status.success(), "spec: {}", text(&out.stderr));
    let path = bundle.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    let id = format!("criu-fail-{}", std::process::id());
    run_detached(&state, &bundle, &id);
    let _container = Container {
        state: &state,
        id: &id,
    };
    let before = berth(&state, &["state", &id]);
    let before: serde_json::Value = serde_json::from_slice(&before.stdout).unwrap();

    let images = dir.path().join("images");
    let out = berth(
        &state,
        &["checkpoint", "--image-path", images.to_str().unwrap(), &id],
    );
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "checkpoint succeeded where criu fails: {err}"
    );
    let log = images.join("dump.log");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(
        err.starts_with("berth: criu dump failed: Error (")
            && err.contains(&format!("(log: {})", log.display())),
        "{err}"
    );
    // The line is CRIU's own last error, from its log.
    let logged = std::fs::read_to_string(&log).unwrap();
    let cause = err
        .trim_start_matches("berth: criu dump failed: ")
        .split(" (log: ")
        .next()
        .unwrap();
    assert!(logged.contains(cause), "{cause:?} not in {logged}");

    let after = berth(&state, &["state", &id]);
    let after: serde_json::Value = serde_json::from_slice(&after.stdout).unwrap();
    assert_eq!(after["status"], "running", "{after}");
    assert_eq!(after["pid"], before["pid"], "the init changed");
    let pid = after["pid"].as_i64().unwrap();
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let st = st.rsplit(") ").next().unwrap();
    assert!(!st.starts_with('T'), "the init is left stopped: {st}");
}
