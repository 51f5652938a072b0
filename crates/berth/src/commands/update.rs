use std::io::Read;
use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use crate::context::{Context, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// LinuxResources JSON to apply ("-" reads stdin)
    #[arg(long, short = 'r', value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Block IO weight (10-1000)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds
    #[arg(long)]
    pub cpu_quota: Option<i64>,
    /// CPU realtime period in microseconds
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds
    #[arg(long)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long)]
    pub cpu_share: Option<u64>,
    /// CPUs allowed (0-3, 0,1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for unlimited)
    #[arg(long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit
    #[arg(long)]
    pub memory_swap: Option<String>,
    /// Kernel memory limit (cgroup v1 only)
    #[arg(long)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP memory limit (cgroup v1 only)
    #[arg(long)]
    pub kernel_memory_tcp: Option<String>,
    /// Maximum number of processes (-1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Container ID
    pub id: String,
}

/// A size in `berth_common::size`'s grammar, or -1 (unlimited), as runc's `update`.
fn bytes(s: &str) -> Result<i64, String> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    berth_common::size::parse_bytes(s).ok_or_else(|| format!("invalid size {s:?}"))
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        let mut doc: Value = match &self.resources {
            Some(path) => {
                let mut text = Vec::new();
                if path.as_os_str() == "-" {
                    std::io::stdin().read_to_end(&mut text)?;
                } else {
                    text =
                        std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
                }
                serde_json::from_slice(&text).map_err(|e| format!("invalid resources JSON: {e}"))?
            }
            None => json!({}),
        };
        let obj = doc
            .as_object_mut()
            .ok_or("resources JSON must be an object")?;
        let mut set = |section: &str, key: &str, v: Value| {
            let s = obj
                .entry(section)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(m) = s.as_object_mut() {
                m.insert(key.into(), v);
            }
        };
        if let Some(v) = self.blkio_weight {
            set("blockIO", "weight", json!(v));
        }
        if let Some(v) = self.cpu_period {
            set("cpu", "period", json!(v));
        }
        if let Some(v) = self.cpu_quota {
            set("cpu", "quota", json!(v));
        }
        if let Some(v) = self.cpu_rt_period {
            set("cpu", "realtimePeriod", json!(v));
        }
        if let Some(v) = self.cpu_rt_runtime {
            set("cpu", "realtimeRuntime", json!(v));
        }
        if let Some(v) = self.cpu_share {
            set("cpu", "shares", json!(v));
        }
        if let Some(v) = &self.cpuset_cpus {
            set("cpu", "cpus", json!(v));
        }
        if let Some(v) = &self.cpuset_mems {
            set("cpu", "mems", json!(v));
        }
        for (flag, key) in [
            (&self.memory, "limit"),
            (&self.memory_reservation, "reservation"),
            (&self.memory_swap, "swap"),
            (&self.kernel_memory, "kernel"),
            (&self.kernel_memory_tcp, "kernelTCP"),
        ] {
            if let Some(v) = flag {
                set("memory", key, json!(bytes(v)?));
            }
        }
        if let Some(v) = self.pids_limit {
            set("pids", "limit", json!(v));
        }
        let resources: LinuxResources =
            serde_json::from_value(doc).map_err(|e| format!("invalid resources: {e}"))?;
        berth_runtime::container::update(&ctx.root, &self.id, &resources)?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn sizes_parse_like_runc() {
        assert_eq!(bytes("512").unwrap(), 512);
        assert_eq!(bytes("64m").unwrap(), 64 << 20);
        assert_eq!(bytes("1G").unwrap(), 1 << 30);
        assert_eq!(bytes("2kb").unwrap(), 2048);
        assert_eq!(bytes("-1").unwrap(), -1);
        assert!(bytes("lots").is_err());
    }
}
