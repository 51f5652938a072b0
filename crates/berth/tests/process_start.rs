//! berth starts without Rust's runtime start-up (`#![no_main]`, berth_runtime::process_start):
//! what that start-up did and berth relies on still holds, with the real binary.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::*;

/// A reader that goes away (`berth list | head -1`) ends berth as it ends runc and any Unix
/// tool: killed by SIGPIPE, without a word (berth::out), not an error line.
#[test]
fn a_reader_gone_ends_berth_by_sigpipe() {
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
    assert_eq!(
        out.status.signal(),
        Some(rustix::process::Signal::PIPE.as_raw()),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
    assert_eq!(stderr(&out), "");
}

/// Yet SIGPIPE stays ignored in berth itself: a write to a pipe or socket whose reader went
/// away (a hook that does not read its stdin, a console socket) is an error berth handles,
/// never its death. Seen in a running berth: SIGPIPE in its ignored set.
#[test]
fn sigpipe_is_ignored_while_berth_runs() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("pipeign", &["sleep", "10"]);
    // Returns once the container runs: berth then waits in its supervise loop.
    let mut run = c.spawn_run();
    let status = std::fs::read_to_string(format!("/proc/{}/status", run.id())).unwrap();
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .map(|m| m & (1 << (rustix::process::Signal::PIPE.as_raw() - 1)) != 0);
    let _ = c.cmd(&["kill", &c.id, "KILL"]);
    let _ = run.wait();
    let _ = c.cmd(&["delete", "--force", &c.id]);
    assert_eq!(ignored, Some(true), "berth's SigIgn");
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
