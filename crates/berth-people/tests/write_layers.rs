//! Write layers through the CLI, as root: `run --upper DIR` keeps the changes in DIR after the
//! container is gone, `commit` turns a container's changes (a new file, a deleted one, an
//! opaque dir) into an image another container sees, `diff` lists them as Docker does,
//! `--rootfs DIR` (and `./images/NAME`, `images/NAME`) never writes DIR, and `image import
//! --change` gives a flat tar its default command.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

mod common;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{rootfs, text, World};

/// A busybox tree with files the tests delete and replace: /etc/victim, /etc/sub/a.
fn write_tree(dir: &Path) {
    rootfs::write(dir);
    std::fs::write(dir.join("etc/victim"), "doomed\n").unwrap();
    std::fs::create_dir_all(dir.join("etc/sub")).unwrap();
    std::fs::write(dir.join("etc/sub/a"), "a\n").unwrap();
}

/// The world of these tests: busybox:latest imported from [`write_tree`]'s tree at `rootfs`.
fn world() -> World {
    World::with_tree(write_tree)
}

/// Everything about a tree that a write could change: names, types, modes, owners, sizes,
/// mtimes, contents and link targets.
fn tree_hash(dir: &Path) -> u64 {
    let mut h = DefaultHasher::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let md = std::fs::symlink_metadata(&p).unwrap();
            (
                p.strip_prefix(dir).unwrap(),
                md.mode(),
                md.uid(),
                md.size(),
                md.mtime(),
            )
                .hash(&mut h);
            if md.is_dir() {
                stack.push(p);
            } else if md.file_type().is_symlink() {
                std::fs::read_link(&p).unwrap().hash(&mut h);
            } else if md.is_file() {
                std::fs::read(&p).unwrap().hash(&mut h);
            }
        }
    }
    h.finish()
}

#[test]
fn upper_dir_keeps_the_changes_after_the_container_is_removed() {
    require_root!();
    let w = world();
    let upper = w.path("my-upper");
    let up = upper.to_str().unwrap();
    w.ok(&[
        "run",
        "--rm",
        "--name",
        "lay-up",
        "--net",
        "none",
        "--upper",
        up,
        "busybox",
        "sh",
        "-c",
        "echo kept > /kept && rm /etc/victim",
    ]);
    // --rm removed the container; DIR holds its changes, the work dir is gone.
    assert_eq!(
        std::fs::read_to_string(upper.join("kept")).unwrap(),
        "kept\n"
    );
    let victim = std::fs::symlink_metadata(upper.join("etc/victim")).unwrap();
    assert_eq!(
        (victim.mode() & libc_s_ifmt(), victim.rdev()),
        (0o020000, 0),
        "whiteout"
    );
    assert!(!w.path(".my-upper.work").exists(), "work dir left");
    assert!(!w.path("images/containers/lay-up").exists());
    // The same DIR again: the next container starts from those changes.
    let out = w.ok(&[
        "run",
        "--rm",
        "--name",
        "lay-up",
        "--net",
        "none",
        "--upper",
        up,
        "busybox",
        "sh",
        "-c",
        "cat /kept; ls /etc/victim 2>&1 || true",
    ]);
    assert!(
        out.starts_with("kept\n") && out.contains("No such file"),
        "{out}"
    );
    assert!(upper.join("kept").exists());
}

fn libc_s_ifmt() -> u32 {
    0o170000
}

#[test]
fn commit_makes_an_image_with_the_changes_and_diff_lists_them() {
    require_root!();
    let w = world();
    // A running container: a new file, a deleted one, a dir replaced (opaque).
    w.ok(&[
        "run",
        "-d",
        "--name",
        "lay-k1",
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo made > /made && rm /etc/victim && rm -rf /etc/sub && mkdir /etc/sub && \
         echo b > /etc/sub/b && touch /ready && sleep 1000",
    ]);
    let ready = w.path("images/containers/lay-k1/upper/ready");
    for _ in 0..2000 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Sorted by path, as Docker prints them; /etc/hosts and the other mount points berth
    // made are not the container's changes.
    assert_eq!(
        w.ok(&["diff", "lay-k1"]),
        "C /etc\nC /etc/sub\nA /etc/sub/b\nD /etc/victim\nA /made\nA /ready\n"
    );
    w.ok(&[
        "commit",
        "--change",
        r#"CMD ["cat", "/made"]"#,
        "--change",
        "ENV COMMITTED=yes",
        "lay-k1",
        "committed:v1",
    ]);
    // The default command is the one --change gave.
    assert_eq!(
        w.ok(&["run", "--rm", "--net", "none", "committed:v1"]),
        "made\n"
    );
    let out = w.ok(&[
        "run",
        "--rm",
        "--net",
        "none",
        "committed:v1",
        "sh",
        "-c",
        "cat /made; ls /etc/victim 2>/dev/null || echo gone; ls /etc/sub; echo $COMMITTED",
    ]);
    assert_eq!(
        out, "made\ngone\nb\nyes\n",
        "whiteout and opaque dir survive commit"
    );

    // A stopped (kept) container commits too, on top of a committed image.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "lay-k2",
        "--net",
        "none",
        "committed:v1",
        "sh",
        "-c",
        "echo second > /second; ln -s / /rootlink; ln -s /etc/shadow /leak",
    ]);
    w.ok(&["wait", "lay-k2"]);
    w.ok(&["commit", "lay-k2", "committed:v2"]);
    let out = w.ok(&[
        "run",
        "--rm",
        "--net",
        "none",
        "committed:v2",
        "sh",
        "-c",
        "cat /made /second; readlink /rootlink; readlink /leak; cat /leak 2>/dev/null || echo no-host-file",
    ]);
    // Symlinks go into the layer as they are, targets byte for byte (a link to "/" stays
    // "/"), and never as the host file a target names.
    assert_eq!(out, "made\nsecond\n/\n/etc/shadow\nno-host-file\n");
}

#[test]
fn rootfs_dir_is_a_lower_layer_never_written() {
    require_root!();
    let w = world();
    let images = w.path("images-dir/alpine");
    write_tree(&images);
    let before = tree_hash(&images);
    let dir = images.to_str().unwrap();
    let out = w.ok(&[
        "run",
        "--rm",
        "--name",
        "lay-dir",
        "--net",
        "none",
        "--rootfs",
        dir,
        "sh",
        "-c",
        "echo x > /etc/x && rm /etc/victim && rm -rf /etc/sub && cat /etc/passwd | head -1",
    ]);
    assert!(out.starts_with("root:"), "{out}");
    // The course's shapes: `container ID IMAGE CMD` with IMAGE a directory under images/.
    std::fs::rename(w.path("images-dir"), w.path("imgs")).unwrap();
    let images = w.path("imgs/alpine");
    assert_eq!(
        w.ok(&[
            "run",
            "--rm",
            "--name",
            "lay-c1",
            "--net",
            "none",
            "imgs/alpine",
            "echo",
            "hello",
            "world"
        ]),
        "hello world\n"
    );
    assert_eq!(
        w.ok(&[
            "run",
            "--rm",
            "--name",
            "lay-c2",
            "--net",
            "none",
            "./imgs/alpine",
            "cat",
            "/etc/victim"
        ]),
        "doomed\n"
    );
    // A detached one, then commit: DIR becomes the image's first layer.
    w.ok(&[
        "run",
        "-d",
        "--name",
        "lay-rootfs",
        "--net",
        "none",
        "--rootfs",
        images.to_str().unwrap(),
        "sh",
        "-c",
        "echo added > /added",
    ]);
    w.ok(&["wait", "lay-rootfs"]);
    w.ok(&["commit", "lay-rootfs", "fromdir:1"]);
    let out = w.ok(&[
        "run",
        "--rm",
        "--net",
        "none",
        "fromdir:1",
        "cat",
        "/added",
        "/etc/sub/a",
    ]);
    assert_eq!(out, "added\na\n");
    w.ok(&["rm", "lay-rootfs"]);
    assert_eq!(tree_hash(&images), before, "the rootfs dir was modified");
}

#[test]
fn import_change_gives_a_flat_tar_its_default_command() {
    require_root!();
    let w = world();
    let tar = w.path("busybox.tar");
    w.ok(&[
        "image",
        "import",
        "--change",
        r#"CMD ["cat", "/etc/sub/a"]"#,
        "--change",
        "WORKDIR /etc",
        tar.to_str().unwrap(),
        "withcmd:1",
    ]);
    assert_eq!(w.ok(&["run", "--rm", "--net", "none", "withcmd:1"]), "a\n");
    assert_eq!(
        w.ok(&["run", "--rm", "--net", "none", "withcmd:1", "pwd"]),
        "/etc\n"
    );
    let out = w.berth(&[
        "image",
        "import",
        "--change",
        "RUN make",
        tar.to_str().unwrap(),
        "bad:1",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("RUN is not one of"),
        "{}",
        text(&out.stderr)
    );
}
