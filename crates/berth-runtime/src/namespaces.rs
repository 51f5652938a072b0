//! The namespace plan of a container, computed once from its config: which namespaces are
//! new, which are joined by path, which are shared with the caller (not listed), and from
//! that the clone and unshare flags. create, the init, exec, join, kill and delete all ask
//! it instead of reading linux.namespaces themselves.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxNamespaceType, Spec};
use rustix::thread::UnshareFlags;

/// The time namespace, named as the other flags.
const NEWTIME: UnshareFlags = UnshareFlags::NEWTIME;

#[derive(Debug, Clone, Default)]
pub struct NamespacePlan {
    /// Every listed type, new or joined: the container's own namespaces.
    own: Vec<LinuxNamespaceType>,
    /// Listed without a path: created for the container.
    new: Vec<LinuxNamespaceType>,
    /// Joined by path by the init, the user namespace first (what is created afterwards
    /// belongs to it). A joined pid namespace is not here: see [`Self::pid_join`].
    joins: Vec<(LinuxNamespaceType, PathBuf)>,
    /// A pid namespace joined by path: the parent enters it around the clone (it only
    /// affects children).
    pid_join: Option<PathBuf>,
}

/// The CLONE_NEW* bit of a namespace type (the OCI enum's values are those bits).
pub fn flag(t: LinuxNamespaceType) -> UnshareFlags {
    UnshareFlags::from_bits_retain(t as u32)
}

/// setns(2) into the namespaces of `flags` that `fd` (a namespace file or a pidfd) has.
pub fn setns(fd: std::os::fd::BorrowedFd<'_>, flags: UnshareFlags) -> rustix::io::Result<()> {
    let types = rustix::thread::ThreadNameSpaceType::from_bits_retain(flags.bits());
    rustix::thread::move_into_thread_name_spaces(fd, types)
}

/// The namespace's file name under /proc/<pid>/ns.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

impl NamespacePlan {
    pub fn of(spec: &Spec) -> NamespacePlan {
        Self::of_linux(spec.linux().as_ref())
    }

    /// A config without `linux` lists nothing: every namespace is shared (as runc).
    pub fn of_linux(linux: Option<&Linux>) -> NamespacePlan {
        let listed = linux
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        let mut plan = NamespacePlan::default();
        for ns in &listed {
            plan.own.push(ns.typ());
            match (ns.path(), ns.typ()) {
                (None, t) => plan.new.push(t),
                (Some(p), LinuxNamespaceType::Pid) => plan.pid_join = Some(p.clone()),
                (Some(p), t) => plan.joins.push((t, p.clone())),
            }
        }
        plan.joins
            .sort_by_key(|(t, _)| *t != LinuxNamespaceType::User);
        plan
    }

    /// Listed at all (new or joined): the container's own, not the caller's.
    pub fn is_own(&self, t: LinuxNamespaceType) -> bool {
        self.own.contains(&t)
    }

    pub fn is_new(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(&t)
    }

    pub fn own(&self) -> &[LinuxNamespaceType] {
        &self.own
    }

    pub fn joins(&self) -> &[(LinuxNamespaceType, PathBuf)] {
        &self.joins
    }

    pub fn pid_join(&self) -> Option<&Path> {
        self.pid_join.as_deref()
    }

    /// Every new namespace but the cgroup one, which the init always creates later, from
    /// inside its cgroup.
    fn new_flags(&self) -> UnshareFlags {
        self.new
            .iter()
            .filter(|t| **t != LinuxNamespaceType::Cgroup)
            .fold(UnshareFlags::empty(), |acc, t| acc | flag(*t))
    }

    /// What the clone creates: every new namespace in one call, unless something is joined
    /// by path; then only the pid namespace, and the init creates the rest after joining
    /// (`unshare_flags`), so they belong to the right owners.
    pub fn clone_flags(&self) -> UnshareFlags {
        let new = self.new_flags();
        if self.joins.is_empty() {
            new
        } else {
            new & UnshareFlags::NEWPID
        }
    }

    /// What the init unshares after joining (see `clone_flags`).
    pub fn unshare_flags(&self) -> UnshareFlags {
        if self.joins.is_empty() {
            UnshareFlags::empty()
        } else {
            self.new_flags() - UnshareFlags::NEWPID - NEWTIME
        }
    }

    /// A new time namespace must come from the clone: with joins it cannot (yet).
    pub fn new_time_with_joins(&self) -> bool {
        !self.joins.is_empty() && self.is_new(LinuxNamespaceType::Time)
    }

    /// What exec joins through the init's pidfd: every namespace of the container's own
    /// but the pid namespace, which the parent enters around the clone.
    pub fn setns_flags(&self) -> UnshareFlags {
        self.own
            .iter()
            .filter(|t| **t != LinuxNamespaceType::Pid)
            .fold(UnshareFlags::empty(), |acc, t| acc | flag(*t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxNamespaceBuilder};

    fn plan(ns: &[(LinuxNamespaceType, Option<&str>)]) -> NamespacePlan {
        let list = ns
            .iter()
            .map(|(t, p)| {
                let mut b = LinuxNamespaceBuilder::default().typ(*t);
                if let Some(p) = p {
                    b = b.path(*p);
                }
                b.build().unwrap()
            })
            .collect::<Vec<_>>();
        let linux = LinuxBuilder::default().namespaces(list).build().unwrap();
        NamespacePlan::of_linux(Some(&linux))
    }

    #[test]
    fn all_new_go_in_one_clone_but_cgroup() {
        use LinuxNamespaceType::*;
        let p = plan(&[(Pid, None), (Mount, None), (Cgroup, None), (User, None)]);
        assert_eq!(
            p.clone_flags(),
            UnshareFlags::NEWPID | UnshareFlags::NEWNS | UnshareFlags::NEWUSER
        );
        assert!(p.unshare_flags().is_empty());
        assert!(p.is_new(Cgroup) && !p.is_own(Network));
    }

    #[test]
    fn with_a_join_the_init_unshares_after_joining_user_first() {
        use LinuxNamespaceType::*;
        let p = plan(&[
            (Pid, None),
            (Network, Some("/n")),
            (Mount, None),
            (User, Some("/u")),
        ]);
        assert_eq!(p.clone_flags(), UnshareFlags::NEWPID);
        assert_eq!(p.unshare_flags(), UnshareFlags::NEWNS);
        assert_eq!(p.joins()[0].0, User);
        assert_eq!(
            p.setns_flags(),
            UnshareFlags::NEWNET | UnshareFlags::NEWNS | UnshareFlags::NEWUSER
        );
    }

    #[test]
    fn a_joined_pid_namespace_is_entered_by_the_parent() {
        use LinuxNamespaceType::*;
        let p = plan(&[(Pid, Some("/p")), (Mount, None)]);
        assert_eq!(p.pid_join(), Some(Path::new("/p")));
        assert!(p.joins().is_empty());
        assert_eq!(p.clone_flags(), UnshareFlags::NEWNS);
        assert!(p.is_own(Pid) && !p.is_new(Pid));
    }
}
