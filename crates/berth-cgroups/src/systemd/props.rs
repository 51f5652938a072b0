//! `LinuxResources` as systemd unit properties, as runc's systemd v2 driver maps them: the
//! limits systemd itself should hold for the scope (it re-applies them, e.g. on daemon-reload),
//! while berth writes the same values, and those systemd has no property for, into the
//! delegated cgroup directory.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use zbus::zvariant::Value;

use super::dbus::Property;
use crate::convert::{blkio_weight_to_io_weight, cpu_shares_to_weight, memory_swap_to_v2};
use crate::{CgroupError, Result};

/// systemd's "infinity" for byte and count limits.
const INFINITY: u64 = u64::MAX;

/// The resource properties of `r`, for StartTransientUnit and SetUnitProperties.
pub(crate) fn resources(r: &LinuxResources) -> Result<Vec<Property>> {
    let mut p: Vec<Property> = Vec::new();
    if let Some(m) = r.memory() {
        let limit = m.limit().unwrap_or(0);
        if limit != 0 {
            p.push(("MemoryMax", Value::U64(bytes(limit))));
        }
        if let Some(res) = m.reservation().filter(|&v| v != 0) {
            p.push(("MemoryLow", Value::U64(bytes(res))));
        }
        if let Some(swap) = m.swap() {
            match memory_swap_to_v2(swap, limit)? {
                0 => {}
                v => p.push(("MemorySwapMax", Value::U64(bytes(v)))),
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(w) = c.shares().map(cpu_shares_to_weight).filter(|&w| w != 0) {
            p.push(("CPUWeight", Value::U64(w)));
        }
        cpu_quota(&mut p, c.quota().unwrap_or(0), c.period().unwrap_or(0));
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            p.push(("AllowedCPUs", Value::from(bitmask(cpus)?)));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            p.push(("AllowedMemoryNodes", Value::from(bitmask(mems)?)));
        }
    }
    if let Some(limit) = r.pids().as_ref().map(|l| l.limit()).filter(|&l| l != 0) {
        p.push(("TasksMax", Value::U64(bytes(limit))));
    }
    if let Some(b) = r.block_io() {
        if let Some(w) = b.weight().map(|w| blkio_weight_to_io_weight(w.into())) {
            p.push(("IOWeight", Value::U64(w)));
        }
        for (name, devs) in [
            ("IOReadBandwidthMax", b.throttle_read_bps_device()),
            ("IOWriteBandwidthMax", b.throttle_write_bps_device()),
            ("IOReadIOPSMax", b.throttle_read_iops_device()),
            ("IOWriteIOPSMax", b.throttle_write_iops_device()),
        ] {
            let Some(devs) = devs.as_ref().filter(|d| !d.is_empty()) else {
                continue;
            };
            let list: Vec<(String, u64)> = devs
                .iter()
                .map(|d| (format!("/dev/block/{}:{}", d.major(), d.minor()), d.rate()))
                .collect();
            p.push((name, Value::from(list)));
        }
    }
    if let Some(u) = r.unified() {
        unified(&mut p, u)?;
    }
    if let Some(devices) = r.devices() {
        device_rules(&mut p, devices);
    }
    Ok(p)
}

/// -1 (OCI's "unlimited") is systemd's infinity.
fn bytes(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(INFINITY)
}

/// runc: CPUQuotaPerSecUSec is quota per second, rounded up to systemd's 10 ms granularity;
/// the period as CPUQuotaPeriodUSec.
fn cpu_quota(p: &mut Vec<Property>, quota: i64, period: u64) {
    if quota == 0 && period == 0 {
        return;
    }
    let period_or_default = if period == 0 { 100_000 } else { period };
    let per_sec = match u64::try_from(quota) {
        Ok(q) if q > 0 => (q * 1_000_000 / period_or_default).div_ceil(10_000) * 10_000,
        _ => INFINITY,
    };
    p.push(("CPUQuotaPerSecUSec", Value::U64(per_sec)));
    if period != 0 {
        p.push(("CPUQuotaPeriodUSec", Value::U64(period)));
    }
}

/// The `linux.resources.unified` keys systemd has a property for.
fn unified(p: &mut Vec<Property>, u: &std::collections::HashMap<String, String>) -> Result<()> {
    for (key, value) in u {
        let name = match key.as_str() {
            "memory.min" => "MemoryMin",
            "memory.low" => "MemoryLow",
            "memory.high" => "MemoryHigh",
            "memory.max" => "MemoryMax",
            "memory.swap.max" => "MemorySwapMax",
            "pids.max" => "TasksMax",
            "cpu.weight" => "CPUWeight",
            _ => continue,
        };
        let v = match value.trim() {
            "max" => INFINITY,
            n => n.parse().map_err(|_| {
                CgroupError::Invalid(format!(
                    "linux.resources.unified {key}: {value:?} is not a number or \"max\""
                ))
            })?,
        };
        p.retain(|(n, _)| *n != name);
        p.push((name, Value::U64(v)));
    }
    Ok(())
}

/// A cpuset list ("0-3,8") as systemd's byte array: bit n of byte n/8 for CPU (node) n.
fn bitmask(list: &str) -> Result<Vec<u8>> {
    let bad = || CgroupError::Invalid(format!("cpuset {list:?}: not a list of numbers and ranges"));
    let mut mask = Vec::new();
    for part in list.split(',').map(str::trim) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<usize>(), b.parse::<usize>()),
            None => (part.parse(), part.parse()),
        };
        let (lo, hi) = (lo.map_err(|_| bad())?, hi.map_err(|_| bad())?);
        if lo > hi || hi > 8191 {
            return Err(bad());
        }
        for n in lo..=hi {
            if mask.len() <= n / 8 {
                mask.resize(n / 8 + 1, 0);
            }
            mask[n / 8] |= 1 << (n % 8);
        }
    }
    Ok(mask)
}

/// DevicePolicy/DeviceAllow as runc sets them: a config whose last all-devices rule allows
/// leaves systemd's policy at "auto" (no filter); otherwise "strict" with the allowed devices. The
/// deny rules are left to berth's own device program on the delegated cgroup, which holds
/// the exact list (both programs must allow an access).
fn device_rules(p: &mut Vec<Property>, rules: &[LinuxDeviceCgroup]) {
    // Without an all-devices rule, the list starts from "deny all" (as berth's program).
    let last_all = rules.iter().rev().find(|r| is_all_devices(r));
    if last_all.is_some_and(|r| r.allow()) {
        return;
    }
    let allow: Vec<(String, String)> = rules
        .iter()
        .filter(|r| r.allow() && !is_all_devices(r))
        .filter_map(|r| {
            let group = match r.typ()? {
                LinuxDeviceType::C => "char",
                LinuxDeviceType::B => "block",
                _ => return None,
            };
            let path = match (r.major(), r.minor()) {
                (None | Some(-1), _) => format!("{group}-*"),
                (Some(major), None | Some(-1)) => device_group(group, major)?,
                (Some(major), Some(minor)) => format!("/dev/{group}/{major}:{minor}"),
            };
            Some((path, r.access().clone().unwrap_or_else(|| "rwm".into())))
        })
        .collect();
    p.push(("DevicePolicy", Value::from("strict")));
    p.push(("DeviceAllow", Value::from(allow)));
}

fn is_all_devices(r: &LinuxDeviceCgroup) -> bool {
    matches!(r.typ(), None | Some(LinuxDeviceType::A))
        && r.major().is_none_or(|m| m == -1)
        && r.minor().is_none_or(|m| m == -1)
}

/// `char-pts` for (char, 136): systemd names a whole major by its /proc/devices group.
fn device_group(group: &str, major: i64) -> Option<String> {
    let devices = std::fs::read_to_string("/proc/devices").ok()?;
    let section = if group == "char" {
        "Character devices:"
    } else {
        "Block devices:"
    };
    devices
        .split("\n\n")
        .find(|s| s.starts_with(section))?
        .lines()
        .skip(1)
        .find_map(|l| {
            let (m, name) = l.trim().split_once(' ')?;
            (m.parse::<i64>().ok()? == major).then(|| format!("{group}-{name}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuset_lists_become_bitmasks() {
        assert_eq!(bitmask("0").unwrap(), [1]);
        assert_eq!(bitmask("0-3,8").unwrap(), [0x0f, 0x01]);
        assert_eq!(bitmask("1,9-10").unwrap(), [0x02, 0x06]);
        assert!(bitmask("3-1").is_err() && bitmask("x").is_err());
    }

    fn rule(
        allow: bool,
        typ: LinuxDeviceType,
        major: Option<i64>,
        minor: Option<i64>,
    ) -> LinuxDeviceCgroup {
        LinuxDeviceCgroup::default()
            .set_allow(allow)
            .set_typ(Some(typ))
            .set_major(major)
            .set_minor(minor)
            .set_access(Some("rwm".into()))
            .clone()
    }

    #[test]
    fn device_rules_as_runc() {
        use LinuxDeviceType::{A, C};
        let mut p = Vec::new();
        let allowed = [rule(true, C, None, None), rule(true, C, Some(1), Some(3))];
        device_rules(&mut p, &allowed);
        assert_eq!(p[0], ("DevicePolicy", Value::from("strict")));
        let want: Vec<(String, String)> = vec![
            ("char-*".into(), "rwm".into()),
            ("/dev/char/1:3".into(), "rwm".into()),
        ];
        assert_eq!(p[1], ("DeviceAllow", Value::from(want)));
        // Everything allowed last: systemd filters nothing.
        let mut p = Vec::new();
        device_rules(
            &mut p,
            &[rule(false, A, None, None), rule(true, A, None, None)],
        );
        assert!(p.is_empty());
    }

    #[test]
    fn cpu_quota_rounds_up_to_10ms() {
        let mut p = Vec::new();
        cpu_quota(&mut p, 50_000, 100_000);
        assert_eq!(p[0], ("CPUQuotaPerSecUSec", Value::U64(500_000)));
        assert_eq!(p[1], ("CPUQuotaPeriodUSec", Value::U64(100_000)));
        let mut p = Vec::new();
        cpu_quota(&mut p, 1_234, 100_000);
        assert_eq!(p[0], ("CPUQuotaPerSecUSec", Value::U64(20_000)));
    }
}
