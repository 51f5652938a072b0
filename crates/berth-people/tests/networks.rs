//! User networks as people use them, as root: containers resolve each other by name (each
//! member's /etc/hosts follows joins and departures), `network connect` names the interface
//! itself, and `berth switch` logs its members.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

mod common;
#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::World;

/// Unique per test process: container IDs and networks are seen by every helper's tests.
fn tag() -> String {
    format!("{}", std::process::id() % 10_000)
}

/// A network with its own bridge name (bridges are host-wide).
fn network(w: &World, name: &str, subnet: &str) {
    w.ok(&[
        "network",
        "create",
        "--subnet",
        subnet,
        "--bridge",
        &format!("bm-{name}"),
        name,
    ]);
}

fn hosts(w: &World, id: &str) -> String {
    w.ok(&["exec", id, "cat", "/etc/hosts"])
}

#[test]
fn members_of_a_network_resolve_each_other_by_name() {
    require_root!();
    let w = World::new();
    let t = tag();
    let (net, net2) = (format!("nm{t}"), format!("nn{t}"));
    let third = (std::process::id() % 200) + 20;
    network(&w, &net, &format!("10.233.{third}.0/24"));
    network(&w, &net2, &format!("10.234.{third}.0/24"));
    let (db, web) = (format!("db{t}"), format!("web{t}"));
    for id in [&db, &web] {
        w.ok(&[
            "run", "-d", "--name", id, "--net", &net, "busybox", "sleep", "1000",
        ]);
    }
    // Each sees the other by name, the one that came first included.
    w.ok(&["exec", &web, "ping", "-c", "1", "-W", "3", &db]);
    w.ok(&["exec", &db, "ping", "-c", "1", "-W", "3", &web]);

    // connect names the interface itself: eth0 is taken, so eth1.
    let out = w.ok(&["network", "connect", &net2, &db]);
    assert!(out.starts_with("eth1 10.234."), "{out}");
    assert!(hosts(&w, &web).contains(&format!("\t{db}\t# berth network {net}\n")));
    // A member of the second network only is listed once it joins it.
    w.ok(&["network", "connect", &net2, &web]);
    assert!(hosts(&w, &db).contains(&format!("\t{web}\t# berth network {net2}\n")));
    w.ok(&["network", "disconnect", &net2, &web]);
    let h = hosts(&w, &web);
    assert!(!h.contains(&net2), "web left {net2}: {h}");
    assert!(!hosts(&w, &db).contains(&format!("{web}\t# berth network {net2}")));

    // A container that is deleted leaves the others' files.
    w.ok(&["delete", "--force", &web]);
    let h = hosts(&w, &db);
    assert!(!h.contains(&web), "{h}");
    w.ok(&["delete", "--force", &db]);
}

#[test]
fn connect_with_a_taken_interface_name_says_what_to_do() {
    require_root!();
    let w = World::new();
    let t = tag();
    let net = format!("nc{t}");
    network(
        &w,
        &net,
        &format!("10.235.{}.0/24", (std::process::id() % 200) + 20),
    );
    let id = format!("c{t}");
    w.ok(&[
        "run", "-d", "--name", &id, "--net", "none", "busybox", "sleep", "1000",
    ]);
    // --net none has only lo: eth0 is free.
    let out = w.ok(&["network", "connect", "--ifname", "eth0", &net, &id]);
    assert!(out.starts_with("eth0 "), "{out}");
    w.ok(&["network", "disconnect", &net, &id]);
    w.ok(&["network", "connect", &net, &id]);
    let e = w.fails(&["network", "connect", "--ifname", "eth0", &net, &id]);
    assert_eq!(
        e.trim(),
        format!(
            "berth: container {id} is already on network {net}: \
             `berth network disconnect {net} {id}` first"
        )
    );
    let net2 = format!("nd{t}");
    network(
        &w,
        &net2,
        &format!("10.236.{}.0/24", (std::process::id() % 200) + 20),
    );
    let e = w.fails(&["network", "connect", "--ifname", "eth0", &net2, &id]);
    assert_eq!(
        e.trim(),
        format!(
            "berth: container {id} already has an interface eth0: leave out --ifname and \
             berth names it eth1, or name another with --ifname"
        )
    );
    w.ok(&["delete", "--force", &id]);
}

/// A child process killed when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_switch_logs_members_joining_leaving_and_refused() {
    require_root!();
    if !Path::new("/dev/net/tun").exists() {
        berth_common::skip!("needs /dev/net/tun");
    }
    let w = World::new();
    let sock = w.dir.path().join("switch.sock");
    let log = w.dir.path().join("switch.log");
    let mut switch = Killed(
        w.cmd(&[
            "--log",
            log.to_str().unwrap(),
            "switch",
            "--socket",
            sock.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    let mut lines = BufReader::new(switch.0.stderr.take().unwrap()).lines();
    while !sock.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let id = format!("sw{}", tag());
    let on = format!("switch:{}", sock.display());
    w.ok(&[
        "run",
        "-d",
        "--name",
        &id,
        "--net",
        &on,
        "--ip",
        "10.237.1.1/24",
        "busybox",
        "sleep",
        "1000",
    ]);
    let mut next = || lines.next().unwrap().unwrap();
    assert_eq!(
        next(),
        "berth: switch: member 0 joined (virtio-net header 10 bytes); 1 attached"
    );
    // Not a member: a plain connection that says something else.
    let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    std::io::Write::write_all(&mut s, b"hello").unwrap();
    assert_eq!(
        next(),
        "berth: switch: member refused: not a berth switch greeting (BSW1 and a header length)"
    );
    w.ok(&["delete", "--force", &id]);
    assert_eq!(next(), "berth: switch: member 0 left; 0 attached");
    drop(switch);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 3, "{logged}");
    assert!(logged.contains("member 0 left"), "{logged}");
}
