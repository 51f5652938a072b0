//! Member side of the tap switch (what containode does): a tap device inside the container's
//! network namespace, configured there, whose fd is posted to the switch's unix socket.
//!
//! Owns the tap device it creates and the short unix connection to the switch. After posting, the
//! switch holds the only fd, so the device lives until [`detach_tap`] deletes it, the container's
//! namespace ends, or the switch exits. The tap is opened in the caller's namespace and moved in,
//! so the switch's fd does not pin the container's namespace.
//!
//! Protocol: one unix stream connection per member; the member sends `BSW1` and one byte, the
//! length of the virtio-net header on its frames (10, or 0 for a plain tap), with the tap fd
//! attached (SCM_RIGHTS); the switch answers `OK` or `NO`. For a real tap fd the switch trusts the
//! fd (TUNGETIFF) over the byte. The switch, not the member, turns the tap's offloads on or off.

use std::fs::OpenOptions;
use std::io::Read;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipnet::Ipv4Net;

use crate::attach::Netns;
use crate::netlink::{Netlink, NetlinkError};
use crate::sys;

/// Size of `struct virtio_net_hdr` that prefixes every frame on berth's taps.
pub const VNET_HDR_LEN: usize = 10;
/// Greeting a member sends with its tap fd: magic, then the vnet header length.
pub(crate) const HELLO: &[u8; 4] = b"BSW1";

/// Errors of the member side.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error("open network namespace {path}: {source}")]
    OpenNetns {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("open /dev/net/tun: {0}")]
    OpenTun(std::io::Error),
    #[error("create tap {name}: {source}")]
    CreateTap {
        name: String,
        source: std::io::Error,
    },
    #[error("connect to switch {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("post tap fd to switch {path}: {source}")]
    Post {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("switch {path} refused the tap")]
    Refused { path: PathBuf },
}

/// What `run --net switch:PATH [--ip ADDR/PREFIX]` asks for.
#[derive(Debug, Clone)]
pub struct TapRequest<'a> {
    pub netns: Netns<'a>,
    /// The switch's socket.
    pub socket: &'a Path,
    /// Interface name inside the container.
    pub ifname: &'a str,
    /// Address with prefix; none means the container configures itself (as containode's -4 omitted).
    pub address: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub mtu: Option<u32>,
    /// Open the tap with `IFF_VNET_HDR` (berth's default), so the switch can carry 64 KiB GSO
    /// frames; false makes a plain tap, as a containode-style member has.
    pub vnet_hdr: bool,
}

/// Opens a tap called `name` in the calling thread's namespace, with a virtio-net header on its
/// frames when `vnet_hdr`. Its offloads stay off until the switch turns them on.
fn create_tap(name: &str, vnet_hdr: bool) -> Result<OwnedFd, TapError> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/net/tun")
        .map_err(TapError::OpenTun)?;
    let fd = OwnedFd::from(f);
    let err = |source| TapError::CreateTap {
        name: name.into(),
        source,
    };
    let vnet = if vnet_hdr { libc::IFF_VNET_HDR } else { 0 };
    sys::tun_set_iff(fd.as_fd(), name, libc::IFF_TAP | libc::IFF_NO_PI | vnet).map_err(err)?;
    Ok(fd)
}

/// Creates the tap in the container's namespace, configures it and posts its fd to the switch.
pub fn attach_tap(req: &TapRequest<'_>) -> Result<(), TapError> {
    let ns = req
        .netns
        .open()
        .map_err(|(path, source)| TapError::OpenNetns { path, source })?;
    let netns = ns.fd();
    // The tap is opened here, in the caller's namespace, and then moved: a tun fd pins the
    // namespace it was opened in, and the switch holding it must not keep a dead container's
    // namespace (and with it the device) alive.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let unique = format!(
        "{}\0{}\0{:?}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
    );
    let tmp = format!("bt{}", &crate::short_hash(&unique)[..12]);
    let tap = create_tap(&tmp, req.vnet_hdr)?;
    Netlink::new()?.move_link(&tmp, netns, req.ifname)?;
    let mut nl = Netlink::in_netns(netns)?;
    let mut configure = || -> Result<(), TapError> {
        let idx = nl
            .link_index(req.ifname)?
            .ok_or_else(|| NetlinkError::NoLink(req.ifname.into()))?;
        if let Some(a) = req.address {
            nl.add_address(idx, a.addr(), a.prefix_len())?;
        }
        nl.set_link(idx, req.ifname, req.mtu, true)?;
        nl.link_up("lo")?;
        if let Some(gw) = req.gateway {
            nl.add_default_route(idx, gw)?;
        }
        let hdr = if req.vnet_hdr { VNET_HDR_LEN as u8 } else { 0 };
        post(req.socket, tap.as_fd(), hdr)
    };
    let r = configure();
    if r.is_err() {
        // Dropping our fd deletes the (non-persistent) tap: nothing is left behind.
        drop(tap);
    }
    r
}

/// Posts `tap`, whose frames carry a `hdr_len`-byte virtio-net header, to the switch.
pub(crate) fn post(socket: &Path, tap: BorrowedFd<'_>, hdr_len: u8) -> Result<(), TapError> {
    let perr = |source| TapError::Post {
        path: socket.into(),
        source,
    };
    let mut s = UnixStream::connect(socket).map_err(|source| TapError::Connect {
        path: socket.into(),
        source,
    })?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(perr)?;
    let msg = [HELLO[0], HELLO[1], HELLO[2], HELLO[3], hdr_len];
    berth_common::fdpass::send_fds(s.as_fd(), &msg, &[tap.as_fd()]).map_err(|e| perr(e.into()))?;
    let mut ack = [0u8; 2];
    s.read_exact(&mut ack).map_err(perr)?;
    if &ack != b"OK" {
        return Err(TapError::Refused {
            path: socket.into(),
        });
    }
    Ok(())
}

/// Deletes the member's tap (the switch notices and drops the port). No error if it is gone.
pub fn detach_tap(netns: Netns<'_>, ifname: &str) -> Result<(), TapError> {
    let ns = netns
        .open()
        .map_err(|(path, source)| TapError::OpenNetns { path, source })?;
    Netlink::in_netns(ns.fd())?.delete_link(ifname)?;
    Ok(())
}
