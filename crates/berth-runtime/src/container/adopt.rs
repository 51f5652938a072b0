//! A container whose init another program makes: `restore`, where CRIU brings the init back
//! from a checkpoint. The runtime half is create's: the ID claimed with the intent recorded,
//! the cgroup made with the config's resources, then the init recorded and the pid file
//! written; the caller's `make` supplies the init. CRIU itself stays out of this crate (and
//! out of `berth`): berth-people passes `make`. In the foreground the caller stays the init's
//! parent, forwards signals, exits with its status and deletes the container, as `run` does.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_common::io::Step;

use super::create::{cgroup_manager, finish, make_cgroup, record_init};
use super::delete::destroy;
use super::release::Release;
use super::run::{forwarded_signals, supervise};
use super::{CreateOptions, Error};
use crate::state::{Creator, State, StateRoot};

#[derive(Debug, Clone, Default)]
pub struct AdoptOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// Return once the init runs (else wait for it, as `run` in the foreground).
    pub detach: bool,
}

/// What `make` hands back: the init's host pid (a child of this process, so the foreground
/// can wait for it) and, with process.terminal, the master of its pty.
pub struct Init {
    pub pid: i32,
    pub console: Option<OwnedFd>,
}

/// Makes container `opts.id` from `<bundle>/config.json` around the init `make` returns,
/// given the state so far (config, rootfs, cgroup paths). On any failure nothing is left:
/// neither the cgroup nor the state. Returns the exit code (0 when detached).
pub fn adopt<E: From<Error>>(
    root: &StateRoot,
    opts: &AdoptOptions,
    release: &Release,
    make: impl FnOnce(&State) -> std::result::Result<Init, E>,
) -> std::result::Result<i32, E> {
    let bundle = super::bundle_path(&opts.bundle)?;
    let spec = crate::spec::load_bundle(&bundle).map_err(Error::from)?;
    let rootfs = crate::spec::rootfs_path(&spec, &bundle).map_err(Error::from)?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && opts.detach && opts.console_socket.is_none() {
        return Err(Error::NoConsoleSocket(
            "process.terminal is true: --console-socket is required to hand over the terminal",
        )
        .into());
    }
    let create = CreateOptions {
        id: opts.id.clone(),
        bundle: bundle.clone(),
        pid_file: opts.pid_file.clone(),
        ..CreateOptions::default()
    };
    let linux = spec.linux().clone().unwrap_or_default();
    let manager = cgroup_manager(&create, &linux)?;
    let mut state = State {
        id: opts.id.clone(),
        pid: 0,
        pid_start_time: 0,
        bundle,
        rootfs,
        created: berth_common::now_rfc3339(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup: Some(manager.paths().clone()),
        config: spec.into(),
        creator: Some(Creator::this_process().ok_or(Error::OwnStartTime)?),
        cgroup_shared: true,
        rootfs_mount: None,
    };
    let dir = root.claim(&opts.id, &state).map_err(Error::from)?;
    let made = (|| {
        let cgroup = make_cgroup(&mut state, &create, &linux, manager)?;
        let init = make(&state)?;
        record_init(&dir, &mut state, init.pid)?;
        finish(&dir, &mut state, &create, init.pid)?;
        if let Some(c) = cgroup {
            c.keep();
        }
        Ok::<_, E>(init)
    })();
    let init = match made {
        Ok(init) => init,
        Err(e) => {
            // The cgroup went with make_cgroup's guard.
            let _ = dir.remove();
            return Err(e);
        }
    };
    let pidfd = match super::init_pidfd(&state) {
        Some(fd) => fd,
        None => {
            let _ = destroy(dir, &state, release);
            return Err(Error::ExitedAfterSetup.into());
        }
    };
    let master = match (&opts.console_socket, init.console) {
        (Some(socket), Some(master)) => {
            if let Err(e) = send_console(socket, master) {
                let _ = destroy(dir, &state, release);
                return Err(e.into());
            }
            None
        }
        (_, master) => master,
    };
    if opts.detach {
        return Ok(0);
    }
    drop(dir);
    let signals = forwarded_signals()?;
    let code = supervise(init.pid, &pidfd, master, signals)?;
    if let Ok(dir) = root.open(&opts.id) {
        if let Ok(state) = dir.load() {
            destroy(dir, &state, release)?;
        }
    }
    Ok(code)
}

/// Hands the pty master to the client's console socket, as create's init does.
fn send_console(socket: &Path, master: OwnedFd) -> super::Result<()> {
    let sock =
        std::os::unix::net::UnixStream::connect(socket).step("connect console socket", socket)?;
    berth_common::fdpass::send_fds(sock.as_fd(), b"/dev/ptmx", &[master.as_fd()])
        .step("send the pty master to", socket)?;
    Ok(())
}
