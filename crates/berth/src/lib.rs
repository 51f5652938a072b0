//! The berth command line, shared by its two executables.
//!
//! `berth` is the runtime face (the OCI runtime command line) and stays small: peak memory and start
//! latency of `create`, `start`, `exec`... are the product. The people face (images, networks,
//! the tap switch, `run IMAGE CMD...`) needs a registry client, TLS, netlink and nftables code
//! that the runtime path never runs, so it lives in its own crate and executable,
//! `berth-people`, which depends on this one; this crate depends on no image or network crate.
//! Both executables parse the same command line ([`cli`]); they differ only in their
//! [`face::PeopleFace`]: `berth` hands people-face commands to `berth-people` ([`face::Exec`]),
//! `berth-people` runs them in process.
//!
//! Imports point one way: [`cli`] → [`commands`] → [`face`] → [`people_cli`], [`context`] →
//! [`log`].

pub mod cli;
pub mod commands;
pub mod container_cli;
pub mod context;
pub mod face;
pub mod log;
pub mod people_cli;
