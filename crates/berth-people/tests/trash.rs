//! A released container root leaves at once and is removed after the command (root): `run
//! --rm` moves it, still mounted, into the store's trash, and a detached remover unmounts and
//! removes it; a killed remover leaves an entry the next store command removes, and a run
//! killed before it forked the remover leaves a mounted entry the listing unmounts and
//! removes. Also: an image that has /etc/hosts and /etc/resolv.conf gets no copy of /etc in a
//! container's upper layer.

mod common;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, text, World};

#[test]
fn a_killed_remover_leaves_nothing_after_the_next_command() {
    require_root!();
    if !world::has_strace() {
        berth_common::skip!("needs strace (Debian strace) to kill the remover at a known point");
    }
    let w = World::new();
    let id = name("trash");
    // What the remover gets: the root's work/work, with the container's upper (changed, so
    // not kept in the spare root) and the files moved into it (spare.rs), as `trash/ID.1`.
    let entry = w.image_root().join("trash").join(format!("{id}.1"));
    // strace kills the first process that opens that entry by its path: the remover (a
    // child forked by the release), before it removes anything (the release moves it
    // through directory fds and never opens it by its path).
    let out = w.killed_at(
        "openat",
        &entry,
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
            "echo made > /made; echo hi",
        ],
    );
    assert!(out.status.success(), "run: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    // Released at once: no container dir, no mount, no state; the entry is left.
    w.assert_clean();
    assert!(
        entry.join("upper/made").exists(),
        "the remover was not killed before it removed the root"
    );
    // The next store command (the listing too) removes what the killed remover left.
    assert!(w.listed(&id).is_none());
    assert!(!entry.exists(), "the killed remover's entry is still there");
    assert_eq!(
        world::names(&w.image_root().join("trash")),
        Vec::<String>::new()
    );
}

/// The foreground run forks its root's remover only when it returns: killed between the
/// release (the root moved into the trash, still mounted) and that fork, it leaves a mounted
/// entry nobody holds, and its runtime container. The listing shows the container and
/// unmounts and removes the entry; `rm -f` removes the container.
#[test]
fn a_run_killed_before_it_forks_the_remover_leaves_a_mount_the_listing_clears() {
    require_root!();
    if !world::has_strace() {
        berth_common::skip!("needs strace (Debian strace) to kill the run at a known point");
    }
    let w = World::new();
    let id = name("norem");
    let trash = w.image_root().join("trash");
    // The run's first close of a descriptor of trash/ is its store open's sweep; the second
    // is the release's, right after it renamed the root into the trash.
    let out = w.killed_at(
        "close:when=2",
        &trash,
        &[
            "run", "--rm", "--name", &id, "--net", "none", "busybox", "true",
        ],
    );
    assert!(!out.status.success(), "the run was not killed");
    assert_eq!(
        world::names(&trash),
        vec![id.clone()],
        "not killed after the release"
    );
    assert!(
        w.mounts_now().iter().any(|l| l.contains("/trash/")),
        "the root is not left mounted in the trash: {:?}",
        w.mounts_now()
    );
    assert!(
        w.listed(&id).is_some(),
        "the runtime container is not listed"
    );
    assert_eq!(
        world::names(&trash),
        Vec::<String>::new(),
        "the listing left the entry"
    );
    assert_eq!(
        w.mounts_now(),
        Vec::<String>::new(),
        "the listing left the mount"
    );
    w.ok(&["rm", "-f", &id]);
    w.assert_clean();
}

#[test]
fn a_released_name_is_free_at_once() {
    require_root!();
    let w = World::new();
    let id = name("again");
    for _ in 0..3 {
        let out = w.ok(&[
            "run", "--rm", "--name", &id, "--net", "none", "busybox", "echo", "x",
        ]);
        assert_eq!(out, "x\n");
        w.assert_clean();
    }
}

#[test]
fn an_image_with_etc_hosts_gets_no_etc_in_the_upper_layer() {
    require_root!();
    // busybox's tree has empty /etc/hosts and /etc/resolv.conf, as most images do.
    let w = World::new();
    let id = name("noetc");
    w.ok(&[
        "run",
        "--name",
        &id,
        "--net",
        "none",
        "busybox",
        "cat",
        "/etc/hosts",
    ]);
    let upper = w.image_root().join("containers").join(&id).join("upper");
    assert!(upper.is_dir());
    assert!(!upper.join("etc").exists(), "/etc was copied up");
    w.ok(&["rm", &id]);
    // Without the files the mount points are made in the overlay: /etc is copied up. (This
    // is what the first half would see if the init opened existing files for writing.)
    let bare = World::with_tree(|root| {
        world::rootfs::write(root);
        for f in ["etc/hosts", "etc/resolv.conf"] {
            std::fs::remove_file(root.join(f)).unwrap();
        }
    });
    bare.ok(&["run", "--name", &id, "--net", "none", "busybox", "true"]);
    let upper = bare.image_root().join("containers").join(&id).join("upper");
    assert!(upper.join("etc/hosts").exists());
    bare.ok(&["rm", &id]);
}
