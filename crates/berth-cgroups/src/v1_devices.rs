//! cgroup v1 device rules (devices.allow / devices.deny / devices.list).
//!
//! Owns the translation of OCI device rules into the kernel's default-plus-exceptions
//! model. When the cgroup already denies by default and the rules keep it that way (an
//! `update` of a running container), only the difference is written, new exceptions
//! before removals, so the container never loses access to a device it keeps; otherwise
//! the rules are written in order, a type-`a` wildcard rule resetting the default, as
//! runc does.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::{fs, Result};

const R: u8 = 1;
const W: u8 = 2;
const M: u8 = 4;

/// (type, major, minor) with "*" for wildcards, as the kernel prints them.
type Key = (char, String, String);

/// The kernel's model: a default and the exceptions to it with their access bits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DeviceState {
    default_allow: bool,
    exceptions: BTreeMap<Key, u8>,
}

pub(crate) fn devices(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let target = simulate(rules);
    if !target.default_allow {
        let current = parse_list(&fs::read(dir, "devices.list")?);
        if let Some(current) = current.filter(|c| !c.default_allow) {
            return write_diff(dir, &current, &target);
        }
    }
    for r in rules {
        let Some(key) = key_of(r) else { continue };
        let file = if r.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        fs::write(dir, file, &rule_line(&key, access_of(r)))?;
    }
    Ok(())
}

fn write_diff(dir: &Path, current: &DeviceState, target: &DeviceState) -> Result<()> {
    for (k, bits) in &target.exceptions {
        let have = current.exceptions.get(k).copied().unwrap_or(0);
        if bits & !have != 0 {
            fs::write(dir, "devices.allow", &rule_line(k, bits & !have))?;
        }
    }
    for (k, have) in &current.exceptions {
        let keep = target.exceptions.get(k).copied().unwrap_or(0);
        if have & !keep != 0 {
            fs::write(dir, "devices.deny", &rule_line(k, have & !keep))?;
        }
    }
    Ok(())
}

/// What the kernel ends up with after the rules are written in order, starting from
/// allow-all (a fresh cgroup below the root).
fn simulate(rules: &[LinuxDeviceCgroup]) -> DeviceState {
    let mut s = DeviceState {
        default_allow: true,
        exceptions: BTreeMap::new(),
    };
    for r in rules {
        let Some(key) = key_of(r) else { continue };
        let bits = access_of(r);
        if key.0 == 'a' {
            // The kernel treats any type-a rule as "all devices": a new default.
            s.default_allow = r.allow();
            s.exceptions.clear();
        } else if r.allow() != s.default_allow {
            *s.exceptions.entry(key).or_insert(0) |= bits;
        } else if let Some(have) = s.exceptions.get_mut(&key) {
            *have &= !bits;
            if *have == 0 {
                s.exceptions.remove(&key);
            }
        }
    }
    s
}

/// devices.list: "a *:* rwm" alone means allow-all; otherwise the allowed exceptions of
/// a deny-by-default cgroup. None if the file is not in that format.
fn parse_list(text: &str) -> Option<DeviceState> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines == ["a *:* rwm"] {
        return Some(DeviceState {
            default_allow: true,
            exceptions: BTreeMap::new(),
        });
    }
    let mut exceptions = BTreeMap::new();
    for l in lines {
        let mut f = l.split_whitespace();
        let t = f.next()?.chars().next()?;
        let (maj, min) = f.next()?.split_once(':')?;
        let bits = bits_of(f.next()?);
        *exceptions
            .entry((t, maj.to_string(), min.to_string()))
            .or_insert(0) |= bits;
    }
    Some(DeviceState {
        default_allow: false,
        exceptions,
    })
}

/// The rule's key, or None for a FIFO rule: the controller knows only a, b and c (the
/// kernel refuses "p 8:666 rwm"), so a FIFO gets no rule, as in runc.
fn key_of(r: &LinuxDeviceCgroup) -> Option<Key> {
    let t = match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        // 'u' (unbuffered char) is a char device to the kernel.
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => return None,
    };
    let num = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map_or("*".to_string(), |n| n.to_string())
    };
    Some((t, num(r.major()), num(r.minor())))
}

fn access_of(r: &LinuxDeviceCgroup) -> u8 {
    bits_of(
        r.access()
            .as_deref()
            .filter(|a| !a.is_empty())
            .unwrap_or("rwm"),
    )
}

fn bits_of(a: &str) -> u8 {
    a.chars().fold(0, |b, c| {
        b | match c {
            'r' => R,
            'w' => W,
            'm' => M,
            _ => 0,
        }
    })
}

fn rule_line(k: &Key, bits: u8) -> String {
    let mut acc = String::new();
    for (bit, c) in [(R, 'r'), (W, 'w'), (M, 'm')] {
        if bits & bit != 0 {
            acc.push(c);
        }
    }
    format!("{} {}:{} {acc}", k.0, k.1, k.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    const OCI: &str = r#"[{"allow":false,"access":"rwm"},
        {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
        {"allow":true,"type":"c","major":136,"access":"rw"}]"#;

    #[test]
    fn fresh_cgroup_gets_rules_in_order() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("devices.list"), "a *:* rwm\n").unwrap();
        std::fs::write(d.join("devices.allow"), "").unwrap();
        std::fs::write(d.join("devices.deny"), "").unwrap();
        devices(d, &rules(OCI)).unwrap();
        // The last write to each file is what a fixture can show.
        assert_eq!(
            std::fs::read_to_string(d.join("devices.deny")).unwrap(),
            "a *:* rwm"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("devices.allow")).unwrap(),
            "c 136:* rw"
        );
    }

    #[test]
    fn update_writes_only_the_difference() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(
            d.join("devices.list"),
            "c 1:3 rwm\nc 136:* rw\nc 10:200 rwm\n",
        )
        .unwrap();
        std::fs::write(d.join("devices.allow"), "untouched").unwrap();
        std::fs::write(d.join("devices.deny"), "untouched").unwrap();
        devices(d, &rules(OCI)).unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("devices.allow")).unwrap(),
            "untouched"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("devices.deny")).unwrap(),
            "c 10:200 rwm"
        );
    }

    #[test]
    fn fifo_rules_are_not_written() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        std::fs::write(d.join("devices.list"), "a *:* rwm\n").unwrap();
        std::fs::write(d.join("devices.allow"), "").unwrap();
        std::fs::write(d.join("devices.deny"), "").unwrap();
        devices(
            d,
            &rules(
                r#"[{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
                       {"allow":true,"type":"p","major":8,"minor":666,"access":"rwm"}]"#,
            ),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("devices.allow")).unwrap(),
            "c 1:3 rwm"
        );
    }

    #[test]
    fn simulation_follows_the_kernel() {
        let s = simulate(&rules(
            r#"[{"allow":false,"access":"rwm"},
                {"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"},
                {"allow":false,"type":"c","major":1,"minor":5,"access":"m"}]"#,
        ));
        assert!(!s.default_allow);
        assert_eq!(
            s.exceptions.get(&('c', "1".into(), "5".into())),
            Some(&(R | W))
        );
        assert_eq!(parse_list("c 1:5 rw\n").unwrap(), s);
        assert!(parse_list("a *:* rwm\n").unwrap().default_allow);
    }
}
