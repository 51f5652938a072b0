//! Seccomp profiles in Docker's form, evaluated for one container as Docker does: the
//! `archMap` entry of this machine's architecture becomes `architectures`, and a rule applies
//! only when its `includes` hold and its `excludes` do not (capabilities against the
//! container's bounding set, architectures against this build's, `minKernel` against the
//! running kernel). The result is an ordinary OCI `linux.seccomp`. Docker's default profile
//! is evaluated from static data ([`table`]), a file given with `--security-opt` from its JSON.

use std::collections::HashSet;
use std::path::Path;

use berth_common::io::Step;
use oci_spec::runtime::{Arch, Capability, LinuxSeccomp};
use serde_json::{Map, Value};

use crate::error::PeopleError;

#[rustfmt::skip] // generated
mod docker_table;
mod table;

/// Docker's default profile, unchanged: moby's `profiles/seccomp/default.json` as Debian 12
/// ships it (golang-github-docker-docker-dev 20.10.24+dfsg1-1+deb12u1); docker_table.rs is
/// made from it.
#[cfg(test)]
const DOCKER_DEFAULT: &str = include_str!("../../data/docker-seccomp-default.json");

/// This build's architecture as Docker's rules name it (Go's GOARCH) and as libseccomp does.
#[cfg(target_arch = "x86_64")]
const ARCH: (&str, &str, Arch) = ("amd64", "SCMP_ARCH_X86_64", Arch::ScmpArchX86_64);
#[cfg(target_arch = "aarch64")]
const ARCH: (&str, &str, Arch) = ("arm64", "SCMP_ARCH_AARCH64", Arch::ScmpArchAarch64);
#[cfg(target_arch = "s390x")]
const ARCH: (&str, &str, Arch) = ("s390x", "SCMP_ARCH_S390X", Arch::ScmpArchS390x);
#[cfg(target_arch = "riscv64")]
const ARCH: (&str, &str, Arch) = ("riscv64", "SCMP_ARCH_RISCV64", Arch::ScmpArchRiscv64);
#[cfg(all(target_arch = "powerpc64", target_endian = "little"))]
const ARCH: (&str, &str, Arch) = ("ppc64le", "SCMP_ARCH_PPC64LE", Arch::ScmpArchPpc64le);

/// The image form's default filter: Docker's profile for a container with `caps`.
pub fn docker_default(caps: &HashSet<Capability>) -> Result<LinuxSeccomp, PeopleError> {
    let _step = berth_runtime::steps::step("run: evaluate Docker's seccomp profile");
    table::evaluate(&docker_table::DOCKER_DEFAULT, caps, kernel_version())
        .map_err(|why| PeopleError::Usage(format!("berth's built-in seccomp profile: {why}")))
}

/// `--security-opt seccomp=FILE`: a profile in Docker's form or OCI's, for `caps`.
pub fn from_file(path: &Path, caps: &HashSet<Capability>) -> Result<LinuxSeccomp, PeopleError> {
    let text = std::fs::read_to_string(path).step("read seccomp profile", path)?;
    evaluate(&text, caps).map_err(|why| {
        PeopleError::Usage(format!("--security-opt seccomp={}: {why}", path.display()))
    })
}

fn evaluate(text: &str, caps: &HashSet<Capability>) -> Result<LinuxSeccomp, String> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object_mut().ok_or("not a JSON object")?;
    if let Some(map) = obj.remove("archMap") {
        if !obj.contains_key("architectures") {
            let native = map
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e.get("architecture").and_then(Value::as_str) == Some(ARCH.1));
            let mut arches = vec![Value::from(ARCH.1)];
            if let Some(subs) = native.and_then(|e| e.get("subArchitectures")) {
                arches.extend(subs.as_array().into_iter().flatten().cloned());
            }
            obj.insert("architectures".into(), Value::Array(arches));
        }
    }
    let kernel = kernel_version();
    let mut kept = Vec::new();
    let rules = obj.remove("syscalls").unwrap_or(Value::Array(Vec::new()));
    for rule in rules.as_array().ok_or("syscalls is not a list")? {
        let mut r = rule
            .as_object()
            .ok_or("a syscalls entry is not an object")?
            .clone();
        // A rule applies when all its includes hold and none of its excludes does.
        if !applies(&r, caps, kernel)? {
            continue;
        }
        r.remove("includes");
        r.remove("excludes");
        r.remove("comment");
        if r.get("args")
            .is_some_and(|a| a.as_array().is_some_and(Vec::is_empty))
        {
            r.remove("args");
        }
        // Docker's older form names one call per rule.
        if let Some(name) = r.remove("name") {
            r.entry("names").or_insert(Value::Array(vec![name]));
        }
        kept.push(Value::Object(r));
    }
    obj.insert("syscalls".into(), Value::Array(kept));
    serde_json::from_value(v).map_err(|e| format!("not a seccomp profile: {e}"))
}

/// Whether the JSON rule `r` applies ([`table::applies`]). A capability this build does not
/// know is never held: an `includes` naming one never holds, an `excludes` ignores it.
fn applies(
    r: &Map<String, Value>,
    caps: &HashSet<Capability>,
    kernel: (u32, u32),
) -> Result<bool, String> {
    let (Some(includes), Some(excludes)) = (parse(r, "includes")?, parse(r, "excludes")?) else {
        return Ok(false);
    };
    Ok(table::applies(
        &includes.cond(),
        &excludes.cond(),
        caps,
        kernel,
    ))
}

/// A JSON rule's includes or excludes, parsed.
#[derive(Default)]
struct Parsed<'a> {
    caps: Vec<Capability>,
    arches: Vec<&'a str>,
    min_kernel: Option<(u32, u32)>,
}

impl Parsed<'_> {
    fn cond(&self) -> table::Cond<'_> {
        table::Cond {
            caps: &self.caps,
            arches: &self.arches,
            min_kernel: self.min_kernel,
        }
    }
}

/// The condition `key` of rule `r`; None for an `includes` that names a capability this build
/// does not know.
fn parse<'a>(r: &'a Map<String, Value>, key: &str) -> Result<Option<Parsed<'a>>, String> {
    let c = match r.get(key) {
        Some(Value::Object(c)) => c,
        None | Some(Value::Null) => return Ok(Some(Parsed::default())),
        Some(_) => return Err(format!("a rule's {key} is not an object")),
    };
    let strings = |key: &str| -> Vec<&'a str> {
        c.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    };
    let named = strings("caps");
    let caps: Vec<Capability> = named
        .iter()
        .filter_map(|n| serde_json::from_value(Value::from(*n)).ok())
        .collect();
    if key == "includes" && caps.len() < named.len() {
        return Ok(None);
    }
    let min_kernel = match c.get("minKernel").and_then(Value::as_str) {
        Some(s) => Some(parse_version(s).ok_or_else(|| format!("bad minKernel {s:?}"))?),
        None => None,
    };
    Ok(Some(Parsed {
        caps,
        arches: strings("arches"),
        min_kernel,
    }))
}

/// "MAJOR.MINOR" from the front of a kernel release such as "6.1.0-18-amd64".
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

fn kernel_version() -> (u32, u32) {
    let uname = rustix::system::uname();
    parse_version(&uname.release().to_string_lossy()).unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &LinuxSeccomp) -> HashSet<String> {
        p.syscalls()
            .iter()
            .flatten()
            .filter(|r| r.args().as_ref().is_none_or(|a| a.is_empty()))
            .filter(|r| format!("{:?}", r.action()) == "ScmpActAllow")
            .flat_map(|r| r.names().clone())
            .collect()
    }

    #[test]
    fn docker_default_follows_capabilities() {
        let plain = docker_default(&HashSet::new()).unwrap();
        let admin = docker_default(&HashSet::from([Capability::SysAdmin])).unwrap();
        let (plain, admin) = (names(&plain), names(&admin));
        assert!(plain.contains("read") && plain.contains("arch_prctl"));
        for call in ["mount", "unshare", "setns", "clone"] {
            assert!(!plain.contains(call) && admin.contains(call), "{call}");
        }
        // Other architectures' rules stay out.
        assert!(!plain.contains("s390_runtime_instr"));
    }

    /// The filter Docker itself generated for a default container (the captured config in
    /// crates/berth/tests/fixtures) is what the embedded profile evaluates to for the same
    /// bounding set: the same architectures, default action and rules.
    #[test]
    fn docker_default_equals_what_docker_generates() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../berth/tests/fixtures/client-configs/docker-config.json"
        );
        let cfg: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let caps: HashSet<Capability> =
            serde_json::from_value(cfg["process"]["capabilities"]["bounding"].clone()).unwrap();
        let ours = serde_json::to_value(docker_default(&caps).unwrap()).unwrap();
        let theirs = &cfg["linux"]["seccomp"];
        let docker: LinuxSeccomp = serde_json::from_value(theirs.clone()).unwrap();
        let theirs = serde_json::to_value(docker).unwrap();
        let rules = |v: &Value| -> Vec<String> {
            let mut r: Vec<String> = v["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .map(Value::to_string)
                .collect();
            r.sort();
            r
        };
        assert_eq!(ours["architectures"], theirs["architectures"]);
        assert_eq!(ours["defaultAction"], theirs["defaultAction"]);
        assert_eq!(rules(&ours), rules(&theirs));
    }

    /// docker_table.rs is what data/docker-seccomp-default.json renders to; `BERTH_BLESS=1`
    /// writes it again after the JSON changed.
    #[test]
    fn the_table_is_the_json() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/seccomp/docker_table.rs");
        let want = table::render(DOCKER_DEFAULT);
        if std::env::var_os("BERTH_BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap();
        assert!(
            have == want,
            "{path} is not data/docker-seccomp-default.json's: \
             BERTH_BLESS=1 cargo test -p berth-people --bin berth-people seccomp"
        );
    }

    /// The table evaluates as the JSON does, for no capability, each one alone, Docker's
    /// default set and all of them.
    #[test]
    fn the_table_evaluates_as_the_json() {
        let all: Vec<Capability> = crate::security::CAP_NAMES
            .iter()
            .map(|n| serde_json::from_value(Value::from(format!("CAP_{n}"))).unwrap())
            .collect();
        let mut sets: Vec<HashSet<Capability>> =
            vec![HashSet::new(), all.iter().copied().collect()];
        sets.extend(all.iter().map(|c| HashSet::from([*c])));
        for caps in sets {
            let json = evaluate(DOCKER_DEFAULT, &caps).unwrap();
            let table = docker_default(&caps).unwrap();
            assert_eq!(table, json, "{caps:?}");
        }
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(parse_version("4.8"), Some((4, 8)));
        assert_eq!(parse_version("x"), None);
    }
}
