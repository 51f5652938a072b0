//! `berth cp` both ways, through the CLI (root), and the symlink attack: a container's
//! symlinks naming host paths never lead a copy onto or off the host.

use std::path::Path;

mod common;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, World};

#[test]
fn cp_both_ways_and_a_containers_symlink_never_reaches_the_host() {
    require_root!();
    let w = World::new();
    let host = w.dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    let secret = host.join("secret");
    std::fs::write(&secret, "host secret\n").unwrap();
    let id = name("cp");
    // The container plants symlinks that name host paths if followed outside its root.
    let script = format!(
        "mkdir -p /data/sub; echo inside > /data/a.txt; echo deep > /data/sub/b; \
         ln -s /etc /data/etc-link; ln -s {s} /leak; ln -s {h} /hostdir; ln -s ../../.. /up",
        s = secret.display(),
        h = host.display()
    );
    w.ok(&[
        "run", "--name", &id, "--net", "none", "busybox", "sh", "-c", &script,
    ]);

    // Out of a stopped container: a directory, its symlinks copied as symlinks.
    let out = host.join("out");
    w.ok(&["cp", &format!("{id}:/data"), out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("a.txt")).unwrap(),
        "inside\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("sub/b")).unwrap(),
        "deep\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("etc-link")).unwrap(),
        Path::new("/etc")
    );
    // Through the planted links: resolved inside the root, where the host paths do not exist.
    let stolen = host.join("stolen");
    for src in ["/hostdir/secret", "/leak", "/up/up/hostdir/secret"] {
        let _ = w.berth(&["cp", &format!("{id}:{src}"), stolen.to_str().unwrap()]);
        // A symlink is copied as a symlink; what must never come out is the host's data.
        let copied = if std::fs::symlink_metadata(&stolen).is_ok_and(|m| m.is_file()) {
            std::fs::read_to_string(&stolen).unwrap()
        } else {
            String::new()
        };
        assert!(
            !copied.contains("host secret"),
            "cp {src} read the host's file"
        );
        let _ = std::fs::remove_file(&stolen);
    }
    // Into the container through the links: never onto the host.
    let payload = host.join("payload");
    std::fs::write(&payload, "planted\n").unwrap();
    for dst in ["/hostdir/planted", "/leak", "/up/hostdir/planted"] {
        let _ = w.berth(&["cp", payload.to_str().unwrap(), &format!("{id}:{dst}")]);
        assert_eq!(
            std::fs::read_to_string(&secret).unwrap(),
            "host secret\n",
            "cp to {dst}"
        );
        assert!(
            !host.join("planted").exists(),
            "cp to {dst} wrote on the host"
        );
    }
    assert!(
        w.mounts().is_empty(),
        "cp left the stopped container's root mounted"
    );

    // Into a stopped container (its upper layer), then into and out of a running one.
    w.ok(&["cp", payload.to_str().unwrap(), &format!("{id}:/data/")]);
    let upper = w.image_root().join("containers").join(&id).join("upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("data/payload")).unwrap(),
        "planted\n"
    );
    let live = name("cplive");
    w.ok(&[
        "run", "-d", "--name", &live, "--net", "none", "busybox", "sleep", "1000",
    ]);
    w.ok(&["cp", out.to_str().unwrap(), &format!("{live}:/tmp")]);
    assert_eq!(w.ok(&["exec", &live, "cat", "/tmp/out/sub/b"]), "deep\n");
    w.ok(&["exec", &live, "sh", "-c", "echo made-inside > /tmp/made"]);
    let back = host.join("back");
    w.ok(&["cp", &format!("{live}:/tmp/made"), back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "made-inside\n");
    let o = w.berth(&["cp", "/etc/hostname", "/tmp/x"]);
    assert!(!o.status.success(), "cp with no container side");
    w.ok(&["rm", "-f", &id, &live]);
}
