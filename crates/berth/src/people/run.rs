//! The image form of `berth run`: overlay root → bundle → the runtime's `run`.

use std::path::{Path, PathBuf};

use berth_runtime::container::{self, CreateOptions, RunOptions};
use berth_runtime::state::{StateError, StateRoot};

use super::config::{self, SpecInput};
use super::net::{self, NetMode, NetPlan};
use super::{io_err, PeopleError};

/// Where a detached container's stdout and stderr go, in its bundle (`berth logs` reads it).
pub const OUTPUT_LOG: &str = "output.log";

/// The flags only the image form has; any of them selects it.
#[derive(clap::Args, Debug, Default, Clone)]
#[command(next_help_heading = "Image form")]
pub struct PeopleFlags {
    /// Container ID (default: a random 11-character name)
    #[arg(long, value_name = "ID")]
    pub name: Option<String>,
    /// Image to run; then every positional argument is the command
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Remove the container when it exits (always so in the foreground, as runc's run; with -d a
    /// background berth waits for the exit)
    #[arg(long)]
    pub rm: bool,
    /// Keep stdin open (otherwise the container reads /dev/null)
    #[arg(long, short = 'i')]
    pub interactive: bool,
    /// Give the container a terminal
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Set an environment variable (NAME=VALUE, or NAME to pass the caller's)
    #[arg(long = "env", short = 'e', value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Read environment variables from a file (NAME=VALUE lines)
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(long, short = 'w', value_name = "DIR")]
    pub workdir: Option<String>,
    /// User (name or uid, optionally :group or :gid)
    #[arg(long, short = 'u', value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Bind-mount a host path
    #[arg(long, short = 'v', value_name = "HOST:CTR[:ro]")]
    pub volume: Vec<String>,
    /// Hostname (default: the container ID)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Memory limit (e.g. 64m, 1g)
    #[arg(long, short = 'm', value_name = "SIZE")]
    pub memory: Option<String>,
    /// CPU limit in CPUs (e.g. 0.5)
    #[arg(long, value_name = "N")]
    pub cpus: Option<f64>,
    /// Maximum number of processes
    #[arg(long, value_name = "N")]
    pub pids_limit: Option<i64>,
    /// Mount the root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    /// Network: none, host, bridge[:NAME] (default bridge), container:ID, ns:PATH, switch:PATH
    #[arg(long, visible_alias = "network", value_name = "MODE")]
    pub net: Option<String>,
    /// Address: IP on a bridge, ADDR/PREFIX on a switch
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// Publish a port (bridge only)
    #[arg(
        long = "publish",
        short = 'p',
        value_name = "[HOSTIP:]HOSTPORT:PORT[/tcp|udp]"
    )]
    pub publish: Vec<String>,
    /// "host": share the host's pid namespace
    #[arg(long, value_name = "host")]
    pub pid: Option<String>,
    /// "host": share the host's ipc namespace
    #[arg(long, value_name = "host")]
    pub ipc: Option<String>,
    /// "host": share the host's uts namespace (and hostname)
    #[arg(long, value_name = "host")]
    pub uts: Option<String>,
}

impl PeopleFlags {
    /// True when any image-form flag was given.
    pub fn any(&self) -> bool {
        self.name.is_some()
            || self.image.is_some()
            || self.rm
            || self.interactive
            || self.tty
            || !self.env.is_empty()
            || !self.env_file.is_empty()
            || self.workdir.is_some()
            || self.user.is_some()
            || !self.volume.is_empty()
            || self.hostname.is_some()
            || self.memory.is_some()
            || self.cpus.is_some()
            || self.pids_limit.is_some()
            || self.read_only
            || self.net.is_some()
            || self.ip.is_some()
            || !self.publish.is_empty()
            || self.pid.is_some()
            || self.ipc.is_some()
            || self.uts.is_some()
    }
}

/// One image-form run.
pub struct ImageRun<'a> {
    pub state_root: &'a StateRoot,
    pub image_root: &'a Path,
    pub flags: PeopleFlags,
    /// Positional arguments: IMAGE CMD… (or only CMD… with --image).
    pub args: Vec<String>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    /// --systemd-cgroup, passed through to create.
    pub systemd_cgroup: bool,
}

/// Runs the container; returns berth's exit code (the container's in the foreground).
pub fn run(r: ImageRun<'_>) -> Result<i32, PeopleError> {
    let mut args = r.args;
    let image = match r.flags.image.clone() {
        Some(i) => i,
        None if !args.is_empty() => args.remove(0),
        None => {
            return Err(PeopleError::Usage(
                "berth run: no image (give IMAGE [CMD...] or --image IMAGE)".into(),
            ))
        }
    };
    if r.detach && r.flags.tty && r.console_socket.is_none() {
        return Err(PeopleError::Usage(
            "-t with -d needs --console-socket (nobody would hold the terminal)".into(),
        ));
    }
    let id = match &r.flags.name {
        Some(n) => n.clone(),
        None => super::random_id()?,
    };
    berth_runtime::state::validate_id(&id).map_err(|e| PeopleError::Usage(e.to_string()))?;
    match r.state_root.open(&id) {
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
    let netns_path = match &mode {
        NetMode::Container(other) => {
            let st = r
                .state_root
                .open(other)
                .and_then(|d| d.load())
                .map_err(|e| PeopleError::Usage(format!("--net container:{other}: {e}")))?;
            Some(PathBuf::from(format!("/proc/{}/ns/net", st.pid)))
        }
        NetMode::Ns(p) => Some(p.clone()),
        _ => None,
    };
    let exe = berth_runtime::exe_guard::original_exe()
        .map_err(io_err("find own binary", Path::new("/proc/self/exe")))?;

    let store = berth_image::Store::open(r.image_root)?;
    // A foreground run and `-d --rm` remove the root when the container exits: its writes
    // need no durability, and a volatile overlay spares the sync at unmount.
    let croot = store.create_container_root(
        &image,
        &id,
        berth_image::OverlayOptions {
            readonly: r.flags.read_only,
            volatile: !r.detach || r.flags.rm,
        },
    )?;
    // From here on everything made for the container is given back on failure.
    let result = (|| {
        if mode != NetMode::Host {
            net::write_etc(&croot.dir, &hostname)?;
        }
        let spec = config::build(&SpecInput {
            image: &croot.image,
            image_config: &croot.config,
            image_root: r.image_root,
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
        let cfg = croot.dir.join("config.json");
        let text = serde_json::to_string_pretty(&spec)
            .map_err(|e| PeopleError::Usage(format!("serialize config.json: {e}")))?;
        std::fs::write(&cfg, text).map_err(io_err("write", &cfg))?;
        if !r.flags.interactive && !r.flags.tty && !r.detach {
            let null = Path::new("/dev/null");
            let f = std::fs::File::open(null).map_err(io_err("open", null))?;
            nix::unistd::dup2_stdin(&f).map_err(|e| io_err("redirect stdin to", null)(e.into()))?;
        }
        // A detached container must not hold the caller's stdout and stderr (a pipe would
        // never see EOF): its output goes to <bundle>/output.log. berth's own are restored.
        let _redirect = if r.detach && !r.flags.tty {
            Some(Redirect::to_file(&croot.dir.join(OUTPUT_LOG))?)
        } else {
            None
        };
        let code = container::run(
            r.state_root,
            &RunOptions {
                create: CreateOptions {
                    id: id.clone(),
                    bundle: croot.dir.clone(),
                    pid_file: r.pid_file.clone(),
                    console_socket: r.console_socket.clone(),
                    systemd_cgroup: r.systemd_cgroup,
                    ..Default::default()
                },
                detach: r.detach,
            },
        )?;
        drop(_redirect);
        Ok::<i32, PeopleError>(code)
    })();
    match result {
        Ok(code) => {
            if r.detach {
                if r.flags.rm {
                    // The container runs: a failure here must not take its root away.
                    if let Err(e) = spawn_reaper(&exe, r.state_root, r.image_root, &id) {
                        eprintln!("berth: warning: {e}: delete {id} yourself when it exits");
                    }
                }
                println!("{id}");
            }
            Ok(code)
        }
        Err(e) => {
            if let Err(c) = super::cleanup(r.image_root, &id, true) {
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
            .map_err(io_err("create", path))?;
        let dup = |fd: std::os::fd::BorrowedFd<'_>| {
            nix::unistd::dup(fd).map_err(|e| io_err("dup stdio for", path)(e.into()))
        };
        let saved_out = dup(std::io::stdout().as_fd())?;
        let saved_err = dup(std::io::stderr().as_fd())?;
        nix::unistd::dup2_stdout(&f).map_err(|e| io_err("redirect stdout to", path)(e.into()))?;
        nix::unistd::dup2_stderr(&f).map_err(|e| io_err("redirect stderr to", path)(e.into()))?;
        Ok(Redirect {
            saved_out,
            saved_err,
        })
    }
}

impl Drop for Redirect {
    fn drop(&mut self) {
        // Nothing sensible to do if restoring fails: berth exits right after.
        let _ = nix::unistd::dup2_stdout(&self.saved_out);
        let _ = nix::unistd::dup2_stderr(&self.saved_err);
    }
}

/// `-d --rm`: a `berth-people hook reap ID` in the background deletes the container when it exits.
fn spawn_reaper(
    exe: &Path,
    state_root: &StateRoot,
    image_root: &Path,
    id: &str,
) -> Result<(), PeopleError> {
    use std::process::{Command, Stdio};
    Command::new(exe)
        .arg("--root")
        .arg(&state_root.path)
        .arg("--image-root")
        .arg(image_root)
        .args(["hook", "reap", "--", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io_err("start the reaper", exe))?;
    Ok(())
}
