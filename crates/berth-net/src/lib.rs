//! Networks for berth: bridges, veth pairs, addresses, NAT, and the tap switch.
//!
//! Entry points, one call per CLI step:
//!
//! | CLI / runtime step | call |
//! |---|---|
//! | `network create NAME [--subnet] [--gateway] [--mtu] [--no-nat]` | [`NetworkStore::create`] |
//! | `network ls` | [`NetworkStore::list`] (the default network "bridge" always included) |
//! | `network inspect NAME` | [`attach::inspect`] (definition + leases, serializable) |
//! | `network rm NAME` | [`attach::remove_network`] |
//! | `run --net bridge[:NAME] [--ip] [-p]`, `network connect NET ID` | [`attach::attach`] |
//! | `network disconnect NET ID` | [`attach::detach`] |
//! | container delete, failed create, cleanup after a crash | [`attach::detach_all`] |
//! | `/etc/hosts`, `/etc/resolv.conf` | [`etc::hosts`], [`etc::resolv_conf_from_host`] |
//! | `berth switch [--socket PATH]` | [`switch::run_switch`] |
//! | `run --net switch:PATH [--ip ADDR/PREFIX]` | [`tap::attach_tap`] (and [`tap::detach_tap`]) |
//!
//! The container's network namespace is passed as [`Netns::Path`] (`/proc/<pid>/ns/net`) or
//! [`Netns::Fd`]. Everything runs synchronously on the caller's thread, except that entering a
//! namespace uses a short-lived thread that is joined before the call returns: no async runtime,
//! no thread left running, so the runtime can fork afterwards.
//!
//! # A network and a fixed-address attachment
//!
//! A network is a bridge, a subnet, a gateway and an MTU; an attachment puts a container's
//! namespace on it, here with a fixed address. The host end's name is berth's own
//! (`vb<digest>`, so cleanup finds it without records):
//!
//! ```no_run
//! use berth_net::{attach, AttachRequest, Netns, NetworkSpec, NetworkStore};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = NetworkStore::default();
//! store.create(&NetworkSpec {
//!     name: "web".into(),
//!     bridge: Some("br-web".into()),
//!     subnet: Some("172.17.0.0/16".into()),
//!     gateway: Some("172.17.42.1".parse()?),
//!     mtu: Some(1500),
//!     nat: true,
//! })?;
//! let netns = std::path::Path::new("/proc/4242/ns/net");
//! let a = attach(&store, "web", &AttachRequest {
//!     container_id: "koye",
//!     netns: Netns::Path(netns),
//!     ip: Some("172.17.0.100".parse()?),
//!     ports: &[],
//!     ifname: "eth0",
//! })?;
//! assert_eq!(a.gateway.to_string(), "172.17.42.1");
//! # Ok(()) }
//! ```
//!
//! Debian packages: `nftables` (the `nft` binary, at run time). Tests also use `iproute2` and
//! `iputils-ping`; the ignored benchmark uses `iperf3`.

pub mod attach;
pub mod etc;
pub mod ipam;
pub mod netlink;
pub mod nft;
pub mod store;
pub mod switch;
mod sys;
pub mod tap;

pub use attach::{attach, detach, detach_all, AttachRequest, Attachment, Netns};
pub use ipam::{Ipam, Lease};
pub use nft::{PortMapping, Protocol};
pub use store::{Network, NetworkSpec, NetworkStore, DEFAULT_NETWORK};

/// FNV-1a, hex encoded: a stable short digest for device names and rule tags, which must stay the
/// same across berth versions so cleanup after an upgrade still finds what an older version made.
pub(crate) fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}
