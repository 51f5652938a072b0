//! berth-people starts without Rust's runtime start-up (`#![no_main]`, berth::cli::c_main), as
//! berth does: what that start-up did and the people commands rely on still holds.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use common::BERTH;

/// A closed stdout is /dev/null: the listing does not land in the first file the command
/// opens (the store's lock file, which `image ls` opens for writing).
#[test]
fn a_closed_stdout_is_dev_null() {
    let store = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .args(["-c", r#"exec "$0" --image-root "$1" image ls >&-"#])
        .arg(&*BERTH)
        .arg(store.path())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert_eq!(err, "");
    for entry in std::fs::read_dir(store.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !text.contains("NAME"),
                "the listing went to {}",
                path.display()
            );
        }
    }
}

/// SIGPIPE is ignored: writing into a pipe nobody reads does not kill the command with it.
#[test]
fn a_broken_pipe_is_not_a_sigpipe_death() {
    let store = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(&*BERTH)
        .arg("--image-root")
        .arg(store.path())
        .args(["image", "ls"])
        .stdout(writer)
        .output()
        .unwrap();
    assert_ne!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}
