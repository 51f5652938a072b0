//! `create`: validate the bundle, claim the ID, make the cgroup, clone the init with its
//! namespaces, answer its handshake, and persist the state. On any failure the init is
//! killed and the cgroup and state directory are removed.

use std::borrow::Cow;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_cgroups::{Host, Manager};
use berth_common::io::Step;
use oci_spec::runtime::{
    ContainerState, LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespaceType, LinuxResources, Spec,
};
use rustix::thread::UnshareFlags;

use super::child::ChildGuard;
use super::{hooks_of, Error, Result};
use crate::init::{self, InitArgs};
use crate::namespaces::NamespacePlan;
use crate::process::{Channel, StartSocket, ToChild, ToParent};
use crate::state::{self, ConfigRecord, ContainerDir, Creator, State, StateRoot, Status};
use crate::steps::{step, timed};
use crate::sys::Cloned;
use crate::{hooks, spec};

/// Where a create takes the container's config from.
#[derive(Debug, Clone, Default)]
pub enum Config {
    /// `<bundle>/config.json`, read and validated (the runc CLI's way).
    #[default]
    Bundle,
    /// A spec built in memory (`berth run IMAGE`), validated as a loaded one is and never
    /// read back from the bundle: the bundle still names the directory hooks see. Its JSON,
    /// if the caller made it (config.json), is what the state records.
    Spec(ConfigRecord),
}

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub config: Config,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// cgroupsPath is systemd's `slice:prefix:name`: a transient scope through systemd's
    /// D-Bus API; with no systemd running, the cgroupfs directories systemd would have made.
    pub systemd_cgroup: bool,
}

/// A created container, still locked by this process.
pub struct Created {
    pub dir: ContainerDir,
    pub state: State,
    /// Pins the init: `run` waits on it.
    pub pidfd: OwnedFd,
}

pub fn create(root: &StateRoot, opts: &CreateOptions) -> Result<Created> {
    create_with_console(root, opts, None)
}

/// `console` overrides --console-socket with an already connected socket (used by `run`
/// in the foreground, which owns the terminal itself).
pub(crate) fn create_with_console(
    root: &StateRoot,
    opts: &CreateOptions,
    console: Option<OwnedFd>,
) -> Result<Created> {
    let checks = step("create: load and check the bundle");
    let bundle = super::bundle_path(&opts.bundle)?;
    let spec = match &opts.config {
        Config::Bundle => ConfigRecord::new(spec::load_bundle(&bundle)?),
        Config::Spec(given) => {
            spec::validate(given)?;
            given.clone()
        }
    };
    let rootfs = spec::rootfs_path(&spec, &bundle)?;
    let process = spec.process().as_ref().expect("validated");
    crate::init::security::check_lsm(process).map_err(Error::Lsm)?;
    if let Some(caps) = process.capabilities() {
        let supported = crate::init::security::supported_caps();
        for name in crate::init::security::unsupported_caps(caps, supported) {
            crate::warn::warn(&format!("{name} is not supported by this kernel: dropped"));
        }
    }
    let terminal = process.terminal().unwrap_or(false);
    let console = super::console_fd(
        terminal,
        console,
        opts.console_socket.as_deref(),
        "process.terminal is true: --console-socket is required to hand over the terminal",
    )?;
    let manager = match spec.linux() {
        Some(linux) => cgroup_manager(opts, linux)?,
        None => cgroup_manager(opts, &Default::default())?,
    };
    drop(checks);
    // The intent: everything this create may acquire is recorded before it is acquired,
    // so whoever finds the container after a crash can give it all back.
    let mut state = State {
        id: opts.id.clone(),
        pid: 0,
        pid_start_time: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: berth_common::now_rfc3339(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        cgroup: Some(manager.paths().clone()),
        config: spec.clone(),
        creator: Some(Creator::this_process().ok_or(Error::OwnStartTime)?),
        // Until the cgroup is checked, assume it holds others: never mass-kill it.
        cgroup_shared: true,
        rootfs_mount: None,
    };
    let dir = timed("create: claim the ID", || root.claim(&opts.id, &state))?;
    match build(&dir, &mut state, opts, spec, &rootfs, console, manager) {
        Ok(pidfd) => Ok(Created { dir, state, pidfd }),
        Err(e) => {
            // The init and the cgroup are gone with build's guards.
            if let Err(undo) = super::shared_rootfs::release(&state) {
                crate::warn::warn(&format!("after a failed create: {undo}"));
            }
            let _ = dir.remove();
            Err(e)
        }
    }
}

/// The container's cgroup, resolved but not created yet.
pub(super) fn cgroup_manager(
    opts: &CreateOptions,
    linux: &oci_spec::runtime::Linux,
) -> Result<Box<dyn Manager>> {
    if opts.systemd_cgroup {
        let given = linux
            .cgroups_path()
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            // runc's default for systemd: system.slice:runc:<id>.
            .unwrap_or_else(|| format!("system.slice:berth:{}", opts.id));
        return Ok(berth_cgroups::systemd_manager_for(
            &Host::default(),
            &given,
            &opts.id,
        )?);
    }
    Ok(berth_cgroups::manager_for(
        &Host::default(),
        linux.cgroups_path().as_deref(),
        &opts.id,
    )?)
}

/// The steps of a create, in order, each named in --debug. A failing step returns at once:
/// the guards of the earlier ones give back what they made (the init, the cgroup), and
/// `create_with_console` the rootfs bind and the state directory.
fn build(
    dir: &ContainerDir,
    state: &mut State,
    opts: &CreateOptions,
    mut spec: ConfigRecord,
    rootfs: &Path,
    console: Option<OwnedFd>,
    manager: Box<dyn Manager>,
) -> Result<OwnedFd> {
    let bundle = state.bundle.clone();
    let preserve_fds = opts.preserve_fds.max(socket_activation(&mut spec));
    let linux = match spec.linux() {
        Some(linux) => Cow::Borrowed(linux),
        None => Cow::Owned(crate::spec::empty_linux()),
    };
    let plan = NamespacePlan::of_linux(Some(&linux));
    if linux.time_offsets().as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(Error::TimeOffsets);
    }
    let cgroup = timed("create: make the cgroup", || {
        make_cgroup(state, opts, &linux, manager)
    })?;
    // New or joined, the container's own mount namespace; without one, its mounts go under
    // a bind of the rootfs in the caller's.
    if !plan.is_own(LinuxNamespaceType::Mount) {
        timed("create: bind the rootfs onto itself", || {
            super::shared_rootfs::bind(dir, state, rootfs)
        })?;
    }
    let start_socket = listen_start(dir)?;
    if plan.new_time_with_joins() {
        return Err(Error::TimeNsWithJoins);
    }
    let sources = timed("create: open the bind sources", || {
        super::userns::open_sources(&spec, &bundle, &plan)
    })?;
    let seccomp = linux
        .seccomp()
        .as_ref()
        .map(|p| {
            timed(
                "create: compile the seccomp profile (or read it cached)",
                || super::seccomp_cache::compiled(dir.state_root(), p),
            )
        })
        .transpose()?;
    let (parent_chan, child_chan) = Channel::pair()?;
    let args = InitArgs {
        spec: &spec,
        rootfs,
        bundle: &bundle,
        cgroup: cgroup.as_ref().map(|c| c.manager().paths()),
        chan: child_chan,
        start: start_socket,
        console,
        plan: &plan,
        seccomp: seccomp.as_ref(),
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds,
        create_hooks: has_create_hooks(&spec),
        sources,
    };
    // Not into a systemd scope: systemd makes it from the init's pid (StartTransientUnit), and
    // a directory already there under that name is another container's scope.
    let cgroup_fd = super::clone_target(
        cgroup
            .as_ref()
            .map(|c| c.manager().paths())
            .filter(|p| p.systemd_unit.is_none()),
    )?;
    let clone_step = step("create: clone the init");
    let (init, parent_chan, in_cgroup) = clone_init(
        dir,
        &plan,
        args,
        parent_chan,
        cgroup_fd.as_ref().map(|f| f.as_fd()),
    )?;
    record_init(dir, state, init.pid())?;
    drop(clone_step);
    timed("create: the init sets up the container", || {
        handshake(
            &parent_chan,
            state,
            &linux,
            &plan,
            init.pid(),
            cgroup.as_ref().map(|c| c.manager()).filter(|_| !in_cgroup),
        )
    })?;
    timed("create: save the state", || {
        finish(dir, state, opts, init.pid())
    })?;
    if let Some(cgroup) = cgroup {
        cgroup.keep();
    }
    Ok(init.keep())
}

/// A cgroup this create made: removed when dropped, unless kept.
pub(super) struct MadeCgroup(Option<Box<dyn Manager>>);

impl MadeCgroup {
    fn manager(&self) -> &dyn Manager {
        &**self.0.as_ref().expect("held until keep")
    }

    pub(super) fn keep(mut self) {
        self.0.take();
    }
}

impl Drop for MadeCgroup {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            // Best effort on a path that already fails: the error being returned says why.
            let _ = m.destroy();
        }
    }
}

/// Creates the cgroup and applies the resources; None for a rootless user without one.
pub(super) fn make_cgroup(
    state: &mut State,
    opts: &CreateOptions,
    linux: &oci_spec::runtime::Linux,
    manager: Box<dyn Manager>,
) -> Result<Option<MadeCgroup>> {
    match manager.create() {
        Ok(()) => {
            let made = MadeCgroup(Some(manager));
            state.cgroup_shared = cgroup_holds_others(made.manager(), &opts.id)?;
            made.manager().apply(&with_default_devices(linux))?;
            Ok(Some(made))
        }
        // A rootless user without a delegated cgroup runs without one, as runc's rootless
        // mode does, unless the config asks for limits only a cgroup can enforce.
        Err(e) if !rustix::process::geteuid().is_root() => {
            if wants_limits(linux) {
                return Err(Error::RootlessLimits(e));
            }
            crate::warn::warn(&format!("rootless: running without a cgroup ({e})"));
            state.cgroup = None;
            state.cgroup_shared = false;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The socket `start` connects to, listening before the clone so the init inherits it.
fn listen_start(dir: &ContainerDir) -> Result<StartSocket> {
    let path = dir.start_socket_path();
    StartSocket::listen(&path).map_err(|source| Error::ListenStart { path, source })
}

fn has_create_hooks(spec: &Spec) -> bool {
    spec.hooks().as_ref().is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    })
}

/// Clones the init (into a pid namespace joined by path, if any; into `cgroup`, if given),
/// which runs `args`. Returns the guarded init, the parent's end of the handshake and
/// whether the init started in the cgroup.
fn clone_init(
    dir: &ContainerDir,
    plan: &NamespacePlan,
    args: InitArgs,
    parent_chan: Channel,
    cgroup: Option<BorrowedFd<'_>>,
) -> Result<(ChildGuard, Channel, bool)> {
    let target_pidns = match plan.pid_join() {
        Some(path) => Some(std::fs::File::open(path).step("open pid namespace", path)?),
        None => None,
    };
    let user_join = plan
        .joins()
        .iter()
        .find(|(t, _)| *t == LinuxNamespaceType::User);
    let cloned = match user_join {
        // A new pid namespace must belong to the joined user namespace: a helper in it
        // clones the init (as berth's child), which then joins into the cgroup by a write.
        Some((_, userns)) if plan.clone_flags().contains(UnshareFlags::NEWPID) => (
            super::userns::clone_in_user_ns(userns, plan.clone_flags())?,
            false,
        ),
        _ => super::clone_in_pid_ns(
            target_pidns.as_ref().map(|f| f.as_fd()),
            plan.clone_flags(),
            cgroup,
        )?,
    };
    match cloned {
        (Cloned::Child, _) => {
            drop(parent_chan);
            dir.close_in_child();
            init::run(args)
        }
        (Cloned::Parent { pid, pidfd }, in_cgroup) => {
            // The init's ends (handshake, console, start socket) are its own now: only the
            // init listens, so once it is gone `start` is refused at once.
            drop(args);
            Ok((ChildGuard::new(pid, pidfd), parent_chan, in_cgroup))
        }
    }
}

/// Records the init at once: from here a `delete` after a crash finds and kills it (until
/// Ready it also dies with berth, by its parent-death signal or the closed channel).
pub(super) fn record_init(dir: &ContainerDir, state: &mut State, pid: i32) -> Result<()> {
    state.pid = pid;
    state.pid_start_time = state::proc_stat(pid)
        .map(|p| p.start_time)
        .ok_or(Error::ExitedAfterClone)?;
    Ok(dir.save(state)?)
}

/// Answers the init until it reports `Ready`: id maps, cgroup (`cgroup` is None when the
/// init was cloned into it) and network devices once its namespaces exist, the create
/// hooks, a seccomp notify fd.
fn handshake(
    chan: &Channel,
    state: &State,
    linux: &oci_spec::runtime::Linux,
    plan: &NamespacePlan,
    pid: i32,
    cgroup: Option<&dyn Manager>,
) -> Result<()> {
    let has_container_hooks = state.config.hooks().as_ref().is_some_and(|h| {
        h.create_container().as_ref().is_some_and(|v| !v.is_empty())
            || h.start_container().as_ref().is_some_and(|v| !v.is_empty())
    });
    loop {
        match chan.recv::<ToParent>()? {
            ToParent::NamespacesReady => {
                timed("create: id maps of the init", || {
                    if plan.is_new(LinuxNamespaceType::User) {
                        super::userns::write_id_maps(pid, linux)?;
                    }
                    super::userns::check_joined_maps(plan, pid, linux)?;
                    if let Some(p) = state.config.process() {
                        super::set_oom_score_adj(pid, p)?;
                    }
                    // Hooks run after the environment is made (prestart, createRuntime,
                    // createContainer, startContainer) see "created", as the spec's
                    // lifecycle and runtime-tools' hooks_stdin have it.
                    if has_container_hooks {
                        let hook_state = hooks::state(state, ContainerState::Created);
                        chan.send(&ToChild::HookState(Box::new(hook_state)))?;
                    }
                    send_continue(chan)
                })?;
                // The init builds the root meanwhile, and waits for `Placed` only before
                // what must run inside the cgroup.
                timed("create: cgroup and network devices of the init", || {
                    if let Some(m) = cgroup {
                        timed("create: move the init into the cgroup", || {
                            m.add_process(pid)
                        })?;
                    }
                    if let Some(devices) = linux.net_devices() {
                        super::net_devices::move_in(pid, devices)?;
                    }
                    send_or_init_failure(chan, &ToChild::Placed)
                })?;
            }
            ToParent::RunCreateHooks => {
                let _step = step("create: prestart and createRuntime hooks");
                let hook_state = hooks::state(state, ContainerState::Created);
                hooks::run("prestart", &hooks_of(state, |h| h.prestart()), &hook_state)?;
                hooks::run(
                    "createRuntime",
                    &hooks_of(state, |h| h.create_runtime()),
                    &hook_state,
                )?;
                send_continue(chan)?;
            }
            ToParent::SeccompNotify => {
                let oci = serde_json::to_value(super::oci_state(state, Status::Creating))
                    .unwrap_or_default();
                super::forward_seccomp_fd(chan, linux.seccomp().as_ref(), pid, oci)?;
            }
            ToParent::Ready => return Ok(()),
            ToParent::Failed(msg) => return Err(Error::InitFailed(msg)),
        }
    }
}

/// The final state (no creator: creation is done) and the pid file.
pub(super) fn finish(
    dir: &ContainerDir,
    state: &mut State,
    opts: &CreateOptions,
    pid: i32,
) -> Result<()> {
    if !state::process_matches(pid, state.pid_start_time) {
        return Err(Error::ExitedAfterSetup);
    }
    state.creator = None;
    dir.save(state)?;
    if let Some(pid_file) = &opts.pid_file {
        state::write_atomic(pid_file, pid.to_string().as_bytes())?;
    }
    Ok(())
}

/// Whether the container's cgroup, just created or found, already holds processes: they
/// are not the container's, so it must never signal everything in that cgroup. runc 1.1
/// warns and goes on; so does berth, marking the container shared, and the cgroup too, so
/// the container already in it does not signal this one's processes either.
fn cgroup_holds_others(manager: &dyn Manager, id: &str) -> Result<bool> {
    let pids = manager.pids()?;
    if pids.is_empty() {
        return Ok(false);
    }
    crate::warn::warn(&format!(
        "the cgroup of container {id} already holds {} process(es): it is shared, and kill --all and delete signal only the container's own processes",
        pids.len()
    ));
    if let Err(e) = manager.mark_shared() {
        crate::warn::warn(&format!(
            "{e}: a container without a pid namespace already in this cgroup may signal container {id}'s processes"
        ));
    }
    Ok(true)
}

/// Whether linux.resources asks for anything beyond device rules (which a rootless
/// container cannot use anyway: it cannot create device nodes).
fn wants_limits(linux: &oci_spec::runtime::Linux) -> bool {
    linux.resources().as_ref().is_some_and(|r| {
        let mut r = r.clone();
        r.set_devices(None);
        r != LinuxResources::default()
    })
}

/// systemd socket activation, as runc: when berth itself was handed sockets (LISTEN_FDS for
/// this pid), they stay open in the container from fd 3 on and its program is told so.
/// Returns how many fds that keeps. The spec shares its `Arc` with the state's record: it is
/// copied (and the state keeps the config as given) only where it changes.
fn socket_activation(spec: &mut ConfigRecord) -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    if !ours || count == 0 {
        return 0;
    }
    if let Some(process) = spec.process_mut() {
        let mut env = process.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={count}"));
        // The container's program is its pid namespace's init.
        env.push("LISTEN_PID=1".into());
        process.set_env(Some(env));
    }
    count
}

/// The device nodes berth creates must stay usable whatever the config's device rules
/// deny: runc appends the same allow-list after the config's rules.
fn with_default_devices(linux: &oci_spec::runtime::Linux) -> LinuxResources {
    let mut res = linux.resources().clone().unwrap_or_default();
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        LinuxDeviceCgroup::default()
            .set_allow(true)
            .set_typ(Some(typ))
            .set_major(major)
            .set_minor(minor)
            .set_access(Some(access.to_string()))
            .clone()
    };
    let mut rules = res.devices().clone().unwrap_or_default();
    rules.extend([
        rule(LinuxDeviceType::C, None, None, "m"),
        rule(LinuxDeviceType::B, None, None, "m"),
        rule(LinuxDeviceType::C, Some(1), Some(3), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(5), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(7), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(8), "rwm"),
        rule(LinuxDeviceType::C, Some(1), Some(9), "rwm"),
        rule(LinuxDeviceType::C, Some(5), Some(0), "rwm"),
        rule(LinuxDeviceType::C, Some(5), Some(2), "rwm"),
        rule(LinuxDeviceType::C, Some(136), None, "rwm"),
    ]);
    for dev in linux.devices().iter().flatten() {
        rules.push(rule(dev.typ(), Some(dev.major()), Some(dev.minor()), "rwm"));
    }
    res.set_devices(Some(rules));
    res
}

fn send_continue(chan: &Channel) -> Result<()> {
    Ok(chan.send(&ToChild::Continue)?)
}

/// Sends `msg`; if the init is gone, its `Failed` (sent while the parent worked in parallel)
/// is the error rather than the closed socket.
fn send_or_init_failure(chan: &Channel, msg: &ToChild) -> Result<()> {
    match chan.send(msg) {
        Ok(()) => Ok(()),
        Err(e) => match chan.recv::<ToParent>() {
            Ok(ToParent::Failed(msg)) => Err(Error::InitFailed(msg)),
            _ => Err(e.into()),
        },
    }
}
