//! The user-space learning Ethernet switch behind `berth switch` (containet's role).
//!
//! Owns its unix listening socket and the tap fds members post to it (see [`crate::tap`]). One
//! thread, one epoll set: frames are read in batches from each ready tap and written to the port
//! their destination MAC was learned on, or flooded for broadcast, multicast and unknown
//! destinations. Frames keep their virtio-net header, so TSO segments and partial checksums pass
//! through untouched. A port is dropped when its tap reports an error or hang-up (device deleted,
//! namespace gone); the switch itself carries on.

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::tap::{HELLO, VNET_HDR_LEN};

/// Errors that stop the switch (per-member trouble never does).
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error("bind switch socket {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("switch epoll {step}: {source}")]
    Epoll { step: &'static str, source: Errno },
}

/// Settings of one switch.
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    pub socket: PathBuf,
    /// How long a learned MAC stays valid without traffic from it.
    pub ageing: Duration,
    /// Frames read from one port per wake-up before others get their turn.
    pub batch: usize,
}

impl SwitchConfig {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            ageing: Duration::from_secs(300),
            batch: 64,
        }
    }
}

const LISTENER: u64 = u64::MAX;
/// Largest frame a vnet-header tap hands us: a 64 KiB GSO segment plus headers.
const FRAME_MAX: usize = 65536 + 256;

struct Port {
    fd: OwnedFd,
}

/// A bound switch; [`Switch::run`] serves it.
pub struct Switch {
    cfg: SwitchConfig,
    listener: UnixListener,
    epoll: Epoll,
    ports: HashMap<u64, Port>,
    port_count: Arc<AtomicUsize>,
    next_port: u64,
    macs: HashMap<[u8; 6], (u64, Instant)>,
}

fn set_nonblocking(fd: impl AsFd) -> nix::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

impl Switch {
    /// Binds the socket (replacing a stale socket file left by a dead switch).
    pub fn bind(cfg: SwitchConfig) -> Result<Self, SwitchError> {
        let bind_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SwitchError::Bind { path, source }
        };
        if UnixStream::connect(&cfg.socket).is_err() {
            let _ = std::fs::remove_file(&cfg.socket);
        }
        let listener = UnixListener::bind(&cfg.socket).map_err(bind_err(&cfg.socket))?;
        listener
            .set_nonblocking(true)
            .map_err(bind_err(&cfg.socket))?;
        let epoll =
            Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|source| SwitchError::Epoll {
                step: "create",
                source,
            })?;
        epoll
            .add(&listener, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))
            .map_err(|source| SwitchError::Epoll {
                step: "add listener",
                source,
            })?;
        Ok(Self {
            cfg,
            listener,
            epoll,
            ports: HashMap::new(),
            port_count: Arc::new(AtomicUsize::new(0)),
            next_port: 0,
            macs: HashMap::new(),
        })
    }

    /// Number of attached members.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// A live view of [`Switch::port_count`] that other threads can read while the switch runs.
    pub fn port_counter(&self) -> Arc<AtomicUsize> {
        self.port_count.clone()
    }

    /// Serves until `stop` becomes true (checked at least every 200 ms); runs forever if `None`.
    pub fn run(&mut self, stop: Option<&AtomicBool>) -> Result<(), SwitchError> {
        let mut events = vec![EpollEvent::empty(); 64];
        let mut buf = vec![0u8; FRAME_MAX];
        let mut last_sweep = Instant::now();
        while !stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            let n = match self.epoll.wait(&mut events, EpollTimeout::from(200u16)) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(source) => {
                    return Err(SwitchError::Epoll {
                        step: "wait",
                        source,
                    })
                }
            };
            let now = Instant::now();
            for ev in &events[..n] {
                let token = ev.data();
                if token == LISTENER {
                    self.accept_members();
                    continue;
                }
                if ev
                    .events()
                    .intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP)
                {
                    self.drop_port(token);
                    continue;
                }
                self.forward_from(token, &mut buf, now);
            }
            if now.duration_since(last_sweep) > self.cfg.ageing / 4 {
                let ageing = self.cfg.ageing;
                self.macs
                    .retain(|_, (_, seen)| now.duration_since(*seen) < ageing);
                last_sweep = now;
            }
        }
        Ok(())
    }

    fn accept_members(&mut self) {
        loop {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(_) => return,
            };
            // A member that cannot complete the greeting is refused; others keep being served.
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let _ = stream.set_nonblocking(false);
            let ok = self.admit(&stream);
            let _ = std::io::Write::write_all(&mut &stream, if ok { b"OK" } else { b"NO" });
        }
    }

    fn admit(&mut self, stream: &UnixStream) -> bool {
        let mut msg = [0u8; 8];
        let mut fds: Vec<OwnedFd> = Vec::new();
        let bytes = {
            let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
            let mut iov = [IoSliceMut::new(&mut msg)];
            let Ok(r) = recvmsg::<()>(
                stream.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) else {
                return false;
            };
            for c in r.cmsgs().into_iter().flatten() {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    // SCM_RIGHTS installed these descriptors in our table; each gets one owner
                    // here so that every one of them is closed, accepted or not.
                    fds.extend(raw.into_iter().map(crate::sys::own_received_fd));
                }
            }
            r.bytes
        };
        if bytes < 5 || &msg[..4] != HELLO || usize::from(msg[4]) != VNET_HDR_LEN || fds.len() != 1
        {
            return false;
        }
        let Some(fd) = fds.pop() else { return false };
        if set_nonblocking(&fd).is_err() {
            return false;
        }
        let token = self.next_port;
        self.next_port += 1;
        if self
            .epoll
            .add(&fd, EpollEvent::new(EpollFlags::EPOLLIN, token))
            .is_err()
        {
            return false;
        }
        self.ports.insert(token, Port { fd });
        self.port_count.store(self.ports.len(), Ordering::Relaxed);
        true
    }

    fn drop_port(&mut self, token: u64) {
        if let Some(p) = self.ports.remove(&token) {
            let _ = self.epoll.delete(&p.fd);
        }
        self.macs.retain(|_, (t, _)| *t != token);
        self.port_count.store(self.ports.len(), Ordering::Relaxed);
    }

    fn forward_from(&mut self, token: u64, buf: &mut [u8], now: Instant) {
        let mut dead = Vec::new();
        for _ in 0..self.cfg.batch {
            let Some(src) = self.ports.get(&token) else {
                return;
            };
            let n = match nix::unistd::read(&src.fd, buf) {
                Ok(n) => n,
                Err(Errno::EAGAIN | Errno::EINTR) => break,
                Err(_) => {
                    dead.push(token);
                    break;
                }
            };
            if n < VNET_HDR_LEN + 14 {
                continue;
            }
            let frame = &buf[..n];
            let eth = &frame[VNET_HDR_LEN..];
            let mut dst = [0u8; 6];
            let mut smac = [0u8; 6];
            dst.copy_from_slice(&eth[..6]);
            smac.copy_from_slice(&eth[6..12]);
            if smac[0] & 1 == 0 {
                self.macs.insert(smac, (token, now));
            }
            let target = if dst[0] & 1 == 0 {
                self.macs
                    .get(&dst)
                    .filter(|(_, seen)| now.duration_since(*seen) < self.cfg.ageing)
                    .map(|(t, _)| *t)
            } else {
                None
            };
            match target {
                Some(t) if t == token => {}
                Some(t) => {
                    if let Some(p) = self.ports.get(&t) {
                        if send(&p.fd, frame) {
                            dead.push(t);
                        }
                    }
                }
                None => {
                    for (t, p) in &self.ports {
                        if *t != token && send(&p.fd, frame) {
                            dead.push(*t);
                        }
                    }
                }
            }
        }
        for t in dead {
            self.drop_port(t);
        }
    }
}

/// Writes one frame; a full queue drops it, as a switch would. Returns true if the port is dead.
fn send(fd: &OwnedFd, frame: &[u8]) -> bool {
    match nix::unistd::write(fd, frame) {
        Ok(_) | Err(Errno::EAGAIN | Errno::EINTR | Errno::ENOBUFS | Errno::EINVAL) => false,
        Err(_) => true,
    }
}

/// `berth switch [--socket PATH]`: binds and serves until the process is killed.
pub fn run_switch(cfg: SwitchConfig) -> Result<(), SwitchError> {
    Switch::bind(cfg)?.run(None)
}

#[cfg(test)]
mod tests {
    //! Switching logic without root: SOCK_SEQPACKET pairs keep frame boundaries like a tap does,
    //! so one end posted to the switch stands in for a member's tap.
    use super::*;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

    struct Member {
        end: OwnedFd,
        mac: [u8; 6],
    }

    fn member(sock: &Path, n: u8) -> Member {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        crate::tap::post(sock, theirs.as_fd()).unwrap();
        let mac = [2, 0, 0, 0, 0, n];
        Member { end: ours, mac }
    }

    fn frame(dst: [u8; 6], src: [u8; 6], tag: u8) -> Vec<u8> {
        let mut f = vec![0u8; VNET_HDR_LEN];
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&[0x08, 0x00, tag]);
        f
    }

    /// Frames (by tag byte) waiting at `m`, collected for a moment.
    fn received(m: &Member) -> Vec<u8> {
        set_nonblocking(&m.end).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let mut out = Vec::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = nix::unistd::read(&m.end, &mut buf) {
            if n == 0 {
                break;
            }
            out.push(buf[n - 1]);
        }
        out
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
        nix::unistd::write(&a.end, &frame(BCAST, a.mac, 1)).unwrap();
        assert_eq!(received(&b), [1]);
        assert_eq!(received(&c), [1]);
        assert!(received(&a).is_empty());
        // a's MAC was learned: a unicast reply goes to a only.
        nix::unistd::write(&b.end, &frame(a.mac, b.mac, 2)).unwrap();
        assert_eq!(received(&a), [2]);
        assert!(received(&c).is_empty());
        // Unknown unicast floods.
        nix::unistd::write(&a.end, &frame([2, 0, 0, 0, 0, 9], a.mac, 3)).unwrap();
        assert_eq!(received(&b), [3]);
        assert_eq!(received(&c), [3]);
        // After ageing, a's entry is gone and frames to it flood again.
        std::thread::sleep(Duration::from_millis(400));
        nix::unistd::write(&c.end, &frame(a.mac, c.mac, 4)).unwrap();
        assert_eq!(received(&a), [4]);
        assert_eq!(received(&b), [4]);
        // A member that goes away is dropped; the others carry on.
        drop(c);
        let t0 = Instant::now();
        while ports.load(Ordering::Relaxed) != 2 && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(ports.load(Ordering::Relaxed), 2);
        nix::unistd::write(&a.end, &frame(b.mac, a.mac, 5)).unwrap();
        assert_eq!(received(&b), [5]);

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
}
