//! The image form of `berth run` (and `container create`): overlay root → bundle → record →
//! the runtime's `run` in the foreground, the monitor with -d.

use berth_common::io::Step;
use std::path::{Path, PathBuf};

use berth_runtime::container::{self, Config, CreateOptions, RunOptions};
use berth_runtime::state::{ConfigRecord, StateError};
use berth_runtime::steps::{step, timed};

use berth::context::Context;
use berth::people_cli::PeopleFlags;

use crate::config::{self, SpecInput};
use crate::error::{io_err, PeopleError};
use crate::net::{self, NetMode, NetPlan};
use crate::record::{Phase, Record};
use crate::release::cleanup;

/// One image-form run.
pub struct ImageRun<'a> {
    pub ctx: &'a Context<'a>,
    pub flags: PeopleFlags,
    /// Positional arguments: IMAGE CMD… (or only CMD… with --image).
    pub args: Vec<String>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// False for `container create`: made and kept, not started.
    pub start: bool,
}

/// Runs the container; returns berth's exit code (the container's in the foreground).
pub fn run(r: ImageRun<'_>) -> Result<i32, PeopleError> {
    // The container's init is cloned from this process: from a read-only mount of
    // berth-people only (CVE-2019-5736). `berth` executes berth-people from one already, so
    // this is one access(2) call then; run directly, berth-people re-executes itself here.
    berth_runtime::exe_guard::ensure_readonly_exe()
        .map_err(|e| PeopleError::Usage(e.to_string()))?;
    let (ctx, mut args) = (r.ctx, r.args);
    let image_root = ctx.image_root.as_path();
    let pick = step("run: open the store, pick the root, check the name");
    let store = berth_image::Store::open(image_root)?;
    let root = crate::layers::pick(&r.flags, &mut args, &store)?;
    let id = match &r.flags.name {
        Some(n) => n.clone(),
        None => random_id()?,
    };
    berth_runtime::state::validate_id(&id).map_err(|e| PeopleError::Usage(e.to_string()))?;
    if berth::container_cli::has_record(image_root, &id) {
        return Err(PeopleError::Usage(format!(
            "container {id} exists (stopped, kept): `berth rm {id}` first, or `berth start {id}`"
        )));
    }
    match ctx.root.open(&id) {
        Err(StateError::NotFound(_)) => {}
        Ok(_) => {
            return Err(PeopleError::Usage(format!(
                "container {id} exists: delete it first"
            )))
        }
        Err(e) => return Err(PeopleError::Runtime(e.into())),
    }
    let mode: NetMode = r.flags.net.as_deref().unwrap_or("bridge").parse()?;
    let hostname = r.flags.hostname.clone().unwrap_or_else(|| {
        // A hostname has at most 63 bytes; IDs may be longer.
        id.chars().take(63).collect()
    });
    let plan = NetPlan::new(&mode, r.flags.ip.as_deref(), &r.flags.publish, &hostname)?;
    if let Some(p) = &plan {
        p.check(&crate::release::network_store(image_root))?;
    }
    let netns_path = match &mode {
        NetMode::Container(other) => {
            let st = ctx
                .root
                .open(other)
                .and_then(|d| d.load())
                .map_err(|e| PeopleError::Usage(format!("--net container:{other}: {e}")))?;
            Some(PathBuf::from(format!("/proc/{}/ns/net", st.pid)))
        }
        NetMode::Ns(p) => Some(p.clone()),
        _ => None,
    };
    let exe = berth_runtime::exe_guard::original_exe()
        .step("find own binary", Path::new("/proc/self/exe"))?;
    drop(pick);

    let upper = r
        .flags
        .upper
        .as_deref()
        .map(berth_image::UserUpper::beside)
        .transpose()?;
    // A `--rm` container's root goes when it exits: its writes need no durability, and a
    // volatile overlay spares the sync at unmount (never for the user's own --upper DIR,
    // whose changes outlive the container).
    let mount = step("run: make and mount the overlay root");
    let make = || {
        store.create_container_root_from(
            root.source(),
            &id,
            berth_image::OverlayOptions {
                readonly: r.flags.read_only,
                volatile: r.flags.rm && upper.is_none(),
            },
            upper.as_ref(),
            match mode {
                NetMode::Host => &["config.json"],
                _ => &["config.json", "hosts", "resolv.conf"],
            },
        )
    };
    let croot = match make() {
        // A root under this name without a record or a runtime container: a killed run's,
        // given back first; one that still has its maker is another command's, in the making.
        Err(berth_image::StoreError::ContainerExists(_)) => {
            if !crate::release::reclaim_abandoned(ctx, &id)? {
                return Err(PeopleError::Usage(format!(
                    "container {id} is being made by another berth command"
                )));
            }
            make()?
        }
        other => other?,
    };
    drop(mount);
    let monitored = r.start && r.detach && r.console_socket.is_none();
    let foreground = r.start && !r.detach;
    // The root's remover is forked when this function returns (release::DeferRemovers).
    let _removers = crate::release::DeferRemovers::begin();
    // From here on everything made for the container is given back on failure.
    let result = (|| {
        if mode != NetMode::Host {
            timed("run: write hosts and resolv.conf", || {
                net::write_etc(&croot.dir, &hostname)
            })?;
        }
        let generate = step("run: generate the config (with the seccomp profile)");
        let spec = config::build(&SpecInput {
            image: &croot.image,
            image_config: &croot.config,
            image_root,
            bundle: &croot.dir,
            rootfs: &croot.rootfs,
            cmd: &args,
            flags: &r.flags,
            hostname: &hostname,
            net: &mode,
            netns_path,
            plan: plan.as_ref(),
            exe: &exe,
        })?;
        drop(generate);
        let write = step("run: write config.json and the record");
        // Written once for whoever reads the bundle as a runc bundle (hooks, people
        // inspecting it); the runtime creates the container from `spec` itself. Compact, as
        // containerd and Docker write theirs: half the bytes, less time per run.
        let cfg = croot.dir.join("config.json");
        // The same JSON is what the runtime's state records: the spec is serialized once.
        let spec = ConfigRecord::new(spec);
        let text = spec
            .json()
            .map_err(|e| PeopleError::Usage(format!("serialize config.json: {e}")))?;
        berth_common::fs::overwrite(&cfg, text.get().as_bytes())?;
        // A foreground --rm container leaves nothing to keep a record of.
        let mut record = (!(foreground && r.flags.rm)).then(|| Record {
            id: id.clone(),
            image: croot.image.clone(),
            command: spec
                .process()
                .as_ref()
                .and_then(|p| p.args().clone())
                .unwrap_or_default(),
            created: berth_common::now_rfc3339(),
            // A monitor makes its record "running" once it holds the container.
            status: if r.start && !monitored {
                Phase::Running
            } else {
                Phase::Created
            },
            started_at: (r.start && !monitored).then(berth_common::now_rfc3339),
            finished_at: None,
            exit_code: None,
            oom_killed: false,
            ports: r.flags.publish.clone(),
            rm: r.flags.rm,
            read_only: r.flags.read_only,
            tty: r.flags.tty,
            interactive: r.flags.interactive,
            keeper: foreground
                .then(berth_runtime::state::Creator::this_process)
                .flatten(),
        });
        if let Some(rec) = &record {
            rec.save(&croot.dir)?;
        }
        drop(write);
        if !r.start {
            // Mounted again by `start`.
            store.unmount_container_root(&id)?;
            return Ok(0);
        }
        if monitored {
            crate::monitor::spawn(ctx, &id)?;
            return Ok(0);
        }
        if !r.flags.interactive && !r.flags.tty && !r.detach {
            let null = Path::new("/dev/null");
            let f = std::fs::File::open(null).step("open", null)?;
            rustix::stdio::dup2_stdin(&f)
                .map_err(|e| io_err("redirect stdin to", null)(e.into()))?;
        }
        // A detached container (only with --console-socket here) must not hold the caller's
        // stdout and stderr (a pipe would never see EOF): its output goes to the log file
        // unformatted. berth's own are restored.
        let _redirect = if r.detach && !r.flags.tty {
            Some(Redirect::to_file(
                &croot.dir.join(crate::monitor::log::LOG_FILE),
            )?)
        } else {
            None
        };
        let keep = crate::monitor::keep_release(ctx);
        let release: &berth_runtime::container::Release =
            if r.flags.rm { ctx.release } else { &keep };
        let code = container::run(
            &ctx.root,
            &RunOptions {
                create: CreateOptions {
                    id: id.clone(),
                    bundle: croot.dir.clone(),
                    config: Config::Spec(spec),
                    pid_file: r.pid_file.clone(),
                    console_socket: r.console_socket.clone(),
                    systemd_cgroup: ctx.systemd_cgroup,
                    ..Default::default()
                },
                detach: r.detach,
            },
            release,
        )?;
        drop(_redirect);
        if let Some(rec) = record.take().filter(|_| foreground) {
            rec.exited(Some(code), false).save(&croot.dir)?;
        }
        Ok::<i32, PeopleError>(code)
    })();
    match result {
        Ok(code) => {
            if monitored {
                write_pid_file(ctx, &id, r.pid_file.as_deref())?;
            }
            if r.detach || !r.start {
                berth::outln!("{id}");
            }
            Ok(code)
        }
        Err(e) => {
            if let Err(c) = cleanup(image_root, &id, true) {
                eprintln!("berth: warning: cleanup of {id} after a failed run: {c}");
            }
            Err(e)
        }
    }
}

/// stdout and stderr pointed at a file until dropped.
struct Redirect {
    saved_out: std::os::fd::OwnedFd,
    saved_err: std::os::fd::OwnedFd,
}

impl Redirect {
    fn to_file(path: &Path) -> Result<Redirect, PeopleError> {
        use std::os::fd::AsFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .step("create", path)?;
        let dup = |fd: std::os::fd::BorrowedFd<'_>| {
            rustix::io::dup(fd).map_err(|e| io_err("dup stdio for", path)(e.into()))
        };
        let saved_out = dup(std::io::stdout().as_fd())?;
        let saved_err = dup(std::io::stderr().as_fd())?;
        rustix::stdio::dup2_stdout(&f).map_err(|e| io_err("redirect stdout to", path)(e.into()))?;
        rustix::stdio::dup2_stderr(&f).map_err(|e| io_err("redirect stderr to", path)(e.into()))?;
        Ok(Redirect {
            saved_out,
            saved_err,
        })
    }
}

impl Drop for Redirect {
    fn drop(&mut self) {
        // Nothing sensible to do if restoring fails: berth exits right after.
        let _ = rustix::stdio::dup2_stdout(&self.saved_out);
        let _ = rustix::stdio::dup2_stderr(&self.saved_err);
    }
}

/// `--pid-file` of a monitored container: its init's pid, as the runtime writes it.
fn write_pid_file(ctx: &Context, id: &str, path: Option<&Path>) -> Result<(), PeopleError> {
    if let Some(path) = path {
        let (_, state) = ctx.root.peek(id).map_err(berth_runtime::Error::from)?;
        berth_runtime::state::write_atomic(path, state.pid.to_string().as_bytes())
            .map_err(berth_runtime::Error::from)?;
    }
    Ok(())
}

/// A random 11-character base62 container ID, as containode names its containers.
pub fn random_id() -> Result<String, PeopleError> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 11];
    let path = Path::new("/dev/urandom");
    std::io::Read::read_exact(
        &mut std::fs::File::open(path).step("open", path)?,
        &mut bytes,
    )
    .step("read", path)?;
    // 256 % 62 leaves a slight bias towards the first characters: harmless for a name.
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}
