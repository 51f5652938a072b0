//! runtime-spec 1.3 against real containers (root): linux.netDevices moves a host link into
//! the container (renamed, addresses kept, up) and the kernel, not berth, decides its fate
//! when the namespace dies; linux.memoryPolicy is the program's NUMA policy; linux.intelRdt
//! is a clear error without resctrl; `features` claims 1.3.0. The seccomp listener
//! (listenerPath, listenerMetadata) is tested in security.rs.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// A veth pair on the host, removed at drop if it is still there (a failed test): `name`
/// goes into the container, `peer` stays on the host.
struct HostLink {
    name: String,
    peer: String,
    address: String,
}

impl HostLink {
    /// Unique names (15 bytes at most) and a permanent global address on `name`, as a
    /// host link prepared for a container would have.
    fn veth() -> HostLink {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed) as u32;
        let pid = std::process::id();
        let name = format!("bs{}a{n}", pid % 1_000_000);
        let peer = format!("bs{}b{n}", pid % 1_000_000);
        ip(&["link", "add", &name, "type", "veth", "peer", "name", &peer]);
        let address = format!("10.213.{}.1/24", (pid + n) % 250);
        let link = HostLink {
            name,
            peer,
            address,
        };
        ip(&["addr", "add", &link.address, "dev", &link.name]);
        link
    }
}

impl Drop for HostLink {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.peer])
            .output();
    }
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("run ip");
    assert_ok(&o, &format!("ip {args:?}"));
}

fn host_has_link(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .output()
        .expect("run ip")
        .status
        .success()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    })
}

macro_rules! need_root {
    () => {
        if !is_root() {
            eprintln!("skipped: runtime-spec 1.3 tests start containers and need root");
            return;
        }
    };
}

/// The host link is in the container under its new name, with its address and up, and
/// gone from the host while the container lives. At delete berth does not move it back
/// (the spec forbids it): the namespace dies with the container and the kernel destroys a
/// virtual link with it — the veth's host end goes too — and neither name comes back.
#[test]
fn net_device_moves_into_the_container() {
    need_root!();
    let link = HostLink::veth();
    // A second one named by a template: the kernel picks the number.
    let templated = HostLink::veth();
    let mut c = Ctr::new("netdev", &["sleep", "1000"]);
    c.patch(|cfg| {
        cfg["ociVersion"] = json!("1.3.0");
        cfg["linux"]["netDevices"] = json!({
            link.name.clone(): {"name": "ctr13"},
            templated.name.clone(): {"name": "eth%d"},
        });
    });
    c.create_and_start();
    assert!(
        !host_has_link(&link.name),
        "{} is still on the host",
        link.name
    );
    let o = c.cmd(&["exec", &c.id, "ip", "-o", "addr", "show", "dev", "eth0"]);
    assert_ok(&o, "ip addr eth0 in the container");
    assert!(stdout(&o).contains(&templated.address), "{}", stdout(&o));
    let o = c.cmd(&["exec", &c.id, "ip", "-o", "addr", "show", "dev", "ctr13"]);
    assert_ok(&o, "ip addr in the container");
    assert!(stdout(&o).contains(&link.address), "{}", stdout(&o));
    let o = c.cmd(&["exec", &c.id, "ip", "-o", "link", "show", "ctr13"]);
    assert_ok(&o, "ip link in the container");
    assert!(
        stdout(&o).contains(",UP"),
        "ctr13 is not up: {}",
        stdout(&o)
    );

    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
    // The kernel frees the namespace asynchronously once its last process is gone.
    wait_until(
        "the dead namespace's veth to be destroyed",
        Duration::from_secs(60),
        || !host_has_link(&link.peer),
    );
    assert!(!host_has_link(&link.name) && !host_has_link("ctr13"));
    c.assert_nothing_left();
}

/// Refused at create with one line naming the field, and nothing left behind: no network
/// namespace of the container's own, a name the kernel would refuse, a host link that
/// does not exist (found only when moving it, after the init was made).
#[test]
fn net_device_errors_are_clear() {
    need_root!();
    let mut c = Ctr::new("netdev-nons", &["true"]);
    c.without_ns("network").patch(|cfg| {
        cfg["linux"]["netDevices"] = json!({"lo": {}});
    });
    assert_one_line_error(&c.create(), &["netDevices", "network namespace"]);

    let mut c = Ctr::new("netdev-name", &["true"]);
    c.patch(|cfg| cfg["linux"]["netDevices"] = json!({"lo": {"name": "a/b"}}));
    assert_one_line_error(
        &c.create(),
        &["netDevices", "a/b", "not a network device name"],
    );
    let mut c = Ctr::new("netdev-long", &["true"]);
    c.patch(|cfg| cfg["linux"]["netDevices"] = json!({"sixteen-bytes-xx": {}}));
    assert_one_line_error(
        &c.create(),
        &["sixteen-bytes-xx", "not a network device name"],
    );

    let mut c = Ctr::new("netdev-none", &["true"]);
    c.patch(|cfg| cfg["linux"]["netDevices"] = json!({"bsnosuch0": {}}));
    assert_one_line_error(&c.create(), &["netDevices", "bsnosuch0", "no such device"]);
    c.assert_nothing_left();
}

/// The policy the program runs with, as /proc/self/numa_maps shows it for mappings without
/// one of their own. Node 0 exists on every NUMA kernel.
#[test]
fn memory_policy_is_the_programs() {
    need_root!();
    if !std::path::Path::new("/proc/self/numa_maps").exists() {
        eprintln!("skipped: the kernel has no NUMA support (/proc/self/numa_maps)");
        return;
    }
    for (policy, shown) in [
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "interleave:0",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "bind=static:0",
        ),
    ] {
        let mut c = Ctr::new("mempolicy", &["cat", "/proc/self/numa_maps"]);
        c.patch(|cfg| {
            cfg["ociVersion"] = json!("1.3.0");
            cfg["linux"]["memoryPolicy"] = policy.clone();
        });
        let o = c.run();
        assert_ok(&o, "run");
        assert!(
            stdout(&o).contains(&format!(" {shown} ")),
            "{policy}: {}",
            stdout(&o)
        );
        c.assert_nothing_left();
    }
}

#[test]
fn memory_policy_errors_are_clear() {
    need_root!();
    let mut c = Ctr::new("mempol-none", &["true"]);
    c.patch(|cfg| cfg["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND"}));
    assert_one_line_error(
        &c.create(),
        &["memoryPolicy", "MPOL_BIND", "at least one node"],
    );
    let mut c = Ctr::new("mempol-bad", &["true"]);
    c.patch(|cfg| cfg["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0-x"}));
    assert_one_line_error(&c.create(), &["memoryPolicy.nodes", "0-x"]);

    // A node this host does not have: the kernel's EINVAL, named, from the init.
    if std::path::Path::new("/sys/devices/system/node/node63").exists() {
        eprintln!("note: this host has node 63: the kernel's refusal is not tried");
        return;
    }
    let mut c = Ctr::new("mempol-node", &["true"]);
    c.patch(|cfg| cfg["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "63"}));
    assert_one_line_error(
        &c.create(),
        &[
            "memoryPolicy",
            "set_mempolicy",
            "MPOL_BIND",
            "\"63\"",
            "invalid argument",
        ],
    );
    c.assert_nothing_left();
}

#[test]
fn intel_rdt_without_resctrl_is_a_clear_error() {
    need_root!();
    let mut c = Ctr::new("rdt", &["true"]);
    c.patch(|cfg| cfg["linux"]["intelRdt"] = json!({"closID": "berth"}));
    let resctrl = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(" - resctrl ");
    if resctrl {
        assert_one_line_error(&c.create(), &["intelRdt", "not supported"]);
    } else {
        assert_one_line_error(&c.create(), &["intelRdt", "no resctrl filesystem mounted"]);
    }
    c.assert_nothing_left();
}

#[test]
fn features_claim_1_3() {
    if !need_root() {
        return;
    }
    let o = Command::new(BERTH).arg("features").output().unwrap();
    assert_ok(&o, "features");
    let f: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(f["ociVersionMax"], "1.3.0");
    assert_eq!(f["linux"]["netDevices"]["enabled"], true);
    assert_eq!(f["linux"]["intelRdt"]["enabled"], false);
    let modes = f["linux"]["memoryPolicy"]["modes"].as_array().unwrap();
    assert!(modes.contains(&json!("MPOL_BIND")), "{modes:?}");
}
