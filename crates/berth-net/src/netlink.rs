//! Synchronous rtnetlink: links, addresses and routes, in the host or in another network namespace.
//!
//! Owns the NETLINK_ROUTE sockets it opens. A socket stays bound to the namespace it was created
//! in, so [`Netlink::in_netns`] creates one on a short-lived thread that entered the target
//! namespace (setns(CLONE_NEWNET) affects only that thread) and hands it back; every request
//! afterwards runs on the caller's thread. Requests that find their work already done (EEXIST on
//! create, ENODEV on delete) succeed, so callers can repeat them after a crash.

use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Errors of netlink requests.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("open netlink socket: {0}")]
    Socket(std::io::Error),
    #[error("enter network namespace (fd {fd}): {source}")]
    Setns { fd: i32, source: rustix::io::Errno },
    #[error("netlink namespace thread panicked")]
    Thread,
    #[error("{step}: {source}")]
    Request {
        step: String,
        source: std::io::Error,
    },
    #[error("{step}: malformed netlink reply: {reason}")]
    Decode { step: String, reason: String },
    #[error("link {0:?} not found")]
    NoLink(String),
}

/// One NETLINK_ROUTE socket, bound to the namespace it was opened in.
pub struct Netlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn new() -> Result<Self, NetlinkError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
        sock.bind_auto().map_err(NetlinkError::Socket)?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(NetlinkError::Socket)?;
        Ok(Self {
            sock,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// A socket in the network namespace `netns` (an fd of `/proc/<pid>/ns/net` or a bind mount).
    pub fn in_netns(netns: BorrowedFd<'_>) -> Result<Self, NetlinkError> {
        in_netns(netns, Self::new)?
    }

    fn request(
        &mut self,
        step: impl Into<String>,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        let step = step.into();
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        nl.finalize();
        let mut out = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut out);
        self.sock
            .send(&out, 0)
            .map_err(|source| NetlinkError::Request {
                step: step.clone(),
                source,
            })?;
        let mut replies = Vec::new();
        loop {
            let mut b = &mut self.buf[..];
            let n = self
                .sock
                .recv(&mut b, 0)
                .map_err(|source| NetlinkError::Request {
                    step: step.clone(),
                    source,
                })?;
            let mut off = 0;
            while off < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..n])
                    .map_err(|e| NetlinkError::Decode {
                        step: step.clone(),
                        reason: e.to_string(),
                    })?;
                let len = msg.header.length as usize;
                if len == 0 {
                    return Err(NetlinkError::Decode {
                        step,
                        reason: "zero-length message".into(),
                    });
                }
                off += (len + 3) & !3;
                if msg.header.sequence_number != self.seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(_) => Err(NetlinkError::Request {
                                step,
                                source: e.to_io(),
                            }),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
            }
        }
    }

    /// Index of the link called `name`, if it exists.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>, NetlinkError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        match self.request(
            format!("look up link {name}"),
            RouteNetlinkMessage::GetLink(m),
            0,
        ) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(NetlinkError::Request { source, .. }) if errno(&source) == libc::ENODEV => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn require_index(&mut self, name: &str) -> Result<u32, NetlinkError> {
        self.link_index(name)?
            .ok_or_else(|| NetlinkError::NoLink(name.into()))
    }

    /// Creates bridge `name` unless it exists, sets its MTU and brings it up; returns its index.
    pub fn ensure_bridge(&mut self, name: &str, mtu: u32) -> Result<u32, NetlinkError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        // A bridge without its own address takes its lowest port's, which changes as containers
        // come and go and leaves stale gateway entries in their ARP caches; give it a fixed one.
        m.attributes
            .push(LinkAttribute::Address(stable_mac(name).to_vec()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        match self.request(
            format!("create bridge {name}"),
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => {}
            Err(NetlinkError::Request { source, .. }) if errno(&source) == libc::EEXIST => {}
            Err(e) => return Err(e),
        }
        let idx = self.require_index(name)?;
        self.set_link(idx, name, Some(mtu), true)?;
        Ok(idx)
    }

    /// Sets MTU (when given) and the up flag of link `index`.
    pub fn set_link(
        &mut self,
        index: u32,
        name: &str,
        mtu: Option<u32>,
        up: bool,
    ) -> Result<(), NetlinkError> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.change_mask = LinkFlags::Up;
        if up {
            m.header.flags = LinkFlags::Up;
        }
        if let Some(mtu) = mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        self.request(
            format!("set link {name} mtu {mtu:?} up={up}"),
            RouteNetlinkMessage::SetLink(m),
            0,
        )?;
        Ok(())
    }

    /// Brings link `name` up.
    pub fn link_up(&mut self, name: &str) -> Result<(), NetlinkError> {
        let idx = self.require_index(name)?;
        self.set_link(idx, name, None, true)
    }

    /// Adds `ip/prefix` to link `index` (no error if already there).
    pub fn add_address(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(ip.into()));
        m.attributes.push(AddressAttribute::Address(ip.into()));
        let bcast =
            Ipv4Addr::from(u32::from(ip) | (u32::MAX.checked_shr(prefix.into()).unwrap_or(0)));
        m.attributes.push(AddressAttribute::Broadcast(bcast));
        match self.request(
            format!("add address {ip}/{prefix} to link {index}"),
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(NetlinkError::Request { source, .. }) if errno(&source) == libc::EEXIST => Ok(()),
            r => r.map(drop),
        }
    }

    /// Creates a veth pair: `host` here (enslaved to `master`, up), `peer` created directly in the
    /// namespace `peer_netns`. Both get `mtu`. Fails with EEXIST if either name is taken.
    pub fn create_veth(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        peer_netns: BorrowedFd<'_>,
        mtu: u32,
    ) -> Result<(), NetlinkError> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.into()));
        p.attributes.push(LinkAttribute::Mtu(mtu));
        p.attributes
            .push(LinkAttribute::NetNsFd(peer_netns.as_raw_fd()));
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(host.into()));
        m.attributes.push(LinkAttribute::Mtu(mtu));
        m.attributes.push(LinkAttribute::Controller(master));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.request(
            format!(
                "create veth {host} (peer {peer} in netns fd {})",
                peer_netns.as_raw_fd()
            ),
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// Moves link `name` into the namespace `netns`, renaming it `new_name` there.
    pub fn move_link(
        &mut self,
        name: &str,
        netns: BorrowedFd<'_>,
        new_name: &str,
    ) -> Result<(), NetlinkError> {
        let idx = self.require_index(name)?;
        let mut m = LinkMessage::default();
        m.header.index = idx;
        m.attributes.push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        m.attributes.push(LinkAttribute::IfName(new_name.into()));
        self.request(
            format!(
                "move link {name} into netns fd {} as {new_name}",
                netns.as_raw_fd()
            ),
            RouteNetlinkMessage::SetLink(m),
            0,
        )?;
        Ok(())
    }

    /// Deletes link `name`; returns false if it did not exist.
    pub fn delete_link(&mut self, name: &str) -> Result<bool, NetlinkError> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        match self.request(
            format!("delete link {name}"),
            RouteNetlinkMessage::DelLink(m),
            0,
        ) {
            Ok(_) => Ok(true),
            Err(NetlinkError::Request { source, .. }) if errno(&source) == libc::ENODEV => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Adds the default route via `gateway` out of link `index` (no error if already there).
    pub fn add_default_route(&mut self, index: u32, gateway: Ipv4Addr) -> Result<(), NetlinkError> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Static;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        m.attributes.push(RouteAttribute::Oif(index));
        match self.request(
            format!("add default route via {gateway}"),
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(NetlinkError::Request { source, .. }) if errno(&source) == libc::EEXIST => Ok(()),
            r => r.map(drop),
        }
    }
}

/// A locally administered unicast MAC derived from `name`.
pub fn stable_mac(name: &str) -> [u8; 6] {
    let h = crate::short_hash(name);
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        // short_hash is 16 hex digits, so every pair parses.
        *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap_or(0);
    }
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// Runs `f` on a short-lived thread that has entered the network namespace `netns`.
/// Whatever `f` creates there (sockets, tap fds) stays in that namespace after the thread ends.
pub fn in_netns<T: Send + 'static>(
    netns: BorrowedFd<'_>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NetlinkError> {
    let fd: OwnedFd = netns.try_clone_to_owned().map_err(NetlinkError::Socket)?;
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            fd.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|source| NetlinkError::Setns {
            fd: fd.as_raw_fd(),
            source,
        })?;
        Ok(f())
    })
    .join()
    .map_err(|_| NetlinkError::Thread)?
}
