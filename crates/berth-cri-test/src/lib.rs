//! Drives containerd 1.6's CRI over gRPC with a runc-compatible runtime, as a kubelet would.
//!
//! [`Instance`] is a private containerd (own root, state, sockets, CNI network, runtime root)
//! whose CRI plugin runs every pod with the runtime under test; [`host`] reads what a pod leaves
//! on the host (shims, mounts, cgroups, netns, IP leases). The test is tests/cri.rs.

pub mod host;
mod image;
mod instance;
pub mod leftovers;
pub mod setup;

pub use instance::{Instance, Options, IMAGE};

/// Runs `cmd args`, returning stdout; an error names the command and carries its stderr.
pub(crate) fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `Ok` when `cond` holds, else the error `msg` builds.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}
