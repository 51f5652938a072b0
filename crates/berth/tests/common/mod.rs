//! Shared helpers for the integration tests that drive the real `berth` binary as root:
//! a busybox root filesystem built once, per-test bundles with their own state root,
//! container ID and cgroup, and checks that nothing (process, mount, cgroup, state) leaks.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

pub mod rootfs;
pub mod sec;

#[allow(unused_imports)] // each test binary uses a different subset
pub use sec::*;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// The shared busybox root filesystem (read-only for containers), built once per machine
/// under the target directory, atomically: a half-built tree is never seen.
pub fn rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("berth-test-rootfs-v2");
        if !dir.join("bin/busybox").exists() {
            build_rootfs(&dir);
        }
        dir
    })
}

fn build_rootfs(dir: &Path) {
    let tmp = dir.with_extension(format!("build-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    rootfs::write(&tmp);
    match fs::rename(&tmp, dir) {
        Ok(()) => {}
        // Another test binary won the race: its tree is as good as ours.
        Err(_) if dir.join("bin/busybox").exists() => {
            let _ = fs::remove_dir_all(&tmp);
        }
        Err(e) => panic!("rename {} -> {}: {e}", tmp.display(), dir.display()),
    }
}

/// A unique container ID for this test process.
pub fn unique_id(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Copies an executable the test will run. By cp(1), not in this process: a child another
/// test thread forks would inherit the copy's writable descriptor until its exec, and running
/// the copy meanwhile fails with ETXTBSY.
pub fn copy_executable(from: &Path, to: &Path) {
    let cp = Command::new("cp").arg(from).arg(to).status().unwrap();
    assert!(cp.success(), "cp {} {}: {cp}", from.display(), to.display());
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failed command with exactly one stderr line that contains every `needles`
/// (case-insensitive).
pub fn assert_one_line_error(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got {:?}; stdout {:?} stderr {err:?}",
        o.status,
        stdout(o)
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got {err:?}");
    for n in needles {
        assert!(
            lines[0].to_lowercase().contains(&n.to_lowercase()),
            "stderr {:?} does not name {n:?}",
            lines[0]
        );
    }
}

pub fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed with {:?}: stdout {:?} stderr {:?}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let rest = &s[s.rfind(')').unwrap() + 2..];
            !matches!(rest.chars().next(), Some('Z' | 'X'))
        }
        Err(_) => false,
    }
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Mount points (field 5 of /proc/self/mountinfo) of the test's own mount namespace.
pub fn host_mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// Every cgroup hierarchy mounted under /sys/fs/cgroup.
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect();
    if Path::new("/sys/fs/cgroup/cgroup.procs").exists() {
        v.push(PathBuf::from("/sys/fs/cgroup"));
    }
    v
}

/// Pids of processes whose /proc/<pid>/cgroup names `cgpath` (the container's cgroup).
pub fn pids_in_cgroup(cgpath: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(s) = fs::read_to_string(e.path().join("cgroup")) {
            if s.lines().any(|l| {
                l.split(':')
                    .nth(2)
                    .is_some_and(|p| p == cgpath || p.starts_with(&format!("{cgpath}/")))
            }) && alive(pid)
            {
                out.push(pid);
            }
        }
    }
    out
}

/// One test's container: a bundle directory, its own state root, ID and cgroup path.
pub struct Ctr {
    pub id: String,
    pub bundle: TempDir,
    pub root: TempDir,
    pub config: Value,
    /// The linux.cgroupsPath written into the config (unique per container).
    pub cgroup: String,
}

impl Ctr {
    /// A bundle from `berth spec`, patched to run `args` without a terminal in the shared
    /// read-only rootfs, with a private tmpfs on /tmp and a unique cgroup.
    pub fn new(tag: &str, args: &[&str]) -> Ctr {
        let bundle = tempfile::Builder::new()
            .prefix("berth-bundle-")
            .tempdir()
            .unwrap();
        let root = tempfile::Builder::new()
            .prefix("berth-root-")
            .tempdir()
            .unwrap();
        let spec = Command::new(BERTH)
            .args(["spec", "--bundle"])
            .arg(bundle.path())
            .output()
            .unwrap();
        assert_ok(&spec, "berth spec");
        let mut config: Value =
            serde_json::from_slice(&fs::read(bundle.path().join("config.json")).unwrap()).unwrap();
        let id = unique_id(tag);
        let cgroup = format!("/berthtest-{id}");
        config["root"] = json!({"path": rootfs(), "readonly": true});
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777", "size=16m"]
        }));
        config["linux"]["cgroupsPath"] = json!(cgroup);
        let c = Ctr {
            id,
            bundle,
            root,
            config,
            cgroup,
        };
        c.write();
        c
    }

    pub fn write(&self) {
        fs::write(
            self.bundle.path().join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// Applies `f` to the config and rewrites config.json.
    pub fn patch(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self.write();
        self
    }

    /// Drops a namespace type from linux.namespaces (e.g. "pid", so the init is an ordinary
    /// process that default signal dispositions apply to).
    pub fn without_ns(&mut self, typ: &str) -> &mut Self {
        self.patch(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != typ)
        })
    }

    /// Adds a capability to every set.
    pub fn with_cap(&mut self, cap: &str) -> &mut Self {
        self.patch(|c| {
            for set in [
                "bounding",
                "effective",
                "permitted",
                "inheritable",
                "ambient",
            ] {
                c["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push(json!(cap));
            }
        })
    }

    /// `berth --root <root>` ready for arguments.
    pub fn berth(&self) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("--root").arg(self.root.path());
        c.stdin(Stdio::null());
        c
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        self.berth().args(args).output().unwrap()
    }

    /// `create --bundle B ID`. The container inherits the pipes, so the output is read only
    /// until berth exits and the container's stdio goes to /dev/null.
    pub fn create(&self) -> Output {
        self.create_with(&[])
    }

    pub fn create_with(&self, extra: &[&str]) -> Output {
        let mut c = self.berth();
        c.arg("create").arg("--bundle").arg(self.bundle.path());
        c.args(extra).arg(&self.id);
        run_detached_stdio(c)
    }

    pub fn start(&self) -> Output {
        run_detached_stdio({
            let mut c = self.berth();
            c.args(["start", &self.id]);
            c
        })
    }

    pub fn create_and_start(&self) {
        assert_ok(&self.create(), "create");
        assert_ok(&self.start(), "start");
    }

    /// `run --bundle B ID` in the foreground: output and exit status of the container.
    pub fn run(&self) -> Output {
        self.berth()
            .arg("run")
            .arg("--bundle")
            .arg(self.bundle.path())
            .arg(&self.id)
            .output()
            .unwrap()
    }

    /// `run --bundle B ID` in the foreground, spawned; returns once the container runs. Its
    /// stdio goes to /dev/null: the container inherits it, and would hold a pipe open.
    pub fn spawn_run(&self) -> std::process::Child {
        let child = self
            .berth()
            .arg("run")
            .arg("--bundle")
            .arg(self.bundle.path())
            .arg(&self.id)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until("container running", Duration::from_secs(20), || {
            let o = self.cmd(&["state", &self.id]);
            o.status.success()
                && serde_json::from_slice::<Value>(&o.stdout).unwrap()["status"] == "running"
        });
        child
    }

    pub fn state(&self) -> Value {
        let o = self.cmd(&["state", &self.id]);
        assert_ok(&o, "state");
        serde_json::from_slice(&o.stdout).expect("state prints JSON")
    }

    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap().to_string()
    }

    pub fn pid(&self) -> i32 {
        self.state()["pid"].as_i64().unwrap() as i32
    }

    pub fn wait_status(&self, want: &str) {
        wait_until(
            &format!("{} to be {want}", self.id),
            Duration::from_secs(5),
            || self.status() == want,
        );
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join(&self.id)
    }

    /// The container's cgroup directory in every hierarchy.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        cgroup_hierarchies()
            .into_iter()
            .map(|h| h.join(self.cgroup.trim_start_matches('/')))
            .collect()
    }

    /// Nothing of this container is left: no state dir, no cgroup directory in any
    /// hierarchy, no live process in its cgroup, no mount under its bundle or state root.
    pub fn assert_nothing_left(&self) {
        assert!(
            !self.state_dir().exists(),
            "state dir {} left behind",
            self.state_dir().display()
        );
        for d in self.cgroup_dirs() {
            assert!(!d.exists(), "cgroup {} left behind", d.display());
        }
        let pids = pids_in_cgroup(&self.cgroup);
        assert!(
            pids.is_empty(),
            "processes {pids:?} left in {}",
            self.cgroup
        );
        let bundle = self.bundle.path().to_string_lossy().into_owned();
        let root = self.root.path().to_string_lossy().into_owned();
        let rootfs = rootfs().to_string_lossy().into_owned();
        for m in host_mount_points() {
            assert!(
                !m.starts_with(&bundle) && !m.starts_with(&root) && !m.starts_with(&rootfs),
                "mount {m} left behind on the host"
            );
        }
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = self
            .berth()
            .args(["delete", "--force", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Best effort for failed tests: leave no cgroup behind in the host hierarchies.
        for d in self.cgroup_dirs() {
            let _ = fs::remove_dir(d);
        }
    }
}

/// Runs a berth command whose container may inherit stdout/stderr: reads them through
/// files, not pipes, so a long-running container cannot keep the read open.
pub fn run_detached_stdio(mut c: Command) -> Output {
    let mut out = tempfile::tempfile().unwrap();
    let mut err = tempfile::tempfile().unwrap();
    c.stdout(out.try_clone().unwrap());
    c.stderr(err.try_clone().unwrap());
    let status = c.status().unwrap();
    use std::io::Seek;
    let mut o = Vec::new();
    let mut e = Vec::new();
    out.seek(std::io::SeekFrom::Start(0)).unwrap();
    err.seek(std::io::SeekFrom::Start(0)).unwrap();
    out.read_to_end(&mut o).unwrap();
    err.read_to_end(&mut e).unwrap();
    Output {
        status,
        stdout: o,
        stderr: e,
    }
}

/// Nothing under the state root but the seccomp cache (compiled filters by profile, shared
/// by every container): not even an empty directory for the ID.
pub fn assert_root_empty(c: &Ctr) {
    let left: Vec<_> = fs::read_dir(c.root.path())
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name() != "seccomp#cache")
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left under the state root: {left:?}");
}

/// Runs the container in the foreground; it must succeed. Its stdout.
pub fn run_ok(c: &Ctr) -> String {
    let o = c.run();
    assert_ok(&o, "run");
    stdout(&o)
}

/// A berth command on `c` with `--log LOG`, its stdio detached.
pub fn with_log(c: &Ctr, log: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = c.berth();
    cmd.arg("--log").arg(log).args(args);
    run_detached_stdio(cmd)
}
