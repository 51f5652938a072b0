//! The image form's hand-over (root): `berth run IMAGE` replaces itself with `berth-people`
//! executed from a read-only mount of it, so the process that clones the container's init
//! has its binary where no container can write it (CVE-2019-5736), though berth-people's own
//! exe guard no longer re-executes it. Run directly, berth-people's image form guards itself.

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

mod common;
use common::BERTH;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, World};

/// `EXE --root … --image-root … run --name ID --net none busybox sleep 1000` in the
/// foreground, returned once the container is up: the process stays its keeper.
fn keeper(w: &World, exe: &std::path::Path, id: &str) -> std::process::Child {
    let mut run = Command::new(exe)
        .arg("--root")
        .arg(w.state_root())
        .arg("--image-root")
        .arg(w.image_root())
        .args([
            "run", "--name", id, "--net", "none", "busybox", "sleep", "1000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while !w.listed(id).is_some_and(|l| l.contains("Up ")) {
        assert!(run.try_wait().unwrap().is_none(), "run ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    run
}

/// Whether process `pid`'s executable is on a read-only mount.
fn exe_read_only(pid: u32) -> bool {
    let flags = rustix::fs::statvfs(format!("/proc/{pid}/exe").as_str())
        .unwrap()
        .f_flag;
    flags.contains(rustix::fs::StatVfsMountFlags::RDONLY)
}

#[test]
fn the_image_form_runs_from_a_read_only_berth_people() {
    require_root!();
    let w = World::new();
    let id = name("handover");
    // In the foreground: the berth process becomes berth-people, the container's keeper.
    let mut run = keeper(&w, &BERTH, &id);
    // The same file as berth-people beside berth, reached through another mount.
    let people = std::fs::metadata(BERTH.with_file_name("berth-people")).unwrap();
    let running = std::fs::metadata(format!("/proc/{}/exe", run.id())).unwrap();
    assert_eq!(
        (running.dev(), running.ino()),
        (people.dev(), people.ino()),
        "the keeper is not berth-people"
    );
    assert!(
        exe_read_only(run.id()),
        "berth-people runs from a writable mount"
    );
    w.ok(&["kill", &id, "KILL"]);
    run.wait().unwrap();
}

#[test]
fn berth_people_run_directly_keeps_its_container_from_a_read_only_mount() {
    require_root!();
    let w = World::new();
    let id = name("direct");
    let mut run = keeper(&w, &BERTH.with_file_name("berth-people"), &id);
    assert!(
        exe_read_only(run.id()),
        "berth-people's image form keeps its container from a writable binary"
    );
    w.ok(&["kill", &id, "KILL"]);
    run.wait().unwrap();
}
