//! Switching logic without root: SOCK_SEQPACKET pairs keep frame boundaries like a tap does,
//! so one end posted to the switch stands in for a member's tap.
use super::*;
use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};

struct Member {
    end: OwnedFd,
    mac: [u8; 6],
    /// Length of the virtio-net header this member reads and writes.
    hdr: usize,
}

fn member_with(sock: &Path, n: u8, hdr: usize) -> Member {
    let (ours, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    crate::tap::post(sock, theirs.as_fd(), hdr as u8).unwrap();
    let mac = [2, 0, 0, 0, 0, n];
    Member {
        end: ours,
        mac,
        hdr,
    }
}

fn member(sock: &Path, n: u8) -> Member {
    member_with(sock, n, crate::tap::VNET_HDR_LEN)
}

/// A frame as `from` writes it, with virtio-net header fields `flags` and `gso_type`.
fn frame_hdr(from: &Member, dst: [u8; 6], tag: u8, flags: u8, gso_type: u8) -> Vec<u8> {
    let mut f = vec![0u8; from.hdr];
    if from.hdr > 0 {
        f[0] = flags;
        f[1] = gso_type;
    }
    f.extend_from_slice(&dst);
    f.extend_from_slice(&from.mac);
    f.extend_from_slice(&[0x08, 0x00, tag]);
    f
}

fn frame(from: &Member, dst: [u8; 6], tag: u8) -> Vec<u8> {
    frame_hdr(from, dst, tag, 0, 0)
}

/// The next `n` frames to reach `m`, raw, waiting up to 10 s for them (a loaded machine may
/// stall the switch's thread for a while).
fn received_raw(m: &Member, n: usize) -> Vec<Vec<u8>> {
    rustix::net::sockopt::set_socket_timeout(
        &m.end,
        rustix::net::sockopt::Timeout::Recv,
        Some(Duration::from_secs(10)),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while out.len() < n {
        match rustix::io::read(&m.end, &mut buf) {
            Ok(len) if len > 0 => out.push(buf[..len].to_vec()),
            _ => break,
        }
    }
    out
}

/// The tag bytes of the next `n` frames to reach `m`; each must be in `m`'s own header format.
fn received(m: &Member, n: usize) -> Vec<u8> {
    received_raw(m, n)
        .into_iter()
        .map(|f| {
            assert_eq!(
                f.len(),
                m.hdr + 15,
                "frame length for a {}-byte header",
                m.hdr
            );
            f[f.len() - 1]
        })
        .collect()
}

const BCAST: [u8; 6] = [0xff; 6];

/// A broadcast from `from` that every member in `to` must see next: whatever a member was not
/// to receive before it would come first. The switch has one thread and ports keep their order,
/// so this proves an absence without waiting for it.
fn marker(from: &Member, to: &[&Member], tag: u8) {
    rustix::io::write(&from.end, &frame(from, BCAST, tag)).unwrap();
    for m in to {
        assert_eq!(received(m, 1), [tag], "the marker is the next frame");
    }
}

/// Runs `sw` on a thread of its own; the returned call stops it and checks that it ended well.
fn start(mut sw: Switch) -> impl FnOnce() {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let th = std::thread::spawn(move || sw.run(Some(&stop2)));
    move || {
        stop.store(true, Ordering::Relaxed);
        th.join().unwrap().unwrap();
    }
}

#[test]
fn learns_floods_and_drops_departed_ports() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sw.sock");
    let sw = Switch::bind(SwitchConfig::new(&sock)).unwrap();
    let ports = sw.port_counter();
    let end = start(sw);

    let (a, b, c) = (member(&sock, 1), member(&sock, 2), member(&sock, 3));
    assert_eq!(ports.load(Ordering::Relaxed), 3);
    // Broadcast floods to everyone but the sender.
    rustix::io::write(&a.end, &frame(&a, BCAST, 1)).unwrap();
    assert_eq!(received(&b, 1), [1]);
    assert_eq!(received(&c, 1), [1]);
    // a's MAC was learned: a unicast reply goes to a only (a's next frame is that reply, not its
    // own broadcast; c's next frame is the marker).
    rustix::io::write(&b.end, &frame(&b, a.mac, 2)).unwrap();
    assert_eq!(received(&a, 1), [2]);
    marker(&b, &[&a, &c], 10);
    // Unknown unicast floods.
    rustix::io::write(&a.end, &frame(&a, [2, 0, 0, 0, 0, 9], 3)).unwrap();
    assert_eq!(received(&b, 1), [3]);
    assert_eq!(received(&c, 1), [3]);
    // A member that goes away is dropped; the others carry on.
    drop(c);
    let t0 = Instant::now();
    while ports.load(Ordering::Relaxed) != 2 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(ports.load(Ordering::Relaxed), 2);
    rustix::io::write(&a.end, &frame(&a, b.mac, 5)).unwrap();
    assert_eq!(received(&b, 1), [5]);
    end();
}

#[test]
fn a_mac_not_seen_for_the_ageing_time_floods_again() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sw.sock");
    let mut cfg = SwitchConfig::new(&sock);
    cfg.ageing = Duration::from_millis(200);
    let end = start(Switch::bind(cfg).unwrap());

    let (a, b, c) = (member(&sock, 1), member(&sock, 2), member(&sock, 3));
    rustix::io::write(&a.end, &frame(&a, BCAST, 1)).unwrap();
    assert_eq!(received(&b, 1), [1]);
    assert_eq!(received(&c, 1), [1]);
    // A stall here only ages the entry more: the wait is a lower bound, never a race.
    std::thread::sleep(Duration::from_millis(400));
    rustix::io::write(&c.end, &frame(&c, a.mac, 4)).unwrap();
    assert_eq!(received(&a, 1), [4]);
    assert_eq!(received(&b, 1), [4]);
    end();
}

#[test]
fn plain_members_get_headers_cut_and_never_an_offloaded_frame() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sw.sock");
    let sw = Switch::bind(SwitchConfig::new(&sock)).unwrap();
    let stats = sw.stats();
    let end = start(sw);

    let (v1, v2) = (member(&sock, 1), member(&sock, 2));
    let plain = member_with(&sock, 3, 0);
    // Plain to vnet: a zero header is put in front.
    rustix::io::write(&plain.end, &frame(&plain, BCAST, 1)).unwrap();
    for v in [&v1, &v2] {
        let got = received_raw(v, 1);
        assert_eq!(got.len(), 1);
        assert_eq!(
            &got[0][..10],
            &[0u8; 10],
            "header given to a plain member's frame"
        );
        assert_eq!(got[0][got[0].len() - 1], 1);
    }
    // Vnet to plain: the header is cut off.
    rustix::io::write(&v1.end, &frame(&v1, plain.mac, 2)).unwrap();
    assert_eq!(received(&plain, 1), [2]);
    // A GSO frame and a partial-checksum frame flood to the other vnet member with their
    // header intact, but never reach the plain member.
    rustix::io::write(&v1.end, &frame_hdr(&v1, BCAST, 3, 0, 1)).unwrap();
    rustix::io::write(&v1.end, &frame_hdr(&v1, BCAST, 4, 1, 0)).unwrap();
    let got = received_raw(&v2, 2);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0][1], got[0][got[0].len() - 1]), (1, 3));
    assert_eq!((got[1][0], got[1][got[1].len() - 1]), (1, 4));
    marker(&v2, &[&plain, &v1], 10);
    assert_eq!(stats.dropped_offloaded.load(Ordering::Relaxed), 2);
    assert_eq!(stats.gso_frames.load(Ordering::Relaxed), 1);
    // Vnet to vnet, unicast: untouched.
    rustix::io::write(&v2.end, &frame_hdr(&v2, v1.mac, 5, 1, 4)).unwrap();
    let got = received_raw(&v1, 1);
    assert_eq!(got, [frame_hdr(&v2, v1.mac, 5, 1, 4)]);

    end();
}

#[test]
fn refuses_members_without_a_greeting() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sw.sock");
    let end = start(Switch::bind(SwitchConfig::new(&sock)).unwrap());
    let mut s = UnixStream::connect(&sock).unwrap();
    std::io::Write::write_all(&mut s, b"hello").unwrap();
    let mut ack = [0u8; 2];
    std::io::Read::read_exact(&mut s, &mut ack).unwrap();
    assert_eq!(&ack, b"NO");
    end();
}

#[test]
fn reports_joins_departures_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sw.sock");
    let mut sw = Switch::bind(SwitchConfig::new(&sock)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    sw.on_event(Box::new(move |e| tx.send(e.to_string()).unwrap()));
    let end = start(sw);
    let next = || rx.recv_timeout(Duration::from_secs(5)).unwrap();

    let a = member(&sock, 1);
    assert_eq!(
        next(),
        "switch: member 0 joined (virtio-net header 10 bytes); 1 attached"
    );
    let mut s = UnixStream::connect(&sock).unwrap();
    std::io::Write::write_all(&mut s, b"hello").unwrap();
    assert_eq!(
        next(),
        "switch: member refused: not a berth switch greeting (BSW1 and a header length)"
    );
    drop(a);
    assert_eq!(next(), "switch: member 0 left; 0 attached");
    end();
}
