//! linux.netDevices (runtime-spec 1.3): host links moved into the container's network
//! namespace by berth, after the init reports its namespaces and before the program runs
//! (runc 1.3 does it at the same point). Per link: its permanent global addresses are read,
//! one RTM_NEWLINK moves it (IFLA_NET_NS_PID, the init's namespace) and renames it to
//! `name`, then, inside the namespace, the addresses are added back (a move drops them)
//! and the link is set up, as the spec asks.
//!
//! Nothing moves them back: the spec forbids it, as runc does. When the namespace dies
//! with the container's last process, the kernel returns physical links to the host's
//! initial namespace (under their container names) and destroys virtual ones (dummy, veth,
//! macvlan).

use std::collections::HashMap;
use std::os::fd::AsFd;

use oci_spec::runtime::LinuxNetDevice;

use super::{io, Error, Result};
use crate::netlink::{self, Message, Route};
use berth_common::io::Step;

/// The spec's rules, checked at create: valid link names (the kernel's: 1 to 15 bytes, not
/// `.` or `..`, no `/`, `:` or whitespace; `%d` only in the new name, as a template) and a
/// network namespace of the container's own, new or joined.
pub fn check(devices: &HashMap<String, LinuxNetDevice>, has_netns: bool) -> Result<(), String> {
    if devices.is_empty() {
        return Ok(());
    }
    if !has_netns {
        return Err("linux.netDevices needs a network namespace of the container's own (none is listed in linux.namespaces)".into());
    }
    let mut names: Vec<_> = devices.iter().collect();
    names.sort_by_key(|(k, _)| *k);
    for (host, dev) in names {
        if !valid_name(host) || host.contains('%') {
            return Err(format!(
                "linux.netDevices: {host:?} is not a network device name"
            ));
        }
        if let Some(name) = dev.name().as_deref().filter(|n| !n.is_empty()) {
            if !valid_name(name) {
                return Err(format!(
                    "linux.netDevices.{host}.name: {name:?} is not a network device name"
                ));
            }
        }
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name.contains(['/', ':'])
        && !name.chars().any(char::is_whitespace)
}

/// Moves every listed host link into the network namespace of the init `pid` (waiting in
/// its handshake, so the pid is its own), in name order.
pub(crate) fn move_in(pid: i32, devices: &HashMap<String, LinuxNetDevice>) -> Result<()> {
    if devices.is_empty() {
        return Ok(());
    }
    let host = Route::open().map_err(io("linux.netDevices: open a netlink socket"))?;
    let ns_path = format!("/proc/{pid}/ns/net");
    let netns = std::fs::File::open(&ns_path).step("linux.netDevices: open", &ns_path)?;
    let inside = Route::open_in(netns.as_fd()).map_err(io(
        "linux.netDevices: open a netlink socket in the container's network namespace",
    ))?;
    let mut names: Vec<_> = devices.keys().collect();
    names.sort();
    for host_name in names {
        let new_name = devices[host_name]
            .name()
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(host_name);
        let fail = |step: &'static str, link: String| {
            move |source| Error::NetDevice { step, link, source }
        };
        let index = link_index(&host, 0, Some(host_name))
            .map_err(fail("find host link", host_name.clone()))?;
        let addrs = permanent_addresses(&host, index)
            .map_err(fail("read the addresses of", host_name.clone()))?;
        let moving = Message::new(
            libc::RTM_NEWLINK,
            libc::NLM_F_ACK,
            &netlink::ifinfomsg(index, 0, 0),
        )
        .attr(libc::IFLA_NET_NS_PID, &(pid as u32).to_ne_bytes())
        .attr(libc::IFLA_IFNAME, &nul_terminated(new_name));
        host.exchange(&moving).map_err(fail(
            "move into the container's network namespace",
            format!("{host_name} (as {new_name})"),
        ))?;
        // Found by its new name; a `%d` template names it only now, but the link keeps its
        // index unless the namespace already uses it.
        let moved = if new_name.contains('%') {
            link_index(&inside, index, None)
        } else {
            link_index(&inside, 0, Some(new_name))
        }
        .map_err(fail("find in the container", new_name.to_string()))?;
        for a in &addrs {
            inside.exchange(&a.add_to(moved)).map_err(fail(
                "add the host link's address back on",
                format!("{new_name} (was {host_name})"),
            ))?;
        }
        let up = libc::IFF_UP as u32;
        inside
            .exchange(&Message::new(
                libc::RTM_NEWLINK,
                libc::NLM_F_ACK,
                &netlink::ifinfomsg(moved, up, up),
            ))
            .map_err(fail("set up in the container", new_name.to_string()))?;
    }
    Ok(())
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// The index of the link named `name` (index 0) or with `index`, in `sock`'s namespace.
fn link_index(sock: &Route, index: i32, name: Option<&str>) -> std::io::Result<i32> {
    let mut msg = Message::new(
        libc::RTM_GETLINK,
        libc::NLM_F_ACK,
        &netlink::ifinfomsg(index, 0, 0),
    );
    if let Some(name) = name {
        msg = msg.attr(libc::IFLA_IFNAME, &nul_terminated(name));
    }
    sock.exchange(&msg)?
        .iter()
        .find(|(typ, _)| *typ == libc::RTM_NEWLINK)
        .and_then(|(_, body)| netlink::ifinfo_index(body))
        .ok_or_else(|| std::io::Error::other("no link in the kernel's answer"))
}

/// An address to add back after the move: struct ifaddrmsg and the attributes that make it.
struct Address {
    head: [u8; 8],
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Address {
    fn add_to(&self, index: i32) -> Message {
        let mut head = self.head;
        head[4..8].copy_from_slice(&index.to_ne_bytes());
        let flags = libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL;
        self.attrs.iter().fold(
            Message::new(libc::RTM_NEWADDR, flags, &head),
            |m, (t, d)| m.attr(*t, d),
        )
    }
}

/// The link's permanent addresses of global scope, of any family: what the spec says a
/// move must keep (dynamic and link-local ones belong to the host side's configuration).
fn permanent_addresses(sock: &Route, index: i32) -> std::io::Result<Vec<Address>> {
    let dump = Message::new(libc::RTM_GETADDR, libc::NLM_F_DUMP, &[0u8; 8]);
    let mut out = Vec::new();
    for (typ, body) in sock.exchange(&dump)? {
        let Some(head) = body.get(..8).and_then(|h| <[u8; 8]>::try_from(h).ok()) else {
            continue;
        };
        let on_link = i32::from_ne_bytes([head[4], head[5], head[6], head[7]]) == index;
        if typ != libc::RTM_NEWADDR || !on_link || head[3] != libc::RT_SCOPE_UNIVERSE {
            continue;
        }
        let attrs = netlink::attrs(&body, 8);
        // IFA_FLAGS, when there, holds all 32 bits; the header's byte only the low 8.
        let flags = attrs
            .iter()
            .find(|(t, d)| *t == libc::IFA_FLAGS && d.len() == 4)
            .map_or(head[2] as u32, |(_, d)| {
                u32::from_ne_bytes([d[0], d[1], d[2], d[3]])
            });
        if flags & libc::IFA_F_PERMANENT == 0 {
            continue;
        }
        let keep = [
            libc::IFA_ADDRESS,
            libc::IFA_LOCAL,
            libc::IFA_BROADCAST,
            libc::IFA_FLAGS,
        ];
        let attrs = attrs
            .into_iter()
            .filter(|(t, _)| keep.contains(t))
            .map(|(t, d)| (t, d.to_vec()))
            .collect();
        out.push(Address { head, attrs });
    }
    Ok(out)
}
