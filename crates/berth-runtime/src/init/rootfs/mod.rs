//! The container's filesystem view, built inside its new mount namespace: propagation,
//! the config's mounts, device nodes and /dev links, pivot_root, sysctls, read-only and
//! masked paths.
//!
//! Every mount target is resolved with openat2(RESOLVE_IN_ROOT) and mounted through its
//! /proc/self/fd path, so a symlink planted in the rootfs (or racing into it) can never
//! redirect a mount outside the root (CVE-2019-19921, CVE-2021-30465).
//!
//! Every privileged call goes through [`Syscall`]: the init passes [`Host`]; the unit tests
//! (tests.rs) a recorder, to check the order and flags of a config's mounts without root.

mod devices;
mod enter;
mod masks;
mod mounts;
mod options;
mod propagation;
#[cfg(test)]
mod recorder;
mod resolve;
mod sources;
mod syscall;
#[cfg(test)]
mod tests;

pub use enter::{enter, finish};
pub use mounts::mount_all;
pub use options::{option_names, parse_options, propagation_flag, MountOptions, RecursiveAttrs};
pub use propagation::prepare;
pub use resolve::{check_proc_destination, clean_path, fd_path, mkdir_all_in_root, open_in_root};
pub use sources::{id_mapping, open_sources, IdMapping, Source};
pub use syscall::{Host, Syscall};
