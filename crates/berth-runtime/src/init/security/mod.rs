//! What limits the container's program: capabilities (the five sets, in the right order
//! around the uid switch), the uid/gid switch itself, rlimits, no_new_privs and seccomp.
//!
//! Runs in the container init after the root is entered and before execve. One file per
//! concern: caps, ids, rlimits, attrs (scheduler, io priority, personality), lsm, seccomp,
//! mempolicy.

mod attrs;
mod caps;
mod ids;
mod lsm;
mod mempolicy;
mod rlimits;
mod seccomp;

pub use attrs::apply_process_attrs;
pub use caps::{apply_caps, drop_bounding, supported as supported_caps, unsupported_caps};
pub use ids::switch_user;
pub use lsm::{apply_apparmor, check_lsm, LsmError};
pub use mempolicy::{apply_memory_policy, check_memory_policy};
pub use rlimits::set_rlimits;
pub use seccomp::{
    build_seccomp, compile, seccomp_archs, wants_notify, CompiledFilter, SECCOMP_FLAGS,
};
