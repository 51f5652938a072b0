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

/// A reader that goes away (`berth image ls | head -1`) ends the command as it ends any Unix
/// tool: killed by SIGPIPE, without a word (berth::out). It used to abort on a panic of
/// `println!` (berth ignores SIGPIPE for its own pipes and sockets).
#[test]
fn a_reader_gone_ends_the_command_by_sigpipe() {
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}: {err}",
        out.status
    );
    assert_eq!(err, "");
}
