//! `berth cp` into and out of a kept container's volumes (`-v HOST:CTR`), through the CLI
//! (root): a path under a volume lands in the volume's host directory, stopped or running;
//! a read-only volume refuses; a symlink in the volume or the container stays inside the
//! container's view; the host's mounts are left as they were.

use std::path::Path;

mod common;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, World};

#[test]
fn cp_reaches_a_containers_volumes_and_never_leaves_its_view() {
    require_root!();
    let w = World::new();
    let vol = w.dir.path().join("vol");
    let ro = w.dir.path().join("ro");
    let outside = w.dir.path().join("outside");
    for d in [&vol, &ro, &outside] {
        std::fs::create_dir(d).unwrap();
    }
    // A symlink in the volume that, followed on the host, would leave it.
    std::os::unix::fs::symlink(&outside, vol.join("escape")).unwrap();
    let payload = w.dir.path().join("payload");
    std::fs::write(&payload, "payload\n").unwrap();
    let p = payload.to_str().unwrap();
    let mounts_before = w.mounts();

    // Created, never started: the volume's place does not exist in its root yet.
    let id = name("cpvol");
    let (v, r) = (
        format!("{}:/data", vol.display()),
        format!("{}:/ro:ro", ro.display()),
    );
    w.ok(&[
        "container",
        "create",
        "--name",
        &id,
        "--net",
        "none",
        "-v",
        &v,
        "-v",
        &r,
        "busybox",
        "true",
    ]);
    w.ok(&["cp", p, &format!("{id}:/data/in.txt")]);
    assert_eq!(
        std::fs::read_to_string(vol.join("in.txt")).unwrap(),
        "payload\n",
        "cp into the volume lands in its host directory"
    );
    let upper = w.image_root().join("containers").join(&id).join("upper");
    assert!(
        !upper.join("data/in.txt").exists(),
        "nothing in the overlay"
    );
    // Through the volume's symlink: resolved in the container's root, where `outside` is not.
    let _ = w.berth(&["cp", p, &format!("{id}:/data/escape/x")]);
    assert!(
        !outside.join("x").exists(),
        "a symlink in the volume led cp out of the container's view"
    );
    let refused = w.fails(&["cp", p, &format!("{id}:/ro/x")]);
    assert!(refused.contains("Read-only"), "{refused}");
    assert!(!ro.join("x").exists());
    // Out of the volume, and a file the host put there.
    std::fs::write(ro.join("from-host"), "host file\n").unwrap();
    let back = w.dir.path().join("back");
    w.ok(&["cp", &format!("{id}:/ro/from-host"), back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "host file\n");
    assert_eq!(w.mounts(), mounts_before, "cp changed the host's mounts");

    // Running: the container sees what cp put in its volume.
    let live = name("cpvollive");
    w.ok(&[
        "run", "-d", "--name", &live, "--net", "none", "-v", &v, "busybox", "sleep", "1000",
    ]);
    w.ok(&["cp", p, &format!("{live}:/data/live.txt")]);
    assert_eq!(
        std::fs::read_to_string(vol.join("live.txt")).unwrap(),
        "payload\n"
    );
    assert_eq!(w.ok(&["exec", &live, "cat", "/data/live.txt"]), "payload\n");
    w.ok(&["exec", &live, "sh", "-c", "echo from-inside > /data/made"]);
    w.ok(&["cp", &format!("{live}:/data/made"), back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "from-inside\n");
    assert!(Path::new(&vol.join("made")).exists());
    w.ok(&["rm", "-f", &id, &live]);
}
