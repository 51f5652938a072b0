//! `--net` for image-form containers, and the network half of the release hook.
//!
//! A container that joins a bridge or a switch needs its network namespace to exist before it
//! can be attached, and must be attached before its program starts. The generated config does
//! this with an OCI `createRuntime` hook that runs `berth-people hook net-setup` (the runtime runs it
//! after the namespaces exist, before the init enters its root): the hook reads the plan from
//! the config's [`ANN_NET`] annotation, attaches `/proc/<pid>/ns/net`, and rewrites the bundle's
//! `hosts` file in place (it is bind-mounted over `/etc/hosts`) with the address it got. The
//! same path works for `create`, `run -d` and a foreground `run` with a terminal, and a failing
//! attach fails the create, whose cleanup then detaches whatever was attached.

use berth_common::io::Step;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use berth_net::{attach, AttachRequest, Netns, NetworkStore, PortMapping};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::error::PeopleError;

/// The network plan of a container (JSON), carried out by the createRuntime hook.
pub const ANN_NET: &str = "dev.berth.net";

/// The interface name inside the container.
pub const IFNAME: &str = "eth0";

/// What `--net` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetMode {
    /// Its own namespace with only `lo`.
    None,
    /// The host's namespace.
    Host,
    /// A veth on this berth network (`bridge` is the default network).
    Bridge(String),
    /// The network namespace of another berth container.
    Container(String),
    /// A namespace file such as `/run/netns/NAME`.
    Ns(PathBuf),
    /// A tap device posted to the berth switch listening on this socket.
    Switch(PathBuf),
}

impl FromStr for NetMode {
    type Err = PeopleError;

    fn from_str(s: &str) -> Result<Self, PeopleError> {
        let bad = |why: &str| PeopleError::Usage(format!("--net {s}: {why}"));
        Ok(match s.split_once(':') {
            None if s == "none" => NetMode::None,
            None if s == "host" => NetMode::Host,
            None if s == "bridge" => NetMode::Bridge(berth_net::DEFAULT_NETWORK.into()),
            // Docker's habit: `--net NAME` for a user-defined network.
            None if !s.is_empty() => NetMode::Bridge(s.into()),
            Some(("bridge", n)) if !n.is_empty() => NetMode::Bridge(n.into()),
            Some(("container", id)) if !id.is_empty() => NetMode::Container(id.into()),
            Some(("ns", p)) if p.starts_with('/') => NetMode::Ns(p.into()),
            Some(("switch", p)) if !p.is_empty() => NetMode::Switch(p.into()),
            _ => {
                return Err(bad(
                    "expected none, host, bridge[:NAME], container:ID, ns:/PATH or switch:PATH",
                ))
            }
        })
    }
}

/// What the hook does, recorded in the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetPlan {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgePlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<SwitchPlan>,
    pub hostname: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgePlan {
    pub network: String,
    pub ip: Option<Ipv4Addr>,
    pub ports: Vec<PortMapping>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchPlan {
    pub socket: PathBuf,
    pub address: Option<Ipv4Net>,
}

impl NetPlan {
    /// The plan for `--net MODE [--ip IP] [-p …]`; `None` when there is nothing to attach:
    /// no network namespace of its own, or `--net none`, whose `lo` the runtime itself brings
    /// up (as runc does) without the cost of a hook process.
    pub fn new(
        mode: &NetMode,
        ip: Option<&str>,
        ports: &[String],
        hostname: &str,
    ) -> Result<Option<NetPlan>, PeopleError> {
        let ports = ports
            .iter()
            .map(|p| {
                p.parse::<PortMapping>()
                    .map_err(|e| PeopleError::Usage(format!("-p {p}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let only_bridge = |what: &str| {
            PeopleError::Usage(format!(
                "{what} needs --net bridge[:NAME] (or switch for --ip)"
            ))
        };
        let plan = match mode {
            NetMode::Bridge(network) => {
                let ip = ip
                    .map(|s| {
                        s.parse::<Ipv4Addr>().map_err(|_| {
                            PeopleError::Usage(format!("--ip {s}: not an IPv4 address"))
                        })
                    })
                    .transpose()?;
                NetPlan {
                    bridge: Some(BridgePlan {
                        network: network.clone(),
                        ip,
                        ports,
                    }),
                    switch: None,
                    hostname: hostname.into(),
                }
            }
            NetMode::Switch(socket) => {
                if !ports.is_empty() {
                    return Err(only_bridge("-p"));
                }
                let address = ip
                    .map(|s| {
                        s.parse::<Ipv4Net>().map_err(|_| {
                            PeopleError::Usage(format!(
                                "--ip {s}: expected ADDR/PREFIX on a switch"
                            ))
                        })
                    })
                    .transpose()?;
                let socket = std::path::absolute(socket).step("resolve", socket)?;
                NetPlan {
                    bridge: None,
                    switch: Some(SwitchPlan { socket, address }),
                    hostname: hostname.into(),
                }
            }
            _ => {
                if ip.is_some() {
                    return Err(only_bridge("--ip"));
                }
                if !ports.is_empty() {
                    return Err(only_bridge("-p"));
                }
                return Ok(None);
            }
        };
        Ok(Some(plan))
    }

    /// Refuses, before anything is created, a network or switch that is not there (the
    /// hook would fail the same way, after the container's namespaces exist). The default
    /// network is made on first use.
    pub fn check(&self, store: &NetworkStore) -> Result<(), PeopleError> {
        if let Some(b) = &self.bridge {
            if b.network != berth_net::DEFAULT_NETWORK {
                if let Err(berth_net::store::StoreError::NotFound(_)) = store.get(&b.network) {
                    return Err(PeopleError::Usage(format!(
                        "--net {n}: no network {n}: create it with `berth network create {n}` \
                         (`berth network ls` lists them)",
                        n = b.network
                    )));
                }
            }
        }
        if let Some(s) = &self.switch {
            use std::os::unix::fs::FileTypeExt;
            let listening = std::fs::metadata(&s.socket).is_ok_and(|m| m.file_type().is_socket());
            if !listening {
                return Err(PeopleError::Usage(format!(
                    "--net switch:{p}: no switch socket at {p}: start one with \
                     `berth switch --socket {p}`",
                    p = s.socket.display()
                )));
            }
        }
        Ok(())
    }

    /// Attaches the container whose init is `pid`; returns the addresses it got.
    pub fn apply(
        &self,
        store: &NetworkStore,
        id: &str,
        pid: i32,
    ) -> Result<Vec<IpAddr>, PeopleError> {
        let ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let mut own = Vec::new();
        if let Some(b) = &self.bridge {
            let a = attach(
                store,
                &b.network,
                &AttachRequest {
                    container_id: id,
                    netns: Netns::Path(&ns),
                    ip: b.ip,
                    ports: &b.ports,
                    ifname: IFNAME,
                },
            )?;
            own.push(IpAddr::V4(a.ip));
        }
        if let Some(s) = &self.switch {
            berth_net::tap::attach_tap(&berth_net::tap::TapRequest {
                netns: Netns::Path(&ns),
                socket: &s.socket,
                ifname: IFNAME,
                address: s.address,
                gateway: None,
                mtu: None,
                vnet_hdr: true,
            })?;
            own.extend(s.address.map(|a| IpAddr::V4(a.addr())));
        }
        Ok(own)
    }
}

/// `berth-people hook net-setup`: the createRuntime hook. `state` is the OCI state on stdin.
pub fn hook_setup(
    store: &NetworkStore,
    image_root: &Path,
    state: &oci_spec::runtime::State,
) -> Result<(), PeopleError> {
    let id = state.id();
    let pid = state.pid().unwrap_or_default();
    let bundle = state.bundle();
    let plan_json = state
        .annotations()
        .as_ref()
        .and_then(|a| a.get(ANN_NET))
        .ok_or_else(|| PeopleError::Usage(format!("container {id} has no {ANN_NET} annotation")))?;
    let plan: NetPlan = serde_json::from_str(plan_json)
        .map_err(|e| PeopleError::Usage(format!("{ANN_NET} of container {id}: {e}")))?;
    if pid <= 0 {
        return Err(PeopleError::Usage(format!("hook state of {id} has no pid")));
    }
    let own = plan.apply(store, id, pid)?;
    // In place, not by rename: the file may already be bind-mounted into the container. And
    // in its blocks: a truncate to zero would free them (a discard waited for on the store's
    // disk); the container's program has not started yet.
    let hosts = bundle.join("hosts");
    let text = berth_net::etc::hosts(&plan.hostname, &own, &[]);
    berth_common::fs::overwrite(&hosts, text.as_bytes())?;
    if let Some(b) = &plan.bridge {
        crate::names::refresh(store, image_root, &b.network, None)?;
    }
    Ok(())
}

/// Detaches `id` from every network it holds a lease on, and takes its name out of the
/// other members' hosts files; nothing to do (and no network store created) when there is
/// none.
pub fn release(store: &NetworkStore, image_root: &Path, id: &str) -> Result<(), PeopleError> {
    if !berth_net::store::has_attachments(store.root(), id) {
        return Ok(());
    }
    let mut held = Vec::new();
    for net in store.list()? {
        if berth_net::Ipam::new(store, &net).get(id)?.is_some() {
            held.push(net.name);
        }
    }
    attach::detach_all(store, id)?;
    for network in held {
        crate::names::refresh(store, image_root, &network, None)?;
    }
    Ok(())
}

/// The `hosts` and `resolv.conf` a container starts with (the hook fills in its address).
/// Written in place, not with berth_net's tmp+rename: in a directory no container uses yet,
/// over a spare root's files in their blocks (berth_image::store::spare), and they do not
/// outlive the container.
pub fn write_etc(dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), PeopleError> {
    let resolv = berth_net::etc::resolv_conf_from_host(&[])?;
    let hosts = berth_net::etc::hosts(hostname, &[], &[]);
    let (h, r) = (dir.join("hosts"), dir.join("resolv.conf"));
    berth_common::fs::overwrite(&h, hosts.as_bytes())?;
    berth_common::fs::overwrite(&r, resolv.as_bytes())?;
    Ok((h, r))
}
