//! Capabilities: the bounding set while still root, then (after the uid switch kept the
//! permitted set) the inheritable, effective, permitted and ambient sets.

use std::collections::HashSet;
use std::sync::OnceLock;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::init::error::{Ctx, InitError};

/// The kernel's capabilities, read once per berth process and before the clone (create's
/// checks, `exec`), so the init and exec's child inherit them: one read of
/// /proc/sys/kernel/cap_last_cap instead of a PR_CAPBSET_READ per capability at each use.
pub fn supported() -> &'static CapsHashSet {
    static SUPPORTED: OnceLock<CapsHashSet> = OnceLock::new();
    SUPPORTED.get_or_init(|| {
        caps::runtime::procfs_all_supported(None)
            .unwrap_or_else(|_| caps::runtime::thread_all_supported())
    })
}

/// Names the kernel lacks are dropped from every set (runc warns and drops them too).
fn to_caps(set: &Capabilities, supported: &CapsHashSet) -> CapsHashSet {
    set.iter()
        .filter_map(|c| format!("CAP_{c}").parse::<Cap>().ok())
        .filter(|c| supported.contains(c))
        .collect()
}

/// Capability names in any set of `caps` that this kernel does not know: runc drops them
/// with a warning, and so does berth (`create` prints one line per name).
pub fn unsupported_caps(caps: &LinuxCapabilities, supported: &CapsHashSet) -> Vec<String> {
    let mut out: Vec<String> = [
        caps.bounding(),
        caps.effective(),
        caps.inheritable(),
        caps.permitted(),
        caps.ambient(),
    ]
    .into_iter()
    .flatten()
    .flatten()
    .filter(|c| {
        format!("CAP_{c}")
            .parse::<Cap>()
            .map_or(true, |c| !supported.contains(&c))
    })
    .map(|c| format!("CAP_{c}"))
    .collect();
    out.sort();
    out.dedup();
    out
}

/// Step 1, while still root: shrink the bounding set.
pub fn drop_bounding(caps: Option<&LinuxCapabilities>) -> Result<(), InitError> {
    let Some(caps) = caps else { return Ok(()) };
    let supported = supported();
    let keep = to_caps(
        caps.bounding().as_ref().unwrap_or(&HashSet::new()),
        supported,
    );
    for cap in supported.iter() {
        if !keep.contains(cap) {
            caps::drop(None, CapSet::Bounding, *cap)
                .ctx(|| format!("drop {cap} from bounding set"))?;
        }
    }
    Ok(())
}

/// Step 3: the permitted, inheritable, effective and ambient sets.
pub fn apply_caps(caps: Option<&LinuxCapabilities>) -> Result<(), InitError> {
    let Some(caps) = caps else { return Ok(()) };
    let supported = supported();
    let empty = HashSet::new();
    let set = |s: &Option<Capabilities>| to_caps(s.as_ref().unwrap_or(&empty), supported);
    // Each capset must keep effective within permitted: inheritable first (while
    // CAP_SETPCAP is still effective), then shrink effective, then permitted.
    caps::set(None, CapSet::Inheritable, &set(caps.inheritable()))
        .ctx(|| "set inheritable capabilities".into())?;
    caps::set(None, CapSet::Effective, &set(caps.effective()))
        .ctx(|| "set effective capabilities".into())?;
    caps::set(None, CapSet::Permitted, &set(caps.permitted()))
        .ctx(|| "set permitted capabilities".into())?;
    caps::clear(None, CapSet::Ambient).ctx(|| "clear ambient capabilities".into())?;
    // The kernel allows an ambient capability only if it is also permitted and
    // inheritable; runc's default spec lists ambient ones without inheritable, and runc
    // skips what cannot be raised. So does berth.
    let inheritable = set(caps.inheritable());
    for cap in set(caps.ambient()).intersection(&inheritable) {
        caps::raise(None, CapSet::Ambient, *cap).ctx(|| format!("raise ambient {cap}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, LinuxCapabilitiesBuilder};

    #[test]
    fn caps_the_kernel_lacks_are_reported_once() {
        let set: Capabilities = [Capability::CheckpointRestore, Capability::Kill]
            .into_iter()
            .collect();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(set.clone())
            .permitted(set)
            .effective(Capabilities::new())
            .inheritable(Capabilities::new())
            .ambient(Capabilities::new())
            .build()
            .unwrap();
        let old_kernel: CapsHashSet = [Cap::CAP_KILL].into_iter().collect();
        assert_eq!(
            unsupported_caps(&caps, &old_kernel),
            ["CAP_CHECKPOINT_RESTORE"]
        );
        assert!(unsupported_caps(&caps, &caps::all()).is_empty());
    }
}
