//! Compiled seccomp filters, cached in the state root by profile: libseccomp's compilation
//! of a profile like Docker's default (~360 syscall names, three architectures) costs ~7 ms
//! of CPU, loading the program it makes costs one syscall. Every container of a client uses
//! one or two profiles, so after the first create each later create and exec of the same
//! profile reads one small file instead (crun caches the same way).
//!
//! An entry is `<root>/seccomp#cache/<key>`: a magic line, the profile's JSON, the BPF
//! program and its seccomp(2) flags. The key is a hash of the profile's JSON, berth's
//! version and libseccomp's; an entry is used only if the JSON stored in it is the profile
//! byte for byte, so a hash collision or a damaged file can only cost a compilation. `#` is
//! not allowed in container IDs, so the name never meets a container's directory. At most
//! [`MAX_ENTRIES`] profiles are kept; writing one more clears the others.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use crate::init::security::{self, CompiledFilter};

/// The cache directory's name in the state root.
pub const DIR: &str = "seccomp#cache";
const MAX_ENTRIES: usize = 64;
// 2: the program is a binary tree (security::compile); a linear one of version 1 is recompiled.
const MAGIC: &[u8] = b"berth-seccomp-bpf 2\n";

/// The compiled filter for `profile`: from the cache under `root`, else compiled (and
/// stored for the next caller; a cache that cannot be written only costs the compilation).
pub fn compiled(root: &Path, profile: &LinuxSeccomp) -> Result<CompiledFilter, super::Error> {
    let json = serde_json::to_vec(profile).map_err(|e| super::Error::Seccomp(e.to_string()))?;
    let dir = root.join(DIR);
    let path = dir.join(key(&json));
    if let Some(hit) = std::fs::read(&path).ok().and_then(|b| decode(&b, &json)) {
        return Ok(hit);
    }
    let filter = security::compile(profile).map_err(|e| super::Error::Seccomp(e.0))?;
    store(&dir, &path, &encode(&json, &filter));
    Ok(filter)
}

fn key(json: &[u8]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    json.hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    let v = libseccomp::ScmpVersion::current().ok();
    v.map(|v| (v.major, v.minor, v.micro)).hash(&mut h);
    format!("{:016x}", h.finish())
}

fn encode(json: &[u8], filter: &CompiledFilter) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 12 + json.len() + filter.bpf.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&filter.flags.to_le_bytes());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(json);
    out.extend_from_slice(&filter.bpf);
    out
}

fn decode(bytes: &[u8], json: &[u8]) -> Option<CompiledFilter> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (flags, rest) = rest.split_first_chunk::<4>()?;
    let (len, rest) = rest.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    let (stored, bpf) = (rest.get(..len)?, rest.get(len..)?);
    let instruction = std::mem::size_of::<libc::sock_filter>();
    (stored == json && !bpf.is_empty() && bpf.len().is_multiple_of(instruction)).then(|| {
        CompiledFilter {
            bpf: bpf.to_vec(),
            flags: u32::from_le_bytes(*flags),
        }
    })
}

fn store(dir: &Path, path: &Path, bytes: &[u8]) {
    if std::fs::create_dir(dir).is_err() && !dir.is_dir() {
        return;
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    if entries.len() >= MAX_ENTRIES {
        for old in entries {
            let _ = std::fs::remove_file(old);
        }
    }
    let _ = berth_common::fs::write_atomic(
        path,
        bytes,
        Some(0o600),
        berth_common::fs::Durability::Crash,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(names: &[&str]) -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": names, "action": "SCMP_ACT_ERRNO"}]
        }))
        .unwrap()
    }

    #[test]
    fn a_cached_filter_is_the_compiled_one_and_only_for_its_profile() {
        let root = tempfile::tempdir().unwrap();
        let a = profile(&["mkdir"]);
        let first = compiled(root.path(), &a).unwrap();
        assert_eq!(first, security::compile(&a).unwrap());
        let entries = || std::fs::read_dir(root.path().join(DIR)).unwrap().count();
        assert_eq!(entries(), 1);
        assert_eq!(compiled(root.path(), &a).unwrap(), first, "a hit");
        let b = profile(&["rmdir"]);
        assert_ne!(compiled(root.path(), &b).unwrap(), first);
        assert_eq!(entries(), 2);
        // An entry whose stored profile is another one's is not used.
        let json_a = serde_json::to_vec(&a).unwrap();
        let json_b = serde_json::to_vec(&b).unwrap();
        let entry_b = root.path().join(DIR).join(key(&json_b));
        std::fs::write(&entry_b, encode(&json_a, &first)).unwrap();
        assert_eq!(
            compiled(root.path(), &b).unwrap(),
            security::compile(&b).unwrap()
        );
        // A damaged entry is compiled again.
        std::fs::write(&entry_b, b"berth-seccomp-bpf 1\nxx").unwrap();
        assert_eq!(
            compiled(root.path(), &b).unwrap(),
            security::compile(&b).unwrap()
        );
    }
}
