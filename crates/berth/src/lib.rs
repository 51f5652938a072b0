//! The berth command line, shared by its two executables.
//!
//! `berth` is the runtime face (the OCI runtime command line) and stays small: peak memory and start
//! latency of `create`, `start`, `exec`... are the product. The people face (images, networks,
//! the tap switch, `run IMAGE CMD...`) needs a registry client, TLS, netlink and nftables code
//! that the runtime path never runs, so it lives in its own crate and executable,
//! `berth-people`, which depends on this one; this crate depends on no image or network crate.
//! Both executables parse one command line ([`cli`]); they differ in their
//! [`face::PeopleFace`]: `berth` knows the people verbs by name only ([`tree::Berth`]) and
//! hands them to `berth-people` ([`face::Exec`]), which parses them ([`tree::Full`]) and runs
//! them in process.
//!
//! Imports point one way: [`cli`] → [`face`] (each face names its tree) → [`tree`] →
//! [`commands`] → [`people_cli`], [`context`] → [`log`]; the only way back is
//! [`face::hand_over`], which `berth`'s tree calls for what it does not parse.

pub mod cli;
pub mod commands;
pub mod container_cli;
pub mod context;
pub mod face;
pub mod log;
pub mod out;
pub mod people_cli;
pub mod tree;
