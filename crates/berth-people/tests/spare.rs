//! Spare roots (berth-image store/spare.rs), with real containers as root: a released root's
//! directories are kept for the next container, which sees nothing of the last one; a spare
//! that holds anything is refused; a remover killed while it parks a spare leaves nothing
//! after the next command; a run killed while it makes its root leaves one the next run of
//! its name or the next listing gives back, and never one that still runs.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, names, text, World};

fn spare(w: &World) -> PathBuf {
    w.image_root().join("spare/0")
}

fn ino(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().ino()
}

/// Runs `--rm` until the detached remover has emptied the trash (its entry is named after
/// the container, so a later run cannot mistake it).
fn settle(w: &World) {
    for _ in 0..200 {
        if names(&w.image_root().join("trash")).is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!(
        "the remover left {:?}",
        names(&w.image_root().join("trash"))
    );
}

#[test]
fn a_released_root_is_the_next_root_and_carries_nothing_of_its_container() {
    require_root!();
    let w = World::new();
    // A container that writes and changes its `/`: its upper is not kept.
    let out = w.ok(&[
        "run",
        "--rm",
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo secret > /s; chmod 700 /; echo done",
    ]);
    assert_eq!(out, "done\n");
    w.assert_clean();
    // The remover makes the spare after the command.
    settle(&w);
    let s = spare(&w);
    assert!(s.join("work").is_dir(), "no spare root was kept");
    assert!(!s.join("upper").exists(), "a changed upper was kept");
    assert_eq!(names(&s.join("work")), Vec::<String>::new());
    // The next container takes the spare: the same directories, and none of the last one's
    // writes or mode.
    let work = ino(&s.join("work"));
    let id = name("spare");
    let out = w.ok(&[
        "run",
        "--name",
        &id,
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "stat -c %a /; ls /s 2>&1; true",
    ]);
    assert!(out.starts_with("755\n"), "{out}");
    assert!(out.contains("No such file"), "{out}");
    let dir = w.image_root().join("containers").join(&id);
    assert_eq!(ino(&dir.join("work")), work, "the spare was not taken");
    assert!(!s.exists(), "the spare is still there");
    w.ok(&["rm", &id]);
    w.assert_clean();
    // A kept container's root was unmounted when it stopped (maybe only detached, busy):
    // `rm` finds it unmounted and keeps no spare of it.
    assert!(!s.exists(), "a spare of a root found unmounted");
    settle(&w);
    // A --rm container that left its upper untouched: kept, with its hosts and resolv.conf.
    w.ok(&["run", "--rm", "--net", "none", "busybox", "true"]);
    settle(&w);
    assert_eq!(names(&s.join("upper")), Vec::<String>::new());
    assert!(s.join("hosts").is_file() && s.join("resolv.conf").is_file());
    // A --net host container writes neither: it leaves that spare to another and gets no
    // stale hosts of an earlier container.
    let host = name("hostnet");
    w.ok(&["run", "--name", &host, "--net", "host", "busybox", "true"]);
    let dir = w.image_root().join("containers").join(&host);
    assert!(
        !dir.join("hosts").exists(),
        "a stale hosts in a --net host bundle"
    );
    assert!(s.join("hosts").is_file(), "the spare was taken");
    w.ok(&["rm", &host]);
    w.assert_clean();
    settle(&w);
}

/// A way to leave something in a spare, and what it is.
type Tamper = (&'static str, fn(&Path));

/// Each way a spare can hold something: a file in its upper, an upper whose mode or
/// attributes a container changed, a non-empty merged or work, an unknown entry, a hosts
/// file whose mode or attributes changed or that has a second link. Each is refused: the container sees
/// the image alone, and the spare's upper and hosts are not its own.
#[test]
fn a_spare_that_holds_anything_is_refused() {
    require_root!();
    let w = World::new();
    let tamper: [Tamper; 9] = [
        ("a file in upper", |s| {
            std::fs::write(s.join("upper/planted"), "x").unwrap()
        }),
        ("upper's mode", |s| {
            std::fs::set_permissions(s.join("upper"), PermissionsExt::from_mode(0o777)).unwrap()
        }),
        ("an attribute on upper", |s| {
            rustix::fs::setxattr(
                s.join("upper"),
                "user.planted",
                b"x",
                rustix::fs::XattrFlags::empty(),
            )
            .unwrap()
        }),
        ("a file in merged", |s| {
            std::fs::write(s.join("merged/planted"), "x").unwrap()
        }),
        ("a dir in work", |s| {
            std::fs::create_dir(s.join("work/planted")).unwrap()
        }),
        ("another entry", |s| {
            std::fs::write(s.join("planted"), "x").unwrap()
        }),
        ("hosts' mode", |s| {
            std::fs::set_permissions(s.join("hosts"), PermissionsExt::from_mode(0o666)).unwrap()
        }),
        ("an attribute on hosts", |s| {
            let x = rustix::fs::XattrFlags::empty();
            rustix::fs::setxattr(s.join("hosts"), "user.planted", b"x", x).unwrap()
        }),
        ("a second link to hosts", |s| {
            std::fs::hard_link(s.join("hosts"), s.join("../../hosts-link")).unwrap()
        }),
    ];
    for (what, f) in tamper {
        w.ok(&["run", "--rm", "--net", "none", "busybox", "true"]);
        settle(&w);
        let s = spare(&w);
        assert!(s.join("upper").is_dir(), "{what}: no spare with an upper");
        f(&s);
        let (upper, hosts) = (ino(&s.join("upper")), ino(&s.join("hosts")));
        let id = name("refused");
        let out = w.ok(&[
            "run",
            "--name",
            &id,
            "--net",
            "none",
            "busybox",
            "sh",
            "-c",
            "stat -c %a / /etc/hosts; ls /planted 2>&1; true",
        ]);
        assert!(out.starts_with("755\n644\n"), "{what}: {out}");
        assert!(out.contains("No such file"), "{what}: {out}");
        let dir = w.image_root().join("containers").join(&id);
        assert_ne!(ino(&dir.join("upper")), upper, "{what}: the spare was used");
        assert_ne!(ino(&dir.join("hosts")), hosts, "{what}: the spare was used");
        assert!(!dir.join("planted").exists(), "{what}");
        w.ok(&["rm", &id]);
        w.assert_clean();
        settle(&w);
    }
}

#[test]
fn a_remover_killed_while_it_keeps_a_spare_leaves_nothing_after_the_next_command() {
    require_root!();
    if !world::has_strace() {
        berth_common::skip!("needs strace (Debian strace) to kill the remover at a known point");
    }
    let w = World::new();
    let id = name("killspare");
    // strace kills the first process to rename into spare/: the remover the release forked,
    // as it parks the root there, after the root left containers/ and its work/work (with
    // the changed upper) left the root.
    let out = w.killed_at(
        "renameat2",
        &w.image_root().join("spare"),
        &[
            "run",
            "--rm",
            "--name",
            &id,
            "--net",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo made > /made",
        ],
    );
    // The command had returned: its container is gone, nothing of it mounted or listed.
    assert!(out.status.success(), "run: {}", text(&out.stderr));
    w.assert_clean();
    let trash = w.image_root().join("trash");
    assert_eq!(names(&trash).len(), 2, "not killed between trash and spare");
    assert!(names(&w.image_root().join("spare")).is_empty());
    // The next store command sweeps the trash.
    w.ok(&["image", "ls"]);
    assert_eq!(names(&trash), Vec::<String>::new());
    w.assert_clean();
    // And the ID and the store work on.
    assert_eq!(
        w.ok(&["run", "--rm", "--name", &id, "--net", "none", "busybox", "hostname"])
            .trim(),
        id
    );
}

/// The release moves a root into the trash still mounted; its remover unmounts it. One
/// killed before that leaves a mounted, unlocked trash entry: the next store command
/// unmounts and removes it.
#[test]
fn a_remover_killed_before_it_unmounts_leaves_nothing_after_the_next_command() {
    require_root!();
    if !world::has_strace() {
        berth_common::skip!("needs strace (Debian strace) to kill the remover at a known point");
    }
    let w = World::new();
    let id = name("killumount");
    let trash = w.image_root().join("trash");
    let out = w.killed_at(
        "umount2",
        &trash.join(&id).join("merged"),
        &[
            "run", "--rm", "--name", &id, "--net", "none", "busybox", "true",
        ],
    );
    assert!(out.status.success(), "run: {}", text(&out.stderr));
    assert_eq!(w.kept(), Vec::<String>::new(), "the ID is not free");
    assert_eq!(
        names(&trash),
        vec![id.clone()],
        "not killed before the unmount"
    );
    // Now: mounts() would wait 5 s for a remover that is dead.
    let mounted = w.mounts_now();
    assert!(
        mounted.len() == 1 && mounted[0].contains("/trash/"),
        "the root is not left mounted in the trash: {mounted:?}"
    );
    // The next store command unmounts and removes it.
    w.ok(&["image", "ls"]);
    assert_eq!(names(&trash), Vec::<String>::new());
    w.assert_clean();
    assert_eq!(
        w.ok(&["run", "--rm", "--name", &id, "--net", "none", "busybox", "hostname"])
            .trim(),
        id
    );
    w.assert_clean();
}

#[test]
fn a_run_killed_as_it_takes_a_spare_leaves_a_root_the_next_run_of_its_name_gives_back() {
    require_root!();
    if !world::has_strace() {
        berth_common::skip!("needs strace (Debian strace) to kill the run at a known point");
    }
    let w = World::new();
    w.ok(&["run", "--rm", "--net", "none", "busybox", "true"]);
    settle(&w);
    assert!(spare(&w).is_dir());
    let id = name("killtake");
    let dir = w.image_root().join("containers").join(&id);
    // strace kills berth-people at its first open of containers/ID/image.json: right after
    // the spare was renamed there and checked, before the maker's lock is taken.
    let out = w.killed_at(
        "openat",
        &dir.join("image.json"),
        &[
            "run", "--rm", "--name", &id, "--net", "none", "busybox", "true",
        ],
    );
    assert!(
        !out.status.success(),
        "run was not killed: {}",
        text(&out.stderr)
    );
    assert!(
        dir.join("work").is_dir(),
        "not killed after the spare was taken"
    );
    assert!(!spare(&w).exists());
    // No record, no runtime container, no maker: the name is free for the next run.
    assert_eq!(
        w.ok(&["run", "--rm", "--name", &id, "--net", "none", "busybox", "hostname"])
            .trim(),
        id
    );
    w.assert_clean();
}

/// A run killed after it mounted its root: the next listing gives the root back, mount and
/// all (what a root under a random ID, a name nobody types again, relies on).
#[test]
fn a_run_killed_after_mounting_its_root_leaves_nothing_after_the_listing() {
    require_root!();
    if !world::has_strace() {
        berth_common::skip!("needs strace (Debian strace) to kill the run at a known point");
    }
    let w = World::new();
    let id = name("killmount");
    let dir = w.image_root().join("containers").join(&id);
    // config.json is written after the overlay is mounted, before the runtime claims the ID.
    let out = w.killed_at(
        "openat",
        &dir.join("config.json"),
        &[
            "run", "--rm", "--name", &id, "--net", "none", "busybox", "true",
        ],
    );
    assert!(
        !out.status.success(),
        "run was not killed: {}",
        text(&out.stderr)
    );
    assert_eq!(w.kept(), vec![id.clone()]);
    assert_eq!(
        w.mounts().len(),
        1,
        "the overlay was not mounted: {:?}",
        w.mounts()
    );
    let listing = w.ok(&["ps", "-a"]);
    assert!(!listing.contains(&id), "{listing}");
    w.assert_clean();
    settle(&w);
    // What it gave back is a root like any other: the next run takes it as its spare.
    assert!(spare(&w).is_dir());
    w.ok(&["run", "--rm", "--net", "none", "busybox", "true"]);
    w.assert_clean();
}

/// A root in the making has neither a record nor a runtime container yet: only its maker's
/// lock tells it from a killed run's. strace holds the run for 8 s (room for a loaded machine)
/// between mounting its root and writing config.json while the listing runs.
#[test]
fn a_root_in_the_making_is_never_given_back_by_the_listing() {
    require_root!();
    if !world::has_strace() {
        berth_common::skip!("needs strace (Debian strace) to stop the run at a known point");
    }
    let w = World::new();
    let id = name("making");
    let dir = w.image_root().join("containers").join(&id);
    let run = w
        .straced(
            "openat:delay_enter=8000000",
            &dir.join("config.json"),
            &[
                "run", "--rm", "--name", &id, "--net", "none", "busybox", "hostname",
            ],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if w.mounts().len() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(w.mounts().len(), 1, "the run did not mount its root");
    w.ok(&["ps", "-a"]);
    assert_eq!(
        w.kept(),
        vec![id.clone()],
        "the root in the making was taken"
    );
    let err = w.fails(&[
        "run", "--rm", "--name", &id, "--net", "none", "busybox", "true",
    ]);
    assert!(
        err.contains(&format!(
            "container {id} is being made by another berth command"
        )),
        "{err}"
    );
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), id);
    w.assert_clean();
}

/// A foreground `--rm` container has no record: the listing must tell it from a killed run's
/// root, while it runs, and also once the berth that ran it was killed (its runtime container
/// lives on, as with runc, until `rm -f`).
#[test]
fn a_running_container_without_a_record_is_never_given_back_by_the_listing() {
    require_root!();
    let w = World::new();
    let id = name("live");
    let mut run = w
        .cmd(&[
            "run", "--rm", "--name", &id, "--net", "none", "busybox", "sleep", "30",
        ])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = w.state_root().join(&id);
    for _ in 0..400 {
        if w.ok(&["ps"]).contains(&id) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(state.is_dir(), "the container did not start");
    let merged = w.image_root().join("containers").join(&id).join("merged");
    for _ in 0..3 {
        assert!(w.ok(&["ps", "-a"]).contains(&id));
        assert!(merged.join("bin").is_dir(), "its root was taken away");
    }
    run.kill().unwrap();
    run.wait().unwrap();
    assert!(w.ok(&["ps", "-a"]).contains(&id));
    assert!(merged.join("bin").is_dir(), "its root was taken away");
    w.ok(&["rm", "-f", &id]);
    w.assert_clean();
}

/// A root whose overlay is busy when the release unmounts it (here a host process working in
/// it) is only detached: it lives on over its upper and work dirs, so no spare is made of it.
#[test]
fn a_root_busy_at_the_release_is_not_kept() {
    require_root!();
    let w = World::new();
    let id = name("busy");
    let merged = w.image_root().join("containers").join(&id).join("merged");
    let until_go = "while [ ! -e /go ]; do sleep 0.05; done";
    let mut run = w
        .cmd(&[
            "run", "--rm", "--name", &id, "--net", "none", "busybox", "sh", "-c", until_go,
        ])
        .spawn()
        .unwrap();
    let mut waited = 0;
    while !merged.join("bin").exists() {
        assert!(waited < 400, "the root was never mounted");
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    let mut holder = Command::new("sleep")
        .arg("30")
        .current_dir(&merged)
        .spawn()
        .unwrap();
    // The container ends only now that the holder works in its root.
    std::fs::write(merged.join("go"), "").unwrap();
    assert!(run.wait().unwrap().success());
    // The remover, detached, unmounts after the run has returned: the holder stays until it is
    // done.
    settle(&w);
    let _ = holder.kill();
    let _ = holder.wait();
    w.assert_clean();
    assert!(!spare(&w).exists(), "a spare of a busy root");
}

/// A container can hand its /etc/hosts (bound from its root's directory) to a process outside,
/// over a socket it was given. Such a file never goes to the next container: the process
/// holding it would write that container's /etc/hosts. Here the test holds it, as that
/// process would, and writes through it while the next container runs.
#[test]
fn a_file_held_open_outside_never_reaches_the_next_container() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;
    require_root!();
    let w = World::new();
    let id = name("held");
    let hosts = w.image_root().join("containers").join(&id).join("hosts");
    let mut first = w
        .cmd(&[
            "run", "--rm", "--name", &id, "--net", "none", "busybox", "sleep", "1",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut waited = 0;
    while !text(&w.berth(&["state", &id]).stdout).contains("\"running\"") {
        assert!(waited < 400, "{id} never ran");
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    let mut held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&hosts)
        .unwrap();
    assert!(first.wait().unwrap().success());
    settle(&w);
    let next = name("next");
    let mut second = w
        .cmd(&[
            "run",
            "--rm",
            "--name",
            &next,
            "--net",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo ready; sleep 1; cat /etc/hosts",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(second.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    held.write_all(b"6.6.6.6 evil\n").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(second.wait().unwrap().success());
    assert!(
        rest.contains(&next),
        "not the next container's /etc/hosts: {rest}"
    );
    assert!(
        !rest.contains("evil"),
        "the held file became the next container's /etc/hosts: {rest}"
    );
    w.assert_clean();
}
