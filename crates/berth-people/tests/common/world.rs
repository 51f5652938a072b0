//! A test's own berth world, driven through `berth` as a user types it: a state root and an
//! image root in a tempdir, with busybox:latest imported from the host's static busybox.
//! Included with `#[path]`, beside `common` (the `berth` binary), by the network, message,
//! lifecycle, cp, attach, monitor, people, run-flag and write-layer tests; each uses a part of it.
#![allow(dead_code)]

/// Skips the calling test (`berth_common::skip!`, with the reason) when this world cannot run
/// here. The including file declares `#[macro_use] mod world;`.
macro_rules! require_root {
    () => {
        if let Some(why) = world::skip_reason() {
            berth_common::skip!("{why}");
        }
    };
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::common::BERTH;

#[path = "../../../berth/tests/common/rootfs.rs"]
pub mod rootfs;

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

/// Whether strace (Debian strace) runs here: [`World::killed_at`] needs it.
pub fn has_strace() -> bool {
    Command::new("strace").arg("-V").output().is_ok()
}

pub struct World {
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        World::with_tree(rootfs::write)
    }

    /// A world whose busybox:latest is imported from the tree `write` makes (busybox's
    /// [`rootfs::write`] plus what a test needs in its image).
    pub fn with_tree(write: impl FnOnce(&Path)) -> World {
        let dir = tempfile::Builder::new()
            .prefix("berth-world-")
            .tempdir()
            .unwrap();
        let w = World { dir };
        let root = w.dir.path().join("rootfs");
        write(&root);
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

    /// A path inside the world's directory (berth's working directory, for relative forms
    /// such as `images/NAME`).
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn state_root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn image_root(&self) -> PathBuf {
        self.dir.path().join("images")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&*BERTH);
        c.arg("--root")
            .arg(self.state_root())
            .arg("--image-root")
            .arg(self.image_root())
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        c
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// `berth ARGS` under strace, which SIGKILLs the first of its processes (berth-people, a
    /// forked remover) to make `syscall` on `path`: the command killed at a known point.
    /// Callers skip first without strace ([`has_strace`]).
    pub fn killed_at(&self, syscall: &str, path: &Path, args: &[&str]) -> Output {
        self.straced(&format!("{syscall}:signal=KILL"), path, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    }

    /// `berth ARGS` under strace, which injects `inject` (strace's `-e inject=` value: a
    /// signal, a delay) into the syscalls its processes make on `path`. Callers skip first
    /// without strace ([`has_strace`]).
    pub fn straced(&self, inject: &str, path: &Path, args: &[&str]) -> Command {
        let berth = self.cmd(args);
        let mut strace = Command::new("strace");
        strace
            .args(["-f", "-qq", "-o", "/dev/null", "-e"])
            .arg(format!("inject={inject}"))
            .arg("-P")
            .arg(path)
            .arg(berth.get_program())
            .args(berth.get_args())
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        strace
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

    /// The listing's line for `id` (`ps -a`), if any.
    pub fn listed(&self, id: &str) -> Option<String> {
        self.ok(&["ps", "-a"])
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .map(String::from)
    }

    pub fn inspect(&self, id: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", id])).unwrap();
        v[0].clone()
    }

    /// The mounts under the world, once the store's removers are done: a released root is
    /// moved into the trash still mounted and its detached remover unmounts it after the
    /// command (berth-image store/trash.rs). One still there after 5 s is returned too.
    pub fn mounts(&self) -> Vec<String> {
        let trash = format!("{}/trash/", self.image_root().display());
        for _ in 0..100 {
            if !self.mounts_now().iter().any(|l| l.contains(&trash)) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.mounts_now()
    }

    /// The mounts under the world as they are now.
    pub fn mounts_now(&self) -> Vec<String> {
        let root = self.dir.path().to_str().unwrap().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&root))
            .map(String::from)
            .collect()
    }

    pub fn kept(&self) -> Vec<String> {
        names(&self.image_root().join("containers"))
    }

    /// Nothing left of any container: no container dirs under the image root, no mounts
    /// under the world, no state.
    pub fn assert_clean(&self) {
        assert_eq!(self.kept(), Vec::<String>::new(), "container dirs left");
        assert_eq!(self.mounts(), Vec::<String>::new(), "mounts left");
        assert_eq!(
            names(&self.state_root()),
            Vec::<String>::new(),
            "state left"
        );
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // A failed test must not leave containers (their mounts), veths or bridges behind.
        for id in self.kept() {
            let _ = self.berth(&["rm", "-f", &id]);
        }
        for id in names(&self.state_root()) {
            let _ = self.berth(&["delete", "--force", &id]);
        }
        for name in names(&self.image_root().join("networks")) {
            let _ = self.berth(&["network", "rm", &name]);
        }
        // What a killed command left in the trash (a root maybe still mounted) goes with the
        // listing's sweep; the last removers may still hold a root mounted there: the
        // tempdir's removal would go through it.
        let _ = self.berth(&["ps", "-a"]);
        let _ = self.mounts();
    }
}

pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                // The state root's cache of compiled seccomp filters is no container's.
                .filter(|n| !n.starts_with('.') && n != "seccomp#cache")
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Waits up to 10 s for `f` to hold: what a container or its monitor does after the command
/// that started it returned (a log line, a second process) takes its time on a loaded machine.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !f() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Waits until `id`'s PID 1 is `--init`'s berth-init with its signals blocked: from then on a
/// signal sent to the container is held for berth-init to forward. (Before its execve, the
/// runtime's init may have a foreground run's signals blocked too, but it resets the mask, and a
/// namespace's PID 1 without a handler drops what was pending.)
pub fn wait_for_init_forwarding(w: &World, id: &str) {
    wait_for("berth-init to block signals", || {
        let Ok(state) =
            serde_json::from_slice::<serde_json::Value>(&w.berth(&["state", id]).stdout)
        else {
            return false;
        };
        let pid = state["pid"].as_i64().unwrap_or(0);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status.contains("Name:\tinit\n") && !status.contains("SigBlk:\t0000000000000000")
    });
}

/// A container's unique name: other tests run containers on this machine at the same time.
pub fn name(what: &str) -> String {
    format!("life-{what}-{}", std::process::id())
}
