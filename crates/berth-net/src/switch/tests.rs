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

/// Frames waiting at `m`, collected for a moment, raw.
fn received_raw(m: &Member) -> Vec<Vec<u8>> {
    set_nonblocking(&m.end).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = rustix::io::read(&m.end, &mut buf) {
        if n == 0 {
            break;
        }
        out.push(buf[..n].to_vec());
    }
    out
}

/// Frames (by tag byte) waiting at `m`; each must be in `m`'s own header format.
fn received(m: &Member) -> Vec<u8> {
    received_raw(m)
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

#[test]
fn learns_floods_ages_and_drops_departed_ports() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sw.sock");
    let mut cfg = SwitchConfig::new(&sock);
    cfg.ageing = Duration::from_millis(300);
    let mut sw = Switch::bind(cfg).unwrap();
    let ports = sw.port_counter();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let th = std::thread::spawn(move || sw.run(Some(&stop2)));

    let (a, b, c) = (member(&sock, 1), member(&sock, 2), member(&sock, 3));
    assert_eq!(ports.load(Ordering::Relaxed), 3);
    // Broadcast floods to everyone but the sender.
    rustix::io::write(&a.end, &frame(&a, BCAST, 1)).unwrap();
    assert_eq!(received(&b), [1]);
    assert_eq!(received(&c), [1]);
    assert!(received(&a).is_empty());
    // a's MAC was learned: a unicast reply goes to a only.
    rustix::io::write(&b.end, &frame(&b, a.mac, 2)).unwrap();
    assert_eq!(received(&a), [2]);
    assert!(received(&c).is_empty());
    // Unknown unicast floods.
    rustix::io::write(&a.end, &frame(&a, [2, 0, 0, 0, 0, 9], 3)).unwrap();
    assert_eq!(received(&b), [3]);
    assert_eq!(received(&c), [3]);
    // After ageing, a's entry is gone and frames to it flood again.
    std::thread::sleep(Duration::from_millis(400));
    rustix::io::write(&c.end, &frame(&c, a.mac, 4)).unwrap();
    assert_eq!(received(&a), [4]);
    assert_eq!(received(&b), [4]);
    // A member that goes away is dropped; the others carry on.
    drop(c);
    let t0 = Instant::now();
    while ports.load(Ordering::Relaxed) != 2 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(ports.load(Ordering::Relaxed), 2);
    rustix::io::write(&a.end, &frame(&a, b.mac, 5)).unwrap();
    assert_eq!(received(&b), [5]);

    stop.store(true, Ordering::Relaxed);
    th.join().unwrap().unwrap();
}

#[test]
fn plain_members_get_headers_cut_and_never_an_offloaded_frame() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sw.sock");
    let mut sw = Switch::bind(SwitchConfig::new(&sock)).unwrap();
    let stats = sw.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let th = std::thread::spawn(move || sw.run(Some(&stop2)));

    let (v1, v2) = (member(&sock, 1), member(&sock, 2));
    let plain = member_with(&sock, 3, 0);
    // Plain to vnet: a zero header is put in front.
    rustix::io::write(&plain.end, &frame(&plain, BCAST, 1)).unwrap();
    for v in [&v1, &v2] {
        let got = received_raw(v);
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
    assert_eq!(received(&plain), [2]);
    // A GSO frame and a partial-checksum frame flood to the other vnet member with their
    // header intact, but never reach the plain member.
    rustix::io::write(&v1.end, &frame_hdr(&v1, BCAST, 3, 0, 1)).unwrap();
    rustix::io::write(&v1.end, &frame_hdr(&v1, BCAST, 4, 1, 0)).unwrap();
    let got = received_raw(&v2);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0][1], got[0][got[0].len() - 1]), (1, 3));
    assert_eq!((got[1][0], got[1][got[1].len() - 1]), (1, 4));
    assert!(received(&plain).is_empty());
    assert_eq!(stats.dropped_offloaded.load(Ordering::Relaxed), 2);
    assert_eq!(stats.gso_frames.load(Ordering::Relaxed), 1);
    // Vnet to vnet, unicast: untouched.
    rustix::io::write(&v2.end, &frame_hdr(&v2, v1.mac, 5, 1, 4)).unwrap();
    let got = received_raw(&v1);
    assert_eq!(got, [frame_hdr(&v2, v1.mac, 5, 1, 4)]);

    stop.store(true, Ordering::Relaxed);
    th.join().unwrap().unwrap();
}

#[test]
fn refuses_members_without_a_greeting() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sw.sock");
    let mut sw = Switch::bind(SwitchConfig::new(&sock)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let th = std::thread::spawn(move || sw.run(Some(&stop2)));
    let mut s = UnixStream::connect(&sock).unwrap();
    std::io::Write::write_all(&mut s, b"hello").unwrap();
    let mut ack = [0u8; 2];
    std::io::Read::read_exact(&mut s, &mut ack).unwrap();
    assert_eq!(&ack, b"NO");
    stop.store(true, Ordering::Relaxed);
    th.join().unwrap().unwrap();
}

#[test]
fn reports_joins_departures_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("sw.sock");
    let mut sw = Switch::bind(SwitchConfig::new(&sock)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    sw.on_event(Box::new(move |e| tx.send(e.to_string()).unwrap()));
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let th = std::thread::spawn(move || sw.run(Some(&stop2)));
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
    stop.store(true, Ordering::Relaxed);
    th.join().unwrap().unwrap();
}
