//! Linux security modules: what the host can apply is checked before anything is created;
//! an AppArmor profile is applied at the program's execve.

use oci_spec::runtime::Process;

use crate::init::error::{Ctx, InitError};

fn lsm_enabled(name: &str) -> bool {
    std::fs::read_to_string("/sys/kernel/security/lsm")
        .map(|l| l.trim().split(',').any(|m| m == name))
        .unwrap_or(false)
}

#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    #[error("process.apparmorProfile {0:?} is set but AppArmor is not enabled on this host")]
    AppArmorDisabled(String),
    #[error("process.selinuxLabel {0:?} is set but SELinux is disabled or not supported")]
    SelinuxDisabled(String),
    #[error("process.selinuxLabel {0:?}: berth does not apply SELinux labels yet")]
    SelinuxUnsupported(String),
}

/// What runc does with LSM labels, checked before anything is created: an empty label is
/// ignored; a requested AppArmor profile or SELinux label the host cannot apply is an
/// error (runc fails writing /proc/self/attr/exec). linux.mountLabel is ignored without
/// SELinux, as runc's label package does.
pub fn check_lsm(process: &Process) -> Result<(), LsmError> {
    if let Some(p) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !lsm_enabled("apparmor") {
            return Err(LsmError::AppArmorDisabled(p.into()));
        }
    }
    if let Some(l) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        return Err(if lsm_enabled("selinux") {
            LsmError::SelinuxUnsupported(l.into())
        } else {
            LsmError::SelinuxDisabled(l.into())
        });
    }
    Ok(())
}

/// Asks AppArmor to switch to the profile at the next execve (as runc's changeOnExec).
pub fn apply_apparmor(process: &Process) -> Result<(), InitError> {
    let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    else {
        return Ok(());
    };
    let attr = if std::path::Path::new("/proc/self/attr/apparmor/exec").exists() {
        "/proc/self/attr/apparmor/exec"
    } else {
        "/proc/self/attr/exec"
    };
    std::fs::write(attr, format!("exec {profile}"))
        .ctx(|| format!("apply AppArmor profile {profile:?} ({attr})"))
}
