//! Address leases of one network, keyed by container id.
//!
//! Owns `<root>/<network>/leases.json` and its lock `<root>/<network>/ipam.lock`. Every read-modify-
//! write happens under an exclusive flock, so concurrent processes never hand out one address twice.

use berth_common::io::IoError;
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::nft::PortMapping;
use crate::store::{self, Network, NetworkStore};

/// Errors of address management.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    #[error("no free address left in {network} ({subnet})")]
    Exhausted { network: String, subnet: String },
    #[error("address {ip} is not a usable host address of {network} ({subnet})")]
    OutOfRange {
        ip: Ipv4Addr,
        network: String,
        subnet: String,
    },
    #[error("address {ip} in {network} is already leased to {holder}")]
    InUse {
        ip: Ipv4Addr,
        network: String,
        holder: String,
    },
    #[error("invalid container id {0:?}")]
    InvalidId(String),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("parse {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// One container's hold on an address, plus what was set up for it (so it can be torn down).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub ip: Ipv4Addr,
    /// Host end of the veth pair, empty until the link exists.
    #[serde(default)]
    pub host_ifname: String,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
}

/// Address management for one network.
#[derive(Debug, Clone)]
pub struct Ipam {
    network: Network,
    dir: PathBuf,
}

type Leases = BTreeMap<String, Lease>;

impl Ipam {
    pub fn new(store: &NetworkStore, network: &Network) -> Self {
        Self {
            network: network.clone(),
            dir: store.net_dir(&network.name),
        }
    }

    fn io(&self, step: &'static str, file: &str) -> impl FnOnce(std::io::Error) -> IoError {
        IoError::at(step, self.dir.join(file))
    }

    /// Runs `f` on the lease table under the lock and saves it when `f` says so.
    fn with_leases<T>(
        &self,
        f: impl FnOnce(&mut Leases) -> Result<(T, bool), IpamError>,
    ) -> Result<T, IpamError> {
        fs::create_dir_all(&self.dir).map_err(self.io("create network dir", ""))?;
        let _g =
            store::lock_file(&self.dir.join("ipam.lock")).map_err(self.io("lock", "ipam.lock"))?;
        let mut leases = self.load()?;
        let (out, dirty) = f(&mut leases)?;
        if dirty {
            let p = self.dir.join("leases.json");
            // A map of strings to plain structs always serializes.
            let data = serde_json::to_vec_pretty(&leases).expect("lease map serializes");
            // Not synced: an fsync here cost several milliseconds of every bridged start, and
            // the links and processes the leases describe do not outlive a reboot anyway.
            store::replace_file(&p, &data).map_err(self.io("write", "leases.json"))?;
        }
        Ok(out)
    }

    fn load(&self) -> Result<Leases, IpamError> {
        let p = self.dir.join("leases.json");
        match fs::read(&p) {
            // berth always writes at least `{}`: an empty file is what an unsynced write leaves
            // after a power loss, when every lease in it was stale anyway.
            Ok(b) if b.is_empty() => Ok(Leases::new()),
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|source| IpamError::Parse { path: p, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Leases::new()),
            Err(e) => Err(IoError::new("read", p, e).into()),
        }
    }

    /// Leases `requested` (or the lowest free address) to `container_id`. A container that already
    /// holds a lease gets the same one back, so a retried attach is harmless.
    pub fn allocate(
        &self,
        container_id: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<Lease, IpamError> {
        if !berth_common::id::is_valid(container_id) {
            return Err(IpamError::InvalidId(container_id.into()));
        }
        let net = &self.network;
        self.with_leases(|leases| {
            if let Some(l) = leases.get(container_id) {
                if requested.is_none_or(|r| r == l.ip) {
                    return Ok((l.clone(), false));
                }
            }
            let used: HashSet<Ipv4Addr> = leases
                .iter()
                .filter(|(k, _)| k.as_str() != container_id)
                .map(|(_, l)| l.ip)
                .collect();
            let ip = match requested {
                Some(ip) => {
                    if !store::is_host(net.subnet, ip) || ip == net.gateway {
                        return Err(IpamError::OutOfRange {
                            ip,
                            network: net.name.clone(),
                            subnet: net.subnet.to_string(),
                        });
                    }
                    if used.contains(&ip) {
                        let holder = leases
                            .iter()
                            .find(|(_, l)| l.ip == ip)
                            .map(|(k, _)| k.clone())
                            .unwrap_or_default();
                        return Err(IpamError::InUse {
                            ip,
                            network: net.name.clone(),
                            holder,
                        });
                    }
                    ip
                }
                None => {
                    let first = u32::from(net.subnet.network()) + 1;
                    let last = u32::from(net.subnet.broadcast());
                    (first..last)
                        .map(Ipv4Addr::from)
                        .find(|ip| *ip != net.gateway && !used.contains(ip))
                        .ok_or_else(|| IpamError::Exhausted {
                            network: net.name.clone(),
                            subnet: net.subnet.to_string(),
                        })?
                }
            };
            let lease = Lease {
                ip,
                host_ifname: String::new(),
                ports: Vec::new(),
            };
            leases.insert(container_id.into(), lease.clone());
            Ok((lease, true))
        })
    }

    /// Records what was set up for an existing lease.
    pub fn update(&self, container_id: &str, lease: &Lease) -> Result<(), IpamError> {
        self.with_leases(|leases| {
            leases.insert(container_id.into(), lease.clone());
            Ok(((), true))
        })
    }

    /// Drops the container's lease; returns it if there was one. Safe to call repeatedly.
    pub fn release(&self, container_id: &str) -> Result<Option<Lease>, IpamError> {
        self.with_leases(|leases| {
            let old = leases.remove(container_id);
            let dirty = old.is_some();
            Ok((old, dirty))
        })
    }

    /// The container's lease, if any.
    pub fn get(&self, container_id: &str) -> Result<Option<Lease>, IpamError> {
        self.with_leases(|leases| Ok((leases.get(container_id).cloned(), false)))
    }

    /// All leases, by container id.
    pub fn leases(&self) -> Result<BTreeMap<String, Lease>, IpamError> {
        self.with_leases(|leases| Ok((leases.clone(), false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NetworkSpec;

    fn small_net(dir: &std::path::Path) -> (NetworkStore, Network) {
        let s = NetworkStore::new(dir);
        let n = s
            .create(&NetworkSpec {
                name: "small".into(),
                subnet: Some("10.200.0.0/29".into()),
                ..Default::default()
            })
            .unwrap();
        (s, n)
    }

    #[test]
    fn allocates_lowest_free_skipping_gateway_and_reuses_on_retry() {
        let d = tempfile::tempdir().unwrap();
        let (s, n) = small_net(d.path());
        let ipam = Ipam::new(&s, &n);
        let a = ipam.allocate("a", None).unwrap();
        assert_eq!(a.ip, Ipv4Addr::new(10, 200, 0, 2));
        assert_eq!(ipam.allocate("a", None).unwrap(), a);
        let b = ipam
            .allocate("b", Some(Ipv4Addr::new(10, 200, 0, 5)))
            .unwrap();
        assert_eq!(b.ip, Ipv4Addr::new(10, 200, 0, 5));
        assert!(matches!(
            ipam.allocate("c", Some(b.ip)),
            Err(IpamError::InUse { .. })
        ));
        assert!(matches!(
            ipam.allocate("c", Some(Ipv4Addr::new(10, 200, 0, 1))),
            Err(IpamError::OutOfRange { .. })
        ));
        for id in ["c", "d", "e"] {
            ipam.allocate(id, None).unwrap();
        }
        // /29 has hosts .1-.6; .1 is the gateway, so five containers fill it.
        assert!(matches!(
            ipam.allocate("f", None),
            Err(IpamError::Exhausted { .. })
        ));
        assert_eq!(ipam.release("a").unwrap().unwrap().ip, a.ip);
        assert_eq!(ipam.release("a").unwrap(), None);
        assert_eq!(ipam.allocate("f", None).unwrap().ip, a.ip);
    }

    /// Child half of `twenty_concurrent_processes_get_distinct_addresses`.
    #[test]
    fn ipam_child_process() {
        let (Ok(root), Ok(id)) = (
            std::env::var("BERTH_NET_IPAM_CHILD_ROOT"),
            std::env::var("BERTH_NET_IPAM_CHILD_ID"),
        ) else {
            return;
        };
        let s = NetworkStore::new(root);
        let n = s.get(crate::store::DEFAULT_NETWORK).unwrap();
        let lease = Ipam::new(&s, &n).allocate(&id, None).unwrap();
        println!("LEASE {}", lease.ip);
    }

    #[test]
    fn twenty_concurrent_processes_get_distinct_addresses() {
        let d = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..20)
            .map(|i| {
                std::process::Command::new(&exe)
                    .args(["--exact", "ipam::tests::ipam_child_process", "--nocapture"])
                    .env("BERTH_NET_IPAM_CHILD_ROOT", d.path())
                    .env("BERTH_NET_IPAM_CHILD_ID", format!("c{i}"))
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut ips = HashSet::new();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success());
            let text = String::from_utf8_lossy(&out.stdout);
            let ip = text
                .lines()
                .find_map(|l| l.strip_prefix("LEASE "))
                .expect("child printed its lease");
            assert!(ips.insert(ip.to_string()), "address {ip} handed out twice");
        }
        assert_eq!(ips.len(), 20);
        let s = NetworkStore::new(d.path());
        let n = s.get("bridge").unwrap();
        assert_eq!(Ipam::new(&s, &n).leases().unwrap().len(), 20);
    }
}
