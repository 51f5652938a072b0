//! What a pod must not leave behind once RemovePodSandbox returned.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::host;
use crate::instance::Instance;
use crate::util::ensure;

/// host-local's lease files for `ip` (one per network directory under its dataDir).
pub fn leases(ipam_dir: &Path, ip: &str) -> Vec<PathBuf> {
    std::fs::read_dir(ipam_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(ip))
        .filter(|p| p.exists())
        .collect()
}

/// After RemovePodSandbox: no shim, process, mount, cgroup, netns, lease or runtime state of
/// the pod remains, and no runtime call failed along the way.
pub fn nothing_left(
    inst: &Instance,
    ids: &[String],
    netns: &Path,
    pids: &[u32],
) -> Result<(), String> {
    // A shim exits after containerd's Shutdown call returns: bounded wait for it.
    let socket = inst.socket.to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !host::processes_mentioning(&socket).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let shims = host::processes_mentioning(&socket);
    ensure(shims.is_empty(), || {
        format!("shims still running 30s after RemovePodSandbox: pids {shims:?}")
    })?;
    let alive: Vec<_> = pids
        .iter()
        .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        .collect();
    ensure(alive.is_empty(), || {
        format!("pod processes still alive: {alive:?}")
    })?;
    let mounts = host::mounts_under(inst.dir());
    ensure(mounts.is_empty(), || {
        format!("mounts left under {}: {mounts:?}", inst.dir().display())
    })?;
    let cgroups = host::cgroups_named(ids);
    ensure(cgroups.is_empty(), || format!("cgroups left: {cgroups:?}"))?;
    let children = host::cgroup_parent_children(&inst.cgroup_parent);
    ensure(children.is_empty(), || {
        format!("cgroups left under the pod parent: {children:?}")
    })?;
    ensure(!host::is_mount_point(netns) && !netns.exists(), || {
        format!("netns {} left", netns.display())
    })?;
    let state: Vec<_> = std::fs::read_dir(inst.runtime_root.join("k8s.io"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    ensure(state.is_empty(), || {
        format!("runtime state left: {state:?}")
    })?;
    let cached: Vec<_> = std::fs::read_dir(host::CNI_CACHE)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&ids[0]))
        .collect();
    ensure(cached.is_empty(), || {
        format!("CNI result cache left: {cached:?}")
    })?;
    // The shim only logs some runtime failures (e.g. `kill --all ID 9` after the init of a
    // container in the pod's pid namespace exited); go-runc words every non-zero exit so.
    // Not counted: containerd's "cleanup warnings" after a shim exits, whose `delete --force`
    // of a container the runtime already deleted fails with runc as well.
    let failed: Vec<String> = std::fs::read_to_string(inst.dir().join("containerd.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("did not terminate successfully") && !l.contains("cleanup warnings"))
        .map(str::to_string)
        .collect();
    ensure(failed.is_empty(), || {
        format!(
            "runtime calls failed (containerd log):\n{}",
            failed.join("\n")
        )
    })?;
    eprintln!(
        "--- nothing left: shims, processes, mounts, cgroups, netns, IP lease, runtime state"
    );
    Ok(())
}
