//! `attach --detach-keys` and `attach --no-stdin` through the CLI (root): a chosen sequence
//! detaches and leaves the container running, Docker's default keys and a broken sequence's
//! keys reach the container as typed; with --no-stdin nothing typed does.

use std::process::{Command, Output, Stdio};

mod common;
use common::BERTH;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, text, wait_for, World};

fn spawn_attach(w: &World, args: &[&str]) -> std::process::Child {
    Command::new(&*BERTH)
        .arg("--root")
        .arg(w.state_root())
        .arg("--image-root")
        .arg(w.image_root())
        .arg("attach")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Attach with `input` typed; stdin stays open until attach ends, so only the detach keys
/// (or the container's exit) end it.
fn attach(w: &World, args: &[&str], input: &[u8]) -> Output {
    let mut child = spawn_attach(w, args);
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, input).unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    out
}

#[test]
fn detach_keys_of_the_users_choice_and_no_stdin() {
    require_root!();
    let w = World::new();
    let id = name("keys");
    // The line it reads, byte by byte, into /got; then it stays up.
    w.ok(&[
        "run",
        "-di",
        "--name",
        &id,
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "read -r l; printf %s \"$l\" | od -An -tx1 > /got; exec sleep 1000",
    ]);
    let bad = w.fails(&["attach", "--detach-keys", "ctrl-1", &id]);
    assert!(bad.contains("unknown key"), "{bad}");
    // Docker's keys (ctrl-p ctrl-q) and a broken start of the sequence (ctrl-x z) are typed
    // through; ctrl-x q detaches.
    let out = attach(
        &w,
        &["--detach-keys", "ctrl-x,q", &id],
        b"a\x10\x11b\x18zc\n\x18q",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(w.listed(&id).unwrap().contains("Up "), "still running");
    let got = w.ok(&[
        "exec",
        &id,
        "sh",
        "-c",
        "while [ ! -s /got ]; do sleep 0.05; done; cat /got",
    ]);
    assert_eq!(
        got.split_whitespace().collect::<Vec<_>>(),
        ["61", "10", "11", "62", "18", "7a", "63"]
    );
    w.ok(&["rm", "-f", &id]);

    // --no-stdin: what is typed stays here; the container's output still comes.
    let quiet = name("nostdin");
    w.ok(&[
        "run",
        "-di",
        "--name",
        &quiet,
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo ready; while [ ! -e /go ]; do sleep 0.05; done; \
         if read -r -t 1 l; then echo \"got:$l\"; else echo none; fi",
    ]);
    let mut child = spawn_attach(&w, &["--no-stdin", &quiet]);
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"leak\n").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
            let _ = tx.send(line.unwrap());
        }
    });
    // Attached once the container's output reaches it: a line written to its stdout from an
    // exec, again until it comes (a socket on attach's side is not yet the monitor's accept).
    let mut seen = Vec::new();
    wait_for("attach to pass the container's output on", || {
        w.ok(&["exec", &quiet, "sh", "-c", "echo ping > /proc/1/fd/1"]);
        seen.extend(rx.recv_timeout(std::time::Duration::from_millis(200)));
        seen.iter().any(|l| l == "ping")
    });
    // Only now may the container read: had attach passed stdin on, the line would be there.
    w.ok(&["exec", &quiet, "touch", "/go"]);
    seen.extend(rx.iter());
    let attached = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(
        attached.status.code(),
        Some(0),
        "{}",
        text(&attached.stderr)
    );
    assert!(
        seen.iter().any(|l| l == "none") && !seen.iter().any(|l| l.starts_with("got:")),
        "{seen:?}"
    );
    w.ok(&["rm", "-f", &quiet]);
}
