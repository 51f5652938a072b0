//! Network definitions persisted under a root directory (default `/var/lib/berth/networks`).
//!
//! Owns `<root>/<name>/network.json` and the store-wide lock `<root>/.lock`. Leases inside a
//! network's directory belong to [`crate::ipam`]; links and rules belong to [`mod@crate::attach`].
//! The default network [`DEFAULT_NETWORK`] is written lazily the first time it is asked for.

use berth_common::io::{IoError, Step};
use std::fs::{self, File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_common::fs::Durability;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Name of the network that exists without setup.
pub const DEFAULT_NETWORK: &str = "bridge";
/// Bridge device of the default network.
pub const DEFAULT_BRIDGE: &str = "berth0";
/// Subnet of the default network. Not podman's 10.88.0.0/16 (nor its 10.89.N.0/24 for created
/// networks), nor Docker's 172.17-31, so berth can run beside them on one host.
pub const DEFAULT_SUBNET: &str = "10.87.0.0/16";
/// Where networks live unless the caller says otherwise.
pub const DEFAULT_ROOT: &str = "/var/lib/berth/networks";
/// Directory of attachment markers: `<root>/.attached/<container id>` exists from the moment a
/// container starts to attach to any network until it is detached from all of them.
const ATTACHED_DIR: &str = ".attached";

/// Whether `container_id` may hold a veth, lease or port rule on a network of the store at
/// `root`. One stat, so deleting a container that never joined a network costs nothing more
/// (and the runtime face can ask without loading any network).
pub fn has_attachments(root: &Path, container_id: &str) -> bool {
    attachment_marker(root, container_id).exists()
}

/// The attachment marker of `container_id` in the store at `root` (see [`has_attachments`]).
pub fn attachment_marker(root: &Path, container_id: &str) -> PathBuf {
    root.join(ATTACHED_DIR).join(container_id)
}

/// MTU used when none is given.
pub const DEFAULT_MTU: u32 = 1500;

/// Errors of the network store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid network name {0:?}: use 1-32 of [A-Za-z0-9_.-], not starting with '.'")]
    InvalidName(String),
    #[error("network {0:?} already exists")]
    Exists(String),
    #[error("network {0:?} not found")]
    NotFound(String),
    #[error("invalid subnet {value:?}: {reason}")]
    InvalidSubnet { value: String, reason: String },
    #[error("gateway {gateway} is not a usable host address of subnet {subnet}")]
    InvalidGateway { gateway: Ipv4Addr, subnet: Ipv4Net },
    #[error("subnet {subnet} of network {name:?} overlaps network {other:?} ({other_subnet})")]
    Overlap {
        name: String,
        subnet: Ipv4Net,
        other: String,
        other_subnet: Ipv4Net,
    },
    #[error("invalid MTU {0}: must be 68..=65535")]
    InvalidMtu(u32),
    #[error("no free subnet left for network {0:?}: give --subnet")]
    NoFreeSubnet(String),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("parse {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// What a caller asks for when creating a network; unset fields get defaults.
#[derive(Debug, Clone, Default)]
pub struct NetworkSpec {
    pub name: String,
    /// IPv4 subnet in CIDR form; a free 10.86.N.0/24 is picked when `None`.
    pub subnet: Option<String>,
    /// Gateway (the bridge's own address); the first host of the subnet when `None`.
    pub gateway: Option<Ipv4Addr>,
    pub mtu: Option<u32>,
    /// Outbound masquerade for traffic leaving the subnet.
    pub nat: bool,
    /// Bridge device name; derived from the name when `None`.
    pub bridge: Option<String>,
}

/// A persisted network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub bridge: String,
    pub mtu: u32,
    pub nat: bool,
}

/// Networks under one root directory.
#[derive(Debug, Clone)]
pub struct NetworkStore {
    root: PathBuf,
}

impl Default for NetworkStore {
    fn default() -> Self {
        Self::new(DEFAULT_ROOT)
    }
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Replaces `path` with `data`, durably (`berth_common::fs::write_atomic`).
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    berth_common::fs::write_atomic(path, data, None, Durability::PowerLoss).map_err(Into::into)
}

/// As [`write_atomic`], without waiting for the disk: for files that describe only what lives
/// until the next boot (leases, a container's /etc files).
pub(crate) fn replace_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    berth_common::fs::write_atomic(path, data, None, Durability::Crash).map_err(Into::into)
}

/// Takes an exclusive flock on `path` (created if missing); released when the returned file
/// closes (it is close-on-exec, so no child keeps it).
pub(crate) fn lock_file(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(f)
}

impl NetworkStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn net_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn ensure_root(&self) -> Result<(), StoreError> {
        Ok(fs::create_dir_all(&self.root).step("create store root", &self.root)?)
    }

    fn lock(&self) -> Result<File, StoreError> {
        self.ensure_root()?;
        let p = self.root.join(".lock");
        Ok(lock_file(&p).step("lock store", &p)?)
    }

    fn read(&self, name: &str) -> Result<Option<Network>, StoreError> {
        let p = self.net_dir(name).join("network.json");
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|source| StoreError::Parse { path: p, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IoError::new("read network", &p, e).into()),
        }
    }

    fn write(&self, net: &Network) -> Result<(), StoreError> {
        let dir = self.net_dir(&net.name);
        fs::create_dir_all(&dir).step("create network dir", &dir)?;
        let p = dir.join("network.json");
        // Serializing plain owned data cannot fail.
        let data = serde_json::to_vec_pretty(net).expect("Network serializes");
        Ok(write_atomic(&p, &data).step("write network", &p)?)
    }

    fn list_unlocked(&self) -> Result<Vec<Network>, StoreError> {
        let mut out = Vec::new();
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(IoError::new("list store", &self.root, e).into()),
        };
        for ent in rd {
            let ent = ent.step("list store", &self.root)?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if !valid_name(&name) {
                continue;
            }
            if let Some(n) = self.read(&name)? {
                out.push(n);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn default_network() -> Network {
        // The constant is a valid CIDR.
        let subnet: Ipv4Net = DEFAULT_SUBNET.parse().expect("default subnet parses");
        Network {
            name: DEFAULT_NETWORK.into(),
            subnet,
            gateway: first_host(subnet),
            bridge: DEFAULT_BRIDGE.into(),
            mtu: DEFAULT_MTU,
            nat: true,
        }
    }

    fn ensure_default_locked(&self) -> Result<Network, StoreError> {
        match self.read(DEFAULT_NETWORK)? {
            Some(n) => Ok(n),
            None => {
                let n = Self::default_network();
                self.write(&n)?;
                Ok(n)
            }
        }
    }

    /// Creates and persists a network definition (no links are made until first attach).
    pub fn create(&self, spec: &NetworkSpec) -> Result<Network, StoreError> {
        if !valid_name(&spec.name) {
            return Err(StoreError::InvalidName(spec.name.clone()));
        }
        let mtu = spec.mtu.unwrap_or(DEFAULT_MTU);
        if !(68..=65535).contains(&mtu) {
            return Err(StoreError::InvalidMtu(mtu));
        }
        let _g = self.lock()?;
        self.ensure_default_locked()?;
        if self.read(&spec.name)?.is_some() {
            return Err(StoreError::Exists(spec.name.clone()));
        }
        let existing = self.list_unlocked()?;
        let subnet = match &spec.subnet {
            Some(s) => parse_subnet(s)?,
            None => {
                pick_subnet(&existing).ok_or_else(|| StoreError::NoFreeSubnet(spec.name.clone()))?
            }
        };
        for o in &existing {
            if o.subnet.contains(&subnet.network()) || subnet.contains(&o.subnet.network()) {
                return Err(StoreError::Overlap {
                    name: spec.name.clone(),
                    subnet,
                    other: o.name.clone(),
                    other_subnet: o.subnet,
                });
            }
        }
        let gateway = spec.gateway.unwrap_or_else(|| first_host(subnet));
        if !is_host(subnet, gateway) {
            return Err(StoreError::InvalidGateway { gateway, subnet });
        }
        let bridge = spec
            .bridge
            .clone()
            .unwrap_or_else(|| bridge_name(&spec.name, &existing));
        let net = Network {
            name: spec.name.clone(),
            subnet,
            gateway,
            bridge,
            mtu,
            nat: spec.nat,
        };
        self.write(&net)?;
        Ok(net)
    }

    /// Returns the named network; the default network is created on first use.
    pub fn get(&self, name: &str) -> Result<Network, StoreError> {
        if !valid_name(name) {
            return Err(StoreError::InvalidName(name.into()));
        }
        if let Some(n) = self.read(name)? {
            return Ok(n);
        }
        if name == DEFAULT_NETWORK {
            let _g = self.lock()?;
            return self.ensure_default_locked();
        }
        Err(StoreError::NotFound(name.into()))
    }

    /// Records that `container_id` (already validated) is about to hold something on a
    /// network; see [`has_attachments`].
    pub(crate) fn mark_attached(&self, container_id: &str) -> Result<(), StoreError> {
        let marker = attachment_marker(&self.root, container_id);
        let dir = self.root.join(ATTACHED_DIR);
        fs::create_dir_all(&dir).step("create", &dir)?;
        File::create(&marker).step("create", &marker)?;
        Ok(())
    }

    /// Forgets the marker of [`Self::mark_attached`] once nothing is held any more.
    pub fn clear_attached(&self, container_id: &str) -> Result<(), StoreError> {
        let marker = attachment_marker(&self.root, container_id);
        match fs::remove_file(&marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(IoError::new("remove", &marker, e).into())
            }
            _ => Ok(()),
        }
    }

    /// All networks, the default one included, sorted by name.
    pub fn list(&self) -> Result<Vec<Network>, StoreError> {
        let _g = self.lock()?;
        self.ensure_default_locked()?;
        self.list_unlocked()
    }

    /// Deletes the definition directory. Callers remove links/rules first
    /// ([`crate::attach::remove_network`] does both).
    pub(crate) fn remove_definition(&self, name: &str) -> Result<(), StoreError> {
        let _g = self.lock()?;
        let dir = self.net_dir(name);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(name.into()))
            }
            Err(e) => Err(IoError::new("remove network dir", &dir, e).into()),
        }
    }
}

fn parse_subnet(s: &str) -> Result<Ipv4Net, StoreError> {
    let net: Ipv4Net = s
        .parse()
        .map_err(|e: ipnet::AddrParseError| StoreError::InvalidSubnet {
            value: s.into(),
            reason: e.to_string(),
        })?;
    if net.prefix_len() > 30 {
        return Err(StoreError::InvalidSubnet {
            value: s.into(),
            reason: "prefix must be /30 or shorter to hold a gateway and a container".into(),
        });
    }
    if net.trunc() != net {
        return Err(StoreError::InvalidSubnet {
            value: s.into(),
            reason: format!("host bits set; did you mean {}?", net.trunc()),
        });
    }
    Ok(net)
}

pub(crate) fn first_host(net: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + 1)
}

pub(crate) fn is_host(net: Ipv4Net, ip: Ipv4Addr) -> bool {
    net.contains(&ip) && ip != net.network() && ip != net.broadcast()
}

fn pick_subnet(existing: &[Network]) -> Option<Ipv4Net> {
    (0..=255u8)
        // 24 is a valid IPv4 prefix length, so construction cannot fail.
        .map(|n| Ipv4Net::new(Ipv4Addr::new(10, 86, n, 0), 24).expect("/24 is valid"))
        .find(|c| {
            existing
                .iter()
                .all(|o| !o.subnet.contains(&c.network()) && !c.contains(&o.subnet.network()))
        })
}

fn bridge_name(name: &str, existing: &[Network]) -> String {
    // IFNAMSIZ allows 15 characters; keep names recognisable but unique.
    let base: String = format!("br-{name}").chars().take(15).collect();
    if existing.iter().all(|o| o.bridge != base) {
        return base;
    }
    let h = crate::short_hash(name);
    format!("br-{}", &h[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, subnet: Option<&str>) -> NetworkSpec {
        NetworkSpec {
            name: name.into(),
            subnet: subnet.map(Into::into),
            nat: true,
            ..Default::default()
        }
    }

    #[test]
    fn default_network_exists_without_setup() {
        let d = tempfile::tempdir().unwrap();
        let s = NetworkStore::new(d.path());
        let n = s.get(DEFAULT_NETWORK).unwrap();
        assert_eq!(n.bridge, DEFAULT_BRIDGE);
        assert_eq!(n.gateway, Ipv4Addr::new(10, 87, 0, 1));
        assert!(d.path().join("bridge/network.json").exists());
        assert_eq!(s.list().unwrap(), vec![n]);
    }

    #[test]
    fn create_list_get_remove() {
        let d = tempfile::tempdir().unwrap();
        let s = NetworkStore::new(d.path());
        let n = s
            .create(&NetworkSpec {
                gateway: Some(Ipv4Addr::new(172, 30, 0, 254)),
                mtu: Some(1400),
                ..spec("front", Some("172.30.0.0/24"))
            })
            .unwrap();
        assert_eq!(n.bridge, "br-front");
        assert_eq!(n.mtu, 1400);
        assert_eq!(s.get("front").unwrap(), n);
        let names: Vec<_> = s.list().unwrap().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["bridge", "front"]);
        assert!(matches!(
            s.create(&spec("front", None)),
            Err(StoreError::Exists(_))
        ));
        let auto = s.create(&spec("auto", None)).unwrap();
        assert_eq!(auto.subnet.to_string(), "10.86.0.0/24");
        s.remove_definition("front").unwrap();
        assert!(matches!(s.get("front"), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn rejects_bad_input() {
        let d = tempfile::tempdir().unwrap();
        let s = NetworkStore::new(d.path());
        assert!(matches!(
            s.create(&spec("a/b", None)),
            Err(StoreError::InvalidName(_))
        ));
        assert!(matches!(
            s.create(&spec("x", Some("10.1.2.3/24"))),
            Err(StoreError::InvalidSubnet { .. })
        ));
        assert!(matches!(
            s.create(&spec("x", Some("10.87.5.0/24"))),
            Err(StoreError::Overlap { .. })
        ));
        assert!(matches!(
            s.create(&NetworkSpec {
                gateway: Some(Ipv4Addr::new(10, 2, 0, 0)),
                ..spec("x", Some("10.2.0.0/24"))
            }),
            Err(StoreError::InvalidGateway { .. })
        ));
    }
}
