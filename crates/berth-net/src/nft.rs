//! Outbound NAT and published ports, as rules in the nftables table `ip berth`.
//!
//! Owns that table (driven through the `nft` binary) and the sysctls `net.ipv4.ip_forward` and
//! `net.ipv4.conf.<bridge>.route_localnet`. Every rule carries a comment tag: `n:<bridge>` for a
//! network's masquerade rules, `c:<digest>` for one container's published ports, so removal deletes
//! exactly those rules. Must not touch any other table.

use std::fmt;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::store::Network;

/// The one nftables table berth writes.
pub const TABLE: &str = "berth";

/// Errors of the NAT/port layer.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("invalid port mapping {value:?}: {reason} (want [HOSTIP:]HOSTPORT:PORT[/tcp|udp])")]
    BadPort { value: String, reason: &'static str },
    #[error("run {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("nft {step} failed: {stderr}")]
    Nft { step: &'static str, stderr: String },
    #[error("parse `nft -j list table ip {TABLE}` output: {0}")]
    Parse(serde_json::Error),
    #[error("write sysctl {path}: {source}")]
    Sysctl {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// `-p [HOSTIP:]HOSTPORT:PORT[/tcp|udp]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Only traffic to this host address is forwarded; every local address when `None`.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl FromStr for PortMapping {
    type Err = NftError;

    fn from_str(s: &str) -> Result<Self, NftError> {
        let bad = |reason| NftError::BadPort {
            value: s.into(),
            reason,
        };
        let (spec, protocol) = match s.rsplit_once('/') {
            Some((spec, "tcp")) => (spec, Protocol::Tcp),
            Some((spec, "udp")) => (spec, Protocol::Udp),
            Some(_) => return Err(bad("protocol must be tcp or udp")),
            None => (s, Protocol::Tcp),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (host_ip, hp, cp) = match parts.as_slice() {
            [hp, cp] => (None, *hp, *cp),
            [ip, hp, cp] => (
                Some(ip.parse().map_err(|_| bad("host address is not IPv4"))?),
                *hp,
                *cp,
            ),
            _ => return Err(bad("wrong number of ':'")),
        };
        let port = |p: &str| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad("port must be 1-65535")),
            Ok(p) => Ok(p),
        };
        Ok(PortMapping {
            host_ip,
            host_port: port(hp)?,
            container_port: port(cp)?,
            protocol,
        })
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ip) = self.host_ip {
            write!(f, "{ip}:")?;
        }
        write!(
            f,
            "{}:{}/{}",
            self.host_port, self.container_port, self.protocol
        )
    }
}

fn nft_binary() -> PathBuf {
    // root's PATH usually has sbin, but the runtime may be started by a client with a bare PATH.
    ["/usr/sbin/nft", "/sbin/nft"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("nft"))
}

fn run_nft(step: &'static str, args: &[&str], stdin: Option<&str>) -> Result<String, NftError> {
    let binary = nft_binary();
    let mut child = Command::new(&binary)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NftError::Spawn {
            binary: binary.clone(),
            source,
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|source| NftError::Spawn {
                binary: binary.clone(),
                source,
            })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| NftError::Spawn { binary, source })?;
    if !out.status.success() {
        return Err(NftError::Nft {
            step,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn write_sysctl(path: &Path, value: &str) -> Result<(), NftError> {
    std::fs::write(path, value).map_err(|source| NftError::Sysctl {
        path: path.to_path_buf(),
        source,
    })
}

/// `add table`/`add chain` are no-ops when they exist, so this is safe to repeat.
const BASE: &str = "add table ip berth
add chain ip berth prerouting { type nat hook prerouting priority dstnat; policy accept; }
add chain ip berth output { type nat hook output priority -100; policy accept; }
add chain ip berth postrouting { type nat hook postrouting priority srcnat; policy accept; }
";

/// Tag of a network's own rules.
pub fn network_tag(net: &Network) -> String {
    format!("n:{}", net.bridge)
}

/// Tag of one container's published-port rules on one network.
pub fn container_tag(net: &Network, container_id: &str) -> String {
    format!(
        "c:{}",
        crate::short_hash(&format!("{}\0{container_id}", net.bridge))
    )
}

fn route_localnet(net: &Network) -> PathBuf {
    PathBuf::from(format!(
        "/proc/sys/net/ipv4/conf/{}/route_localnet",
        net.bridge
    ))
}

/// Whether [`apply_network`] completed for the bridge as it exists now (a recreated bridge
/// starts with route_localnet off).
pub fn network_applied(net: &Network) -> bool {
    std::fs::read_to_string(route_localnet(net)).is_ok_and(|v| v.trim() == "1")
}

/// Installs (or re-installs) the network's masquerade rules, enables forwarding and lets
/// 127.0.0.1-sourced, DNATed traffic leave through the bridge (route_localnet, set last).
pub fn apply_network(net: &Network) -> Result<(), NftError> {
    write_sysctl(Path::new("/proc/sys/net/ipv4/ip_forward"), "1")?;
    let tag = network_tag(net);
    let (br, sub) = (&net.bridge, net.subnet);
    let mut script = String::from(BASE);
    // Published ports seen from 127.0.0.1 and from containers on the same bridge (hairpin) need
    // their source rewritten, or replies would bypass the connection's NAT state.
    script += &format!(
        "add rule ip berth postrouting oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade comment \"{tag}\"\n\
         add rule ip berth postrouting oifname \"{br}\" ip saddr {sub} ct status dnat masquerade comment \"{tag}\"\n"
    );
    if net.nat {
        script += &format!(
            "add rule ip berth postrouting ip saddr {sub} ip daddr != {sub} oifname != \"{br}\" masquerade comment \"{tag}\"\n"
        );
    }
    remove_tagged(&[&tag])?;
    run_nft("add network rules", &["-f", "-"], Some(&script))?;
    write_sysctl(&route_localnet(net), "1")
}

/// Publishes `ports` of the container at `ip`, replacing any earlier rules with the same tag.
pub fn apply_ports(
    net: &Network,
    container_id: &str,
    ip: Ipv4Addr,
    ports: &[PortMapping],
) -> Result<(), NftError> {
    let tag = container_tag(net, container_id);
    remove_tagged(&[&tag])?;
    if ports.is_empty() {
        return Ok(());
    }
    let mut script = String::from(BASE);
    for p in ports {
        let dst = match p.host_ip {
            Some(h) => format!("ip daddr {h}"),
            None => "fib daddr type local".to_string(),
        };
        let m = format!(
            "{dst} {proto} dport {hp} dnat to {ip}:{cp} comment \"{tag}\"",
            proto = p.protocol,
            hp = p.host_port,
            cp = p.container_port
        );
        script += &format!("add rule ip berth prerouting {m}\nadd rule ip berth output {m}\n");
    }
    run_nft("add port rules", &["-f", "-"], Some(&script))?;
    Ok(())
}

#[derive(Deserialize)]
struct Listing {
    nftables: Vec<serde_json::Value>,
}

/// Rules of table `ip berth` as (chain, handle, comment).
fn rules() -> Result<Vec<(String, u64, String)>, NftError> {
    let text = match run_nft(
        "list table",
        &["-j", "-a", "list", "table", "ip", TABLE],
        None,
    ) {
        Ok(t) => t,
        // No table yet: nothing of ours exists.
        Err(NftError::Nft { stderr, .. })
            if stderr.contains("No such file") || stderr.contains("does not exist") =>
        {
            return Ok(Vec::new())
        }
        Err(e) => return Err(e),
    };
    let listing: Listing = serde_json::from_str(&text).map_err(NftError::Parse)?;
    Ok(listing
        .nftables
        .iter()
        .filter_map(|v| v.get("rule"))
        .filter_map(|r| {
            Some((
                r.get("chain")?.as_str()?.to_string(),
                r.get("handle")?.as_u64()?,
                r.get("comment")?.as_str()?.to_string(),
            ))
        })
        .collect())
}

/// Comment tags of every rule in the table (for inspection and tests).
pub fn tags() -> Result<Vec<String>, NftError> {
    Ok(rules()?.into_iter().map(|(_, _, c)| c).collect())
}

/// Deletes every rule carrying one of `tags`; absent rules are not an error.
pub fn remove_tagged(tags: &[&str]) -> Result<(), NftError> {
    let script: String = rules()?
        .into_iter()
        .filter(|(_, _, c)| tags.contains(&c.as_str()))
        .map(|(chain, handle, _)| format!("delete rule ip berth {chain} handle {handle}\n"))
        .collect();
    if !script.is_empty() {
        run_nft("delete rules", &["-f", "-"], Some(&script))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_port_mappings() {
        let p: PortMapping = "8080:80".parse().unwrap();
        assert_eq!(
            p,
            PortMapping {
                host_ip: None,
                host_port: 8080,
                container_port: 80,
                protocol: Protocol::Tcp
            }
        );
        let p: PortMapping = "127.0.0.1:5353:53/udp".parse().unwrap();
        assert_eq!(p.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(p.protocol, Protocol::Udp);
        assert_eq!(p.to_string(), "127.0.0.1:5353:53/udp");
        for bad in ["80", "0:80", "a:1:2", "1:2/sctp", "1:2:3:4", "70000:1"] {
            assert!(bad.parse::<PortMapping>().is_err(), "{bad} accepted");
        }
    }
}
