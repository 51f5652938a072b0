//! Helpers of the security-minded tests (security, caps, seccomp, rootless): a busybox rootfs
//! per bundle, bundles written by `berth spec` and patched, and a berth runner with its own
//! state root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BUSYBOX: &str = "/bin/busybox";

/// Root is needed for real containers; without it a test prints why and passes.
pub fn need_root() -> bool {
    if !rustix::process::geteuid().is_root() {
        berth_common::note_skipped!("needs root (real containers)");
        return false;
    }
    if !Path::new(BUSYBOX).exists() {
        berth_common::note_skipped!("{BUSYBOX} missing (Debian busybox-static)");
        return false;
    }
    true
}

use super::rootfs;

/// Writes a busybox root filesystem into `dir`.
pub fn busybox_rootfs(dir: &Path) {
    rootfs::write(dir);
}

/// Copies the host's dynamic loader and the libraries `binary` needs into the rootfs at
/// the same paths, so a host binary can run inside the container.
pub fn copy_libs_for(binary: &Path, rootfs: &Path) {
    let out = Command::new("ldd").arg(binary).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(PathBuf::from);
        if let Some(p) = path {
            let dest = rootfs.join(p.strip_prefix("/").unwrap());
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A berth binary and a private state root.
pub struct Berth {
    pub bin: PathBuf,
    pub root: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Berth {
    /// The binary cargo built for this test run.
    pub fn new() -> Berth {
        Berth::with_binary(PathBuf::from(env!("CARGO_BIN_EXE_berth")))
    }

    pub fn with_binary(bin: PathBuf) -> Berth {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("state");
        Berth {
            bin,
            root,
            _tmp: tmp,
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Output goes through files, not pipes: a created container's init keeps berth's
    /// stdio open, and a pipe would never reach EOF.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = tempfile::tempfile().unwrap();
        let err = tempfile::tempfile().unwrap();
        let status = self
            .cmd(args)
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap())
            .status()
            .unwrap();
        let read = |mut f: std::fs::File| {
            use std::io::{Read, Seek};
            let mut v = Vec::new();
            f.rewind().unwrap();
            f.read_to_end(&mut v).unwrap();
            v
        };
        Output {
            status,
            stdout: read(out),
            stderr: read(err),
        }
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `berth spec` in `bundle`, patched: no terminal, `args`, an absolute root path.
    pub fn bundle(&self, bundle: &Path, args: &[&str]) -> Value {
        let _ = std::fs::remove_file(bundle.join("config.json"));
        let out = Command::new(&self.bin)
            .args(["spec", "--bundle"])
            .arg(bundle)
            .output()
            .unwrap();
        assert!(out.status.success(), "berth spec: {out:?}");
        let mut cfg: Value =
            serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
        cfg["process"]["terminal"] = Value::Bool(false);
        cfg["process"]["args"] = args.iter().map(|a| Value::from(*a)).collect();
        cfg["root"]["path"] = Value::from(bundle.join("rootfs").to_str().unwrap());
        cfg["root"]["readonly"] = Value::Bool(false);
        cfg
    }

    pub fn write_config(bundle: &Path, cfg: &Value) {
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(cfg).unwrap(),
        )
        .unwrap();
    }

    /// `run` in the foreground: the container's output and exit status.
    pub fn run_container(&self, bundle: &Path, id: &str) -> Output {
        let out = self.run(&["run", "--bundle", bundle.to_str().unwrap(), id]);
        let _ = self.run(&["delete", "--force", id]);
        out
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        // Leave no container behind, whatever the test did.
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            for e in entries.flatten() {
                let id = e.file_name();
                let _ = Command::new(&self.bin)
                    .arg("--root")
                    .arg(&self.root)
                    .args(["delete", "--force"])
                    .arg(&id)
                    .output();
            }
        }
    }
}

/// A bundle dir with a fresh busybox rootfs.
pub struct Bundle {
    pub dir: tempfile::TempDir,
}

impl Bundle {
    pub fn new() -> Bundle {
        let dir = tempfile::tempdir().unwrap();
        busybox_rootfs(&dir.path().join("rootfs"));
        Bundle { dir }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }
}

/// Waits until `f` returns Some, or panics after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A container ID unique to this test process.
pub fn id(name: &str) -> String {
    format!("sec-{name}-{}", std::process::id())
}
