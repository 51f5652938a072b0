//! Translation of systemd-style cgroupsPath (`slice:prefix:name`) to the cgroupfs path
//! runc's systemd driver would give the unit, for hosts where no systemd runs.
//!
//! Owns only the naming rules (slice expansion, scope naming); it never talks to systemd.

use std::path::PathBuf;

use crate::{CgroupError, Result};

const SLICE: &str = ".slice";

/// `system.slice:docker:ID` → `/system.slice/docker-ID.scope`; an empty slice is
/// `system.slice`; nested slices expand (`a-b.slice` → `/a.slice/a-b.slice`); a name that is
/// itself a slice is used as is. The result is an absolute cgroupsPath for [`crate::manager_for`].
pub fn systemd_to_cgroupfs(path: &str) -> Result<PathBuf> {
    let parts: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = parts.as_slice() else {
        return Err(CgroupError::Invalid(format!(
            "cgroupsPath {path:?}: expected \"slice:prefix:name\" for systemd cgroups"
        )));
    };
    if name.is_empty() || name.contains('/') {
        return Err(CgroupError::Invalid(format!(
            "cgroupsPath {path:?}: unit name {name:?} is empty or contains '/'"
        )));
    }
    if prefix.contains('/') {
        return Err(CgroupError::Invalid(format!(
            "cgroupsPath {path:?}: prefix {prefix:?} contains '/'"
        )));
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut out = expand_slice(slice)?;
    let unit = if name.ends_with(SLICE) {
        // A slice unit nests under its parent by name, like any slice.
        expand_slice(name)?;
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    out.push(unit);
    Ok(out)
}

/// systemd's slice naming: every dash-separated prefix of the name is a parent slice.
fn expand_slice(slice: &str) -> Result<PathBuf> {
    let invalid = |why: &str| CgroupError::Invalid(format!("slice {slice:?}: {why}"));
    let Some(stem) = slice.strip_suffix(SLICE) else {
        return Err(invalid("does not end in .slice"));
    };
    if slice.contains('/') {
        return Err(invalid("contains '/'"));
    }
    let mut out = PathBuf::from("/");
    if stem == "-" {
        return Ok(out);
    }
    let mut prefix = String::new();
    for component in stem.split('-') {
        if component.is_empty() {
            return Err(invalid("has an empty dash-separated component"));
        }
        out.push(format!("{prefix}{component}{SLICE}"));
        prefix.push_str(component);
        prefix.push('-');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn translates_like_runc() {
        let t = |s: &str| systemd_to_cgroupfs(s).unwrap();
        assert_eq!(
            t("system.slice:docker:ID"),
            Path::new("/system.slice/docker-ID.scope")
        );
        assert_eq!(
            t(":libpod:abc"),
            Path::new("/system.slice/libpod-abc.scope")
        );
        assert_eq!(
            t("machine-libpod_pod_1.slice:libpod:abc"),
            Path::new("/machine.slice/machine-libpod_pod_1.slice/libpod-abc.scope")
        );
        assert_eq!(
            t("a-b-c.slice:p:n"),
            Path::new("/a.slice/a-b.slice/a-b-c.slice/p-n.scope")
        );
        assert_eq!(t("-.slice:p:n"), Path::new("/p-n.scope"));
        assert_eq!(t("user.slice::n"), Path::new("/user.slice/n.scope"));
        assert_eq!(
            t("system.slice::x.slice"),
            Path::new("/system.slice/x.slice")
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "/docker/ID",
            "a:b",
            "a:b:c:d",
            "foo:p:n",
            "a--b.slice:p:n",
            "s.slice:p:",
            "-a.slice:p:n",
        ] {
            assert!(systemd_to_cgroupfs(bad).is_err(), "{bad}");
        }
    }
}
