//! The few rtnetlink requests the runtime makes (linux.netDevices), written by hand over a
//! rustix socket: the people face's netlink crates stay out of the lean `berth` binary
//! (docs/ARCHITECTURE.md). A message is a header, one fixed struct and attributes; a reply
//! is read until the kernel's ack (or, for a dump, its end).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{self, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

const HEADER: usize = 16;

/// A NETLINK_ROUTE socket, bound to the network namespace it was opened in.
pub struct Route(OwnedFd);

impl Route {
    /// A socket in the caller's network namespace.
    pub fn open() -> io::Result<Route> {
        let fd = net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok(Route(fd))
    }

    /// A socket in the network namespace `netns` refers to: this thread enters it, opens
    /// the socket (bound to that namespace for good) and goes back to its own. No thread is
    /// spawned for it: berth stays single-threaded, and std's thread code cost 66 KB of
    /// `berth`'s text, more than twice all of netDevices and memoryPolicy (24 KB).
    pub fn open_in(netns: BorrowedFd<'_>) -> io::Result<Route> {
        use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};
        let own = std::fs::File::open("/proc/thread-self/ns/net")?;
        move_into_link_name_space(netns, Some(LinkNameSpaceType::Network))?;
        let sock = Route::open();
        move_into_link_name_space(own.as_fd(), Some(LinkNameSpaceType::Network))
            .map_err(|e| io::Error::other(format!("return to berth's network namespace: {e}")))?;
        sock
    }

    /// Sends `msg` and returns the kernel's replies (type and payload after the header):
    /// a request's answer up to its ack, or a dump's parts up to its end. An error reply
    /// is returned as that errno.
    pub fn exchange(&self, msg: &Message) -> io::Result<Vec<(u16, Vec<u8>)>> {
        net::send(self.0.as_fd(), &msg.0, SendFlags::empty())?;
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (n, _) = net::recv(self.0.as_fd(), &mut buf[..], RecvFlags::empty())?;
            let mut rest = &buf[..n];
            while rest.len() >= HEADER {
                let len = (u32_at(rest, 0) as usize).clamp(HEADER, rest.len());
                let typ = u16::from_ne_bytes([rest[4], rest[5]]);
                let body = &rest[HEADER..len];
                match typ as i32 {
                    libc::NLMSG_ERROR => {
                        let code = body.get(..4).map_or(0, |b| u32_at(b, 0) as i32);
                        if code != 0 {
                            return Err(io::Error::from_raw_os_error(-code));
                        }
                        return Ok(replies);
                    }
                    libc::NLMSG_DONE => return Ok(replies),
                    _ => replies.push((typ, body.to_vec())),
                }
                rest = &rest[align(len).min(rest.len())..];
            }
        }
    }
}

/// One request: header, the family's fixed struct, then attributes.
pub struct Message(Vec<u8>);

impl Message {
    /// A request of `typ` with NLM_F_REQUEST and `flags` (NLM_F_ACK for a request the
    /// caller waits on; NLM_F_DUMP for a dump, which ends with NLMSG_DONE instead).
    pub fn new(typ: u16, flags: i32, fixed: &[u8]) -> Message {
        let mut b = Vec::with_capacity(128);
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&typ.to_ne_bytes());
        b.extend_from_slice(&((libc::NLM_F_REQUEST | flags) as u16).to_ne_bytes());
        b.extend_from_slice(&1u32.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(fixed);
        let mut m = Message(b);
        m.pad_and_set_len();
        m
    }

    pub fn attr(mut self, typ: u16, data: &[u8]) -> Message {
        self.0
            .extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.0.extend_from_slice(&typ.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.pad_and_set_len();
        self
    }

    fn pad_and_set_len(&mut self) {
        self.0.resize(align(self.0.len()), 0);
        let len = (self.0.len() as u32).to_ne_bytes();
        self.0[..4].copy_from_slice(&len);
    }
}

/// struct ifinfomsg: family, type, index, flags, the flags to change.
pub fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

/// The interface index of an RTM_NEWLINK reply.
pub fn ifinfo_index(body: &[u8]) -> Option<i32> {
    Some(u32_at(body.get(..8)?, 4) as i32)
}

/// The attributes after a reply's fixed struct of `fixed` bytes: (type, payload).
pub fn attrs(body: &[u8], fixed: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut rest = body.get(fixed..).unwrap_or_default();
    while rest.len() >= 4 {
        let len = (u16::from_ne_bytes([rest[0], rest[1]]) as usize).clamp(4, rest.len());
        // NLA_F_NESTED and NLA_F_NET_BYTEORDER live in the type's top bits.
        let typ = u16::from_ne_bytes([rest[2], rest[3]]) & 0x3fff;
        out.push((typ, &rest[4..len]));
        rest = &rest[align(len).min(rest.len())..];
    }
    out
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
