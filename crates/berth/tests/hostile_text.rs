//! Hostile values in a config: whatever berth echoes of them in an error is bounded and
//! escaped, on stderr and in the `--log` file (text and JSON), so one value can neither
//! flood the log nor split an error into lines that look like others.

mod common;

use std::fs;

use common::*;
use serde_json::json;

/// Creates `c` with `--log` in `format`; returns the output and the log's lines.
fn create_logged(c: &Ctr, format: &str) -> (std::process::Output, Vec<String>) {
    let log = c.bundle.path().join(format!("log.{format}"));
    let o = run_detached_stdio({
        let mut cmd = c.berth();
        cmd.arg("--log").arg(&log).args(["--log-format", format]);
        cmd.arg("create")
            .arg("--bundle")
            .arg(c.bundle.path())
            .arg(&c.id);
        cmd
    });
    let lines = fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    (o, lines)
}

/// The one error line on stderr and the one in the JSON log: both short, the log valid JSON.
fn assert_bounded(o: &std::process::Output, log: &[String], needles: &[&str]) {
    assert_one_line_error(o, needles);
    assert!(
        o.stderr.len() < 1100,
        "stderr line of {} bytes: {:?}…",
        o.stderr.len(),
        &stderr(o)[..200]
    );
    assert_eq!(log.len(), 1, "one log line, got {}", log.len());
    assert!(log[0].len() < 1300, "log line of {} bytes", log[0].len());
    let v: serde_json::Value = serde_json::from_str(&log[0]).expect("log line is JSON");
    assert_eq!(v["level"], "error");
    let msg = v["msg"].as_str().expect("msg");
    assert!(!msg.contains('\n'), "{msg:?}");
}

#[test]
fn four_megabyte_capability_name_gives_one_short_line() {
    if !need_root() {
        return;
    }
    let mut c = Ctr::new("hugecap", &["true"]);
    let huge = format!("CAP_{}", "A".repeat(4 << 20));
    c.patch(|cfg| cfg["process"]["capabilities"]["bounding"] = json!([huge]));
    let (o, log) = create_logged(&c, "json");
    assert_bounded(
        &o,
        &log,
        &["config.json", "capabilities.bounding", "CAP_AAAA"],
    );
    assert!(
        stderr(&o).contains('…'),
        "the cut is marked: {}",
        stderr(&o)
    );
    c.assert_nothing_left();
}

#[test]
fn newlines_in_values_stay_on_one_escaped_line() {
    if !need_root() {
        return;
    }
    // A sysctl key that berth refuses and echoes, holding a forged second log line.
    let forged = "kernel.x\nberth: container started\r\u{1b}[2K";
    let mut c = Ctr::new("nlsysctl", &["true"]);
    c.patch(|cfg| cfg["linux"]["sysctl"] = json!({ forged: "1" }));
    let (o, log) = create_logged(&c, "json");
    assert_bounded(
        &o,
        &log,
        &["sysctl", "kernel.x\\nberth: container started\\r"],
    );
    c.assert_nothing_left();

    // A capability name with a newline: serde's "unknown variant" message echoes it raw.
    let mut c = Ctr::new("nlcap", &["true"]);
    c.patch(|cfg| {
        cfg["process"]["capabilities"]["bounding"] = json!(["CAP_X\nberth: container started"])
    });
    let (o, log) = create_logged(&c, "json");
    assert_bounded(&o, &log, &["CAP_X\\nberth: container started"]);
    c.assert_nothing_left();

    // A relative cwd of 4 MB with newlines: the value itself is cut, the message kept.
    let mut c = Ctr::new("nlcwd", &["true"]);
    let cwd = "rel\n".repeat(1 << 20);
    c.patch(|cfg| cfg["process"]["cwd"] = json!(cwd));
    let (o, log) = create_logged(&c, "text");
    assert_one_line_error(
        &o,
        &["process.cwd", "rel\\nrel\\n", "must be an absolute path"],
    );
    assert!(o.stderr.len() < 1100, "{} bytes", o.stderr.len());
    assert_eq!(log.len(), 1, "one text log line");
    assert!(
        log[0].len() < 1300,
        "text log line of {} bytes",
        log[0].len()
    );
    c.assert_nothing_left();
}

#[test]
fn four_megabyte_value_refused_inside_the_init_is_still_reported() {
    if !need_root() {
        return;
    }
    // The kernel refuses the hostname inside the init, whose error echoes it: unbounded,
    // that message did not fit in one handshake message and create said only that the
    // init had died.
    let mut c = Ctr::new("hugehost", &["true"]);
    c.patch(|cfg| cfg["hostname"] = json!("h".repeat(4 << 20)));
    let (o, log) = create_logged(&c, "json");
    assert_bounded(
        &o,
        &log,
        &["container init", "set hostname", "hhhh", "Invalid argument"],
    );
    c.assert_nothing_left();
}

#[test]
fn megabytes_of_annotations_reach_the_in_container_hooks() {
    if !need_root() {
        return;
    }
    // The hook state (which carries the annotations, up to 256 KiB in Kubernetes) crosses
    // the handshake to the init for createContainer and startContainer hooks; it was cut
    // at 64 KiB and refused beyond the socket's default buffer.
    let mut c = Ctr::new("hugeann", &["true"]);
    let out = c.bundle.path().join("hook-state");
    let hook = json!([{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat >> {}", out.display())]
    }]);
    c.patch(|cfg| {
        cfg["annotations"] = json!({ "big": "a".repeat(1 << 20) });
        cfg["hooks"] = json!({ "createContainer": hook });
    });
    assert_ok(
        &c.create(),
        "create with 1 MiB of annotations and a createContainer hook",
    );
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(&out).expect("the hook ran")).expect("state JSON");
    assert_eq!(
        state["annotations"]["big"].as_str().map(str::len),
        Some(1 << 20)
    );
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
    c.assert_nothing_left();
}

#[test]
fn a_huge_image_reference_is_refused_in_one_short_line() {
    if !need_root() {
        return;
    }
    // A 100 KB repository name parsed as valid was echoed whole ("pulling …") and sent to
    // the registry; Docker refuses names over 255 characters.
    let store = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(BERTH)
        .arg("--image-root")
        .arg(store.path())
        .args(["image", "pull", &"a".repeat(100_000)])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_one_line_error(&o, &["invalid image reference", "longer than 255"]);
    assert!(o.stderr.len() < 1100, "{} bytes of stderr", o.stderr.len());
}
