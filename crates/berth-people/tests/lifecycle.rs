//! The container lifecycle people know, through the CLI as a user types it (root): kept
//! containers with their files and exit codes, the monitor of `-d` containers (logs, exit
//! codes, a killed monitor), `stop`, `start`, `restart`, `rm`, `wait`, `inspect`, `create` and
//! the Docker-style listing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

#[path = "../../berth/tests/common/rootfs.rs"]
mod rootfs;

mod common;
use common::BERTH;

macro_rules! require_root {
    () => {
        if !rustix::process::geteuid().is_root() {
            berth_common::skip!("needs root");
        }
        if !Path::new("/bin/busybox").exists() {
            berth_common::skip!("needs a static busybox (Debian busybox-static)");
        }
    };
}

/// One test's world: its own state root and image root, with busybox:latest imported.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::Builder::new()
            .prefix("berth-life-")
            .tempdir()
            .unwrap();
        let w = World { dir };
        let rootfs = w.dir.path().join("rootfs");
        rootfs::write(&rootfs);
        let tar = w.dir.path().join("busybox.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        w.ok(&["image", "import", tar.to_str().unwrap(), "busybox:latest"]);
        w
    }

    fn state_root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn image_root(&self) -> PathBuf {
        self.dir.path().join("images")
    }

    fn berth(&self, args: &[&str]) -> Output {
        Command::new(&*BERTH)
            .arg("--root")
            .arg(self.state_root())
            .arg("--image-root")
            .arg(self.image_root())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// The listing's line for `id` (`ps -a`), if any.
    fn listed(&self, id: &str) -> Option<String> {
        self.ok(&["ps", "-a"])
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .map(String::from)
    }

    fn inspect(&self, id: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", id])).unwrap();
        v[0].clone()
    }

    fn mounts(&self) -> Vec<String> {
        let root = self.dir.path().to_str().unwrap().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter(|l| l.contains(&root))
            .map(String::from)
            .collect()
    }

    fn kept(&self) -> Vec<String> {
        names(&self.image_root().join("containers"))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // A failed test must not leave containers (and their mounts) behind.
        for id in names(&self.image_root().join("containers")) {
            let _ = self.berth(&["rm", "-f", &id]);
        }
        for id in names(&self.state_root()) {
            let _ = self.berth(&["delete", "--force", &id]);
        }
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A container's unique name: other tests run containers on this machine at the same time.
fn name(what: &str) -> String {
    format!("life-{what}-{}", std::process::id())
}

#[test]
fn a_run_is_kept_with_its_files_and_exit_code_until_rm() {
    require_root!();
    let w = World::new();
    let id = name("kept");
    // The first run writes a file and exits 3; a start of the same container sees the file.
    let script = "cat /mark 2>/dev/null && exit 4; echo made > /mark; exit 3";
    let out = w.berth(&[
        "run", "--name", &id, "--net", "none", "busybox", "sh", "-c", script,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let line = w.listed(&id).expect("ps -a lists the exited container");
    assert!(line.contains("Exited (3)"), "{line}");
    assert!(line.contains("busybox"), "{line}");
    assert!(
        !w.ok(&["ps"]).contains(&id),
        "ps without -a lists running ones only"
    );
    assert!(w
        .image_root()
        .join("containers")
        .join(&id)
        .join("upper/mark")
        .exists());
    assert!(
        w.mounts().is_empty(),
        "an exited container's overlay stays mounted"
    );
    // The name is taken until rm.
    let again = w.berth(&["run", "--name", &id, "--net", "none", "busybox", "true"]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("berth rm"),
        "{}",
        text(&again.stderr)
    );

    assert_eq!(w.ok(&["start", &id]).trim(), id);
    assert_eq!(
        w.ok(&["wait", &id]),
        "4\n",
        "start ran the same container again"
    );
    let rec = w.inspect(&id);
    assert_eq!(rec["status"], "exited");
    assert_eq!(rec["exitCode"], 4);
    assert_eq!(rec["config"]["process"]["args"][2], script);

    w.ok(&["rm", &id]);
    assert!(w.listed(&id).is_none());
    assert!(w.kept().is_empty());
    let out = w.berth(&["rm", &id]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no such container"));
}

#[test]
fn stop_sends_term_then_kill_after_the_timeout() {
    require_root!();
    let w = World::new();
    // sleep as PID 1 ignores SIGTERM: SIGKILL after the timeout, exit 137.
    let deaf = name("deaf");
    w.ok(&[
        "run", "-d", "--name", &deaf, "--net", "none", "busybox", "sleep", "1000",
    ]);
    assert!(w.listed(&deaf).unwrap().contains("Up "));
    let t = Instant::now();
    assert_eq!(w.ok(&["stop", "-t", "1", &deaf]).trim(), deaf);
    println!("stop -t 1 of a container ignoring TERM: {:?}", t.elapsed());
    let line = w.listed(&deaf).unwrap();
    assert!(line.contains("Exited (137)"), "{line}");

    // With --init, TERM reaches sleep and ends it well before a 100 s timeout: 128+15.
    let polite = name("polite");
    w.ok(&[
        "run", "-d", "--init", "--name", &polite, "--net", "none", "busybox", "sleep", "1000",
    ]);
    // The init forwards only once it has blocked signals (docs/people.md: --init).
    let st: serde_json::Value = serde_json::from_str(&w.ok(&["state", &polite])).unwrap();
    let init = st["pid"].as_i64().unwrap();
    let t = Instant::now();
    while std::fs::read_to_string(format!("/proc/{init}/status"))
        .unwrap()
        .contains("SigBlk:\t0000000000000000")
    {
        assert!(t.elapsed().as_secs() < 10, "the init never blocked signals");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    w.ok(&["stop", "-t", "100", &polite]);
    assert_eq!(w.ok(&["wait", &polite]), "143\n");

    // restart: stopped and started again, the same container.
    w.ok(&["restart", "-t", "1", &polite]);
    assert!(w.listed(&polite).unwrap().contains("Up "));
    let out = w.berth(&["rm", &polite]);
    assert!(
        !out.status.success(),
        "rm of a running container without -f"
    );
    assert!(text(&out.stderr).contains("rm -f"), "{}", text(&out.stderr));
    w.ok(&["rm", "-f", &polite, &deaf]);
    assert!(w.kept().is_empty());
    assert!(w.mounts().is_empty());
    assert!(names(&w.state_root()).is_empty());
}

#[test]
fn create_then_start_and_wait() {
    require_root!();
    let w = World::new();
    let id = name("created");
    let out = w.ok(&[
        "container",
        "create",
        "--name",
        &id,
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo from-created; exit 5",
    ]);
    assert_eq!(out.trim(), id);
    assert!(w.listed(&id).unwrap().contains("Created"));
    assert!(
        w.mounts().is_empty(),
        "a created container's root waits unmounted"
    );
    w.ok(&["start", &id]);
    assert_eq!(w.ok(&["wait", &id]), "5\n");
    assert_eq!(w.ok(&["logs", &id]), "from-created\n");
    w.ok(&["container", "rm", &id]);
    assert!(w.kept().is_empty());
}

#[test]
fn logs_timestamps_tail_since_and_follow() {
    require_root!();
    let w = World::new();
    let id = name("logs");
    w.ok(&[
        "run",
        "-d",
        "--name",
        &id,
        "--net",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2; sleep 1; printf three",
    ]);
    // -f follows until the container ends; an unfinished last line is printed as it is.
    assert_eq!(w.ok(&["logs", "-f", &id]), "one\ntwo\nthree");
    // And the exited, kept container's log stays readable.
    assert_eq!(w.ok(&["logs", "--tail", "2", &id]), "two\nthree");
    let stamped = w.ok(&["logs", "-t", &id]);
    for line in stamped.lines() {
        let (time, rest) = line.split_once(' ').unwrap();
        assert!(
            time.len() == 30 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{line}"
        );
        assert!(["one", "two", "three"].contains(&rest), "{line}");
    }
    assert_eq!(w.ok(&["logs", "--since", "1h", &id]), "one\ntwo\nthree");
    assert_eq!(w.ok(&["logs", "--since", "2999-01-01T00:00:00Z", &id]), "");
    let raw = std::fs::read_to_string(
        w.image_root()
            .join("containers")
            .join(&id)
            .join("output.log"),
    )
    .unwrap();
    assert!(raw.contains(" stderr F two\n"), "{raw}");
    assert!(raw.contains(" stdout P three\n"), "{raw}");
    w.ok(&["rm", &id]);
    let out = w.berth(&["logs", &id]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no such container"));
}

#[test]
fn a_killed_monitor_leaves_a_state_the_next_command_understands() {
    require_root!();
    let w = World::new();
    let id = name("orphan");
    w.ok(&[
        "run", "-d", "--name", &id, "--net", "none", "--memory", "64m", "busybox", "sleep", "1000",
    ]);
    let rec = w.inspect(&id);
    let monitor = rec["keeper"]["pid"].as_i64().unwrap() as i32;
    let init: serde_json::Value = serde_json::from_str(&w.ok(&["state", &id])).unwrap();
    let init = init["pid"].as_i64().unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    kill_and_wait(monitor);
    // The container still runs, and says so; stop settles what the monitor left.
    assert!(w.listed(&id).unwrap().contains("Up "));
    w.ok(&["stop", "-t", "1", &id]);
    let line = w.listed(&id).unwrap();
    assert!(line.contains("Exited (unknown)"), "{line}");
    assert!(w.mounts().is_empty());
    // It starts again under a new monitor; rm -f after that monitor is killed too cleans
    // everything: processes, cgroup, mounts, state, files.
    w.ok(&["start", &id]);
    let rec = w.inspect(&id);
    let init: serde_json::Value = serde_json::from_str(&w.ok(&["state", &id])).unwrap();
    let init = init["pid"].as_i64().unwrap();
    kill_and_wait(rec["keeper"]["pid"].as_i64().unwrap() as i32);
    w.ok(&["rm", "-f", &id]);
    assert!(gone(init as i32), "the init outlived rm -f");
    assert!(w.kept().is_empty());
    assert!(w.mounts().is_empty());
    assert!(names(&w.state_root()).is_empty());
    // The memory cgroup the container had is gone (v1 path from /proc/PID/cgroup).
    if let Some(path) = cgroup
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
    {
        assert!(
            !Path::new("/sys/fs/cgroup/memory")
                .join(path.trim_start_matches('/'))
                .exists(),
            "cgroup {path} left"
        );
    }
}

/// Whether process `pid` has ended (a zombie counts: its parent may not have reaped it yet).
fn gone(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).map_or(true, |s| s.contains("State:\tZ"))
}

fn kill_and_wait(pid: i32) {
    let st = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t = Instant::now();
    while !gone(pid) {
        assert!(t.elapsed().as_secs() < 10, "monitor {pid} survived SIGKILL");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn listing_shows_kept_and_runtime_containers_and_200_quickly() {
    require_root!();
    let w = World::new();
    // A runtime-face container (a plain bundle) is listed with image "-".
    let bundle = w.dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    std::os::unix::fs::symlink(w.dir.path().join("rootfs"), bundle.join("rootfs")).unwrap();
    w.ok(&["spec", "--bundle", bundle.to_str().unwrap()]);
    let cfg = bundle.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    spec["process"]["terminal"] = false.into();
    std::fs::write(&cfg, spec.to_string()).unwrap();
    let rt = name("rt");
    // The runtime form passes its stdio to the container's init, as runc: keep the pipes out.
    let st = Command::new(&*BERTH)
        .arg("--root")
        .arg(w.state_root())
        .args(["create", "--bundle", bundle.to_str().unwrap(), &rt])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let line = w.listed(&rt).unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[1], "-", "{line}");
    assert!(line.contains("Created"), "{line}");
    // runc's `ps ID` still takes an ID.
    assert!(w.berth(&["ps", &rt]).status.success());
    w.ok(&["delete", &rt]);

    let t = Instant::now();
    for i in 0..200 {
        w.ok(&[
            "container",
            "create",
            "--name",
            &format!("many{i:03}"),
            "--net",
            "none",
            "busybox",
            "true",
        ]);
    }
    println!("200 × container create: {:?}", t.elapsed());
    let t = Instant::now();
    let ids = w.ok(&["ps", "-a", "-q"]);
    println!("ps -a -q of 200 kept containers: {:?}", t.elapsed());
    assert_eq!(ids.lines().count(), 200);
    let t = Instant::now();
    let table = w.ok(&["container", "ls", "-a"]);
    println!("container ls -a of 200 kept containers: {:?}", t.elapsed());
    assert_eq!(table.lines().count(), 201);
    assert!(table.lines().next().unwrap().starts_with("CONTAINER ID"));
    let all: Vec<String> = ids.lines().map(String::from).collect();
    let mut args = vec!["rm"];
    args.extend(all.iter().map(String::as_str));
    w.ok(&args);
    assert!(w.kept().is_empty());
}

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

#[test]
fn dit_then_attach_gives_a_shell_and_ctrl_p_ctrl_q_detaches() {
    require_root!();
    let w = World::new();
    let id = name("tty");
    assert_eq!(
        w.ok(&["run", "-dit", "--name", &id, "--net", "none", "busybox", "sh"])
            .trim(),
        id
    );
    let attach = |input: &[u8]| {
        let mut child = Command::new(&*BERTH)
            .arg("--root")
            .arg(w.state_root())
            .arg("--image-root")
            .arg(w.image_root())
            .args(["attach", &id])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
        child.wait_with_output().unwrap()
    };
    // Typed, then the detach keys: attach ends, the shell keeps running.
    let out = attach(b"echo one > /typed\n\x10\x11");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(w.listed(&id).unwrap().contains("Up "));
    // The shell answers through its terminal; its exit code is attach's and is recorded.
    let out = attach(b"cat /typed; echo hi; exit 7\n");
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    let seen = text(&out.stdout);
    assert!(seen.contains("one\r\nhi\r\n"), "{seen:?}");
    assert!(w.listed(&id).unwrap().contains("Exited (7)"));
    assert!(w.ok(&["logs", &id]).contains("hi"));
    w.ok(&["rm", &id]);
}
