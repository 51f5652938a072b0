//! The user-space learning Ethernet switch behind `berth switch` (containet's role).
//!
//! Owns its unix listening socket and the tap fds members post to it (see [`crate::tap`]). One
//! thread, one epoll set: frames are read in batches from each ready tap and written to the port
//! their destination MAC was learned on, or flooded for broadcast, multicast and unknown
//! destinations.
//!
//! Taps opened with `IFF_VNET_HDR` carry a virtio-net header in front of each frame. While every
//! member has one, the switch turns on the taps' offloads (`TUNSETOFFLOAD`: checksum, TSO4/6,
//! USO), so the members' stacks hand over 64 KiB GSO frames with partial checksums, which cross
//! the switch with their header untouched and are finished by the receiving tap's kernel. A member
//! whose tap has no vnet header (a plain tap fd, as containode's members have; the switch asks the fd with
//! `TUNGETIFF`) cannot take such frames, so while one is attached the offloads are off on every
//! member; frames to it lose their header, frames from it get a zero one, and a GSO or
//! partial-checksum frame still in flight is dropped rather than handed to it. A port is dropped
//! when its tap reports an error or hang-up (device deleted, namespace gone); the switch itself
//! carries on.

use std::collections::HashMap;
use std::io::IoSlice;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::Timespec;
use rustix::fs::OFlags;
use rustix::io::Errno;

use crate::tap::HELLO;

mod event;
pub use event::{EventSink, SwitchEvent};

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
/// Longest virtio-net header accepted (the kernel allows any length from 10 up).
const HDR_MAX: usize = 32;
/// A header saying "nothing offloaded", for frames from a member without one.
const ZERO_HDR: [u8; HDR_MAX] = [0; HDR_MAX];
/// virtio_net_hdr.flags: the checksum from csum_start on is still to be computed.
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
/// What the switch lets members' stacks offload while every member has a vnet header.
const OFFLOADS: libc::c_uint =
    libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;
/// UDP segmentation offload, which kernels before 6.2 refuse.
const OFFLOADS_USO: libc::c_uint = libc::TUN_F_USO4 | libc::TUN_F_USO6;

struct Port {
    fd: OwnedFd,
    /// Length of the virtio-net header in front of each frame on this fd; 0 for plain frames.
    hdr: usize,
    /// A real tap (TUNGETIFF answered), whose offloads the switch can set.
    tap: bool,
    /// Whether the switch turned this tap's offloads on or off; `None` until it has done either
    /// (a member may have set them itself before posting the fd).
    offloads: Option<bool>,
}

/// Frame counters of a running switch, readable from other threads.
#[derive(Debug, Default)]
pub struct SwitchStats {
    /// Frames read from members.
    pub frames: AtomicU64,
    /// Of those, GSO frames (a virtio-net header with a gso_type): segments larger than the MTU.
    pub gso_frames: AtomicU64,
    /// Offloaded frames not delivered to a member without a vnet header.
    pub dropped_offloaded: AtomicU64,
}

/// A bound switch; [`Switch::run`] serves it.
pub struct Switch {
    cfg: SwitchConfig,
    listener: UnixListener,
    epoll: OwnedFd,
    ports: HashMap<u64, Port>,
    port_count: Arc<AtomicUsize>,
    stats: Arc<SwitchStats>,
    next_port: u64,
    macs: HashMap<[u8; 6], (u64, Instant)>,
    events: Option<EventSink>,
}

fn set_nonblocking(fd: impl AsFd) -> rustix::io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd.as_fd())?;
    rustix::fs::fcntl_setfl(fd.as_fd(), flags | OFlags::NONBLOCK)
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
        let epoll = epoll::create(CreateFlags::CLOEXEC).map_err(|source| SwitchError::Epoll {
            step: "create",
            source,
        })?;
        epoll::add(
            &epoll,
            &listener,
            EventData::new_u64(LISTENER),
            EventFlags::IN,
        )
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
            stats: Arc::new(SwitchStats::default()),
            next_port: 0,
            macs: HashMap::new(),
            events: None,
        })
    }

    /// Sends every member event (joined, left, refused) to `sink`.
    pub fn on_event(&mut self, sink: EventSink) {
        self.events = Some(sink);
    }

    fn report(&mut self, event: SwitchEvent) {
        if let Some(sink) = &mut self.events {
            sink(&event);
        }
    }

    /// Number of attached members.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }

    /// A live view of [`Switch::port_count`] that other threads can read while the switch runs.
    pub fn port_counter(&self) -> Arc<AtomicUsize> {
        self.port_count.clone()
    }

    /// Live frame counters.
    pub fn stats(&self) -> Arc<SwitchStats> {
        self.stats.clone()
    }

    /// Serves until `stop` becomes true (checked at least every 200 ms); runs forever if `None`.
    pub fn run(&mut self, stop: Option<&AtomicBool>) -> Result<(), SwitchError> {
        let empty = Event {
            flags: EventFlags::empty(),
            data: EventData::new_u64(0),
        };
        let mut events = vec![empty; 64];
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: 200_000_000,
        };
        let mut buf = vec![0u8; FRAME_MAX];
        let mut last_sweep = Instant::now();
        while !stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            let n = match epoll::wait(&self.epoll, &mut events[..], Some(&timeout)) {
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(source) => {
                    return Err(SwitchError::Epoll {
                        step: "wait",
                        source,
                    })
                }
            };
            let now = Instant::now();
            for ev in events[..n].iter().copied() {
                let token = ev.data.u64();
                if token == LISTENER {
                    self.accept_members();
                    continue;
                }
                let flags = ev.flags;
                if flags.intersects(EventFlags::ERR | EventFlags::HUP) {
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
            let admitted = self.admit(&stream);
            let ok = admitted.is_ok();
            let _ = std::io::Write::write_all(&mut &stream, if ok { b"OK" } else { b"NO" });
            let event = match admitted {
                Ok((port, vnet_hdr)) => SwitchEvent::Joined {
                    port,
                    vnet_hdr,
                    members: self.ports.len(),
                },
                Err(why) => SwitchEvent::Refused { why },
            };
            self.report(event);
        }
    }

    /// Takes a member's tap: its port number and header length, or why it was refused.
    fn admit(&mut self, stream: &UnixStream) -> Result<(u64, usize), &'static str> {
        let mut msg = [0u8; 8];
        // Every descriptor received is owned, so each is closed, accepted or not.
        let (bytes, mut fds) = berth_common::fdpass::recv_fds(stream.as_fd(), &mut msg)
            .map_err(|_| "no greeting (the read failed or timed out)")?;
        if bytes < 5 || &msg[..4] != HELLO {
            return Err("not a berth switch greeting (BSW1 and a header length)");
        }
        if fds.len() != 1 {
            return Err("the greeting carries no tap fd, or more than one");
        }
        let fd = fds.pop().ok_or("the greeting carries no tap fd")?;
        // The fd itself says how its frames look; only a descriptor that is no tap (a test's
        // socket pair) is taken at the greeting's word.
        let (hdr, tap) = match crate::sys::tun_get_flags(fd.as_fd()) {
            Ok((flags, _)) if flags & libc::IFF_TAP == 0 => {
                return Err("a tun device, not a tap: the switch forwards Ethernet frames")
            }
            Ok((_, hdr)) => (hdr, true),
            Err(_) => (usize::from(msg[4]), false),
        };
        if hdr != 0 && !(10..=HDR_MAX).contains(&hdr) {
            return Err("virtio-net header length outside 10..=32");
        }
        set_nonblocking(&fd).map_err(|_| "cannot make the tap fd non-blocking")?;
        let token = self.next_port;
        self.next_port += 1;
        epoll::add(&self.epoll, &fd, EventData::new_u64(token), EventFlags::IN)
            .map_err(|_| "cannot watch the tap fd (epoll)")?;
        self.ports.insert(
            token,
            Port {
                fd,
                hdr,
                tap,
                offloads: None,
            },
        );
        self.port_count.store(self.ports.len(), Ordering::Relaxed);
        self.set_offloads();
        Ok((token, hdr))
    }

    /// Offloads on for every vnet-header tap while all members have a vnet header, off for all
    /// otherwise: a member without one must never be sent a GSO or partial-checksum frame, and
    /// any member may be sending to it.
    fn set_offloads(&mut self) {
        let want = self.ports.values().all(|p| p.hdr > 0);
        for p in self.ports.values_mut() {
            if !p.tap || p.hdr == 0 || p.offloads == Some(want) {
                continue;
            }
            let ok = if want {
                crate::sys::tun_set_offload(p.fd.as_fd(), OFFLOADS | OFFLOADS_USO)
                    .or_else(|_| crate::sys::tun_set_offload(p.fd.as_fd(), OFFLOADS))
                    .is_ok()
            } else {
                crate::sys::tun_set_offload(p.fd.as_fd(), 0).is_ok()
            };
            // A tap that refuses stays as it was and is asked again at the next change.
            if ok {
                p.offloads = Some(want);
            }
        }
    }

    fn drop_port(&mut self, token: u64) {
        let Some(p) = self.ports.remove(&token) else {
            return;
        };
        let _ = epoll::delete(&self.epoll, &p.fd);
        self.macs.retain(|_, (t, _)| *t != token);
        self.port_count.store(self.ports.len(), Ordering::Relaxed);
        self.set_offloads();
        self.report(SwitchEvent::Left {
            port: token,
            members: self.ports.len(),
        });
    }

    fn forward_from(&mut self, token: u64, buf: &mut [u8], now: Instant) {
        let mut dead = Vec::new();
        for _ in 0..self.cfg.batch {
            let Some(src) = self.ports.get(&token) else {
                return;
            };
            let n = match rustix::io::read(&src.fd, &mut *buf) {
                Ok(n) => n,
                Err(Errno::AGAIN | Errno::INTR) => break,
                Err(_) => {
                    dead.push(token);
                    break;
                }
            };
            if n < src.hdr + 14 {
                continue;
            }
            let frame = Frame {
                raw: &buf[..n],
                hdr_len: src.hdr,
            };
            self.stats.frames.fetch_add(1, Ordering::Relaxed);
            if frame.gso() {
                self.stats.gso_frames.fetch_add(1, Ordering::Relaxed);
            }
            let mut dst = [0u8; 6];
            let mut smac = [0u8; 6];
            dst.copy_from_slice(&frame.eth()[..6]);
            smac.copy_from_slice(&frame.eth()[6..12]);
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
                        if send(p, &frame, &self.stats) {
                            dead.push(t);
                        }
                    }
                }
                None => {
                    for (t, p) in &self.ports {
                        if *t != token && send(p, &frame, &self.stats) {
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

/// One frame as read from a port: its virtio-net header (none from a plain member), then the
/// Ethernet frame.
struct Frame<'a> {
    raw: &'a [u8],
    hdr_len: usize,
}

impl Frame<'_> {
    fn hdr(&self) -> &[u8] {
        &self.raw[..self.hdr_len]
    }

    fn eth(&self) -> &[u8] {
        &self.raw[self.hdr_len..]
    }

    /// virtio_net_hdr.gso_type (byte 1) is set.
    fn gso(&self) -> bool {
        self.hdr().get(1).is_some_and(|t| *t != 0)
    }

    /// Needs a receiver that finishes offloads: a GSO segment or a partial checksum.
    fn offloaded(&self) -> bool {
        self.gso()
            || self
                .hdr()
                .first()
                .is_some_and(|f| f & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0)
    }
}

/// Writes one frame in the form `port` reads and writes: the header as it came when both sides
/// use the same length (the common case, one plain write), otherwise cut or padded with zeroes
/// (the fields past the first 10 bytes are receive-side only). A full queue drops the frame, as a
/// switch would. Returns true if the port is dead.
fn send(port: &Port, frame: &Frame<'_>, stats: &SwitchStats) -> bool {
    let r = if port.hdr == frame.hdr_len {
        rustix::io::write(&port.fd, frame.raw)
    } else if port.hdr == 0 {
        if frame.offloaded() {
            stats.dropped_offloaded.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        rustix::io::write(&port.fd, frame.eth())
    } else {
        let keep = frame.hdr_len.min(port.hdr);
        let iov = [
            IoSlice::new(&frame.hdr()[..keep]),
            IoSlice::new(&ZERO_HDR[..port.hdr - keep]),
            IoSlice::new(frame.eth()),
        ];
        rustix::io::writev(&port.fd, &iov)
    };
    match r {
        Ok(_) | Err(Errno::AGAIN | Errno::INTR | Errno::NOBUFS | Errno::INVAL) => false,
        Err(_) => true,
    }
}

/// `berth switch [--socket PATH]`: binds and serves until the process is killed, sending
/// member events to `events`.
pub fn run_switch(cfg: SwitchConfig, events: EventSink) -> Result<(), SwitchError> {
    let mut switch = Switch::bind(cfg)?;
    switch.on_event(events);
    switch.run(None)
}

#[cfg(test)]
mod tests;
