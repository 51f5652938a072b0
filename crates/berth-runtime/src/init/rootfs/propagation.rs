//! The root's propagation before the config's mounts, and the rootfs made a mount point.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use rustix::mount::MountFlags;

use super::propagation_flag;
use super::syscall::{ms, Syscall};
use crate::init::error::{Ctx, InitError};

/// Everything before the config's mounts: propagation and the rootfs as a mount point.
///
/// As runc's prepareRoot: the root propagation is applied to every mount at once, so with
/// "rshared" the copies of the host's shared mounts stay in the host's peer groups (and a
/// bind of one joins that group: Kubernetes' Bidirectional mounts). Only the mount that
/// holds the rootfs is made private if it is shared, so that neither the rootfs bind nor
/// pivot_root (which refuses a shared parent) reaches the host. Unbindable modes wait for
/// `finish`: the rootfs could not be bound from an unbindable mount.
pub fn prepare(os: &dyn Syscall, spec: &Spec, rootfs: &Path) -> Result<(), InitError> {
    let linux = spec.linux().as_ref();
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
        .filter(|p| !p.contains(ms::UNBINDABLE))
        .unwrap_or(ms::SLAVE | MountFlags::REC);
    os.mount(None, Path::new("/"), None, prop, None)
        .ctx(|| "set the propagation of /".into())?;
    // As runc: a shared mount holding the rootfs is made private, so the rootfs bind below
    // propagates nowhere and pivot_root accepts it (it refuses a shared new root, which a
    // non-recursive "private" of / would leave below it); a slave stays a slave, so
    // "rslave" shows in the container. A shared / itself is made private too: pivot_root
    // refuses a shared old root. After a recursive private or slave of / (the default)
    // no mount is shared any more: mountinfo need not be read on that common path.
    let mut private = Vec::new();
    if !prop.contains(MountFlags::REC) || prop.contains(ms::SHARED) {
        let (holder, holder_shared) = mount_holding(rootfs)?;
        if holder_shared {
            private.push(holder.clone());
        }
        if prop.contains(ms::SHARED) && holder != Path::new("/") {
            private.push(PathBuf::from("/"));
        }
    }
    for point in &private {
        os.mount(None, point, None, ms::PRIVATE, None)
            .ctx(|| format!("make {point:?} private"))?;
    }
    os.mount(
        Some(rootfs),
        rootfs,
        None,
        MountFlags::BIND | MountFlags::REC,
        None,
    )
    .ctx(|| format!("bind rootfs {rootfs:?}"))?;
    Ok(())
}

/// The mount point of the mount that holds `path` (the longest mount point in
/// /proc/self/mountinfo that is an ancestor of it), and whether that mount is shared.
fn mount_holding(path: &Path) -> Result<(PathBuf, bool), InitError> {
    let info =
        std::fs::read_to_string("/proc/self/mountinfo").ctx(|| "read mountinfo".to_string())?;
    info.lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let point = PathBuf::from(berth_common::mountinfo::unescape(fields.get(4)?));
            // Optional fields (shared:N, master:N, …) run from the 7th to the "-".
            let shared = fields[6.min(fields.len())..]
                .iter()
                .take_while(|f| **f != "-")
                .any(|f| f.starts_with("shared:"));
            Some((point, shared))
        })
        .filter(|(p, _)| path.starts_with(p))
        .max_by_key(|(p, _)| p.components().count())
        .ok_or_else(|| InitError(format!("no mount holds {path:?}")))
}
