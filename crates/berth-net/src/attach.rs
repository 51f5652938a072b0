//! Attaching containers to bridge networks and taking them off again.
//!
//! Orchestrates the other modules: for one container on one network it owns the veth pair (host
//! end `vb<digest>` on the network's bridge, peer inside the container's namespace), the lease and
//! the container's port rules. Each public function is one CLI step; each is idempotent, so a retry
//! after a crash or a failed create finishes the job instead of failing on leftovers.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ipam::{Ipam, IpamError, Lease};
use crate::netlink::{Netlink, NetlinkError};
use crate::nft::{self, NftError, PortMapping};
use crate::store::{self, Network, NetworkStore, StoreError};

/// Errors of attach/detach.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ipam(#[from] IpamError),
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    #[error(transparent)]
    Nft(#[from] NftError),
    #[error("open network namespace {path}: {source}")]
    OpenNetns {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid container id {0:?}")]
    InvalidId(String),
    #[error("invalid interface name {0:?}: 1-15 characters, no '/' or whitespace")]
    InvalidIfname(String),
    #[error("lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("network {network:?} still has containers attached: {ids:?}")]
    NetworkInUse { network: String, ids: Vec<String> },
    #[error("network {0:?} is the default network and cannot be removed")]
    DefaultNetwork(String),
}

/// A container's network namespace: a path (`/proc/<pid>/ns/net`, `/run/netns/NAME`) or an open fd.
#[derive(Debug, Clone, Copy)]
pub enum Netns<'a> {
    Path(&'a Path),
    Fd(BorrowedFd<'a>),
}

/// An open namespace fd: ours when opened from a path, the caller's otherwise.
pub(crate) enum NsFd<'a> {
    Owned(File),
    Borrowed(BorrowedFd<'a>),
}

impl NsFd<'_> {
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            NsFd::Owned(f) => f.as_fd(),
            NsFd::Borrowed(b) => *b,
        }
    }
}

impl<'a> Netns<'a> {
    pub(crate) fn open(self) -> Result<NsFd<'a>, (PathBuf, std::io::Error)> {
        match self {
            Netns::Fd(fd) => Ok(NsFd::Borrowed(fd)),
            Netns::Path(p) => File::open(p)
                .map(NsFd::Owned)
                .map_err(|e| (p.to_path_buf(), e)),
        }
    }
}

/// What `run --net bridge:NAME [--ip IP] [-p ...]` or `network connect` asks for.
#[derive(Debug, Clone)]
pub struct AttachRequest<'a> {
    pub container_id: &'a str,
    pub netns: Netns<'a>,
    /// Fixed address; the lowest free one when `None`.
    pub ip: Option<Ipv4Addr>,
    pub ports: &'a [PortMapping],
    /// Interface name inside the container (`eth0` for the first network).
    pub ifname: &'a str,
}

/// What was set up; enough for the runtime to write /etc/hosts and for `inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
    pub host_ifname: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    pub mtu: u32,
    pub ports: Vec<PortMapping>,
}

/// `network inspect`: the definition and who holds which address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInspect {
    #[serde(flatten)]
    pub network: Network,
    pub leases: BTreeMap<String, Lease>,
}

/// Host end of the container's veth on `net`: stable, so detach finds it without a record.
pub fn host_ifname(net: &Network, container_id: &str) -> String {
    let h = crate::short_hash(&format!("{}\0{container_id}", net.bridge));
    format!("vb{}", &h[..12])
}

fn nft_lock(store: &NetworkStore) -> Result<File, AttachError> {
    let path = store.root().join(".nft.lock");
    std::fs::create_dir_all(store.root())
        .and_then(|()| store::lock_file(&path))
        .map_err(|source| AttachError::Lock { path, source })
}

/// Makes the bridge (with the gateway address) and the network's NAT rules exist.
fn ensure_network(store: &NetworkStore, net: &Network) -> Result<u32, AttachError> {
    let mut nl = Netlink::new()?;
    let idx = nl.ensure_bridge(&net.bridge, net.mtu)?;
    nl.add_address(idx, net.gateway, net.subnet.prefix_len())?;
    // route_localnet is set last by apply_network, so it marks a bridge whose rules are in place;
    // checking it costs a file read where asking nft costs a process.
    if !nft::network_applied(net) {
        let _g = nft_lock(store)?;
        nft::apply_network(net)?;
    }
    Ok(idx)
}

/// Attaches a running container to network `network` (created lazily if it is the default one):
/// veth pair, address, MTU, default route, lo up, published ports. Retrying is safe.
pub fn attach(
    store: &NetworkStore,
    network: &str,
    req: &AttachRequest<'_>,
) -> Result<Attachment, AttachError> {
    if !berth_common::id::is_valid(req.container_id) {
        return Err(AttachError::InvalidId(req.container_id.into()));
    }
    if req.ifname.is_empty() || req.ifname.len() > 15 || req.ifname.contains(['/', ' ', '\t', '\n'])
    {
        return Err(AttachError::InvalidIfname(req.ifname.into()));
    }
    let net = store.get(network)?;
    store.mark_attached(req.container_id)?;
    let ns = req
        .netns
        .open()
        .map_err(|(path, source)| AttachError::OpenNetns { path, source })?;
    let netns = ns.fd();
    let bridge = ensure_network(store, &net)?;
    let ipam = Ipam::new(store, &net);
    let lease = ipam.allocate(req.container_id, req.ip)?;
    match setup(store, &net, &ipam, bridge, netns, req, lease) {
        Ok(a) => Ok(a),
        Err(e) => {
            // Leave nothing behind; the original error is the one worth reporting.
            let _ = detach(store, network, req.container_id);
            Err(e)
        }
    }
}

fn setup(
    store: &NetworkStore,
    net: &Network,
    ipam: &Ipam,
    bridge: u32,
    netns: BorrowedFd<'_>,
    req: &AttachRequest<'_>,
    mut lease: Lease,
) -> Result<Attachment, AttachError> {
    let host = host_ifname(net, req.container_id);
    lease.host_ifname = host.clone();
    // A retried attach may hold rules for other ports; they go even when it now asks for none.
    let had_ports = !lease.ports.is_empty();
    lease.ports = req.ports.to_vec();
    // Record the link before it exists so a crash from here on is still cleaned up by detach.
    ipam.update(req.container_id, &lease)?;
    let mut nl = Netlink::new()?;
    nl.delete_link(&host)?;
    nl.create_veth(&host, bridge, req.ifname, netns, net.mtu)?;
    let mut inner = Netlink::in_netns(netns)?;
    let idx = inner
        .link_index(req.ifname)?
        .ok_or_else(|| NetlinkError::NoLink(req.ifname.into()))?;
    let prefix = net.subnet.prefix_len();
    inner.add_address(idx, lease.ip, prefix)?;
    inner.set_link(idx, req.ifname, Some(net.mtu), true)?;
    inner.link_up("lo")?;
    inner.add_default_route(idx, net.gateway)?;
    if !req.ports.is_empty() || had_ports {
        let _g = nft_lock(store)?;
        nft::apply_ports(net, req.container_id, lease.ip, req.ports)?;
    }
    Ok(Attachment {
        network: net.name.clone(),
        container_id: req.container_id.into(),
        ifname: req.ifname.into(),
        host_ifname: host,
        ip: lease.ip,
        prefix_len: prefix,
        gateway: net.gateway,
        mtu: net.mtu,
        ports: lease.ports,
    })
}

/// Whether the namespace has an interface called `name`.
pub fn has_link(netns: Netns<'_>, name: &str) -> Result<bool, AttachError> {
    let ns = netns
        .open()
        .map_err(|(path, source)| AttachError::OpenNetns { path, source })?;
    Ok(Netlink::in_netns(ns.fd())?.link_index(name)?.is_some())
}

/// The first `ethN` (from eth0) the namespace does not have: the interface name of a
/// `network connect` that names none.
pub fn free_ifname(netns: Netns<'_>) -> Result<String, AttachError> {
    let ns = netns
        .open()
        .map_err(|(path, source)| AttachError::OpenNetns { path, source })?;
    let mut nl = Netlink::in_netns(ns.fd())?;
    for n in 0.. {
        let name = format!("eth{n}");
        if nl.link_index(&name)?.is_none() {
            return Ok(name);
        }
    }
    unreachable!("some ethN is free")
}

/// Takes the container off `network`: deletes its veth, its port rules and its lease. Does nothing
/// for what is already gone (also when the network itself is gone), so it can run after a crash.
pub fn detach(store: &NetworkStore, network: &str, container_id: &str) -> Result<(), AttachError> {
    let net = match store.get(network) {
        Ok(n) => n,
        Err(StoreError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let ipam = Ipam::new(store, &net);
    let mut nl = Netlink::new()?;
    // Deleting one end of a veth deletes its peer in the container as well.
    nl.delete_link(&host_ifname(&net, container_id))?;
    let lease = ipam.get(container_id)?;
    if let Some(l) = &lease {
        if !l.host_ifname.is_empty() {
            nl.delete_link(&l.host_ifname)?;
        }
    }
    // Port rules exist only for ports recorded in the lease (setup records them before adding
    // rules, and the lease goes only after its rules), so a lease without ports, or none, spares
    // the `nft` process.
    if lease.is_some_and(|l| !l.ports.is_empty()) {
        let _g = nft_lock(store)?;
        nft::remove_tagged(&[&nft::container_tag(&net, container_id)])?;
    }
    ipam.release(container_id)?;
    Ok(())
}

/// Detaches the container from every network it holds a lease on (the release hook at
/// container delete, failed create, crash cleanup). One stat when it never joined a network.
pub fn detach_all(store: &NetworkStore, container_id: &str) -> Result<(), AttachError> {
    if !store::has_attachments(store.root(), container_id) {
        return Ok(());
    }
    for net in store.list()? {
        if Ipam::new(store, &net).get(container_id)?.is_some() {
            detach(store, &net.name, container_id)?;
        }
    }
    Ok(store.clear_attached(container_id)?)
}

/// `network inspect NAME`.
pub fn inspect(store: &NetworkStore, network: &str) -> Result<NetworkInspect, AttachError> {
    let net = store.get(network)?;
    let leases = Ipam::new(store, &net).leases()?;
    Ok(NetworkInspect {
        network: net,
        leases,
    })
}

/// `network rm NAME`: refuses while containers hold leases; deletes the bridge, the network's NAT
/// rules and its definition.
pub fn remove_network(store: &NetworkStore, network: &str) -> Result<(), AttachError> {
    if network == store::DEFAULT_NETWORK {
        return Err(AttachError::DefaultNetwork(network.into()));
    }
    let net = store.get(network)?;
    let ids: Vec<String> = Ipam::new(store, &net).leases()?.into_keys().collect();
    if !ids.is_empty() {
        return Err(AttachError::NetworkInUse {
            network: network.into(),
            ids,
        });
    }
    Netlink::new()?.delete_link(&net.bridge)?;
    {
        let _g = nft_lock(store)?;
        nft::remove_tagged(&[&nft::network_tag(&net)])?;
    }
    store.remove_definition(network)?;
    Ok(())
}
