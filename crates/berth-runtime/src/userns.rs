//! User namespaces as id maps: the one berth makes for an idmapped mount (the kernel takes
//! a mount's mapping from a user namespace, never from a list), and the maps of a user
//! namespace a config joins by path, compared with the mappings the config gives.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use oci_spec::runtime::LinuxIdMapping;

use crate::container::child::ChildGuard;
use crate::sys::{self, Cloned};

/// One mapping as the kernel lists it in uid_map: (inside, outside, count).
pub type Triple = (u32, u32, u32);

/// The mappings in the kernel's order-free form: sorted triples.
pub fn triples(maps: &[LinuxIdMapping]) -> Vec<Triple> {
    let mut t: Vec<Triple> = maps
        .iter()
        .map(|m| (m.container_id(), m.host_id(), m.size()))
        .collect();
    t.sort_unstable();
    t
}

/// The text uid_map and gid_map take: one "inside outside count" line per mapping.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Triples shown on one line for a message: `0 200000 65536, 65536 0 1`.
pub fn shown(t: &[Triple]) -> String {
    if t.is_empty() {
        return "(none)".into();
    }
    let each: Vec<String> = t.iter().map(|(i, o, n)| format!("{i} {o} {n}")).collect();
    each.join(", ")
}

/// The sorted triples of a /proc/<pid>/uid_map or gid_map text (None: not that format).
pub fn parse_map(text: &str) -> Option<Vec<Triple>> {
    let mut t = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace().map(|n| n.parse::<u32>().ok());
        t.push((f.next()??, f.next()??, f.next()??));
    }
    t.sort_unstable();
    Some(t)
}

/// The maps of the user namespace process `pid` is in, as this process's own user
/// namespace sees them (`uid_map` or `gid_map`).
pub fn maps_of(pid: i32, file: &str) -> io::Result<Vec<Triple>> {
    let path = format!("/proc/{pid}/{file}");
    let text = std::fs::read_to_string(&path)?;
    parse_map(&text).ok_or_else(|| io::Error::other(format!("{path}: not an id map")))
}

/// A user namespace whose maps are exactly `uids` and `gids`, for
/// mount_setattr(MOUNT_ATTR_IDMAP). A child cloned into a new user namespace holds it
/// while this process (root) writes its maps; the returned fd keeps the namespace alive
/// after the child is gone. The child lives until its socket closes, so it never outlives
/// this process; the guard kills and reaps it on every path.
///
/// The caller must be single-threaded (clone3 with fork semantics).
pub fn with_maps(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> io::Result<OwnedFd> {
    let (ours, theirs) = UnixStream::pair()?;
    match sys::clone3(libc::CLONE_NEWUSER as u64, None)? {
        Cloned::Child => {
            drop(ours);
            // EOF (or an error) once the parent is done with us or gone.
            let _ = (&theirs).read(&mut [0u8]);
            sys::exit_now(0)
        }
        Cloned::Parent { pid, pidfd } => {
            drop(theirs);
            let child = ChildGuard::new(pid, pidfd);
            let base = Path::new("/proc").join(pid.to_string());
            std::fs::write(base.join("uid_map"), map_text(uids))?;
            std::fs::write(base.join("gid_map"), map_text(gids))?;
            let ns = std::fs::File::open(base.join("ns/user"))?;
            drop(ours);
            drop(child);
            Ok(ns.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_map_reads_as_sorted_triples() {
        let text = "         1     100000      65535\n         0       1000          1\n";
        assert_eq!(
            parse_map(text),
            Some(vec![(0, 1000, 1), (1, 100000, 65535)])
        );
        assert_eq!(parse_map(""), Some(vec![]));
        assert_eq!(parse_map("0 1000\n"), None);
        assert_eq!(shown(&[(0, 200000, 65536)]), "0 200000 65536");
        assert_eq!(shown(&[]), "(none)");
    }
}
