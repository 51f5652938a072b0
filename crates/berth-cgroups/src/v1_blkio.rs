//! cgroup v1 block I/O (blkio.*): writes each setting to the file the host's I/O schedulers
//! expose, as runc does: CFQ's blkio.weight[_device] where it exists, else BFQ's
//! blkio.bfq.weight[_device]; leaf weights only where CFQ's files exist; the throttle
//! files always. Zero weights mean "unset" and are not written. A setting the host cannot
//! honour at all fails with an error naming the setting and why, not a bare ENOENT.

use std::io::ErrorKind;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::{fs, CgroupError, Result};

/// Whether `b` asks for anything (empty device lists and zero weights do not).
pub(crate) fn is_set(b: &LinuxBlockIo) -> bool {
    let some = |v: &Option<Vec<LinuxThrottleDevice>>| v.as_ref().is_some_and(|v| !v.is_empty());
    b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || some(b.throttle_read_bps_device())
        || some(b.throttle_write_bps_device())
        || some(b.throttle_read_iops_device())
        || some(b.throttle_write_iops_device())
}

pub(crate) fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    let weights = WeightFiles::detect(dir);
    const WEIGHT: &str = "no blkio.weight or blkio.bfq.weight (CFQ/BFQ)";
    const WEIGHT_DEVICE: &str = "no blkio.weight_device or blkio.bfq.weight_device";
    const LEAF: &str = "no blkio.leaf_weight (only CFQ has leaf weights)";
    const LEAF_DEVICE: &str = "no blkio.leaf_weight_device (only CFQ has leaf weights)";
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let what = "blockIO.weight";
        write_weight(dir, weights.weight, WEIGHT, &w.to_string(), what)?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        let what = "blockIO.leafWeight";
        write_weight(dir, weights.leaf_weight, LEAF, &w.to_string(), what)?;
    }
    for wd in b.weight_device().iter().flatten() {
        let dev = format!("{}:{}", wd.major(), wd.minor());
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            let what = format!("blockIO.weightDevice {dev} weight");
            let value = format!("{dev} {w}");
            write_weight(dir, weights.weight_device, WEIGHT_DEVICE, &value, &what)?;
        }
        if let Some(w) = wd.leaf_weight().filter(|w| *w != 0) {
            let what = format!("blockIO.weightDevice {dev} leafWeight");
            let value = format!("{dev} {w}");
            write_weight(dir, weights.leaf_weight_device, LEAF_DEVICE, &value, &what)?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            "throttleReadBpsDevice",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            "throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            "throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            "throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, field, devs) in throttles {
        for t in devs.iter().flatten() {
            let dev = format!("{}:{}", t.major(), t.minor());
            let what = format!("blockIO.{field} {dev}");
            write_setting(dir, file, &format!("{dev} {}", t.rate()), &what)?;
        }
    }
    Ok(())
}

/// The weight files this cgroup has; None where the host's schedulers offer none.
struct WeightFiles {
    weight: Option<&'static str>,
    weight_device: Option<&'static str>,
    leaf_weight: Option<&'static str>,
    leaf_weight_device: Option<&'static str>,
}

impl WeightFiles {
    fn detect(dir: &Path) -> WeightFiles {
        let first = |names: &[&'static str]| names.iter().copied().find(|n| fs::exists(dir, n));
        WeightFiles {
            weight: first(&["blkio.weight", "blkio.bfq.weight"]),
            weight_device: first(&["blkio.weight_device", "blkio.bfq.weight_device"]),
            leaf_weight: first(&["blkio.leaf_weight"]),
            leaf_weight_device: first(&["blkio.leaf_weight_device"]),
        }
    }
}

/// Writes a weight to the file the host's scheduler offers; none is a clear error naming why.
fn write_weight(
    dir: &Path,
    file: Option<&str>,
    missing: &str,
    value: &str,
    what: &str,
) -> Result<()> {
    let file = file.ok_or_else(|| unsupported(what, missing))?;
    write_setting(dir, file, value, what)
}

fn unsupported(what: &str, why: &str) -> CgroupError {
    CgroupError::Unsupported(format!("{what} ({why})"))
}

/// Writes one setting; the kernel's refusals that mean "this host cannot do it" are named.
fn write_setting(dir: &Path, file: &str, value: &str, what: &str) -> Result<()> {
    match fs::try_write(dir, file, value) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Err(CgroupError::Invalid(format!(
            "{what}: no such block device on this host"
        ))),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Err(unsupported(
            what,
            "the device's I/O scheduler has no weights; BFQ has",
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Err(unsupported(what, &format!("no {file} in this cgroup")))
        }
        Err(e) => {
            let source = std::io::Error::new(e.kind(), format!("{what}: value {value:?}: {e}"));
            Err(crate::fs::io_err("write", dir.join(file), source))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_io(json: &str) -> LinuxBlockIo {
        serde_json::from_str(json).unwrap()
    }

    fn dir_with(files: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(t.path().join(f), "").unwrap();
        }
        t
    }

    const THROTTLES: [&str; 4] = [
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ];

    #[test]
    fn bfq_files_take_weights_when_cfq_has_none() {
        let t = dir_with(&["blkio.bfq.weight", "blkio.bfq.weight_device"]);
        apply(
            t.path(),
            &block_io(r#"{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":200,"leafWeight":0}]}"#),
        )
        .unwrap();
        let read = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap();
        assert_eq!(read("blkio.bfq.weight"), "500");
        assert_eq!(read("blkio.bfq.weight_device"), "8:0 200");
    }

    #[test]
    fn cfq_files_come_first() {
        let t = dir_with(&[
            "blkio.weight",
            "blkio.bfq.weight",
            "blkio.leaf_weight",
            "blkio.leaf_weight_device",
        ]);
        apply(
            t.path(),
            &block_io(r#"{"weight":500,"leafWeight":300,"weightDevice":[{"major":8,"minor":0,"leafWeight":100}]}"#),
        )
        .unwrap();
        let read = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap();
        assert_eq!(read("blkio.weight"), "500");
        assert_eq!(read("blkio.bfq.weight"), "");
        assert_eq!(read("blkio.leaf_weight"), "300");
        assert_eq!(read("blkio.leaf_weight_device"), "8:0 100");
    }

    #[test]
    fn zero_weights_and_empty_lists_write_nothing() {
        let b = block_io(
            r#"{"weight":0,"leafWeight":0,"weightDevice":[{"major":8,"minor":0,"weight":0,"leafWeight":0}],
                "throttleReadBpsDevice":[],"throttleWriteBpsDevice":[],
                "throttleReadIOPSDevice":[],"throttleWriteIOPSDevice":[]}"#,
        );
        // Nothing to write, so a cgroup without any blkio file takes it.
        let t = dir_with(&[]);
        apply(t.path(), &b).unwrap();
        assert!(!is_set(&block_io(
            r#"{"weight":0,"throttleReadBpsDevice":[]}"#
        )));
    }

    #[test]
    fn a_setting_the_host_lacks_is_named() {
        let t = dir_with(&THROTTLES);
        for (json, want) in [
            (r#"{"weight":500}"#, "blockIO.weight"),
            (r#"{"leafWeight":300}"#, "blockIO.leafWeight"),
            (
                r#"{"weightDevice":[{"major":8,"minor":0,"weight":5}]}"#,
                "weightDevice 8:0 weight",
            ),
        ] {
            let err = apply(t.path(), &block_io(json)).unwrap_err().to_string();
            assert!(
                err.contains(want) && err.contains("not supported"),
                "{json}: {err}"
            );
        }
        apply(
            t.path(),
            &block_io(r#"{"throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":100}]}"#),
        )
        .unwrap();
        let w = std::fs::read_to_string(t.path().join("blkio.throttle.write_iops_device"));
        assert_eq!(w.unwrap(), "8:0 100");
    }
}
