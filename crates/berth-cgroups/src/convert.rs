//! v1 ↔ v2 value conversions, exactly as runc 1.1 (the runc this project is measured
//! against) does them, so the same config.json gives the same kernel values.

use crate::{CgroupError, Result};

/// cpu.shares (2..262144) → cpu.weight (1..10000); 0 means "unset". runc 1.1.5's linear
/// mapping, `1 + ((shares - 2) * 9999) / 262142`: that runc is the oracle the conformance
/// tests compare with (newer runc maps quadratically, so that 1024 shares give weight 100).
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// blkio.weight (10..1000) → io.weight (1..10000); 0 means "unset".
pub fn blkio_weight_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (weight.saturating_sub(10) * 9999) / 990
}

/// OCI `memory.swap` is memory+swap (v1 memsw); v2's memory.swap.max is swap alone.
/// Returns the memory.swap.max value: -1 = "max", 0 = leave unset.
pub fn memory_swap_to_v2(swap: i64, memory: i64) -> Result<i64> {
    // Unlimited memory with swap unspecified means both unlimited, as on v1.
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        return Err(CgroupError::Invalid(format!(
            "memory.swap {swap}: cannot set a swap limit without a memory limit"
        )));
    }
    if memory < 0 {
        return Err(CgroupError::Invalid(format!(
            "memory.limit {memory} is negative"
        )));
    }
    if swap < memory {
        return Err(CgroupError::Invalid(format!(
            "memory.swap {swap} must be >= memory.limit {memory} (it is memory+swap)"
        )));
    }
    Ok(swap - memory)
}

/// v2 files take "max" for unlimited; -1 means unlimited, 0 means unset (None).
pub(crate) fn v2_limit(v: i64) -> Option<String> {
    match v {
        0 => None,
        v if v < 0 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_matches_runc() {
        assert_eq!(cpu_shares_to_weight(0), 0);
        assert_eq!(cpu_shares_to_weight(2), 1);
        assert_eq!(cpu_shares_to_weight(512), 20);
        assert_eq!(cpu_shares_to_weight(1024), 39);
        assert_eq!(cpu_shares_to_weight(4096), 157);
        assert_eq!(cpu_shares_to_weight(262144), 10000);
    }

    #[test]
    fn blkio_weight_conversion() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(memory_swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(memory_swap_to_v2(-1, 100).unwrap(), -1);
        assert_eq!(memory_swap_to_v2(0, 100).unwrap(), 0);
        assert_eq!(memory_swap_to_v2(300, 100).unwrap(), 200);
        assert!(memory_swap_to_v2(50, 100).is_err());
        assert!(memory_swap_to_v2(50, 0).is_err());
        assert_eq!(v2_limit(-1).as_deref(), Some("max"));
        assert_eq!(v2_limit(0), None);
    }
}
