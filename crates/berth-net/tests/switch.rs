//! The tap switch on the real kernel, as root: namespaces post tap fds to a switch thread.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use berth_net::attach::Netns;
use berth_net::switch::{Switch, SwitchConfig};
use berth_net::tap::{attach_tap, detach_tap, TapRequest};
use common::{echo_roundtrip, Ns};

fn join(ns: &Ns, socket: &std::path::Path, addr: &str) {
    join_with(ns, socket, addr, true);
}

fn join_with(ns: &Ns, socket: &std::path::Path, addr: &str, vnet_hdr: bool) {
    let p = ns.path();
    attach_tap(&TapRequest {
        netns: Netns::Path(&p),
        socket,
        ifname: "eth0",
        address: Some(addr.parse().unwrap()),
        gateway: None,
        mtu: None,
        vnet_hdr,
    })
    .unwrap();
}

#[test]
fn switch_members_exchange_tcp_and_a_third_joining_and_leaving_does_not_disturb() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("switch.sock");
    let mut sw = Switch::bind(SwitchConfig::new(&sock)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let ports = sw.port_counter();
    let wait_ports = |n: usize| {
        // Namespace teardown runs asynchronously in the kernel, so a departure shows up later.
        let t0 = std::time::Instant::now();
        while ports.load(Ordering::Relaxed) != n && t0.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(ports.load(Ordering::Relaxed), n, "switch port count");
    };
    let th = std::thread::spawn(move || {
        let r = sw.run(Some(&stop2));
        (r, sw)
    });

    let (a, b) = (Ns::new("sw-a"), Ns::new("sw-b"));
    join(&a, &sock, "10.231.9.1/24");
    join(&b, &sock, "10.231.9.2/24");
    let link =
        String::from_utf8_lossy(&a.run(&["ip", "-o", "addr", "show", "eth0"]).stdout).into_owned();
    assert!(link.contains("10.231.9.1/24"), "{link}");

    assert!(a.ping("10.231.9.2"), "a cannot ping b over the switch");
    let srv = b.echo_server("0.0.0.0:7003");
    let mut s = a
        .connect(SocketAddr::new("10.231.9.2".parse().unwrap(), srv.port()))
        .unwrap();
    echo_roundtrip(&mut s, b"over the switch");
    // Large writes go through as TSO segments with the vnet header intact.
    let big = vec![0x5au8; 1 << 20];
    echo_roundtrip(&mut s, &big);

    // A third member joins, talks, and leaves by deleting its tap.
    let c = Ns::new("sw-c");
    join(&c, &sock, "10.231.9.3/24");
    assert!(c.ping("10.231.9.1"));
    echo_roundtrip(&mut s, b"still here after a join");
    let pc = c.path();
    detach_tap(Netns::Path(&pc), "eth0").unwrap();
    detach_tap(Netns::Path(&pc), "eth0").unwrap(); // idempotent
    wait_ports(2);
    echo_roundtrip(&mut s, b"still here after a leave");

    // A fourth dies with its namespace.
    let d = Ns::new("sw-d");
    join(&d, &sock, "10.231.9.4/24");
    wait_ports(3);
    assert!(d.ping("10.231.9.2"));
    drop(d);
    echo_roundtrip(&mut s, b"still here after a death");
    assert!(b.ping("10.231.9.1"));

    wait_ports(2);
    stop.store(true, Ordering::Relaxed);
    let (r, sw) = th.join().unwrap();
    r.unwrap();
    assert_eq!(
        sw.port_count(),
        2,
        "ports of departed members were not dropped"
    );
}

#[test]
fn gso_frames_cross_between_vnet_members_and_a_plain_member_still_talks_to_them() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("switch.sock");
    let mut sw = Switch::bind(SwitchConfig::new(&sock)).unwrap();
    let stats = sw.stats();
    let ports = sw.port_counter();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let th = std::thread::spawn(move || sw.run(Some(&stop2)));
    let gso = || stats.gso_frames.load(Ordering::Relaxed);

    let (a, b) = (Ns::new("gso-a"), Ns::new("gso-b"));
    join(&a, &sock, "10.231.12.1/24");
    join(&b, &sock, "10.231.12.2/24");
    assert!(a.ping("10.231.12.2"), "a cannot ping b over the switch");
    let srv = b.echo_server("0.0.0.0:7004");
    let mut s = a
        .connect(SocketAddr::new("10.231.12.2".parse().unwrap(), srv.port()))
        .unwrap();
    let big: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    let before = gso();
    echo_roundtrip(&mut s, &big);
    // The switch turned the taps' offloads on, so the stacks send segments larger than the MTU.
    assert!(gso() > before, "4 MiB went through without one GSO frame");

    // A member whose tap has no vnet header: offloads go off for everyone while it is there,
    // and it talks to the vnet members both ways.
    let c = Ns::new("gso-c");
    join_with(&c, &sock, "10.231.12.3/24", false);
    assert!(
        c.ping("10.231.12.1"),
        "plain member cannot ping a vnet member"
    );
    assert!(
        a.ping("10.231.12.3"),
        "vnet member cannot ping the plain member"
    );
    let mut sc = c
        .connect(SocketAddr::new("10.231.12.2".parse().unwrap(), srv.port()))
        .unwrap();
    echo_roundtrip(&mut sc, &big);
    let before = gso();
    echo_roundtrip(&mut s, &big);
    assert_eq!(gso(), before, "GSO frames while a plain member is attached");

    // Once it leaves, the offloads come back.
    let pc = c.path();
    detach_tap(Netns::Path(&pc), "eth0").unwrap();
    let t0 = std::time::Instant::now();
    while ports.load(Ordering::Relaxed) != 2 && t0.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let before = gso();
    echo_roundtrip(&mut s, &big);
    assert!(
        gso() > before,
        "offloads did not come back after the plain member left"
    );

    stop.store(true, Ordering::Relaxed);
    th.join().unwrap().unwrap();
}

/// Throughput of the switch next to a bridge, with iperf3 (run with `--ignored --nocapture`).
#[test]
#[ignore = "benchmark: needs iperf3, takes ~10 s"]
fn bench_switch_against_bridge() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let iperf = |client: &Ns, server: &Ns, ip: &str| -> String {
        let mut srv = std::process::Command::new("ip")
            .args(["netns", "exec", &server.name, "iperf3", "-s", "-1"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let out = client.run(&["iperf3", "-c", ip, "-t", "3", "-J"]);
        let _ = srv.wait();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let bps = v["end"]["sum_received"]["bits_per_second"]
            .as_f64()
            .unwrap();
        format!("{:.2} Gbit/s", bps / 1e9)
    };
    // Switch.
    let sock = dir.path().join("switch.sock");
    let mut sw = Switch::bind(SwitchConfig::new(&sock)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let th = std::thread::spawn(move || sw.run(Some(&stop2)));
    let (a, b) = (Ns::new("bench-a"), Ns::new("bench-b"));
    join(&a, &sock, "10.231.10.1/24");
    join(&b, &sock, "10.231.10.2/24");
    assert!(a.ping("10.231.10.2"));
    println!("switch: {}", iperf(&a, &b, "10.231.10.2"));
    stop.store(true, Ordering::Relaxed);
    th.join().unwrap().unwrap();
    // Bridge.
    let store = berth_net::NetworkStore::new(dir.path().join("nets"));
    store
        .create(&berth_net::NetworkSpec {
            name: "bench".into(),
            subnet: Some("10.231.11.0/24".into()),
            bridge: Some("bt-bench".into()),
            ..Default::default()
        })
        .unwrap();
    let (c, d) = (Ns::new("bench-c"), Ns::new("bench-d"));
    let (pc, pd) = (c.path(), d.path());
    for (id, p) in [("bc", &pc), ("bd", &pd)] {
        let t0 = std::time::Instant::now();
        berth_net::attach(
            &store,
            "bench",
            &berth_net::AttachRequest {
                container_id: id,
                netns: Netns::Path(p),
                ip: None,
                ports: &[],
                ifname: "eth0",
            },
        )
        .unwrap();
        println!("attach {id}: {:?}", t0.elapsed());
    }
    println!("bridge: {}", iperf(&c, &d, "10.231.11.3"));
    for id in ["bc", "bd"] {
        berth_net::detach(&store, "bench", id).unwrap();
    }
    berth_net::attach::remove_network(&store, "bench").unwrap();
}
