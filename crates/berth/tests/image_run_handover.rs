//! `berth` hands an image-form `run` (its arguments surely make the image form) to
//! `berth-people` before it builds its own clap tree. Where berth-people cannot be executed,
//! the parse goes on and answers as it did before that shortcut: one error line naming
//! berth-people.

mod common;

use std::process::Command;

use common::*;

/// berth alone in a directory, without berth-people beside it.
fn lone_berth() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("berth");
    copy_executable(std::path::Path::new(BERTH), &exe);
    (dir, exe)
}

#[test]
fn without_berth_people_an_image_run_names_it() {
    let (dir, exe) = lone_berth();
    let out = Command::new(&exe)
        .arg("--root")
        .arg(dir.path().join("state"))
        .args(["run", "--rm", "--net", "none", "busybox", "true"])
        .output()
        .unwrap();
    assert_one_line_error(&out, &["berth-people", "installed next to berth"]);
}
