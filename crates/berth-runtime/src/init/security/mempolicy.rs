//! linux.memoryPolicy (runtime-spec 1.3): the NUMA policy the init gives itself with
//! set_mempolicy(2) just before it becomes the program, as runc's init does; the program
//! and its children inherit it. The kernel judges the nodes (online, allowed by the
//! cpuset): its EINVAL is reported with the policy it refused.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

use crate::init::InitError;
use crate::sys;

/// Nodes beyond this are refused at create: no kernel has that many (MAX_NUMNODES ≤ 1024).
const MAX_NODE: u32 = 4096;

/// The rules the kernel would otherwise report at the last moment, checked at create:
/// a parsable node list, none for MPOL_DEFAULT and MPOL_LOCAL, at least one for the modes
/// that place memory on given nodes (runc's rules).
pub fn check_memory_policy(p: &LinuxMemoryPolicy) -> Result<(), String> {
    let nodes = parse_nodes(p.nodes().as_deref().unwrap_or(""))
        .map_err(|e| format!("linux.memoryPolicy.nodes: {e}"))?;
    use MemoryPolicyModeType as M;
    match p.mode() {
        M::MpolDefault | M::MpolLocal if !nodes.is_empty() => Err(format!(
            "linux.memoryPolicy: mode {} takes no nodes",
            p.mode()
        )),
        M::MpolBind | M::MpolInterleave | M::MpolWeightedInterleave | M::MpolPreferredMany
            if nodes.is_empty() =>
        {
            Err(format!(
                "linux.memoryPolicy: mode {} needs at least one node",
                p.mode()
            ))
        }
        _ => Ok(()),
    }
}

/// Sets the policy for this thread (the init, then the program it execs).
pub fn apply_memory_policy(p: &LinuxMemoryPolicy) -> Result<(), InitError> {
    let nodes = parse_nodes(p.nodes().as_deref().unwrap_or("")).map_err(InitError)?;
    let bits = nodes.iter().max().map_or(0, |n| n + 1) as usize;
    let word = libc::c_ulong::BITS as usize;
    let mut mask = vec![0 as libc::c_ulong; bits.div_ceil(word).max(1)];
    for n in &nodes {
        mask[*n as usize / word] |= 1 << (*n as usize % word);
    }
    let flags = p.flags().iter().flatten().fold(0, |f, x| f | flag(*x));
    let with_nodes = p.nodes().as_deref().unwrap_or("");
    sys::set_mempolicy(mode(p.mode()) | flags, &mask, bits as u64 + 1).map_err(|e| {
        InitError(format!(
            "linux.memoryPolicy: set_mempolicy({} nodes {with_nodes:?}): {e}{}",
            p.mode(),
            if e.raw_os_error() == Some(libc::EINVAL) {
                " (a node that is not online or not in the container's cpuset, or flags the mode does not take)"
            } else {
                ""
            }
        ))
    })
}

fn mode(m: MemoryPolicyModeType) -> i32 {
    use MemoryPolicyModeType as M;
    match m {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    }
}

fn flag(f: MemoryPolicyFlagType) -> i32 {
    use MemoryPolicyFlagType as F;
    match f {
        F::MpolFNumaBalancing => 1 << 13,
        F::MpolFRelativeNodes => 1 << 14,
        F::MpolFStaticNodes => 1 << 15,
    }
}

/// "0-3,7" → [0, 1, 2, 3, 7]; empty → none.
fn parse_nodes(s: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    if s.trim().is_empty() {
        return Ok(out);
    }
    let num = |t: &str| {
        t.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n < MAX_NODE)
            .ok_or_else(|| format!("{s:?} is not a list of node numbers below {MAX_NODE}"))
    };
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(format!("{s:?}: range {part:?} runs backwards"));
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_nodes;

    #[test]
    fn node_lists() {
        assert_eq!(parse_nodes("").unwrap(), Vec::<u32>::new());
        assert_eq!(parse_nodes("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        for bad in ["a", "1-", "3-1", "1,,2", "4096", "-1"] {
            assert!(parse_nodes(bad).is_err(), "{bad}");
        }
    }
}
