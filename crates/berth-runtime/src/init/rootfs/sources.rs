//! Bind sources the privileged side opens before the clone, as detached trees the init
//! attaches with move_mount: what a container in a user namespace could not reach (a
//! source under a 0700 directory of the host: its root is an unprivileged id there) or
//! may not make (an idmapped mount needs CAP_SYS_ADMIN over the source filesystem's
//! owner, the host's user namespace).
//!
//! An idmapped mount is an open_tree(OPEN_TREE_CLONE) copy of the source made idmapped
//! with mount_setattr(MOUNT_ATTR_IDMAP) through a user namespace holding exactly the
//! mount's mappings (`crate::userns::with_maps`, one per distinct mapping).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxIdMapping, Mount, Spec};
use rustix::mount::MountFlags;

use super::parse_options;
use super::syscall::Syscall;
use crate::init::error::{Ctx, InitError};
use crate::userns::{triples, Triple};

/// A bind source opened on the privileged side: a detached copy of its mount tree.
pub struct Source {
    pub tree: OwnedFd,
    pub is_dir: bool,
}

/// The id mapping of an idmapped mount.
#[derive(Debug, PartialEq, Eq)]
pub struct IdMapping<'a> {
    pub uids: &'a [LinuxIdMapping],
    pub gids: &'a [LinuxIdMapping],
    /// Every mount below the source too: `ridmap` only (runtime-spec 1.2, as runc); mappings
    /// alone or `idmap` map the top mount, even of an `rbind`.
    pub recursive: bool,
}

fn non_empty(m: &Option<Vec<LinuxIdMapping>>) -> Option<&[LinuxIdMapping]> {
    m.as_deref().filter(|m| !m.is_empty())
}

/// The mapping mount `m` asks for: its own uidMappings/gidMappings, or with the `idmap` or
/// `ridmap` option alone the container's (runtime-spec 1.2). None: not idmapped.
pub fn id_mapping<'a>(
    m: &'a Mount,
    linux: Option<&'a Linux>,
) -> Result<Option<IdMapping<'a>>, String> {
    let opts = parse_options(m.options().as_deref().unwrap_or_default());
    let own = (non_empty(m.uid_mappings()), non_empty(m.gid_mappings()));
    if own == (None, None) && opts.idmap.is_none() {
        return Ok(None);
    }
    let is_bind = m.typ().as_deref() == Some("bind") || opts.flags.contains(MountFlags::BIND);
    if !is_bind {
        return Err(
            "an idmapped mount (uidMappings/gidMappings, idmap, ridmap) must be a bind mount"
                .into(),
        );
    }
    let (uids, gids) = match own {
        (Some(u), Some(g)) => (u, g),
        (None, None) => {
            let of =
                |f: fn(&Linux) -> &Option<Vec<LinuxIdMapping>>| linux.and_then(|l| non_empty(f(l)));
            match (of(Linux::uid_mappings), of(Linux::gid_mappings)) {
                (Some(u), Some(g)) => (u, g),
                _ => return Err("idmap/ridmap without mappings of its own needs linux.uidMappings and linux.gidMappings".into()),
            }
        }
        _ => return Err("an idmapped mount needs both uidMappings and gidMappings".into()),
    };
    Ok(Some(IdMapping {
        uids,
        gids,
        recursive: opts.idmap == Some(true),
    }))
}

/// The source path of a bind as the init would take it (relative: the bundle's).
fn source_path(m: &Mount, bundle: &Path) -> Option<PathBuf> {
    let s = m.source().as_deref()?;
    Some(if s.is_relative() {
        bundle.join(s)
    } else {
        s.to_path_buf()
    })
}

/// Opens, on the privileged side, the bind sources the init needs opened for it (index by
/// index with the config's mounts): every idmapped one, and with `in_userns` (a container
/// in a user namespace, made by root) every bind. The rest the init binds itself.
pub fn open_sources(
    os: &dyn Syscall,
    spec: &Spec,
    bundle: &Path,
    in_userns: bool,
) -> Result<Vec<Option<Source>>, InitError> {
    let linux = spec.linux().as_ref();
    let mut namespaces = Vec::new();
    let mut out = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let fail = |e: String| InitError(format!("mount {:?}: {e}", m.destination()));
        let mapping = id_mapping(m, linux).map_err(fail)?;
        let opts = parse_options(m.options().as_deref().unwrap_or_default());
        let is_bind = m.typ().as_deref() == Some("bind") || opts.flags.contains(MountFlags::BIND);
        if !is_bind || (mapping.is_none() && !in_userns) {
            out.push(None);
            continue;
        }
        let src =
            source_path(m, bundle).ok_or_else(|| fail("bind mount without a source".into()))?;
        let source =
            open_one(os, &src, opts.flags.contains(MountFlags::REC)).map_err(|e| fail(e.0))?;
        if let Some(map) = mapping {
            let userns = userns_for(os, &mut namespaces, &map)
                .map_err(|e| fail(format!("make a user namespace for the id mapping: {e}")))?;
            os.idmap(source.tree.as_fd(), map.recursive, userns)
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::EINVAL) => fail(format!(
                        "{src:?} cannot be idmapped: its filesystem does not support idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP: {e})"
                    )),
                    _ => fail(format!("idmap {src:?}: {e}")),
                })?;
        }
        out.push(Some(source));
    }
    Ok(out)
}

/// The user namespace holding `map`'s mappings, made once per distinct mapping (containerd
/// gives three mounts the same) and kept in `made`.
fn userns_for<'m>(
    os: &dyn Syscall,
    made: &'m mut Vec<(Vec<Triple>, Vec<Triple>, OwnedFd)>,
    map: &IdMapping<'_>,
) -> std::io::Result<BorrowedFd<'m>> {
    let key = (triples(map.uids), triples(map.gids));
    let at = match made.iter().position(|(u, g, _)| (u, g) == (&key.0, &key.1)) {
        Some(i) => i,
        None => {
            let ns = os.userns_with_maps(map.uids, map.gids)?;
            made.push((key.0, key.1, ns));
            made.len() - 1
        }
    };
    Ok(made[at].2.as_fd())
}

/// A detached copy of the mount tree at `src` (with its submounts when `recursive`).
fn open_one(os: &dyn Syscall, src: &Path, recursive: bool) -> Result<Source, InitError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(src)
        .ctx(|| format!("bind source {src:?}"))?;
    let is_dir = file
        .metadata()
        .ctx(|| format!("bind source {src:?}"))?
        .is_dir();
    let tree = os
        .clone_tree(file.as_fd(), recursive)
        .ctx(|| format!("open_tree {src:?}"))?;
    Ok(Source { tree, is_dir })
}

#[cfg(test)]
mod tests {
    use super::super::recorder::{Call, Recorder};
    use super::*;

    const MAP: &str = r#"[{"containerID": 0, "hostID": 200000, "size": 65536}]"#;

    fn spec(mounts: &str) -> Spec {
        let json = format!(
            r#"{{"ociVersion": "1.2.0", "mounts": {mounts},
                "linux": {{"uidMappings": {MAP}, "gidMappings": {MAP}}}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    fn scene() -> (tempfile::TempDir, Recorder) {
        let src = tempfile::tempdir().unwrap();
        for d in ["a", "b", "c"] {
            std::fs::create_dir(src.path().join(d)).unwrap();
        }
        let os = Recorder::new(&[(src.path(), "$src")]);
        (src, os)
    }

    #[test]
    fn idmapped_binds_are_cloned_then_idmapped_through_one_namespace_per_mapping() {
        let (src, os) = scene();
        let s = src.path().display();
        let spec = spec(&format!(
            r#"[{{"destination": "/a", "type": "bind", "source": "{s}/a", "options": ["rbind"],
                  "uidMappings": {MAP}, "gidMappings": {MAP}}},
                {{"destination": "/b", "type": "bind", "source": "{s}/b", "options": ["rbind", "ridmap"]}},
                {{"destination": "/c", "type": "bind", "source": "{s}/c", "options": ["bind"]}},
                {{"destination": "/t", "type": "tmpfs", "source": "tmpfs"}}]"#
        ));
        let opened = open_sources(&os, &spec, src.path(), false).unwrap();
        let kinds: Vec<_> = opened
            .iter()
            .map(|o| o.as_ref().map(|s| s.is_dir))
            .collect();
        // Without a user namespace a plain bind is the init's own.
        assert_eq!(kinds, [Some(true), Some(true), None, None]);
        let text = "0 200000 65536\n".to_string();
        assert_eq!(
            os.calls(),
            [
                Call::CloneTree {
                    from: "$src/a".into(),
                    recursive: true,
                    tree: "tree1".into()
                },
                Call::UserNs {
                    uids: text.clone(),
                    gids: text,
                    userns: "userns2".into()
                },
                // Mappings without `ridmap`: the top mount only, even of an rbind.
                Call::IdMap {
                    tree: "tree1".into(),
                    recursive: false,
                    userns: "userns2".into()
                },
                Call::CloneTree {
                    from: "$src/b".into(),
                    recursive: true,
                    tree: "tree3".into()
                },
                // `ridmap` alone: the container's mappings, every mount below, and the
                // same namespace (the same mapping).
                Call::IdMap {
                    tree: "tree3".into(),
                    recursive: true,
                    userns: "userns2".into()
                },
            ]
        );
    }

    #[test]
    fn in_a_user_namespace_every_bind_source_is_opened_here() {
        let (src, os) = scene();
        let s = src.path().display();
        let spec = spec(&format!(
            r#"[{{"destination": "/c", "type": "bind", "source": "{s}/c", "options": ["rbind"]}}]"#
        ));
        let opened = open_sources(&os, &spec, src.path(), true).unwrap();
        assert!(opened[0].is_some());
        assert_eq!(
            os.calls(),
            [Call::CloneTree {
                from: "$src/c".into(),
                recursive: true,
                tree: "tree1".into()
            }]
        );
    }

    #[test]
    fn idmapped_mounts_are_binds_with_both_mappings() {
        let one = |m: &str| {
            let spec = spec(&format!("[{m}]"));
            let m = &spec.mounts().as_ref().unwrap()[0];
            id_mapping(m, spec.linux().as_ref()).map(|o| o.map(|m| m.recursive))
        };
        assert_eq!(
            one(r#"{"destination": "/x", "type": "bind", "source": "/x", "options": ["ridmap"]}"#),
            Ok(Some(true))
        );
        let err = one(&format!(
            r#"{{"destination": "/x", "type": "tmpfs", "uidMappings": {MAP}, "gidMappings": {MAP}}}"#
        ));
        assert!(err.unwrap_err().contains("bind mount"));
        let err = one(&format!(
            r#"{{"destination": "/x", "type": "bind", "source": "/x", "uidMappings": {MAP}}}"#
        ));
        assert!(err.unwrap_err().contains("both"));
        let no_maps: Spec = serde_json::from_str(
            r#"{"ociVersion": "1.2.0", "mounts": [{"destination": "/x", "type": "bind", "source": "/x", "options": ["idmap"]}]}"#,
        )
        .unwrap();
        let m = &no_maps.mounts().as_ref().unwrap()[0];
        assert!(id_mapping(m, None)
            .unwrap_err()
            .contains("linux.uidMappings"));
    }
}
