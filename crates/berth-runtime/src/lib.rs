//! The OCI runtime library behind berth.
//!
//! The parent side: `container` holds one file per operation (create, start, kill, delete,
//! …); they share `state` (the state root and locking), `spec` (config.json), `process` (the
//! parent/init handshake) and `hooks`. The child side, `init`, is the code that runs inside
//! the new container between clone and execve (root filesystem, security, terminal).
//! `text` bounds untrusted values shown in messages; `warn` carries what fails without
//! failing the operation; `steps` times the named steps of an operation for --debug; `process_start` is what berth's
//! `main` does in place of Rust's runtime start-up. `netlink` is the few rtnetlink
//! requests linux.netDevices makes, by hand. `sys` is the only module allowed `unsafe`.

pub mod container;
pub mod exe_guard;
pub mod hooks;
pub mod init;
pub mod namespaces;
mod netlink;
pub mod process;
pub mod process_start;
pub mod spec;
pub mod state;
pub mod steps;
pub mod sys;
pub mod text;
pub mod userns;
pub mod warn;

pub use container::Error;
