//! Loading and validating a bundle's config.json (oci-spec types, no hand-written structs).
//!
//! Everything berth cannot honour is refused here, at create, with a message naming the
//! field: nothing in a config is silently ignored.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxNamespaceType, Spec};

use crate::text::Shown;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid {path}: {field}: {source}")]
    Parse {
        path: PathBuf,
        /// The JSON path of the offending field (process.args), "." for the document.
        field: String,
        source: serde_json::Error,
    },
    #[error("invalid config.json: {0}")]
    Invalid(String),
}

/// Reads and validates `<bundle>/config.json`.
pub fn load_bundle(bundle: &Path) -> Result<Spec, SpecError> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|source| SpecError::Read {
        path: path.clone(),
        source,
    })?;
    let mut de = serde_json::Deserializer::from_slice(&text);
    let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| SpecError::Parse {
        path: path.clone(),
        field: e.path().to_string(),
        source: e.into_inner(),
    })?;
    validate(&spec)?;
    Ok(spec)
}

/// The absolute root filesystem path (root.path is relative to the bundle when relative).
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf, SpecError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| SpecError::Invalid("root is missing".into()))?;
    let path = bundle.join(root.path());
    std::fs::canonicalize(&path).map_err(|source| SpecError::Read { path, source })
}

fn invalid(msg: impl Into<String>) -> SpecError {
    SpecError::Invalid(msg.into())
}

/// Only sysctls that belong to a namespace the container has of its own may be set (as
/// runc): IPC ones with an ipc namespace, net.* with a network namespace,
/// kernel.hostname/domainname with a uts namespace. Anything else would change the host.
fn check_sysctl(key: &str, has_ns: impl Fn(LinuxNamespaceType) -> bool) -> Result<(), SpecError> {
    if key.is_empty() || key.contains('/') || key.split('.').any(|p| p.is_empty() || p == "..") {
        return Err(invalid(format!(
            "sysctl key {} is not a sysctl name",
            Shown(key)
        )));
    }
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let (needs, ns) = if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        ("an ipc namespace", LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        ("a network namespace", LinuxNamespaceType::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        ("a uts namespace", LinuxNamespaceType::Uts)
    } else {
        return Err(invalid(format!(
            "sysctl {} is not namespaced: setting it would change the host",
            Shown(key)
        )));
    };
    if !has_ns(ns) {
        return Err(invalid(format!(
            "sysctl {} needs {needs} of the container's own",
            Shown(key)
        )));
    }
    Ok(())
}

/// What a config without a `linux` section asks for: nothing (runc) — no namespaces, so
/// the container shares the caller's, no masks, no limits. Not oci-spec's `Default`, which
/// lists default namespaces and masks.
pub fn empty_linux() -> Linux {
    let mut linux = Linux::default();
    linux
        .set_namespaces(None)
        .set_masked_paths(None)
        .set_readonly_paths(None)
        .set_resources(None);
    linux
}

/// Structural checks that serde cannot express.
pub fn validate(spec: &Spec) -> Result<(), SpecError> {
    if !spec.version().starts_with("1.") {
        return Err(invalid(format!(
            "ociVersion {} is not a 1.x runtime-spec version",
            Shown(spec.version())
        )));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process is missing"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid("process.args must name a program"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(format!(
            "process.cwd {} must be an absolute path",
            Shown(process.cwd())
        )));
    }
    if spec.root().is_none() {
        return Err(invalid("root is missing"));
    }
    for m in spec.mounts().iter().flatten() {
        if m.destination().as_os_str().is_empty() {
            return Err(invalid("a mount has an empty destination"));
        }
        let typ = m.typ().as_deref().unwrap_or("");
        let is_bind = typ == "bind"
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        crate::init::rootfs::id_mapping(m, spec.linux().as_ref())
            .map_err(|e| invalid(format!("mount {:?}: {e}", m.destination())))?;
        let dest = crate::init::rootfs::clean_path(m.destination());
        crate::init::rootfs::check_proc_destination(&dest, typ, is_bind)
            .map_err(|e| invalid(format!("mount {:?}: {e}", m.destination())))?;
    }
    // The names belong to a UTS namespace (new or joined): setting them in the caller's
    // would rename the host. Refused, as runc does.
    let has_uts = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Uts));
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if value.as_deref().is_some_and(|v| !v.is_empty()) && !has_uts {
            return Err(invalid(format!(
                "{field} is set but the container has no UTS namespace of its own"
            )));
        }
    }
    let linux = match spec.linux() {
        Some(l) => l,
        None => return Ok(()),
    };
    let mut seen = HashSet::new();
    let mut new_userns = false;
    for ns in linux.namespaces().iter().flatten() {
        if !seen.insert(ns.typ()) {
            return Err(invalid(format!(
                "namespace {} is listed more than once",
                ns.typ()
            )));
        }
        if ns.typ() == LinuxNamespaceType::User && ns.path().is_none() {
            new_userns = true;
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(invalid(format!(
                    "namespace {} path {} must be absolute",
                    ns.typ(),
                    Shown(p)
                )));
            }
        }
    }
    // Masks and read-only paths are mounts: without a mount namespace of its own they
    // would be made in the caller's. Refused, as runc does.
    let restricts = |p: &Option<Vec<String>>| p.as_ref().is_some_and(|p| !p.is_empty());
    if !seen.contains(&LinuxNamespaceType::Mount)
        && (restricts(linux.masked_paths()) || restricts(linux.readonly_paths()))
    {
        return Err(invalid(
            "linux.maskedPaths and linux.readonlyPaths need a mount namespace of the \
             container's own (none is listed in linux.namespaces)",
        ));
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_userns && !has_maps {
        return Err(invalid(
            "a new user namespace needs linux.uidMappings and linux.gidMappings",
        ));
    }
    // Joined by path, the mappings must be the namespace's: create compares them once the
    // init has joined it (containerd 2.3 pins a pod's user namespace and passes both).
    if !seen.contains(&LinuxNamespaceType::User) && has_maps {
        return Err(invalid(
            "linux.uidMappings/gidMappings are given but the container has no user namespace",
        ));
    }
    if let Some(sysctl) = linux.sysctl() {
        let has_ns = |t: LinuxNamespaceType| seen.contains(&t);
        for key in sysctl.keys() {
            check_sysctl(key, has_ns)?;
        }
    }
    if let Some(p) = linux.personality() {
        if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(invalid(
                "linux.personality.flags are not supported by berth",
            ));
        }
    }
    if let Some(seccomp) = linux.seccomp() {
        if crate::init::security::wants_notify(seccomp) && seccomp.listener_path().is_none() {
            return Err(invalid(
                "linux.seccomp uses SCMP_ACT_NOTIFY but gives no listenerPath",
            ));
        }
    }
    if let Some(prop) = linux.rootfs_propagation() {
        if !prop.is_empty() && crate::init::rootfs::propagation_flag(prop).is_none() {
            return Err(invalid(format!(
                "rootfsPropagation {} is not a propagation mode",
                Shown(prop)
            )));
        }
    }
    if linux.intel_rdt().is_some() {
        return Err(invalid(intel_rdt_refusal()));
    }
    if let Some(devices) = linux.net_devices() {
        let has_netns = seen.contains(&LinuxNamespaceType::Network);
        crate::container::check_net_devices(devices, has_netns).map_err(invalid)?;
    }
    if let Some(policy) = linux.memory_policy() {
        crate::init::security::check_memory_policy(policy).map_err(invalid)?;
    }
    Ok(())
}

/// linux.intelRdt is refused rather than ignored (`berth features` says it is not
/// supported): berth has no resctrl write path, which needs a host with resctrl to test.
fn intel_rdt_refusal() -> &'static str {
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .is_ok_and(|m| m.lines().any(|l| l.contains(" - resctrl ")));
    if mounted {
        "linux.intelRdt is not supported by berth"
    } else {
        "linux.intelRdt: the host has no resctrl filesystem mounted"
    }
}

/// The config `berth spec` writes (runc's defaults, with a terminal and hostname "berth");
/// `berth run IMAGE` starts from it too. `rootless` maps the caller (the owner of this
/// process) into a user namespace.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = if rootless {
        let (uid, gid) = std::fs::metadata("/proc/self")
            .map(|m| (m.uid(), m.gid()))
            .unwrap_or((0, 0));
        Spec::rootless(uid, gid)
    } else {
        Spec::default()
    };
    spec.set_version("1.0.2".into());
    spec.set_hostname(Some("berth".into()));
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(true));
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(key: &str, ns: &[LinuxNamespaceType]) -> Result<(), SpecError> {
        check_sysctl(key, |t| ns.contains(&t))
    }

    /// execCPUAffinity is checked by the vendored oci-spec's parser (vendor/README.md), which
    /// must take exactly what the spec's pattern `^(\d+(-\d+)?)(,\d+(-\d+)?)*$` takes.
    #[test]
    fn exec_cpu_affinity_follows_the_spec_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let load = |affinity: &str| {
            let config = serde_json::json!({
                "ociVersion": "1.2.0",
                "root": {"path": "rootfs"},
                "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                            "execCPUAffinity": {"initial": affinity, "final": "0"}},
            });
            std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
            load_bundle(dir.path())
        };
        for good in ["0", "0-3", "1,3", "0-1,4,6-7", "12"] {
            if let Err(e) = load(good) {
                panic!("{good} should be accepted: {e}");
            }
        }
        for bad in ["", "a", "1-", "-1", "1,", ",1", "1-2-3", "1 ,2", "0x1"] {
            let err = load(bad).unwrap_err().to_string();
            assert!(err.contains("execCPUAffinity"), "{bad}: {err}");
        }
    }

    #[test]
    fn only_namespaced_sysctls_with_their_namespace() {
        use LinuxNamespaceType as T;
        assert!(check("net.ipv4.ip_forward", &[T::Network]).is_ok());
        assert!(check("kernel.shmmax", &[T::Ipc]).is_ok());
        assert!(check("fs.mqueue.msg_max", &[T::Ipc]).is_ok());
        assert!(check("kernel.hostname", &[T::Uts]).is_ok());
        let err = check("net.ipv4.ip_forward", &[T::Ipc])
            .unwrap_err()
            .to_string();
        assert!(err.contains("net.ipv4.ip_forward") && err.contains("network namespace"));
        assert!(check("kernel.sem", &[T::Network]).is_err());
        assert!(check("kernel.domainname", &[]).is_err());
        let err = check("vm.swappiness", &[T::Network, T::Ipc, T::Uts])
            .unwrap_err()
            .to_string();
        assert!(err.contains("vm.swappiness") && err.contains("not namespaced"));
        assert!(check("kernel.shm_rmid_forced.", &[T::Ipc]).is_err());
        assert!(check("net/../../etc", &[T::Network]).is_err());
    }
}
