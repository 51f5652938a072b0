//! The people face end to end, as root: images imported from a busybox rootfs tar made here
//! (no registry), `berth run IMAGE CMD`, overlay roots, bridge and switch networks, and that
//! `delete` leaves nothing behind. Traffic stays between addresses on this machine.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;
use common::BERTH;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{names, rootfs, text, wait_for, World};

fn leases(w: &World, net: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&w.ok(&["network", "inspect", net])).unwrap();
    v["leases"].clone()
}

#[test]
fn run_rm_echo_hi_from_an_imported_image_leaves_nothing() {
    require_root!();
    let w = World::new();
    let out = w.berth(&["run", "--rm", "--net", "none", "busybox", "echo", "hi"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    // The exit status is the program's.
    let out = w.berth(&[
        "run", "--rm", "--net", "none", "busybox", "sh", "-c", "exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7));
    // The image form via --image, with flags and env.
    let out = w.berth(&[
        "run",
        "--rm",
        "--image",
        "busybox",
        "--net",
        "none",
        "-e",
        "GREETING=hey",
        "-w",
        "/tmp",
        "--hostname",
        "box",
        "sh",
        "-c",
        "echo $GREETING $(pwd) $(hostname)",
    ]);
    assert_eq!(text(&out.stdout), "hey /tmp box\n", "{}", text(&out.stderr));
    w.assert_clean();
}

#[test]
fn failed_create_leaves_nothing() {
    require_root!();
    let w = World::new();
    let out = w.berth(&[
        "run",
        "--rm",
        "--net",
        "none",
        "busybox",
        "/no/such/program",
    ]);
    assert!(!out.status.success());
    let out = w.berth(&["run", "--rm", "--net", "none", "no-such-image", "true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no-such-image"),
        "{}",
        text(&out.stderr)
    );
    w.assert_clean();
}

#[test]
fn ps_shows_only_the_containers_processes_and_files_stay_in_their_container() {
    require_root!();
    let w = World::new();
    // The course's check: ps -A inside sees only the container's own processes.
    let ps = w.ok(&["run", "--rm", "--net", "none", "busybox", "ps", "-A"]);
    let procs: Vec<&str> = ps.lines().skip(1).collect();
    assert_eq!(procs.len(), 1, "{ps}");
    assert!(
        procs[0].trim_start().starts_with("1 ") && procs[0].contains("ps -A"),
        "{ps}"
    );

    let id1 = w.ok(&[
        "run", "-d", "--name", "c1", "--net", "none", "busybox", "sleep", "1000",
    ]);
    assert_eq!(id1.trim(), "c1");
    w.ok(&[
        "run", "-d", "--name", "c2", "--net", "none", "busybox", "sleep", "1000",
    ]);
    // Every runtime command works on an image-form container.
    let st: serde_json::Value = serde_json::from_str(&w.ok(&["state", "c1"])).unwrap();
    assert_eq!(st["status"], "running");
    let ps = w.ok(&["exec", "c1", "ps", "-A"]);
    let cmds: Vec<&str> = ps.lines().skip(1).collect();
    assert_eq!(cmds.len(), 2, "sleep and ps only: {ps}");
    assert!(ps.contains("sleep 1000"), "{ps}");

    w.ok(&["exec", "c1", "sh", "-c", "echo foo > /foo.txt"]);
    assert_eq!(w.ok(&["exec", "c1", "cat", "/foo.txt"]), "foo\n");
    let other = w.berth(&["exec", "c2", "cat", "/foo.txt"]);
    assert!(!other.status.success(), "c2 sees c1's file");
    // Not in the image: a new container does not see it either, nor does any layer hold it.
    let fresh = w.berth(&["run", "--rm", "--net", "none", "busybox", "cat", "/foo.txt"]);
    assert!(!fresh.status.success());
    let found = Command::new("find")
        .arg(w.image_root().join("layers"))
        .args(["-name", "foo.txt"])
        .output()
        .unwrap();
    assert_eq!(text(&found.stdout), "");
    assert!(w.image_root().join("containers/c1/upper/foo.txt").exists());

    // -d --rm: gone (root, state) soon after its program exits.
    w.ok(&[
        "run", "-d", "--rm", "--name", "brief", "--net", "none", "busybox", "sleep", "0.2",
    ]);
    wait_for("brief to be removed", || {
        !w.state_root().join("brief").exists() && !w.image_root().join("containers/brief").exists()
    });
    w.ok(&["pause", "c1"]);
    w.ok(&["resume", "c1"]);
    w.ok(&["kill", "c1", "KILL"]);
    // Its monitor records the exit and deletes the runtime container; the record stays.
    assert_eq!(w.ok(&["wait", "c1"]), "137\n");
    w.ok(&["rm", "c1"]);
    w.ok(&["rm", "-f", "c2"]);
    w.assert_clean();
}

#[test]
fn read_only_volumes_and_resources() {
    require_root!();
    let w = World::new();
    let data = w.dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("in.txt"), "from host\n").unwrap();
    let vol = format!("{}:/data", data.display());
    let out = w.ok(&[
        "run",
        "--rm",
        "--net",
        "none",
        "-v",
        &vol,
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt; echo back > /data/out.txt",
    ]);
    assert_eq!(out, "from host\n");
    assert_eq!(
        std::fs::read_to_string(data.join("out.txt")).unwrap(),
        "back\n"
    );
    let ro = format!("{}:/data:ro", data.display());
    let out = w.berth(&[
        "run", "--rm", "--net", "none", "-v", &ro, "busybox", "touch", "/data/x",
    ]);
    assert!(!out.status.success());
    let out = w.berth(&[
        "run",
        "--rm",
        "--net",
        "none",
        "--read-only",
        "busybox",
        "touch",
        "/x",
    ]);
    assert!(!out.status.success(), "--read-only root is writable");
    let out = w.ok(&[
        "run",
        "--rm",
        "--net",
        "none",
        "--memory",
        "64m",
        "--pids-limit",
        "32",
        "--cpus",
        "0.5",
        "busybox",
        "true",
    ]);
    assert_eq!(out, "");
    w.assert_clean();
}

/// A bridge network of this test's own (own subnet and bridge device).
fn make_network(w: &World, name: &str, subnet: &str) {
    w.ok(&[
        "network",
        "create",
        "--subnet",
        subnet,
        "--bridge",
        &format!("bp-{name}"),
        name,
    ]);
}

#[test]
fn two_containers_on_a_bridge_ping_and_tcp_echo_and_a_published_port_answers() {
    require_root!();
    let w = World::new();
    let net = "pnet1";
    make_network(&w, net, "10.232.1.0/24");
    let on = format!("bridge:{net}");
    w.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--net",
        &on,
        "--ip",
        "10.232.1.10",
        "-p",
        "127.0.0.1:18461:7000",
        "busybox",
        "nc",
        "-ll",
        "-p",
        "7000",
        "-e",
        "/bin/cat",
    ]);
    w.ok(&[
        "run", "-d", "--name", "cli", "--net", &on, "busybox", "sleep", "1000",
    ]);
    // The address the hook put into /etc/hosts is the one the container got.
    let hosts = w.ok(&["exec", "srv", "cat", "/etc/hosts"]);
    assert!(hosts.contains("10.232.1.10\tsrv"), "{hosts}");
    let addr = w.ok(&["exec", "cli", "ip", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains("10.232.1."), "{addr}");

    w.ok(&["exec", "cli", "ping", "-c", "1", "-W", "3", "10.232.1.10"]);
    // --net container:ID shares cli's namespace, and its delete leaves cli attached.
    let shared = w.ok(&[
        "run",
        "--rm",
        "--net",
        "container:cli",
        "busybox",
        "ip",
        "-4",
        "addr",
    ]);
    assert!(shared.contains("10.232.1."), "{shared}");
    // A failing attach (an address outside the subnet) fails the run and leaves nothing.
    let bad = w.berth(&[
        "run", "--rm", "--name", "bad", "--net", &on, "--ip", "10.9.9.9", "busybox", "true",
    ]);
    assert!(!bad.status.success());
    assert!(leases(&w, net).get("bad").is_none());
    assert!(!w.image_root().join("containers/bad").exists());
    let echoed = w.ok(&[
        "exec",
        "cli",
        "sh",
        "-c",
        "echo hello | nc -w 2 10.232.1.10 7000",
    ]);
    assert_eq!(echoed, "hello\n");
    // The published port, from the host's loopback.
    let mut s = TcpStream::connect("127.0.0.1:18461").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"via port\n").unwrap();
    let mut buf = [0u8; 9];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"via port\n");
    drop(s);

    let l = leases(&w, net);
    let veths: Vec<String> = l
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["host_ifname"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(veths.len(), 2, "{l}");
    for v in &veths {
        assert!(Path::new("/sys/class/net").join(v).exists(), "no veth {v}");
    }
    w.ok(&["delete", "--force", "srv"]);
    w.ok(&["delete", "--force", "cli"]);
    assert_eq!(leases(&w, net).as_object().unwrap().len(), 0, "leases left");
    for v in &veths {
        assert!(
            !Path::new("/sys/class/net").join(v).exists(),
            "veth {v} left"
        );
    }
    let port = "127.0.0.1:18461".parse().unwrap();
    assert!(TcpStream::connect_timeout(&port, Duration::from_secs(1)).is_err());
    w.assert_clean();
    w.ok(&["network", "rm", net]);
    assert!(!Path::new("/sys/class/net/bp-pnet1").exists());
}

struct Switch(Child);

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn two_containers_on_the_tap_switch_ping_each_other() {
    require_root!();
    if !Path::new("/dev/net/tun").exists() {
        berth_common::skip!("needs /dev/net/tun");
    }
    let w = World::new();
    let sock = w.dir.path().join("switch.sock");
    let _switch = Switch(
        w.cmd(&["switch", "--socket", sock.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the switch socket", || sock.exists());
    let on = format!("switch:{}", sock.display());
    w.ok(&[
        "run",
        "-d",
        "--name",
        "s1",
        "--net",
        &on,
        "--ip",
        "10.232.9.1/24",
        "busybox",
        "sleep",
        "1000",
    ]);
    w.ok(&[
        "run",
        "-d",
        "--name",
        "s2",
        "--net",
        &on,
        "--ip",
        "10.232.9.2/24",
        "busybox",
        "sleep",
        "1000",
    ]);
    w.ok(&["exec", "s1", "ping", "-c", "1", "-W", "3", "10.232.9.2"]);
    w.ok(&["exec", "s2", "ping", "-c", "1", "-W", "3", "10.232.9.1"]);
    w.ok(&["delete", "--force", "s1"]);
    w.ok(&["delete", "--force", "s2"]);
    w.assert_clean();
}

#[test]
fn network_connect_attaches_a_runtime_face_container_and_delete_detaches_it() {
    require_root!();
    let w = World::new();
    let net = "pnet2";
    make_network(&w, net, "10.232.2.0/24");
    // A plain OCI bundle run through the runtime face: `berth spec` + a rootfs directory.
    let bundle = w.dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    let st = Command::new("tar")
        .arg("-C")
        .arg(&bundle)
        .args(["--one-top-level=rootfs", "-xf"])
        .arg(w.dir.path().join("busybox.tar"))
        .status()
        .unwrap();
    assert!(st.success());
    w.ok(&["spec", "--bundle", bundle.to_str().unwrap()]);
    let cfg = bundle.join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    // ping needs a raw socket.
    let raw = serde_json::json!(["CAP_NET_RAW"]);
    spec["process"]["capabilities"] =
        serde_json::json!({"bounding": raw, "effective": raw, "permitted": raw});
    std::fs::write(&cfg, spec.to_string()).unwrap();
    // The runtime form passes its stdio to the container, as runc: keep the pipes out.
    let log = w.dir.path().join("rt1.log");
    let st = w
        .cmd(&["run", "-d", "--bundle", bundle.to_str().unwrap(), "rt1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    assert!(st.success(), "{}", std::fs::read_to_string(&log).unwrap());

    let out = w.ok(&["network", "connect", "--ip", "10.232.2.5", net, "rt1"]);
    assert!(out.contains("10.232.2.5/24"), "{out}");
    w.ok(&[
        "run",
        "-d",
        "--name",
        "peer",
        "--net",
        &format!("bridge:{net}"),
        "busybox",
        "sleep",
        "1000",
    ]);
    w.ok(&["exec", "peer", "ping", "-c", "1", "-W", "3", "10.232.2.5"]);
    w.ok(&["exec", "rt1", "ping", "-c", "1", "-W", "3", "10.232.2.1"]);
    assert!(leases(&w, net).get("rt1").is_some());

    w.ok(&["delete", "--force", "rt1"]);
    assert!(
        leases(&w, net).get("rt1").is_none(),
        "rt1's lease outlived it"
    );
    w.ok(&["network", "disconnect", net, "peer"]);
    assert!(leases(&w, net).get("peer").is_none());
    w.ok(&["delete", "--force", "peer"]);
    w.assert_clean();
    w.ok(&["network", "rm", net]);
}

#[test]
fn the_runtime_form_of_run_is_unchanged() {
    require_root!();
    let w = World::new();
    // One positional argument and no image-form flag: the ID of a bundle in the current dir.
    let out = w.berth(&["run", "--bundle", "/nonexistent-bundle", "someid"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("nonexistent-bundle"),
        "{}",
        text(&out.stderr)
    );
    // --bundle with the image form is refused rather than ignored.
    let out = w.berth(&["run", "--bundle", "/x", "busybox", "true"]);
    assert!(
        text(&out.stderr).contains("runtime form"),
        "{}",
        text(&out.stderr)
    );
}

/// `berth` alone, without `berth-people` beside it: the runtime face still runs bundles; a
/// people-face command, and the delete of a container whose overlay root only berth-people can
/// give back, fail with one line naming the missing executable, and the state is kept so the
/// delete can be retried once berth-people is there.
#[test]
fn berth_without_berth_people_runs_bundles_and_names_what_is_missing() {
    require_root!();
    let w = World::new();
    let lone_dir = w.dir.path().join("lone");
    std::fs::create_dir(&lone_dir).unwrap();
    let lone = lone_dir.join("berth");
    // Copied by cp(1), not in this process: a child another test thread forks would inherit
    // the copy's writable descriptor until its exec, and running the copy meanwhile fails
    // with ETXTBSY.
    assert!(Command::new("cp")
        .arg(&*BERTH)
        .arg(&lone)
        .status()
        .unwrap()
        .success());
    let missing = lone_dir.join("berth-people");
    let lone_cmd = |args: &[&str]| {
        Command::new(&lone)
            .arg("--root")
            .arg(w.state_root())
            .arg("--image-root")
            .arg(w.image_root())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    let out = lone_cmd(&["image", "ls"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(missing.to_str().unwrap()), "{err}");

    // A bundle over the test's rootfs, run by berth alone.
    let bundle = w.dir.path().join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    std::os::unix::fs::symlink(w.dir.path().join("rootfs"), bundle.join("rootfs")).unwrap();
    let out = lone_cmd(&["spec", "--bundle", bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = serde_json::json!(["sh", "-c", "exit 7"]);
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let out = lone_cmd(&["run", "--bundle", bundle.to_str().unwrap(), "lone-rt"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));

    // An image-form container made by the full berth; berth alone cannot give back its root.
    let out = w.berth(&[
        "run", "-d", "--net", "none", "--name", "lone-img", "busybox", "sleep", "100",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = lone_cmd(&["delete", "--force", "lone-img"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("berth-people"), "{err}");
    // Its monitor (berth-people) finishes the delete, keeping the record; `rm` removes that.
    let out = w.berth(&["rm", "-f", "lone-img"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!w.state_root().join("lone-img").exists());
    assert!(names(&w.image_root().join("containers")).is_empty());
}

/// `logs` prints what a `-d` container wrote (stdout and stderr); `logs -f` follows until the
/// container stops; a container without a log is one error line naming it.
#[test]
fn logs_shows_and_follows_a_detached_containers_output() {
    require_root!();
    let w = World::new();
    let out = w.berth(&[
        "run",
        "-d",
        "--net",
        "none",
        "--name",
        "lg",
        "busybox",
        "sh",
        "-c",
        "echo one; echo err >&2; sleep 1; echo two",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_for("the first line", || {
        text(&w.berth(&["logs", "lg"]).stdout).starts_with("one\n")
    });
    let out = w.berth(&["logs", "--follow", "lg"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "one\nerr\ntwo\n");

    let out = w.berth(&["logs", "nope"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("nope"), "{err}");

    let out = w.berth(&["rm", "lg"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(names(&w.image_root().join("containers")).is_empty());
}

#[test]
fn the_images_passwd_is_read_inside_its_root() {
    require_root!();
    let w = World::new();
    // An image whose /etc/passwd is a symlink to a host file naming "bob": followed on the
    // host, `-u bob` ran the program as the uid the host file gives.
    let host_file = w.dir.path().join("host-passwd");
    std::fs::write(&host_file, "bob:x:4242:4343::/:/bin/sh\n").unwrap();
    let dir = w.dir.path().join("evil-rootfs");
    rootfs::write(&dir);
    std::fs::remove_file(dir.join("etc/passwd")).unwrap();
    std::os::unix::fs::symlink(&host_file, dir.join("etc/passwd")).unwrap();
    let tar = w.dir.path().join("evil.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    w.ok(&["image", "import", tar.to_str().unwrap(), "evilpw:latest"]);
    let out = w.berth(&["run", "--rm", "--net", "none", "-u", "bob", "evilpw", "id"]);
    assert!(
        !out.status.success() && !text(&out.stdout).contains("4242"),
        "the host file was read: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("\"bob\" is not in the image's /etc/passwd"),
        "{}",
        text(&out.stderr)
    );
    // A name in the image's own file still resolves.
    let out = w.ok(&[
        "run", "--rm", "--net", "none", "-u", "tester", "busybox", "id", "-u",
    ]);
    assert_eq!(out, "1000\n");
    w.assert_clean();
}
