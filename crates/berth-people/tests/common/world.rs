//! A test's own berth world for the network and message tests (networks.rs, messages.rs):
//! a state root and an image root in a tempdir, with busybox:latest imported from the host's
//! static busybox. Included with `#[path]`, beside `common` (the `berth` binary).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::common::BERTH;

#[path = "../../../berth/tests/common/rootfs.rs"]
mod rootfs;

/// Why these tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("needs root".into());
    }
    if !Path::new("/bin/busybox").exists() {
        return Some("needs a static busybox (Debian busybox-static)".into());
    }
    None
}

pub struct World {
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("berth-net-")
            .tempdir()
            .unwrap();
        let w = World { dir };
        let root = w.dir.path().join("rootfs");
        rootfs::write(&root);
        let tar = w.dir.path().join("busybox.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        w.ok(&["image", "import", tar.to_str().unwrap(), "busybox:latest"]);
        w
    }

    pub fn image_root(&self) -> PathBuf {
        self.dir.path().join("images")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&*BERTH);
        c.arg("--root")
            .arg(self.dir.path().join("state"))
            .arg("--image-root")
            .arg(self.image_root())
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// A command that must succeed: its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// A command that must fail: its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            !out.status.success(),
            "berth {args:?} succeeded: {}",
            text(&out.stdout)
        );
        text(&out.stderr)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // A failed test must not leave containers, veths or bridges behind.
        let state = self.dir.path().join("state");
        for e in std::fs::read_dir(&state).into_iter().flatten().flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if !id.starts_with('.') {
                let _ = self.berth(&["delete", "--force", &id]);
            }
        }
        let nets = self.image_root().join("networks");
        for e in std::fs::read_dir(&nets).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                let _ = self.berth(&["network", "rm", &name]);
            }
        }
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
