//! berth starts without Rust's runtime start-up (`#![no_main]`, berth_runtime::process_start):
//! what that start-up did and berth relies on still holds, with the real binary.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::*;

/// SIGPIPE is ignored: `list` into a pipe nobody reads fails with one error line (EPIPE)
/// instead of being killed by the signal.
#[test]
fn a_broken_pipe_is_an_error_not_a_signal() {
    let root = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BERTH)
        .arg("--root")
        .arg(root.path())
        .arg("list")
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), None, "killed: {:?}", out.status);
    assert_one_line_error(&out, &["broken pipe"]);
}

/// A closed stdout is /dev/null to berth: its output goes nowhere instead of failing (or into
/// whatever file it opens first).
#[test]
fn a_closed_stdout_is_dev_null() {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .args(["-c", r#"exec "$0" --root "$1" list >&-"#, BERTH])
        .arg(root.path())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    assert_eq!(stderr(&out), "");
}

/// The exit status of `run` is the container's, through berth's own `main`.
#[test]
fn run_exits_with_the_programs_status() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("pstart", &["sh", "-c", "exit 3"]);
    let out = c.run();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}
