//! Networks for berth: bridges, veth pairs, addresses, NAT, and the tap switch.
