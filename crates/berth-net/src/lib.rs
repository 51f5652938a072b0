//! Networks for berth: bridges, veth pairs, addresses, NAT, and the tap switch.
//!
//! Entry points for the CLI and runtime:
//! - [`NetworkStore`]: `network create|ls|inspect` (persisted definitions, default network "bridge").
//! - [`attach::attach`] / [`attach::detach`] / [`attach::detach_all`] / [`attach::remove_network`]:
//!   one call per `run --net`, `network connect|disconnect`, container delete and `network rm`.
//! - [`etc`]: `/etc/hosts` and `/etc/resolv.conf` content for a container.
//! - [`switch::run_switch`] (`berth switch`) and [`tap::attach_tap`] (`run --net switch:PATH`).
//!
//! Nothing here starts threads that outlive a call or uses an async runtime: the container start
//! path stays synchronous.

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
