//! Names on user networks: the `/etc/hosts` of every member of a bridge network lists the
//! other members by container name, so `ping db` works as on a Docker user network.
//!
//! The list is kept in the hosts file each image-form container has in its bundle (bind-mounted
//! over `/etc/hosts`): whenever a member joins or leaves (the net-setup hook, `network
//! connect`/`disconnect`, the release at exit or delete), [`refresh`] rewrites the network's
//! lines in every member's file from the network's leases. The rewrite is in place (same
//! inode), never a rename, because the bind mount holds the inode; a per-network lock makes
//! concurrent refreshes take turns, and each reads the leases under it, so the last one leaves
//! every file current. Runtime-face members (attached by `network connect`) have no such file:
//! they are listed in the others' files but keep their own.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use berth_common::io::Step;
use berth_net::store::StoreError;
use berth_net::{Ipam, NetworkStore};
use rustix::fs::{flock, FlockOperation};

use crate::error::PeopleError;

/// The end of every line that belongs to network N: `IP\tNAME\t# berth network N`.
const TAG: &str = "# berth network ";

/// Rewrites the lines of `network` in the hosts file of each of its members (and of
/// `left`, a container that just left it, so it drops them). A network that is gone has
/// no members left to tell.
pub fn refresh(
    store: &NetworkStore,
    image_root: &Path,
    network: &str,
    left: Option<&str>,
) -> Result<(), PeopleError> {
    let net = match store.get(network) {
        Ok(n) => n,
        Err(StoreError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let lock_path = store.root().join(format!(".hosts-{network}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .step("open", &lock_path)?;
    flock(&lock, FlockOperation::LockExclusive).step("lock", &lock_path)?;
    let leases = Ipam::new(store, &net).leases()?;
    let tag = format!("{TAG}{network}");
    let gone = left.filter(|id| !leases.contains_key(*id));
    for member in leases.keys().map(String::as_str).chain(gone) {
        let others: String = leases
            .iter()
            .filter(|(id, _)| id.as_str() != member && Some(member) != gone)
            .map(|(id, l)| format!("{}\t{id}\t{tag}\n", l.ip))
            .collect();
        let hosts = image_root.join("containers").join(member).join("hosts");
        rewrite(&hosts, &tag, &others)?;
    }
    Ok(())
}

/// Replaces the lines ending in `tag` with `lines`, in place; a missing file (a runtime-face
/// container, or one whose bundle is already gone) is left alone.
fn rewrite(path: &Path, tag: &str, lines: &str) -> Result<(), PeopleError> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(berth_common::io::IoError::new("open", path, e).into()),
    };
    let mut text = String::new();
    file.read_to_string(&mut text).step("read", path)?;
    let mut out: String = text
        .lines()
        .filter(|l| !l.ends_with(tag))
        .flat_map(|l| [l, "\n"])
        .collect();
    out.push_str(lines);
    if out != text {
        write_in_place(&mut file, &out).step("write", path)?;
    }
    Ok(())
}

fn write_in_place(file: &mut File, text: &str) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.set_len(text.len() as u64)
}
