//! The OCI runtime library behind berth.
//!
//! `container` holds one file per operation (create, start, kill, delete, …); they share
//! `state` (the state root and locking), `spec` (config.json), `process` (the parent/init
//! handshake), `init` (the code that runs inside the new container), `rootfs`, `security`,
//! `tty` and `hooks`; `text` bounds untrusted values shown in messages; `warn` carries what
//! fails without failing the operation. `sys` is the only module allowed `unsafe`.

pub mod container;
mod copyup;
pub mod exe_guard;
pub mod hooks;
pub mod init;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod security;
mod shared_mnt;
pub mod spec;
pub mod state;
pub mod sys;
pub mod text;
pub mod tty;
pub mod warn;

pub use container::Error;
