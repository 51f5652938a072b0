//! The berth command line, shared by its two executables.
//!
//! `berth` is the runtime face (runc's command line) and stays small: peak memory and start
//! latency of `create`, `start`, `exec`... are the product. The people face (images, networks,
//! the tap switch, `run IMAGE CMD...`) needs a registry client, TLS, netlink and nftables code
//! that the runtime path never runs, so it lives in the sibling executable `berth-people`.
//! Both parse the same command line ([`cli`]); they differ only in their [`face::PeopleFace`]:
//! `berth` hands people-face commands to `berth-people` ([`face::Exec`]), `berth-people` runs
//! them in process ([`people::InProcess`]). Code that only the in-process face reaches is not
//! linked into `berth`.

mod cli;
mod commands;
mod face;
mod log;
mod people;

/// `berth`'s program.
pub fn runtime_main() -> std::process::ExitCode {
    cli::main::<face::Exec>()
}

/// `berth-people`'s program.
pub fn people_main() -> std::process::ExitCode {
    cli::main::<people::InProcess>()
}
