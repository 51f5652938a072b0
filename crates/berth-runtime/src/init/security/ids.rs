//! The switch to the configured groups, gid and uid.

// The thread-level calls are the process's: the init is one thread.
use oci_spec::runtime::User;
use rustix::process::{Gid, Uid};
use rustix::thread::{
    set_thread_groups as setgroups, set_thread_res_gid as setresgid,
    set_thread_res_uid as setresuid,
};

use crate::init::error::{Ctx, InitError};

/// Step 2: groups, gid, uid — keeping the permitted set across the switch so step 3 can
/// choose what stays.
pub fn switch_user(user: &User) -> Result<(), InitError> {
    // The kernel reads id 4294967295 ((uid_t)-1) as "leave unchanged": setresuid with it
    // would keep root. Refused, with every id above i32::MAX, as runc does.
    let ids = [user.uid(), user.gid()]
        .into_iter()
        .chain(user.additional_gids().iter().flatten().copied());
    if let Some(bad) = ids.into_iter().find(|id| i32::try_from(*id).is_err()) {
        return Err(InitError(format!(
            "process.user: id {bad} is outside 0-2147483647 (4294967295 would leave the id unchanged)"
        )));
    }
    rustix::thread::set_keep_capabilities(true).ctx(|| "keep capabilities".into())?;
    // Duplicates removed, first occurrence kept (runc does the same).
    let mut gids: Vec<Gid> = Vec::new();
    for g in user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
    {
        if !gids.contains(&g) {
            gids.push(g);
        }
    }
    // setgroups is refused in a user namespace whose setgroups file says "deny"; an empty
    // list there is what the kernel already has.
    match setgroups(&gids) {
        Ok(()) => {}
        Err(rustix::io::Errno::PERM) if gids.is_empty() => {}
        Err(rustix::io::Errno::PERM)
            if std::fs::read_to_string("/proc/self/setgroups")
                .is_ok_and(|s| s.trim() == "deny") =>
        {
            return Err(InitError(format!(
                "process.user.additionalGids {gids:?}: setgroups is denied in this user \
                 namespace (a rootless container mapping a single id cannot have \
                 supplementary groups; map more ids with newgidmap)"
            )))
        }
        Err(e) => return Err(InitError(format!("setgroups {gids:?}: {e}"))),
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).ctx(|| format!("setgid {}", gid.as_raw()))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).ctx(|| format!("setuid {}", uid.as_raw()))?;
    rustix::thread::set_keep_capabilities(false).ctx(|| "clear keep capabilities".into())?;
    Ok(())
}
