//! `run -dit` and `attach` (root): the monitor holds the container's terminal; attach relays
//! it, Ctrl-P Ctrl-Q detaches, and the shell's exit code is attach's and is recorded.

use std::process::{Command, Stdio};

mod common;
use common::BERTH;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, text, World};

#[test]
fn dit_then_attach_gives_a_shell_and_ctrl_p_ctrl_q_detaches() {
    require_root!();
    let w = World::new();
    let id = name("tty");
    assert_eq!(
        w.ok(&["run", "-dit", "--name", &id, "--net", "none", "busybox", "sh"])
            .trim(),
        id
    );
    let attach = |input: &[u8]| {
        let mut child = Command::new(&*BERTH)
            .arg("--root")
            .arg(w.state_root())
            .arg("--image-root")
            .arg(w.image_root())
            .args(["attach", &id])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
        child.wait_with_output().unwrap()
    };
    // Typed, then the detach keys: attach ends, the shell keeps running.
    let out = attach(b"echo one > /typed\n\x10\x11");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(w.listed(&id).unwrap().contains("Up "));
    // The shell answers through its terminal; its exit code is attach's and is recorded.
    let out = attach(b"cat /typed; echo hi; exit 7\n");
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let seen = text(&out.stdout);
    assert!(seen.contains("one\r\nhi\r\n"), "{seen:?}");
    assert!(w.listed(&id).unwrap().contains("Exited (7)"));
    assert!(w.ok(&["logs", &id]).contains("hi"));
    w.ok(&["rm", &id]);
}

#[test]
fn di_then_attach_feeds_its_stdin() {
    require_root!();
    let w = World::new();
    let id = name("stdin");
    w.ok(&[
        "run", "-di", "--name", &id, "--net", "none", "busybox", "sh",
    ]);
    let mut child = Command::new(&*common::BERTH)
        .arg("--root")
        .arg(w.state_root())
        .arg("--image-root")
        .arg(w.image_root())
        .args(["attach", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // No terminal: sh reads the lines from its stdin pipe, no prompt, no echo.
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"echo hi; exit 7\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    assert!(w.listed(&id).unwrap().contains("Exited (7)"));
    w.ok(&["rm", &id]);
}
