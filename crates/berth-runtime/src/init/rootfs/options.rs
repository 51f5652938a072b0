//! The one table of mount options berth honours (as runc), and how a mount's options
//! split into mount(2) flags, recursive attributes, propagation and filesystem data.

use rustix::mount::MountFlags;

/// A mount's options split the way mount(2) wants them.
#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MountFlags,
    pub propagation: Vec<MountFlags>,
    /// Filesystem-specific options (mode=755, size=…) joined with commas.
    pub data: String,
    /// runc's `tmpcopyup`: a tmpfs starts with a copy of the directory it covers.
    pub copy_up: bool,
    /// The recursive options (rro, rnoexec, …), for mount_setattr(AT_RECURSIVE).
    pub recursive: RecursiveAttrs,
    /// `idmap` (Some(false): the top mount) or `ridmap` (Some(true): every mount below).
    pub idmap: Option<bool>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MountFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            copy_up: false,
            recursive: RecursiveAttrs::default(),
            idmap: None,
        }
    }
}

/// MOUNT_ATTR_* bits to set and clear on a mount and every mount below it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecursiveAttrs {
    pub set: u64,
    pub clear: u64,
}

impl RecursiveAttrs {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }

    /// A later option overrides an earlier one for the bits it names.
    fn apply(&mut self, set: u64, clear: u64) {
        self.set = (self.set & !clear) | set;
        self.clear = (self.clear & !set) | clear;
    }
}

/// What one OCI mount option means to berth.
#[derive(Clone, Copy)]
enum Opt {
    /// mount(2) flags to set and to clear.
    Flags(libc::c_ulong, libc::c_ulong),
    /// MOUNT_ATTR_* bits to set and to clear, recursively.
    Recursive(u64, u64),
    Propagation(libc::c_ulong),
    /// An instruction to the runtime, not to the kernel (which would reject it).
    CopyUp,
    /// An idmapped bind (runtime-spec 1.2), recursive or not: made by the runtime.
    IdMap(bool),
}

/// An atime mode is a value, not a bit: mount_setattr wants the whole field cleared.
const fn atime(mode: u64) -> Opt {
    Opt::Recursive(mode, libc::MOUNT_ATTR__ATIME)
}

/// Every mount option berth honours, as runc: the one table `parse_options` reads and
/// `berth features` lists. Anything else is filesystem data.
const OPTIONS: &[(&str, Opt)] = &[
    ("defaults", Opt::Flags(0, 0)),
    ("ro", Opt::Flags(libc::MS_RDONLY, 0)),
    ("rw", Opt::Flags(0, libc::MS_RDONLY)),
    ("suid", Opt::Flags(0, libc::MS_NOSUID)),
    ("nosuid", Opt::Flags(libc::MS_NOSUID, 0)),
    ("dev", Opt::Flags(0, libc::MS_NODEV)),
    ("nodev", Opt::Flags(libc::MS_NODEV, 0)),
    ("exec", Opt::Flags(0, libc::MS_NOEXEC)),
    ("noexec", Opt::Flags(libc::MS_NOEXEC, 0)),
    ("sync", Opt::Flags(libc::MS_SYNCHRONOUS, 0)),
    ("async", Opt::Flags(0, libc::MS_SYNCHRONOUS)),
    ("dirsync", Opt::Flags(libc::MS_DIRSYNC, 0)),
    ("remount", Opt::Flags(libc::MS_REMOUNT, 0)),
    ("mand", Opt::Flags(libc::MS_MANDLOCK, 0)),
    ("nomand", Opt::Flags(0, libc::MS_MANDLOCK)),
    ("atime", Opt::Flags(0, libc::MS_NOATIME)),
    ("noatime", Opt::Flags(libc::MS_NOATIME, 0)),
    ("diratime", Opt::Flags(0, libc::MS_NODIRATIME)),
    ("nodiratime", Opt::Flags(libc::MS_NODIRATIME, 0)),
    ("relatime", Opt::Flags(libc::MS_RELATIME, 0)),
    ("norelatime", Opt::Flags(0, libc::MS_RELATIME)),
    ("strictatime", Opt::Flags(libc::MS_STRICTATIME, 0)),
    ("nostrictatime", Opt::Flags(0, libc::MS_STRICTATIME)),
    ("bind", Opt::Flags(libc::MS_BIND, 0)),
    ("rbind", Opt::Flags(libc::MS_BIND | libc::MS_REC, 0)),
    ("rro", Opt::Recursive(libc::MOUNT_ATTR_RDONLY, 0)),
    ("rrw", Opt::Recursive(0, libc::MOUNT_ATTR_RDONLY)),
    ("rnosuid", Opt::Recursive(libc::MOUNT_ATTR_NOSUID, 0)),
    ("rsuid", Opt::Recursive(0, libc::MOUNT_ATTR_NOSUID)),
    ("rnodev", Opt::Recursive(libc::MOUNT_ATTR_NODEV, 0)),
    ("rdev", Opt::Recursive(0, libc::MOUNT_ATTR_NODEV)),
    ("rnoexec", Opt::Recursive(libc::MOUNT_ATTR_NOEXEC, 0)),
    ("rexec", Opt::Recursive(0, libc::MOUNT_ATTR_NOEXEC)),
    (
        "rnodiratime",
        Opt::Recursive(libc::MOUNT_ATTR_NODIRATIME, 0),
    ),
    ("rdiratime", Opt::Recursive(0, libc::MOUNT_ATTR_NODIRATIME)),
    ("rnoatime", atime(libc::MOUNT_ATTR_NOATIME)),
    ("rrelatime", atime(libc::MOUNT_ATTR_RELATIME)),
    ("rstrictatime", atime(libc::MOUNT_ATTR_STRICTATIME)),
    // Leaving noatime or relatime without saying what instead: the kernel's default
    // (relatime); leaving relatime: every access updates atime (strictatime).
    ("ratime", atime(libc::MOUNT_ATTR_RELATIME)),
    ("rnostrictatime", atime(libc::MOUNT_ATTR_RELATIME)),
    ("rnorelatime", atime(libc::MOUNT_ATTR_STRICTATIME)),
    (
        "rnosymfollow",
        Opt::Recursive(libc::MOUNT_ATTR_NOSYMFOLLOW, 0),
    ),
    (
        "rsymfollow",
        Opt::Recursive(0, libc::MOUNT_ATTR_NOSYMFOLLOW),
    ),
    ("private", Opt::Propagation(libc::MS_PRIVATE)),
    (
        "rprivate",
        Opt::Propagation(libc::MS_PRIVATE | libc::MS_REC),
    ),
    ("shared", Opt::Propagation(libc::MS_SHARED)),
    ("rshared", Opt::Propagation(libc::MS_SHARED | libc::MS_REC)),
    ("slave", Opt::Propagation(libc::MS_SLAVE)),
    ("rslave", Opt::Propagation(libc::MS_SLAVE | libc::MS_REC)),
    ("unbindable", Opt::Propagation(libc::MS_UNBINDABLE)),
    (
        "runbindable",
        Opt::Propagation(libc::MS_UNBINDABLE | libc::MS_REC),
    ),
    ("tmpcopyup", Opt::CopyUp),
    ("idmap", Opt::IdMap(false)),
    ("ridmap", Opt::IdMap(true)),
];

/// The names of every mount option berth honours (for `berth features`).
pub fn option_names() -> impl Iterator<Item = &'static str> {
    OPTIONS.iter().map(|(name, _)| *name)
}

fn lookup(name: &str) -> Option<Opt> {
    OPTIONS.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
}

pub fn propagation_flag(name: &str) -> Option<MountFlags> {
    match lookup(name)? {
        Opt::Propagation(p) => Some(MountFlags::from_bits_retain(p as u32)),
        _ => None,
    }
}

/// Splits OCI mount options into flags, recursive attributes, propagation and data, as
/// runc does.
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut out = MountOptions::default();
    let mut data = Vec::new();
    for opt in options {
        match lookup(opt) {
            Some(Opt::Flags(set, clear)) => {
                out.flags.remove(MountFlags::from_bits_retain(clear as u32));
                out.flags.insert(MountFlags::from_bits_retain(set as u32));
            }
            Some(Opt::Recursive(set, clear)) => out.recursive.apply(set, clear),
            Some(Opt::Propagation(p)) => {
                out.propagation.push(MountFlags::from_bits_retain(p as u32))
            }
            Some(Opt::CopyUp) => out.copy_up = true,
            Some(Opt::IdMap(recursive)) => out.idmap = Some(recursive),
            None => data.push(opt.as_str()),
        }
    }
    out.data = data.join(",");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::rootfs::syscall::ms;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = parse_options(&s(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rprivate",
        ]));
        assert_eq!(o.flags, MountFlags::NOSUID | MountFlags::STRICTATIME);
        assert_eq!(o.propagation, vec![ms::PRIVATE | MountFlags::REC]);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.copy_up);
    }

    #[test]
    fn tmpcopyup_is_for_the_runtime_not_the_kernel() {
        let o = parse_options(&s(&["rw", "nosuid", "tmpcopyup"]));
        assert!(o.copy_up);
        assert_eq!(o.data, "");
    }

    #[test]
    fn recursive_options_are_attributes_not_data() {
        let o = parse_options(&s(&["rbind", "rro", "rnoexec", "rnoatime", "rrelatime"]));
        assert_eq!(o.data, "");
        assert_eq!(o.flags, MountFlags::BIND | MountFlags::REC);
        assert_eq!(
            o.recursive.set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOEXEC | libc::MOUNT_ATTR_RELATIME
        );
        // An atime mode clears the whole atime field, as mount_setattr requires.
        assert_eq!(o.recursive.clear, libc::MOUNT_ATTR__ATIME);
        let o = parse_options(&s(&["rro", "rrw"]));
        assert_eq!(
            (o.recursive.set, o.recursive.clear),
            (0, libc::MOUNT_ATTR_RDONLY)
        );
    }

    #[test]
    fn every_option_in_the_table_is_honoured_not_data() {
        for name in option_names() {
            let o = parse_options(&s(&[name]));
            assert_eq!(
                o.data, "",
                "{name} would reach the kernel as filesystem data"
            );
        }
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = parse_options(&s(&["ro", "rw", "rbind"]));
        assert_eq!(o.flags, MountFlags::BIND | MountFlags::REC);
    }
}
