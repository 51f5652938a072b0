//! `berth restore`: a new container under the given ID, from the bundle's config (the same
//! rootfs as the checkpointed one; bundle and ID may differ), whose processes CRIU restores
//! from the image directory. The runtime claims the ID and makes the cgroup
//! (`berth_runtime::container::adopt`); CRIU puts the restored tree into that cgroup
//! (its root cgroup mapped there), under a bind of the rootfs, with the config's bind sources
//! bound where the checkpoint left them out.

use std::cell::Cell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::cli::RestoreArgs;
use berth::context::{Context, Outcome};
use berth_common::io::Step;
use berth_runtime::container::{self, AdoptOptions, Init};
use berth_runtime::state::State;
use oci_spec::runtime::LinuxNamespaceType;
use rust_criu::rust_criu_protobuf::rpc::Criu_notify;
use rust_criu::Criu;

use super::{CriuError, DESCRIPTORS, MASKED_KEY};
use crate::error::PeopleError;

thread_local! {
    /// The restored init's pid, from CRIU's post-restore notification (rust-criu takes a
    /// plain fn as its callback; it runs on this thread, inside `restore`).
    static RESTORED: Cell<i32> = const { Cell::new(0) };
}

fn notified(script: &str, notify: &Criu_notify, _fd: Option<std::os::fd::RawFd>) -> i32 {
    if script == "post-restore" {
        RESTORED.with(|p| p.set(notify.pid()));
    }
    0
}

pub fn restore(a: RestoreArgs, ctx: &Context) -> Outcome {
    if a.lsm_profile.is_some() || a.lsm_mount_context.is_some() {
        return Err(CriuError::Unsupported("--lsm-profile and --lsm-mount-context".into()).into());
    }
    if ctx.systemd_cgroup {
        return Err(CriuError::Unsupported("restore with --systemd-cgroup".into()).into());
    }
    let images = super::image_path(&a.criu);
    let opts = AdoptOptions {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        detach: a.detach,
    };
    let criu_root = ctx.root.path.join(&a.id).join("criu-root");
    let code = container::adopt(&ctx.root, &opts, ctx.release, |state| {
        let root = RootBind::new(&state.rootfs, &criu_root)?;
        let init = run_criu(&a, ctx, state, &images, &root.0);
        root.remove();
        init
    })?;
    Ok(code.clamp(0, 255) as u8)
}

/// Everything CRIU is told, then the restore itself; returns the restored init.
fn run_criu(
    a: &RestoreArgs,
    ctx: &Context,
    state: &State,
    images: &Path,
    root: &Path,
) -> Result<Init, PeopleError> {
    let mut criu = super::new_criu(ctx)?;
    super::common_options(&mut criu, &a.criu)?;
    let images_dir = std::fs::File::open(images).step("open image directory", images)?;
    criu.set_images_dir_fd(images_dir.as_raw_fd());
    let work_dir = match &a.criu.work_path {
        Some(w) => Some(std::fs::File::open(w).step("open work directory", w)?),
        None => None,
    };
    if let Some(w) = &work_dir {
        criu.set_work_dir_fd(w.as_raw_fd());
    }
    criu.set_log_file("restore.log".into());
    criu.set_root(root.to_string_lossy().into_owned());
    // The restored tree becomes this process's child, not criu's (which exits).
    criu.set_rst_sibling(true);
    criu.set_notify_scripts(true);
    criu.set_notify_cb(notified);
    let terminal = state
        .config
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    criu.set_orphan_pts_master(terminal);
    external_mounts(&mut criu, state);
    cgroup_roots(&mut criu, state);
    // Kept open until CRIU has run: it inherits them by number.
    let _namespaces = joined_namespaces(&mut criu, state)?;
    inherit_stdio(&mut criu, images)?;
    RESTORED.with(|p| p.set(0));
    criu.restore()
        .map_err(|e| super::failed("restore", super::log_path(&a.criu, "restore.log"), e))?;
    let pid = RESTORED.with(|p| p.get());
    if pid <= 0 {
        return Err(CriuError::NoPid.into());
    }
    Ok(Init {
        pid,
        console: criu.take_orphan_pts_master_fd(),
    })
}

/// The config's bind sources (relative ones in the bundle) where the checkpoint recorded
/// their destinations, the new container's cgroup directories, and the host's /dev/null
/// for masked files.
fn external_mounts(criu: &mut Criu, state: &State) {
    let spec = &state.config;
    for m in super::bind_mounts(spec) {
        let source = m.source().clone().unwrap_or_default();
        let source = state.bundle.join(source);
        criu.set_external_mount(
            m.destination().to_string_lossy().into_owned(),
            source.to_string_lossy().into_owned(),
        );
    }
    for (dest, dir) in super::cgroup_binds(state) {
        criu.set_external_mount(dest, dir.to_string_lossy().into_owned());
    }
    let masks = spec
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().as_ref())
        .is_some_and(|p| !p.is_empty());
    if masks {
        criu.set_external_mount(MASKED_KEY.into(), "/dev/null".into());
    }
}

/// The dumped tree's root cgroup becomes the new container's, in every hierarchy.
fn cgroup_roots(criu: &mut Criu, state: &State) {
    let Some(paths) = &state.cgroup else { return };
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for (key, dir) in &paths.dirs {
        // The longest cgroup mount point above the directory is its hierarchy's root.
        let top = mounts
            .lines()
            .filter(|l| l.contains(" - cgroup"))
            .filter_map(|l| l.split(' ').nth(4))
            .map(|m| PathBuf::from(berth_common::mountinfo::unescape(m)))
            .filter(|m| dir.starts_with(m))
            .max_by_key(|m| m.as_os_str().len());
        let Some(rel) = top.and_then(|t| dir.strip_prefix(t).ok().map(Path::to_path_buf)) else {
            continue;
        };
        let ctrl = (!key.is_empty()).then(|| key.clone());
        criu.add_cg_root(ctrl, format!("/{}", rel.display()));
    }
}

/// The network and pid namespaces the config joins by path, handed to CRIU as the
/// external ones the checkpoint recorded; other joined namespaces CRIU cannot restore into.
fn joined_namespaces(criu: &mut Criu, state: &State) -> Result<Vec<OwnedFd>, PeopleError> {
    let spec = &state.config;
    let mut fds = Vec::new();
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        let Some(path) = ns.path() else { continue };
        let t = ns.typ();
        if !matches!(t, LinuxNamespaceType::Network | LinuxNamespaceType::Pid) {
            return Err(
                CriuError::Unsupported(format!("restore into a joined {t:?} namespace")).into(),
            );
        }
        // Without O_CLOEXEC: criu swrk inherits it by number.
        let fd = rustix::fs::open(path, rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty())
            .step("open namespace", path)?;
        criu.add_inherit_fd(fd.as_raw_fd(), super::ns_key(t).into())
            .map_err(CriuError::from)?;
        fds.push(fd);
    }
    Ok(fds)
}

/// The init's stdio that were pipes at the checkpoint are this process's own now (runc's
/// way: a client restoring a container hands its pipes in as stdio).
fn inherit_stdio(criu: &mut Criu, images: &Path) -> Result<(), PeopleError> {
    let path = images.join(DESCRIPTORS);
    let Ok(bytes) = std::fs::read(&path) else {
        return Ok(());
    };
    let fds: Vec<String> = serde_json::from_slice(&bytes).unwrap_or_default();
    for (n, what) in fds.iter().enumerate().take(3) {
        if what.starts_with("pipe:") {
            criu.add_inherit_fd(n as i32, what.clone())
                .map_err(CriuError::from)?;
        }
    }
    Ok(())
}

/// CRIU restores into a root that is a mount point (it pivots into it): a recursive bind of
/// the rootfs, removed once CRIU is done.
struct RootBind(PathBuf);

impl RootBind {
    fn new(rootfs: &Path, at: &Path) -> Result<RootBind, PeopleError> {
        std::fs::create_dir_all(at).step("create", at)?;
        rustix::mount::mount_bind_recursive(rootfs, at).step("bind the rootfs to", at)?;
        Ok(RootBind(at.to_path_buf()))
    }

    fn remove(self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
        let _ = std::fs::remove_dir(&self.0);
    }
}
