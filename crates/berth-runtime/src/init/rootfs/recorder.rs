//! A [`Syscall`] that writes the calls down instead of making them, for the unit tests of
//! the mount plan. Paths are shown as the tests name them: a scratch root as `$root/dev`,
//! an fd as the path it refers to, a detached tree the recorder handed out as `tree1`.

use std::cell::{Cell, RefCell};
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxIdMapping;
use rustix::fs::{FileType, Gid, Mode, OFlags, Uid};
use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags};

use super::syscall::Syscall;

/// One privileged call, with its paths as the test names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Mount {
        source: Option<String>,
        target: String,
        fstype: Option<String>,
        flags: MountFlags,
        data: Option<String>,
    },
    Umount(String, UnmountFlags),
    SetAttr {
        mount: String,
        recursive: bool,
        set: u64,
        clear: u64,
    },
    CloneTree {
        from: String,
        recursive: bool,
        tree: String,
    },
    MoveMount {
        tree: String,
        target: String,
    },
    Tmpfs {
        attrs: u64,
        tree: String,
    },
    /// A user namespace with these maps (uid_map text, gid_map text), shown as `usernsN`.
    UserNs {
        uids: String,
        gids: String,
        userns: String,
    },
    IdMap {
        tree: String,
        recursive: bool,
        userns: String,
    },
    Mknod {
        path: String,
        kind: FileType,
        dev: u64,
    },
    Chown {
        path: String,
        uid: u32,
        gid: u32,
    },
    Symlink {
        link: String,
        target: String,
    },
    PivotRoot(String, String),
    Chroot(String),
    Chdir(String),
    Fchdir(String),
}

pub struct Recorder {
    /// Real directories and the names the calls show them by.
    names: Vec<(PathBuf, &'static str)>,
    /// Where the files standing for detached trees live (removed with the recorder).
    _scratch: tempfile::TempDir,
    scratch_path: PathBuf,
    trees: Cell<usize>,
    calls: RefCell<Vec<Call>>,
    /// A filesystem type whose mounts fail with this errno (after being recorded).
    refuse: Option<(&'static str, Errno)>,
}

impl Recorder {
    /// `names`: directories to show by name, e.g. `(root, "$root")`.
    pub fn new(names: &[(&Path, &'static str)]) -> Recorder {
        let names = names
            .iter()
            .map(|(p, n)| (std::fs::canonicalize(p).expect("canonicalize"), *n))
            .collect();
        let scratch = tempfile::tempdir().expect("scratch dir");
        Recorder {
            names,
            scratch_path: std::fs::canonicalize(scratch.path()).expect("canonicalize"),
            _scratch: scratch,
            trees: Cell::new(0),
            calls: RefCell::new(Vec::new()),
            refuse: None,
        }
    }

    /// Makes every mount of the filesystem type `fstype` fail with `errno`, as the kernel
    /// refuses some (sysfs without a network namespace of its own: EPERM).
    pub fn refusing(mut self, fstype: &'static str, errno: Errno) -> Recorder {
        self.refuse = Some((fstype, errno));
        self
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    /// The mount(2) calls only.
    pub fn mounts(&self) -> Vec<Call> {
        let calls = self.calls.borrow();
        let mounts = calls.iter().filter(|c| matches!(c, Call::Mount { .. }));
        mounts.cloned().collect()
    }

    fn record(&self, call: Call) {
        self.calls.borrow_mut().push(call);
    }

    fn show(&self, path: &Path) -> String {
        let real = match path.strip_prefix("/proc/self/fd") {
            Ok(_) => std::fs::read_link(path).expect("read fd link"),
            Err(_) => path.to_path_buf(),
        };
        if let Ok(tree) = real.strip_prefix(&self.scratch_path) {
            return tree.display().to_string();
        }
        for (dir, name) in &self.names {
            match real.strip_prefix(dir) {
                Ok(rest) if rest.as_os_str().is_empty() => return name.to_string(),
                Ok(rest) => return format!("{name}/{}", rest.display()),
                Err(_) => {}
            }
        }
        real.display().to_string()
    }

    fn show_fd(&self, fd: BorrowedFd<'_>) -> String {
        self.show(&PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())))
    }

    fn show_at(&self, dir: BorrowedFd<'_>, name: impl AsRef<OsStr>) -> String {
        format!("{}/{}", self.show_fd(dir), name.as_ref().to_string_lossy())
    }

    /// A detached tree stands for a fresh file in the scratch dir, so it shows by name.
    fn new_tree(&self) -> io::Result<(OwnedFd, String)> {
        self.trees.set(self.trees.get() + 1);
        let name = format!("tree{}", self.trees.get());
        let path = self.scratch_path.join(&name);
        std::fs::write(&path, "")?;
        let fd = rustix::fs::open(&path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
        Ok((fd, name))
    }
}

impl Syscall for Recorder {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MountFlags,
        data: Option<&str>,
    ) -> rustix::io::Result<()> {
        self.record(Call::Mount {
            source: source.map(|s| self.show(s)),
            target: self.show(target),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(str::to_string),
        });
        match self.refuse {
            Some((refused, errno)) if fstype == Some(refused) => Err(errno),
            _ => Ok(()),
        }
    }

    fn umount(&self, target: &Path, flags: UnmountFlags) -> rustix::io::Result<()> {
        self.record(Call::Umount(self.show(target), flags));
        Ok(())
    }

    fn mount_setattr(
        &self,
        mount: BorrowedFd<'_>,
        recursive: bool,
        set: u64,
        clear: u64,
        _propagation: u64,
    ) -> io::Result<()> {
        self.record(Call::SetAttr {
            mount: self.show_fd(mount),
            recursive,
            set,
            clear,
        });
        Ok(())
    }

    fn clone_tree(&self, fd: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd> {
        let (fd_out, tree) = self.new_tree()?;
        self.record(Call::CloneTree {
            from: self.show_fd(fd),
            recursive,
            tree,
        });
        Ok(fd_out)
    }

    fn move_mount(&self, tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
        self.record(Call::MoveMount {
            tree: self.show_fd(tree),
            target: self.show_fd(target),
        });
        Ok(())
    }

    fn detached_tmpfs(&self, attrs: u64) -> io::Result<OwnedFd> {
        let (fd, tree) = self.new_tree()?;
        self.record(Call::Tmpfs { attrs, tree });
        Ok(fd)
    }

    fn userns_with_maps(
        &self,
        uids: &[LinuxIdMapping],
        gids: &[LinuxIdMapping],
    ) -> io::Result<OwnedFd> {
        let (fd, tree) = self.new_tree()?;
        self.record(Call::UserNs {
            uids: crate::userns::map_text(uids),
            gids: crate::userns::map_text(gids),
            userns: tree.replace("tree", "userns"),
        });
        Ok(fd)
    }

    fn idmap(
        &self,
        tree: BorrowedFd<'_>,
        recursive: bool,
        userns: BorrowedFd<'_>,
    ) -> io::Result<()> {
        self.record(Call::IdMap {
            tree: self.show_fd(tree),
            recursive,
            userns: self.show_fd(userns).replace("tree", "userns"),
        });
        Ok(())
    }

    /// Leaves a regular file where the node would be, so what follows (chmod) finds it.
    fn mknod(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        kind: FileType,
        mode: Mode,
        dev: libc::dev_t,
    ) -> rustix::io::Result<()> {
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC;
        rustix::fs::openat(dir, name, flags, mode)?;
        self.record(Call::Mknod {
            path: self.show_at(dir, name),
            kind,
            dev,
        });
        Ok(())
    }

    fn chown(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        uid: Uid,
        gid: Gid,
    ) -> rustix::io::Result<()> {
        self.record(Call::Chown {
            path: self.show_at(dir, name),
            uid: uid.as_raw(),
            gid: gid.as_raw(),
        });
        Ok(())
    }

    fn symlink(&self, target: &str, dir: BorrowedFd<'_>, name: &str) -> rustix::io::Result<()> {
        self.record(Call::Symlink {
            link: self.show_at(dir, name),
            target: target.to_string(),
        });
        Ok(())
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> rustix::io::Result<()> {
        self.record(Call::PivotRoot(self.show(new_root), self.show(put_old)));
        Ok(())
    }

    fn chroot(&self, path: &Path) -> rustix::io::Result<()> {
        self.record(Call::Chroot(self.show(path)));
        Ok(())
    }

    fn chdir(&self, path: &Path) -> rustix::io::Result<()> {
        self.record(Call::Chdir(self.show(path)));
        Ok(())
    }

    fn fchdir(&self, dir: BorrowedFd<'_>) -> rustix::io::Result<()> {
        self.record(Call::Fchdir(self.show_fd(dir)));
        Ok(())
    }
}
