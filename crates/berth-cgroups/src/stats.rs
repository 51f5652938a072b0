//! Container statistics in the JSON shape of runc's `events --stats`, and OOM counting.
//!
//! Owns reading the accounting files (cpuacct/cpu.stat, memory, pids, blkio/io.stat,
//! hugetlb) of both cgroup versions into one set of serde structs whose field names are
//! runc's (`types/events.go`); `events` (the module) turns them into `events` lines.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fs;
use crate::manager::{FsManager, Target};
use crate::Result;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    pub intel_rdt: IntelRdt,
    pub network_interfaces: Option<Vec<serde_json::Value>>,
}

/// Always empty: berth has no Intel RDT support; present so the JSON matches runc's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntelRdt {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Units: nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero", default)]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero", default)]
    pub periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero", default)]
    pub throttled_periods: u64,
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero", default)]
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub cpus: Vec<u16>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub mems: Vec<u16>,
    pub cpu_exclusive: u64,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero", default)]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero", default)]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero", default)]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero", default)]
    pub current: u64,
    #[serde(skip_serializing_if = "is_zero", default)]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero", default)]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero", default)]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero", default)]
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(
        rename = "ioServicedRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(
        rename = "ioQueueRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(
        rename = "ioServiceTimeRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(
        rename = "ioWaitTimeRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(
        rename = "ioMergedRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(
        rename = "ioTimeRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(
        rename = "sectorsRecursive",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero", default)]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero", default)]
    pub max: u64,
    pub failcnt: u64,
}

/// Reads every controller the container has; a controller the host lacks leaves its
/// section empty, as in runc.
pub(crate) fn collect(m: &FsManager) -> Result<Stats> {
    let mut s = Stats::default();
    match m.target("cpuacct").or_else(|| m.target("cpu")) {
        Some(Target::V1(d)) => {
            v1_cpuacct(d, &mut s.cpu)?;
            if let Some(Target::V1(c)) = m.target("cpu") {
                let stat = fs::read_keyed(c, "cpu.stat")?;
                s.cpu.throttling = throttling(&stat, 1);
            }
        }
        Some(Target::V2(d)) => v2_cpu(d, &mut s.cpu)?,
        None => {}
    }
    if let Some(Target::V1(d) | Target::V2(d)) = m.target("cpuset") {
        s.cpuset.cpus = parse_list(&fs::read(d, "cpuset.cpus").unwrap_or_default());
        s.cpuset.mems = parse_list(&fs::read(d, "cpuset.mems").unwrap_or_default());
    }
    match m.target("memory") {
        Some(Target::V1(d)) => s.memory = v1_memory(d)?,
        Some(Target::V2(d)) => s.memory = v2_memory(d)?,
        None => {}
    }
    if let Some(Target::V1(d) | Target::V2(d)) = m.target("pids") {
        s.pids.current = fs::read_u64(d, "pids.current")?;
        let max = fs::read_u64(d, "pids.max")?;
        s.pids.limit = if max == u64::MAX { 0 } else { max };
    }
    match m.target("blkio").or_else(|| m.target("io")) {
        Some(Target::V1(d)) => s.blkio = v1_blkio(d)?,
        Some(Target::V2(d)) => s.blkio = v2_io(d)?,
        None => {}
    }
    match m.target("hugetlb") {
        Some(Target::V1(d)) => s.hugetlb = hugetlb(d, false)?,
        Some(Target::V2(d)) => s.hugetlb = hugetlb(d, true)?,
        None => {}
    }
    Ok(s)
}

fn throttling(stat: &[(String, u64)], time_scale: u64) -> Throttling {
    let get = |k| fs::keyed_get(stat, k).unwrap_or(0);
    Throttling {
        periods: get("nr_periods"),
        throttled_periods: get("nr_throttled"),
        throttled_time: if time_scale == 1 {
            get("throttled_time")
        } else {
            get("throttled_usec") * time_scale
        },
    }
}

fn read_u64_list(dir: &Path, file: &str) -> Vec<u64> {
    fs::read(dir, file)
        .map(|s| {
            s.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// cpuacct.stat counts USER_HZ ticks (100/s on Linux); runc reports nanoseconds.
const NS_PER_TICK: u64 = 1_000_000_000 / 100;

fn v1_cpuacct(d: &Path, cpu: &mut Cpu) -> Result<()> {
    if !fs::exists(d, "cpuacct.usage") {
        return Ok(());
    }
    cpu.usage.total = fs::read_u64(d, "cpuacct.usage")?;
    cpu.usage.percpu = read_u64_list(d, "cpuacct.usage_percpu");
    cpu.usage.percpu_kernel = read_u64_list(d, "cpuacct.usage_percpu_sys");
    cpu.usage.percpu_user = read_u64_list(d, "cpuacct.usage_percpu_user");
    let stat = fs::read_keyed(d, "cpuacct.stat")?;
    cpu.usage.user = fs::keyed_get(&stat, "user").unwrap_or(0) * NS_PER_TICK;
    cpu.usage.kernel = fs::keyed_get(&stat, "system").unwrap_or(0) * NS_PER_TICK;
    Ok(())
}

fn v2_cpu(d: &Path, cpu: &mut Cpu) -> Result<()> {
    let stat = fs::read_keyed(d, "cpu.stat")?;
    let us = |k| fs::keyed_get(&stat, k).unwrap_or(0) * 1000;
    cpu.usage.total = us("usage_usec");
    cpu.usage.user = us("user_usec");
    cpu.usage.kernel = us("system_usec");
    cpu.throttling = throttling(&stat, 1000);
    Ok(())
}

/// "0-2,5" → [0, 1, 2, 5].
fn parse_list(s: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

fn v1_entry(d: &Path, prefix: &str) -> MemoryEntry {
    let get = |suffix: &str| fs::read_u64(d, &format!("{prefix}{suffix}")).unwrap_or(0);
    MemoryEntry {
        limit: get("limit_in_bytes"),
        usage: get("usage_in_bytes"),
        max: get("max_usage_in_bytes"),
        failcnt: get("failcnt"),
    }
}

fn v1_memory(d: &Path) -> Result<Memory> {
    let raw: BTreeMap<String, u64> = fs::read_keyed(d, "memory.stat")?.into_iter().collect();
    Ok(Memory {
        cache: raw.get("total_cache").copied().unwrap_or(0),
        usage: v1_entry(d, "memory."),
        swap: v1_entry(d, "memory.memsw."),
        kernel: v1_entry(d, "memory.kmem."),
        kernel_tcp: v1_entry(d, "memory.kmem.tcp."),
        raw,
    })
}

fn v2_memory(d: &Path) -> Result<Memory> {
    let raw: BTreeMap<String, u64> = fs::read_keyed(d, "memory.stat")?.into_iter().collect();
    let events = fs::read_keyed(d, "memory.events").unwrap_or_default();
    let usage = MemoryEntry {
        limit: fs::read_u64(d, "memory.max")?,
        usage: fs::read_u64(d, "memory.current")?,
        max: fs::read_u64(d, "memory.peak").unwrap_or(0),
        failcnt: fs::keyed_get(&events, "max").unwrap_or(0),
    };
    // runc reports v2 swap as memory+swap, to compare with v1's memsw.
    let swap = if fs::exists(d, "memory.swap.current") {
        let sw_limit = fs::read_u64(d, "memory.swap.max")?;
        MemoryEntry {
            limit: sw_limit.saturating_add(usage.limit),
            usage: fs::read_u64(d, "memory.swap.current")? + usage.usage,
            max: 0,
            failcnt: 0,
        }
    } else {
        MemoryEntry::default()
    };
    Ok(Memory {
        cache: raw.get("file").copied().unwrap_or(0),
        usage,
        swap,
        kernel: MemoryEntry::default(),
        kernel_tcp: MemoryEntry::default(),
        raw,
    })
}

/// blkio's "MAJ:MIN Op value" lines (the CFQ/BFQ files when the scheduler fills them,
/// else the throttle layer's, which always counts).
fn v1_blkio(d: &Path) -> Result<Blkio> {
    let pick = |names: &[&str]| -> Vec<BlkioEntry> {
        for n in names {
            let e = fs::read(d, n).map(|s| parse_blkio(&s)).unwrap_or_default();
            if !e.is_empty() {
                return e;
            }
        }
        Vec::new()
    };
    Ok(Blkio {
        io_service_bytes_recursive: pick(&[
            "blkio.io_service_bytes_recursive",
            "blkio.bfq.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes_recursive",
        ]),
        io_serviced_recursive: pick(&[
            "blkio.io_serviced_recursive",
            "blkio.bfq.io_serviced_recursive",
            "blkio.throttle.io_serviced_recursive",
        ]),
        io_queued_recursive: pick(&["blkio.io_queued_recursive"]),
        io_service_time_recursive: pick(&["blkio.io_service_time_recursive"]),
        io_wait_time_recursive: pick(&["blkio.io_wait_time_recursive"]),
        io_merged_recursive: pick(&["blkio.io_merged_recursive"]),
        io_time_recursive: pick(&["blkio.time_recursive"]),
        sectors_recursive: pick(&["blkio.sectors_recursive"]),
    })
}

fn parse_blkio(s: &str) -> Vec<BlkioEntry> {
    s.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (maj, min) = f.first()?.split_once(':')?;
            let (major, minor) = (maj.parse().ok()?, min.parse().ok()?);
            match f.as_slice() {
                [_, op, v] => Some(BlkioEntry {
                    major,
                    minor,
                    op: (*op).to_string(),
                    value: v.parse().ok()?,
                }),
                [_, v] => Some(BlkioEntry {
                    major,
                    minor,
                    op: String::new(),
                    value: v.parse().ok()?,
                }),
                _ => None,
            }
        })
        .collect()
}

/// io.stat "MAJ:MIN rbytes=N wbytes=N rios=N wios=N ..." in runc's v1-shaped entries.
fn v2_io(d: &Path) -> Result<Blkio> {
    let text = fs::read(d, "io.stat")?;
    let mut b = Blkio::default();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some((maj, min)) = f.next().and_then(|dev| dev.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    Ok(b)
}

/// Page sizes from the hugetlb.<size>.* files present.
fn hugetlb(d: &Path, v2: bool) -> Result<BTreeMap<String, Hugetlb>> {
    let mut out = BTreeMap::new();
    let rd = std::fs::read_dir(d).map_err(|e| fs::io_err("list", d, e))?;
    let suffix = if v2 { ".current" } else { ".usage_in_bytes" };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|n| n.strip_suffix(suffix))
        else {
            continue;
        };
        if size.contains('.') {
            continue; // the .rsvd. files
        }
        let h = if v2 {
            let events = fs::read_keyed(d, &format!("hugetlb.{size}.events")).unwrap_or_default();
            Hugetlb {
                usage: fs::read_u64(d, &name)?,
                max: 0,
                failcnt: fs::keyed_get(&events, "max").unwrap_or(0),
            }
        } else {
            Hugetlb {
                usage: fs::read_u64(d, &name)?,
                max: fs::read_u64(d, &format!("hugetlb.{size}.max_usage_in_bytes")).unwrap_or(0),
                failcnt: fs::read_u64(d, &format!("hugetlb.{size}.failcnt")).unwrap_or(0),
            }
        };
        out.insert(size.to_string(), h);
    }
    Ok(out)
}

/// v1: the `oom_kill` counter of memory.oom_control (kernel ≥ 4.13).
pub(crate) fn v1_oom_kills(d: &Path) -> Result<u64> {
    Ok(fs::keyed_get(&fs::read_keyed(d, "memory.oom_control")?, "oom_kill").unwrap_or(0))
}

/// v2: memory.events `oom_kill`.
pub(crate) fn v2_oom_kills(d: &Path) -> Result<u64> {
    Ok(fs::keyed_get(&fs::read_keyed(d, "memory.events")?, "oom_kill").unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_field_names_match_runc() {
        let mut s = Stats::default();
        s.cpu.usage.total = 5;
        s.cpu.throttling.throttled_periods = 1;
        s.memory.kernel_tcp.limit = 7;
        s.pids.current = 3;
        s.blkio.io_queued_recursive.push(BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 1,
        });
        s.hugetlb.insert(
            "2MB".into(),
            Hugetlb {
                usage: 0,
                max: 0,
                failcnt: 0,
            },
        );
        let v = serde_json::to_value(crate::Event::stats("c1", s)).unwrap();
        assert_eq!(v["type"], "stats");
        assert_eq!(v["id"], "c1");
        let d = &v["data"];
        assert_eq!(d["cpu"]["usage"]["total"], 5);
        assert_eq!(d["cpu"]["usage"]["kernel"], 0);
        assert_eq!(d["cpu"]["throttling"]["throttledPeriods"], 1);
        assert_eq!(d["memory"]["kernelTCP"]["limit"], 7);
        assert_eq!(d["memory"]["usage"]["failcnt"], 0);
        assert_eq!(d["pids"]["current"], 3);
        assert_eq!(d["blkio"]["ioQueueRecursive"][0]["op"], "Read");
        assert_eq!(d["hugetlb"]["2MB"]["failcnt"], 0);
        assert!(d["intel_rdt"].is_object());
        assert!(d["cpuset"]["sched_load_balance"].is_number());
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_list("0-2,5\n"), vec![0, 1, 2, 5]);
        let e = parse_blkio("8:0 Read 10\n8:0 Write 3\nTotal 13\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].op, "Write");
        assert_eq!(e[1].value, 3);
    }
}
