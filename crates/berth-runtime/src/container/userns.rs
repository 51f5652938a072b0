//! The parent side of a container's user namespace: the id maps of a new one written, the
//! mappings of one joined by path checked, the bind sources opened before the clone (what
//! the container's root may not reach or do), and the init cloned into a joined one.
//!
//! The clone: when a user namespace is joined by path and a pid namespace is new, the pid
//! namespace must belong to the joined user namespace (containerd 2.3's pods pin one), or
//! the container could never mount its /proc. A new pid namespace only takes children, and
//! berth itself cannot join the user namespace (it could not come back), so a short-lived
//! helper joins it and clones the init as berth's own child (CLONE_PARENT).

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use berth_common::io::{IoError, Step};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use rustix::thread::UnshareFlags;

use super::child::ChildGuard;
use super::{io, Error, Result};
use crate::init;
use crate::namespaces::{setns, NamespacePlan};
use crate::sys::{self, Cloned};
use crate::userns::map_text;

/// Clones the init with `flags` (CLONE_NEWPID among them) from inside the user namespace
/// at `userns`. In the parent: the init's pid and a pidfd (the init is this process's
/// child, so its pid cannot be reused before it is reaped here).
pub(crate) fn clone_in_user_ns(userns: &Path, flags: UnshareFlags) -> Result<Cloned> {
    let ns = std::fs::File::open(userns).step("open user namespace", userns)?;
    let (mut ours, mut theirs) = UnixStream::pair().map_err(io("socketpair"))?;
    match sys::clone3(0, None).map_err(io("clone the user namespace helper"))? {
        Cloned::Child => {
            drop(ours);
            let cloned = setns(ns.as_fd(), UnshareFlags::NEWUSER)
                .map_err(std::io::Error::from)
                .and_then(|()| sys::clone3(flags.bits() as u64 | libc::CLONE_PARENT as u64, None));
            let report = match cloned {
                Ok(Cloned::Child) => {
                    drop(theirs);
                    return Ok(Cloned::Child);
                }
                Ok(Cloned::Parent { pid, .. }) => pid,
                Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
            };
            let code = i32::from(theirs.write_all(&report.to_ne_bytes()).is_err());
            sys::exit_now(code)
        }
        Cloned::Parent { pid, pidfd } => {
            drop(theirs);
            // Reaped when dropped: it exits right after reporting.
            let _helper = ChildGuard::new(pid, pidfd);
            let mut buf = [0u8; 4];
            ours.read_exact(&mut buf)
                .map_err(io("read the init's pid from the user namespace helper"))?;
            let init = i32::from_ne_bytes(buf);
            if init <= 0 {
                let e = std::io::Error::from_raw_os_error(-init);
                return Err(
                    IoError::new("join user namespace and clone the init", userns, e).into(),
                );
            }
            let pidfd = sys::pidfd_open(init).map_err(io("pidfd of the init"))?;
            Ok(Cloned::Parent { pid: init, pidfd })
        }
    }
}

/// Opens the bind sources the init cannot (idmapped ones; every one for a container in a
/// user namespace when this is root): see init/rootfs/sources.rs.
pub(super) fn open_sources(
    spec: &Spec,
    bundle: &Path,
    plan: &NamespacePlan,
) -> Result<Vec<Option<init::rootfs::Source>>> {
    let in_userns = plan.is_own(LinuxNamespaceType::User) && rustix::process::geteuid().is_root();
    init::rootfs::open_sources(&init::rootfs::Host, spec, bundle, in_userns)
        .map_err(|e| Error::MountSources(e.0))
}

/// A user namespace joined by path with mappings in the config (containerd 2.3's pods):
/// the mappings must be the namespace's own. The init has joined it, so its maps are
/// the namespace's.
pub(super) fn check_joined_maps(
    plan: &NamespacePlan,
    pid: i32,
    linux: &oci_spec::runtime::Linux,
) -> Result<()> {
    let Some((_, path)) = plan
        .joins()
        .iter()
        .find(|(t, _)| *t == LinuxNamespaceType::User)
    else {
        return Ok(());
    };
    for (field, file, given) in [
        ("uidMappings", "uid_map", linux.uid_mappings()),
        ("gidMappings", "gid_map", linux.gid_mappings()),
    ] {
        let Some(given) = given.as_deref().filter(|g| !g.is_empty()) else {
            continue;
        };
        let actual = crate::userns::maps_of(pid, file).step(
            "read the id map of the joined user namespace",
            format!("/proc/{pid}/{file}"),
        )?;
        let config = crate::userns::triples(given);
        if config != actual {
            return Err(Error::JoinedUserNsMaps {
                field,
                path: path.display().to_string(),
                config: crate::userns::shown(&config),
                actual: crate::userns::shown(&actual),
            });
        }
    }
    Ok(())
}

/// Writes the init's uid/gid maps while it waits. Root writes any number of ranges itself.
/// A user mapping only their own uid and gid writes them too, after denying setgroups (the
/// kernel's rule for unprivileged maps); anything more goes through the setuid helpers
/// newuidmap/newgidmap (Debian's uidmap), which check /etc/subuid and /etc/subgid.
pub(super) fn write_id_maps(pid: i32, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let uids = linux.uid_mappings().as_deref().unwrap_or_default();
    let gids = linux.gid_mappings().as_deref().unwrap_or_default();
    let base = PathBuf::from(format!("/proc/{pid}"));
    let own = |maps: &[LinuxIdMapping], id: u32| {
        maps.len() == 1 && maps[0].size() == 1 && maps[0].host_id() == id
    };
    if rustix::process::geteuid().is_root() {
        std::fs::write(base.join("uid_map"), map_text(uids)).map_err(io("write uid_map"))?;
        std::fs::write(base.join("gid_map"), map_text(gids)).map_err(io("write gid_map"))?;
    } else if own(uids, rustix::process::geteuid().as_raw())
        && own(gids, rustix::process::getegid().as_raw())
    {
        std::fs::write(base.join("setgroups"), "deny").map_err(io("write setgroups"))?;
        std::fs::write(base.join("uid_map"), map_text(uids)).map_err(io("write uid_map"))?;
        std::fs::write(base.join("gid_map"), map_text(gids)).map_err(io("write gid_map"))?;
    } else {
        id_map_helper("newuidmap", pid, uids)?;
        id_map_helper("newgidmap", pid, gids)?;
    }
    Ok(())
}

fn id_map_helper(helper: &'static str, pid: i32, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd
        .output()
        .map_err(|source| Error::IdMapHelperMissing { helper, source })?;
    if !out.status.success() {
        return Err(Error::IdMapHelperFailed {
            helper,
            pid,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}
