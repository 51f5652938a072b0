//! `berth join` against real containers (root only): a host program run inside chosen
//! namespaces of a running container sees that container's files, hostname, interfaces and
//! namespaces, gets stdio and no other fd, and exits with its status; a dead or unknown
//! container is one clear line and a non-zero exit.
//!
//! The host program is a copy of Debian's static busybox at a path that does not exist in
//! the container, so a run that resolved the path after joining the mount namespace fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

macro_rules! need_root {
    () => {
        if !is_root() {
            berth_common::skip!("berth join tests start containers and need root");
        }
    };
}

/// One running busybox container in its own state root, deleted on drop.
struct Container {
    tmp: tempfile::TempDir,
    id: String,
}

impl Container {
    /// `sleep` as the init, hostname `host`, a file /marker-<id> that exists only in its root.
    fn start(id: &str, args: &[&str]) -> Container {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bundle = tmp.path().join("bundle");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let status = Command::new(repo.join("scripts/make-rootfs.sh"))
            .arg(bundle.join("rootfs"))
            .status()
            .expect("run scripts/make-rootfs.sh");
        assert!(status.success(), "make-rootfs.sh failed");
        std::fs::write(
            bundle.join(format!("rootfs/marker-{id}")),
            format!("inside {id}\n"),
        )
        .unwrap();
        let ok = Command::new(BERTH)
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .status()
            .unwrap();
        assert!(ok.success(), "berth spec failed");
        let path = bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(args);
        config["root"]["path"] = "rootfs".into();
        config["hostname"] = format!("host-{id}").into();
        std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();

        let b = Container {
            tmp,
            id: id.to_string(),
        };
        // A detached container keeps berth's stdio: give it files, not the pipes of
        // `output()`, which would then never reach end of file.
        let log = b.tmp.path().join("run.log");
        let status = Command::new(BERTH)
            .arg("--root")
            .arg(b.root())
            .args(["run", "-d", "--bundle", bundle.to_str().unwrap(), id])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .status()
            .expect("run berth run -d");
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(status.success(), "run -d: {log}");
        b
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    fn berth(&self, args: &[&str]) -> Output {
        Command::new(BERTH)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    /// `berth join FLAGS -- <host busybox> APPLET...`
    fn join(&self, flags: &[&str], applet: &[&str]) -> Output {
        let bb = host_busybox(self.tmp.path());
        let mut args = vec!["join"];
        args.extend_from_slice(flags);
        args.push("--");
        args.push(bb.to_str().unwrap());
        args.extend_from_slice(applet);
        self.berth(&args)
    }

    fn init_pid(&self) -> i32 {
        let state: serde_json::Value =
            serde_json::from_slice(&self.berth(&["state", &self.id]).stdout).unwrap();
        state["pid"].as_i64().unwrap() as i32
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.berth(&["delete", "--force", &self.id]);
    }
}

/// A copy of the static busybox at a host path the container does not have; named
/// `busybox` because busybox picks the applet from argv[0].
fn host_busybox(dir: &Path) -> PathBuf {
    let bb = dir.join("host-only/busybox");
    if !bb.exists() {
        std::fs::create_dir_all(bb.parent().unwrap()).unwrap();
        std::fs::copy("/bin/busybox", &bb).expect("copy /bin/busybox (busybox-static)");
    }
    bb
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn mount_namespace_shows_the_container_files_to_a_host_program() {
    need_root!();
    let c = Container::start("join-mnt", &["sleep", "1000"]);
    assert!(!Path::new("/marker-join-mnt").exists());
    let out = c.join(&["--mount", "join-mnt"], &["cat", "/marker-join-mnt"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "inside join-mnt\n");

    // The default working directory is the container's root; --cwd resolves inside it.
    let out = c.join(&["-m", "join-mnt"], &["ls"]);
    assert!(text(&out.stdout).lines().any(|l| l == "marker-join-mnt"));
    let out = c.join(&["-m", "join-mnt", "--cwd", "/etc"], &["pwd"]);
    assert_eq!(text(&out.stdout), "/etc\n", "{}", text(&out.stderr));
}

#[test]
fn a_dynamic_program_in_a_joined_mount_namespace_fails_with_a_hint() {
    need_root!();
    let c = Container::start("join-dyn", &["sleep", "1000"]);
    // Debian's coreutils are dynamically linked; the busybox rootfs has no ld.so.
    let out = c.berth(&["join", "-m", "join-dyn", "--", "/bin/ls"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("statically linked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn uts_namespace_shows_the_container_hostname() {
    need_root!();
    let c = Container::start("join-uts", &["sleep", "1000"]);
    let out = c.join(&["--uts", "join-uts"], &["hostname"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "host-join-uts\n");
}

#[test]
fn net_namespace_shows_the_container_interfaces() {
    need_root!();
    let c = Container::start("join-net", &["sleep", "1000"]);
    let out = c.join(&["--net", "join-net"], &["cat", "/proc/net/dev"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // /proc/net/dev: two header lines, then "  name: counters..."
    let names: Vec<String> = text(&out.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_string()))
        .collect();
    assert_eq!(names, ["lo"], "a fresh network namespace has only lo");
    let host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        host.iter().any(|n| n != "lo"),
        "the host has other interfaces: {host:?}"
    );
}

#[test]
fn each_flag_and_all_join_the_namespaces_of_the_init() {
    need_root!();
    let c = Container::start("join-ns", &["sleep", "1000"]);
    let pid = c.init_pid();
    let ns_of = |p: &str, kind: &str| {
        std::fs::read_link(format!("/proc/{p}/ns/{kind}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    // Without --mount the host's /proc is what the program sees.
    for (flag, kind) in [
        ("-i", "ipc"),
        ("-n", "net"),
        ("-u", "uts"),
        ("-p", "pid"),
        ("-C", "cgroup"),
    ] {
        let want = ns_of(&pid.to_string(), kind);
        assert_ne!(
            want,
            ns_of("self", kind),
            "{kind}: container shares berth's"
        );
        let out = c.join(
            &[flag, "join-ns"],
            &["readlink", &format!("/proc/self/ns/{kind}")],
        );
        assert!(out.status.success(), "{flag}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim_end(), want, "{flag}");
    }
    // --all: every namespace, the program is a process in the container's pid namespace
    // and sees the container's /proc.
    let mut script = String::from("echo $$");
    for kind in ["ipc", "net", "uts", "pid", "cgroup", "mnt"] {
        script.push_str(&format!("; readlink /proc/self/ns/{kind}"));
    }
    let out = c.join(&["--all", "join-ns"], &["sh", "-c", &script]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let inner_pid: i32 = lines.next().unwrap().parse().unwrap();
    assert!(
        inner_pid > 1 && inner_pid < 100,
        "pid in the container: {inner_pid}"
    );
    for kind in ["ipc", "net", "uts", "pid", "cgroup", "mnt"] {
        assert_eq!(
            lines.next(),
            Some(ns_of(&pid.to_string(), kind).as_str()),
            "{kind}"
        );
    }
}

#[test]
fn stdio_passes_through_and_the_exit_status_is_the_programs() {
    need_root!();
    let c = Container::start("join-io", &["sleep", "1000"]);
    let bb = host_busybox(c.tmp.path());
    let mut child = Command::new(BERTH)
        .arg("--root")
        .arg(c.root())
        .args(["join", "--ipc", "join-io", "--"])
        .arg(&bb)
        .args([
            "sh",
            "-c",
            "read line; echo \"got $line\"; echo oops >&2; exit 7",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(text(&out.stdout), "got hello\n");
    assert_eq!(text(&out.stderr), "oops\n");

    let out = c.join(&["-i", "join-io"], &["sh", "-c", "kill -9 $$"]);
    assert_eq!(out.status.code(), Some(128 + 9));
}

#[test]
fn no_host_fd_beyond_stdio_reaches_the_program() {
    need_root!();
    let c = Container::start("join-fd", &["sleep", "1000"]);
    let bb = host_busybox(c.tmp.path());
    // The shell hands berth an inheritable fd 7; berth must not pass it on.
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "exec 7</dev/null; exec {BERTH} --root {} join -n join-fd -- {} ls /proc/self/fd",
            c.root().display(),
            bb.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fds: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    // 0-2 are stdio, 3 is ls's own handle on the directory it lists.
    assert_eq!(fds, ["0", "1", "2", "3"]);
}

#[test]
fn dead_or_unknown_container_is_one_clear_line() {
    need_root!();
    let c = Container::start("join-dead", &["true"]);
    // `true` exits at once; wait until berth sees it stopped.
    for _ in 0..100 {
        let state: serde_json::Value =
            serde_json::from_slice(&c.berth(&["state", "join-dead"]).stdout).unwrap();
        if state["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = c.join(&["--ipc", "join-dead"], &["true"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "berth: container join-dead is not running: its init has exited\n"
    );

    let out = c.join(&["--mount", "no-such-container"], &["true"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "berth: container no-such-container does not exist\n"
    );

    // A namespace the container does not have of its own: it would be a silent no-op.
    let live = Container::start("join-nouser", &["sleep", "1000"]);
    let out = live.join(&["--user", "join-nouser"], &["true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("has no user namespace of its own"));
}
