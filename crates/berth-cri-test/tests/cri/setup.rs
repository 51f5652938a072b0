//! Which runtime the test drives, and whether this host can run it at all.

use std::path::{Path, PathBuf};

/// Why this host cannot run the test, if it cannot.
pub fn skip_reason() -> Option<String> {
    let uid = std::process::Command::new("id").arg("-u").output();
    if !uid.is_ok_and(|o| o.stdout.trim_ascii() == b"0") {
        return Some("not root (the test starts containerd and containers)".into());
    }
    for tool in ["containerd", "ctr", "containerd-shim-runc-v2"] {
        if which(tool).is_none() {
            return Some(format!("{tool} not installed (apt-get install containerd)"));
        }
    }
    for plugin in ["bridge", "host-local", "loopback"] {
        if !Path::new("/usr/lib/cni").join(plugin).exists() {
            return Some(format!(
                "CNI plugin /usr/lib/cni/{plugin} missing (apt-get install containernetworking-plugins)"
            ));
        }
    }
    None
}

/// `name` looked up on PATH, as a shell would.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The berth under test: `BERTH` (a path, or a name on PATH), else the workspace's release
/// build, else its debug build (which `cargo test --workspace` builds).
pub fn berth_binary() -> Result<PathBuf, String> {
    if let Some(b) = std::env::var_os("BERTH") {
        let b = PathBuf::from(b);
        return Ok(if b.components().count() == 1 {
            which(&b.to_string_lossy()).unwrap_or(b)
        } else {
            b
        });
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    ["release", "debug"]
        .iter()
        .map(|p| {
            target
                .join("x86_64-unknown-linux-gnu")
                .join(p)
                .join("berth")
        })
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "no berth binary under {} (cargo build --release, or set BERTH)",
                target.display()
            )
        })
}
