//! Bridge networks on the real kernel, as root: namespaces stand in for containers.

mod common;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use berth_net::attach::{self, AttachRequest, Netns};
use berth_net::{nft, Ipam, NetworkSpec, NetworkStore, PortMapping};
use common::{echo_roundtrip, host_links, sh_ok, Ns};

fn make_net(store: &NetworkStore, name: &str, subnet: &str, bridge: &str) {
    let _ = berth_net::netlink::Netlink::new()
        .unwrap()
        .delete_link(bridge);
    store
        .create(&NetworkSpec {
            name: name.into(),
            subnet: Some(subnet.into()),
            nat: true,
            bridge: Some(bridge.into()),
            ..Default::default()
        })
        .unwrap();
}

fn req<'a>(id: &'a str, ns: &'a std::path::Path, ports: &'a [PortMapping]) -> AttachRequest<'a> {
    AttachRequest {
        container_id: id,
        netns: Netns::Path(ns),
        ip: None,
        ports,
        ifname: "eth0",
    }
}

#[test]
fn two_namespaces_on_one_bridge_ping_tcp_echo_and_reach_host_then_leave_nothing() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let store = NetworkStore::new(dir.path());
    make_net(&store, "t1", "10.231.1.0/24", "bt-t1");
    let (a, b) = (Ns::new("bn-a"), Ns::new("bn-b"));
    let (pa, pb) = (a.path(), b.path());
    let att_a = attach::attach(&store, "t1", &req("ca", &pa, &[])).unwrap();
    // Passing the namespace as an fd works the same as a path.
    let fb = b.file();
    let att_b = attach::attach(
        &store,
        "t1",
        &AttachRequest {
            netns: Netns::Fd(std::os::fd::AsFd::as_fd(&fb)),
            ip: Some(Ipv4Addr::new(10, 231, 1, 50)),
            ..req("cb", &pb, &[])
        },
    )
    .unwrap();
    assert_eq!(att_a.ip, Ipv4Addr::new(10, 231, 1, 2));
    assert_eq!(att_b.ip, Ipv4Addr::new(10, 231, 1, 50));
    assert_eq!(att_a.gateway, Ipv4Addr::new(10, 231, 1, 1));
    let mac = berth_net::netlink::stable_mac("bt-t1");
    let mac = mac.map(|b| format!("{b:02x}")).join(":");
    let br = String::from_utf8_lossy(&common::sh(&["ip", "-o", "link", "show", "bt-t1"]).stdout)
        .into_owned();
    assert!(br.contains(&mac), "bridge has no fixed MAC {mac}: {br}");

    // Inside: eth0 with the address and MTU, lo up, default route via the gateway.
    let addr =
        String::from_utf8_lossy(&a.run(&["ip", "-o", "addr", "show", "eth0"]).stdout).into_owned();
    assert!(addr.contains("10.231.1.2/24"), "{addr}");
    let route = String::from_utf8_lossy(&a.run(&["ip", "route"]).stdout).into_owned();
    assert!(route.contains("default via 10.231.1.1 dev eth0"), "{route}");
    assert!(a.ping("127.0.0.1"));

    assert!(a.ping("10.231.1.50"), "a cannot ping b");
    assert!(b.ping("10.231.1.2"), "b cannot ping a");
    let srv = b.echo_server("0.0.0.0:7001");
    let mut s = a
        .connect(SocketAddr::new("10.231.1.50".parse().unwrap(), srv.port()))
        .unwrap();
    echo_roundtrip(&mut s, b"hello over the bridge");

    // A service on the host's bridge address is reachable from a container.
    let host = TcpListener::bind("10.231.1.1:0").unwrap();
    let hp = host.local_addr().unwrap();
    std::thread::spawn(move || common::serve_echo(host));
    let mut s = a.connect(hp).unwrap();
    echo_roundtrip(&mut s, b"hello host");

    // Attaching again is harmless and keeps the address.
    assert_eq!(
        attach::attach(&store, "t1", &req("ca", &pa, &[]))
            .unwrap()
            .ip,
        att_a.ip
    );

    let inspected = attach::inspect(&store, "t1").unwrap();
    assert_eq!(inspected.leases.len(), 2);

    attach::detach(&store, "t1", "ca").unwrap();
    attach::detach(&store, "t1", "cb").unwrap();
    attach::detach(&store, "t1", "cb").unwrap(); // idempotent
    let links = host_links();
    assert!(
        !links.contains(&att_a.host_ifname) && !links.contains(&att_b.host_ifname),
        "{links}"
    );
    let inner = String::from_utf8_lossy(&a.run(&["ip", "-o", "link"]).stdout).into_owned();
    assert!(!inner.contains("eth0"), "{inner}");
    let net = store.get("t1").unwrap();
    assert!(Ipam::new(&store, &net).leases().unwrap().is_empty());

    attach::remove_network(&store, "t1").unwrap();
    assert!(!host_links().contains("bt-t1"));
    assert!(!nft::tags().unwrap().contains(&"n:bt-t1".to_string()));
}

#[test]
fn published_port_answers_from_localhost_other_netns_and_same_bridge() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let store = NetworkStore::new(dir.path());
    make_net(&store, "t2", "10.231.2.0/24", "bt-t2");
    let web = Ns::new("bn-web");
    let peer = Ns::new("bn-peer");
    let host_port = 20000 + (std::process::id() % 20000) as u16;
    let ports = [format!("{host_port}:7002/tcp")
        .parse::<PortMapping>()
        .unwrap()];
    let pw = web.path();
    let pp = peer.path();
    let att = attach::attach(&store, "t2", &req("web", &pw, &ports)).unwrap();
    attach::attach(&store, "t2", &req("peer", &pp, &[])).unwrap();
    web.echo_server("0.0.0.0:7002");
    let tag = nft::container_tag(&store.get("t2").unwrap(), "web");
    assert_eq!(
        nft::tags().unwrap().iter().filter(|t| **t == tag).count(),
        2
    );

    // From the host's loopback.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", host_port)).unwrap();
    echo_roundtrip(&mut s, b"via localhost");

    // From another namespace reaching the host over its own veth link.
    let other = Ns::new("bn-oth");
    let (h, o) = ("bto-h", "bto-o");
    let _ = common::sh(&["ip", "link", "del", h]);
    sh_ok(&[
        "ip",
        "link",
        "add",
        h,
        "type",
        "veth",
        "peer",
        "name",
        o,
        "netns",
        &other.name,
    ]);
    sh_ok(&["ip", "addr", "add", "10.231.3.1/30", "dev", h]);
    sh_ok(&["ip", "link", "set", h, "up"]);
    other.run(&["ip", "addr", "add", "10.231.3.2/30", "dev", o]);
    other.run(&["ip", "link", "set", o, "up"]);
    other.run(&["ip", "route", "add", "default", "via", "10.231.3.1"]);
    let mut s = other
        .connect(SocketAddr::new("10.231.3.1".parse().unwrap(), host_port))
        .unwrap();
    echo_roundtrip(&mut s, b"via another netns");

    // From another container on the same bridge, through the gateway address (hairpin).
    let mut s = peer
        .connect(SocketAddr::new("10.231.2.1".parse().unwrap(), host_port))
        .unwrap();
    echo_roundtrip(&mut s, b"hairpin");
    let _ = s.flush();

    attach::detach_all(&store, "web").unwrap();
    attach::detach_all(&store, "peer").unwrap();
    assert!(!nft::tags().unwrap().contains(&tag));
    assert!(!host_links().contains(&att.host_ifname));
    assert!(std::net::TcpStream::connect(("127.0.0.1", host_port)).is_err());
    let _ = common::sh(&["ip", "link", "del", h]);
    attach::remove_network(&store, "t2").unwrap();
    assert!(!nft::tags().unwrap().contains(&"n:bt-t2".to_string()));
}

#[test]
fn failed_attach_leaves_nothing_and_detach_all_releases_a_dead_container() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let store = NetworkStore::new(dir.path());
    make_net(&store, "t3", "10.231.4.0/24", "bt-t3");
    let ns = Ns::new("bn-gc");
    let p = ns.path();
    // An interface name already taken inside the namespace makes the veth creation fail.
    let err = attach::attach(
        &store,
        "t3",
        &AttachRequest {
            ifname: "lo",
            ..req("bad", &p, &[])
        },
    );
    assert!(err.is_err());
    let net = store.get("t3").unwrap();
    assert!(Ipam::new(&store, &net).leases().unwrap().is_empty());
    assert!(!host_links().contains(&attach::host_ifname(&net, "bad")));

    let att = attach::attach(&store, "t3", &req("crashed", &p, &[])).unwrap();
    attach::detach_all(&store, "crashed").unwrap();
    assert!(!berth_net::store::has_attachments(dir.path(), "crashed"));
    assert!(!host_links().contains(&att.host_ifname));
    assert!(Ipam::new(&store, &net).leases().unwrap().is_empty());
    attach::remove_network(&store, "t3").unwrap();
}

#[test]
fn default_network_works_without_setup() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let store = NetworkStore::new(dir.path());
    let ns = Ns::new("bn-def");
    let p = ns.path();
    let existed = host_links().contains("berth0:");
    // A high fixed address keeps clear of anything else using berth0 on this machine.
    let att = attach::attach(
        &store,
        berth_net::DEFAULT_NETWORK,
        &AttachRequest {
            ip: Some(Ipv4Addr::new(10, 87, 255, 201)),
            ..req("def", &p, &[])
        },
    )
    .unwrap();
    assert_eq!(att.gateway, Ipv4Addr::new(10, 87, 0, 1));
    assert!(host_links().contains("berth0"));
    assert!(ns.ping("10.87.0.1"));
    attach::detach(&store, "bridge", "def").unwrap();
    assert!(!host_links().contains(&att.host_ifname));
    assert!(attach::remove_network(&store, "bridge").is_err());
    if !existed {
        // Leave the machine as found; a berth0 that was there before belongs to someone else.
        berth_net::netlink::Netlink::new()
            .unwrap()
            .delete_link("berth0")
            .unwrap();
        nft::remove_tagged(&["n:berth0"]).unwrap();
    }
}

/// Child half of `twenty_concurrent_attaches_race_for_the_bridge_and_get_distinct_addresses`.
#[test]
fn attach_child_process() {
    let (Ok(root), Ok(id), Ok(ns)) = (
        std::env::var("BERTH_NET_ATTACH_ROOT"),
        std::env::var("BERTH_NET_ATTACH_ID"),
        std::env::var("BERTH_NET_ATTACH_NS"),
    ) else {
        return;
    };
    let store = NetworkStore::new(root);
    let p = std::path::PathBuf::from(ns);
    let a = attach::attach(&store, "t5", &req(&id, &p, &[])).unwrap();
    println!("ATTACHED {}", a.ip);
}

#[test]
fn twenty_concurrent_attaches_race_for_the_bridge_and_get_distinct_addresses() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let store = NetworkStore::new(dir.path());
    // A fresh network: every child races to create the bridge and its NAT rules too.
    make_net(&store, "t5", "10.231.5.0/24", "bt-t5");
    let nss: Vec<Ns> = (0..20).map(|i| Ns::new(&format!("bn-r{i}"))).collect();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = nss
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            std::process::Command::new(&exe)
                .args(["--exact", "attach_child_process", "--nocapture"])
                .env("BERTH_NET_ATTACH_ROOT", dir.path())
                .env("BERTH_NET_ATTACH_ID", format!("r{i}"))
                .env("BERTH_NET_ATTACH_NS", ns.path())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ips = std::collections::HashSet::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let ip = text
            .lines()
            .find_map(|l| l.strip_prefix("ATTACHED "))
            .expect("child printed its address")
            .to_string();
        assert!(ips.insert(ip.clone()), "{ip} handed out twice");
    }
    assert_eq!(ips.len(), 20);
    // The first and last can talk across the bridge they raced to create.
    let last = Ipam::new(&store, &store.get("t5").unwrap())
        .get("r19")
        .unwrap()
        .unwrap();
    assert!(nss[0].ping(&last.ip.to_string()));
    let tags = nft::tags().unwrap();
    assert_eq!(
        tags.iter().filter(|t| *t == "n:bt-t5").count(),
        3,
        "{tags:?}"
    );
    let net = store.get("t5").unwrap();
    for i in 0..20 {
        attach::detach(&store, "t5", &format!("r{i}")).unwrap();
    }
    let links = host_links();
    for i in 0..20 {
        assert!(!links.contains(&attach::host_ifname(&net, &format!("r{i}"))));
    }
    assert!(Ipam::new(&store, &net).leases().unwrap().is_empty());
    attach::remove_network(&store, "t5").unwrap();
}
