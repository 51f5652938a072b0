//! `berth checkpoint`: CRIU dumps the running container into the image directory. Without
//! --leave-running (or --pre-dump) CRIU ends its processes and the container is deleted, as
//! runc does, so `restore` can bring it back under the same ID. A failed dump leaves the
//! container as it was: running, its state untouched.

use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use super::cli::CheckpointArgs;
use berth::context::{Context, Outcome};
use berth_common::io::Step;
use berth_runtime::container;
use berth_runtime::state::{State, Status};
use oci_spec::runtime::LinuxNamespaceType;
use rust_criu::Criu;

use super::{CriuError, MASKED_KEY};

pub fn checkpoint(a: CheckpointArgs, ctx: &Context) -> Outcome {
    if a.page_server.is_some() {
        return Err(CriuError::Unsupported("--page-server".into()).into());
    }
    if a.status_fd.is_some() {
        return Err(CriuError::Unsupported("--status-fd".into()).into());
    }
    let dir = ctx.root.open(&a.id).map_err(container::Error::from)?;
    let state = dir.load().map_err(container::Error::from)?;
    let status = dir.status(&state);
    if !matches!(status, Status::Running | Status::Paused) {
        return Err(format!(
            "container {} is {status}: only a running one can be checkpointed",
            a.id
        )
        .into());
    }
    let mut criu = super::new_criu(ctx)?;
    super::common_options(&mut criu, &a.criu)?;
    let images = super::image_path(&a.criu);
    make_dir(&images)?;
    let images_dir = std::fs::File::open(&images).step("open image directory", &images)?;
    criu.set_images_dir_fd(images_dir.as_raw_fd());
    let work_dir = match &a.criu.work_path {
        Some(work) => {
            make_dir(work)?;
            Some(std::fs::File::open(work).step("open work directory", work)?)
        }
        None => None,
    };
    if let Some(w) = &work_dir {
        criu.set_work_dir_fd(w.as_raw_fd());
    }
    externals(&mut criu, &state)?;
    save_descriptors(&images, state.pid)?;
    criu.set_pid(state.pid);
    criu.set_root(state.rootfs.to_string_lossy().into_owned());
    let terminal = state
        .config
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    criu.set_orphan_pts_master(terminal);
    if let Some(parent) = &a.parent_path {
        criu.set_parent_img(parent.to_string_lossy().into_owned());
    }
    // Soft-dirty tracking: what a later dump with --parent-path leaves out.
    criu.set_track_mem(a.pre_dump || a.parent_path.is_some());
    let (op, log) = if a.pre_dump {
        ("pre-dump", "pre-dump.log")
    } else {
        ("dump", "dump.log")
    };
    criu.set_log_file(log.into());
    let leave_running = a.leave_running || a.pre_dump;
    criu.set_leave_running(leave_running);
    let done = if a.pre_dump {
        criu.pre_dump()
    } else {
        criu.dump()
    };
    done.map_err(|e| super::failed(op, super::log_path(&a.criu, log), e))?;
    if leave_running {
        return Ok(0);
    }
    // CRIU ended the processes: the container is gone, as after runc's checkpoint.
    drop(dir);
    container::delete(&ctx.root, &a.id, true, ctx.release)?;
    Ok(0)
}

/// The image or work directory, made if missing, readable by root only (it holds the
/// container's memory).
fn make_dir(path: &Path) -> Result<(), berth_common::io::IoError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .step("create directory", path)
}

/// What CRIU must treat as outside the container: the config's bind mounts, the cgroup
/// binds and masked files (kept by their destination; restore binds them again), the network and pid
/// namespaces the config joins by path (by inode).
fn externals(criu: &mut Criu, state: &State) -> Result<(), CriuError> {
    let spec = &state.config;
    for m in super::bind_mounts(spec) {
        let dest = m.destination().to_string_lossy().into_owned();
        criu.set_external_mount(dest.clone(), dest);
    }
    for (dest, _) in super::cgroup_binds(state) {
        criu.set_external_mount(dest.clone(), dest);
    }
    let masked = spec.linux().as_ref().and_then(|l| l.masked_paths().clone());
    for path in masked.iter().flatten() {
        // A masked directory is a read-only tmpfs CRIU dumps itself; a masked file is a
        // bind of /dev/null.
        let inside = format!("/proc/{}/root{path}", state.pid);
        if std::fs::metadata(&inside).is_ok_and(|m| !m.is_dir()) {
            criu.set_external_mount(path.clone(), MASKED_KEY.into());
        }
    }
    for t in [LinuxNamespaceType::Network, LinuxNamespaceType::Pid] {
        if let Some(path) = super::joined(spec, t) {
            let ino = std::fs::metadata(path).step("stat namespace", path)?.ino();
            let kind = if t == LinuxNamespaceType::Network {
                "net"
            } else {
                "pid"
            };
            criu.add_external(format!("{kind}[{ino}]:{}", super::ns_key(t)));
        }
    }
    Ok(())
}

/// Records what the init's stdin, stdout and stderr are (runc's descriptors.json): restore
/// hands its own stdio in for those that were pipes.
fn save_descriptors(images: &Path, pid: i32) -> Result<(), berth_common::io::IoError> {
    let fds: Vec<String> = (0..3)
        .map(|n| {
            std::fs::read_link(format!("/proc/{pid}/fd/{n}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/dev/null".into())
        })
        .collect();
    let path = images.join(super::DESCRIPTORS);
    let json = serde_json::to_vec(&fds).unwrap_or_default();
    std::fs::write(&path, json).step("write", &path)?;
    Ok(())
}
