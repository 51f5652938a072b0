//! The one busybox root filesystem writer of the berth integration tests (tests/common,
//! tests/common/sec.rs, crates/berth-runtime/tests/in_memory_spec.rs and
//! crates/berth-people/tests/people.rs include this file): Debian's
//! static busybox with one symlink per applet, users and groups the tests name, and empty
//! files where client configs bind-mount theirs. scripts/make-rootfs.sh is the same idea for
//! the demo and the benches.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's busybox-static, installed with apt-get if it is missing.
pub fn busybox() -> PathBuf {
    let p = PathBuf::from("/bin/busybox");
    if !p.exists() {
        eprintln!("/bin/busybox missing: installing busybox-static with apt-get");
        let st = Command::new("apt-get")
            .args(["install", "-y", "busybox-static"])
            .status()
            .expect("run apt-get");
        assert!(st.success(), "apt-get install busybox-static failed");
    }
    p
}

/// Writes the tree into `dir` (created; existing entries are kept).
pub fn write(dir: &Path) {
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "run",
        "mnt",
        "root",
        "home/tester",
        "var",
    ] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    let bb = busybox();
    fs::copy(&bb, dir.join("bin/busybox")).unwrap();
    let list = Command::new(&bb).arg("--list").output().unwrap();
    assert!(list.status.success(), "busybox --list failed");
    for name in String::from_utf8(list.stdout).unwrap().lines() {
        let name = name.trim();
        if name.is_empty() || name == "busybox" || name.contains('/') {
            continue;
        }
        let _ = symlink("busybox", dir.join("bin").join(name));
    }
    // Programs named by their usual paths (/sbin/ip, /usr/bin/env) resolve into bin/.
    let _ = symlink("bin", dir.join("sbin"));
    let _ = symlink(".", dir.join("usr"));
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         tester:x:1000:1000:tester:/home/tester:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(
        dir.join("etc/group"),
        "root:x:0:\ntester:x:1000:\nextra:x:2000:tester\nnogroup:x:65534:\n",
    )
    .unwrap();
    // Mount points the client configs bind files onto: a read-only root cannot grow them.
    for f in [
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
        "run/.containerenv",
    ] {
        fs::write(dir.join(f), "").unwrap();
    }
}
