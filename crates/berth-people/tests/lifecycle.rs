//! The container lifecycle people know, through the CLI as a user types it (root): kept
//! containers with their files and exit codes, the monitor of `-d` containers (logs, exit
//! codes, a killed monitor), `stop`, `start`, `restart`, `rm`, `wait`, `inspect`, `create` and
//! the Docker-style listing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;
use common::BERTH;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, names, text, World};

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

    // runc's delete has no runtime container to delete, and says what to do instead.
    let out = w.berth(&["delete", &id]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&format!("berth rm {id}")),
        "{}",
        text(&out.stderr)
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

    // A -d run whose create fails: the monitor's error is run's, one line; nothing is kept.
    let out = w.berth(&[
        "run", "-d", "--name", &id, "--net", "none", "busybox", "/no/such",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("/no/such"), "{err}");
    assert!(w.kept().is_empty());
    assert!(names(&w.state_root()).is_empty());
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
    world::wait_for_init_forwarding(&w, &polite);
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
    // start -a: its output (this run's only) and its exit code.
    let out = w.berth(&["start", "-a", &id]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "from-created\n");
    assert_eq!(w.ok(&["logs", &id]), "from-created\nfrom-created\n");
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
    assert!(text(&out.stderr).contains(&format!("no container {id}: ")));
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
fn a_bridged_container_stopped_and_started_at_once_gets_its_network_again() {
    require_root!();
    let w = World::new();
    let pid = std::process::id();
    let net = format!("lnet{}", pid % 100_000);
    let subnet = format!("10.236.{}.0/24", pid % 200);
    w.ok(&["network", "create", "--subnet", &subnet, &net]);
    let id = name("bridged");
    let on = format!("bridge:{net}");
    w.ok(&[
        "run", "-d", "--name", &id, "--net", &on, "busybox", "sleep", "1000",
    ]);
    // The start follows the stop at once, while the last run's network is still being
    // given back: it is still this container's start, and it gets an address again.
    w.ok(&["stop", "-t", "0", &id]);
    w.ok(&["start", &id]);
    let addr = w.ok(&["exec", &id, "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(addr.contains(&subnet[..subnet.len() - 4]), "{addr}");
    w.ok(&["rm", "-f", &id]);
    let v: serde_json::Value = serde_json::from_str(&w.ok(&["network", "inspect", &net])).unwrap();
    assert_eq!(v["leases"], serde_json::json!({}), "a lease outlived rm -f");
    w.ok(&["network", "rm", &net]);
}
