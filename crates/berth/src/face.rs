//! Where the people face's commands run (see the crate docs): the trait both executables
//! implement, `berth`'s implementation, which executes `berth-people`, and the few facts of
//! the people face that `berth` needs without linking it (where networks live, the annotation
//! naming a container's image root).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_runtime::exe_guard;
use berth_runtime::state::State;

use crate::context::{Context, Outcome};
use crate::people_cli::PeopleCommand;
use crate::tree::{self, Tree};

/// The image store root unless --image-root or BERTH_IMAGE_ROOT says otherwise (the image
/// crate's `DEFAULT_ROOT`; a berth-people test keeps the two equal).
pub const DEFAULT_IMAGE_ROOT: &str = "/var/lib/berth";

/// The annotation naming the image store root a container's overlay root and bundle live
/// under: berth-people writes it into the configs it generates.
pub const ANN_IMAGE_ROOT: &str = "dev.berth.image-root";

/// Where the network store lives: beside the image store.
pub fn networks_dir(image_root: &Path) -> PathBuf {
    image_root.join("networks")
}

/// Whether container `id` may hold a veth, lease or port rule on a network beside
/// `image_root`: one stat of the network store's attachment marker. The marker's place is the
/// network crate's fact (`berth_net::store::has_attachments`), repeated here so that `berth`
/// links no network code; a berth-people test keeps the two equal.
pub fn has_attachments(image_root: &Path, id: &str) -> bool {
    networks_dir(image_root).join(".attached").join(id).exists()
}

/// The people face as one executable sees it.
pub trait PeopleFace {
    /// The command tree this executable parses.
    type Tree: Tree;

    /// Runs a people-face command.
    fn run(cmd: PeopleCommand, ctx: &Context) -> Outcome;

    /// The runtime's release hook: gives back what a destroyed container held outside the
    /// runtime's state (overlay root, bundle, networks). `default_image_root` is the image
    /// root of containers whose config names none (runtime-face containers).
    fn release(state: &State, default_image_root: &Path) -> Result<(), String>;

    /// Readies the systemd cgroup driver for a `--systemd-cgroup` command. Its D-Bus client
    /// is linked into `berth-people` only (berth_cgroups::enable_systemd_driver), so `berth`
    /// hands the whole command over, as it does a people command; returns only on failure.
    fn systemd_cgroup() -> Result<(), String>;
}

/// The people face's executable, installed next to `berth`.
pub const PEOPLE_EXE: &str = "berth-people";

/// `berth`'s people face: execute `berth-people`.
pub struct Exec;

/// `berth-people` beside the berth binary on the host (not beside the read-only copy the
/// exe guard may have re-executed).
fn people_exe() -> Result<PathBuf, String> {
    let exe = exe_guard::original_exe().map_err(|e| format!("find own binary: {e}"))?;
    Ok(exe.with_file_name(PEOPLE_EXE))
}

fn missing(exe: &Path, e: std::io::Error) -> String {
    format!(
        "run {}: {e} (images, networks, the switch and `run IMAGE` live in {PEOPLE_EXE}, \
         installed next to berth)",
        exe.display()
    )
}

/// Replaces this process with `berth-people` on the same command line; returns the error
/// only.
pub fn hand_over() -> String {
    let exe = match people_exe() {
        Ok(exe) => exe,
        Err(e) => return e,
    };
    // berth-people parses the same argv again, identically. It starts from a read-only mount
    // of itself, so its own exe guard has nothing to do (one execve, not two).
    let mut args: Vec<_> = std::env::args_os().collect();
    if args.is_empty() {
        args.push("berth".into());
    }
    match exe_guard::exec_readonly(&exe, args.iter().cloned()) {
        // No mounts here (a container without CAP_SYS_ADMIN): berth-people guards itself.
        exe_guard::ExeGuardError::Clone(_) => {}
        e => return format!("run {}: {e}", exe.display()),
    }
    // The guard's note of berth's own path must not pass for berth-people's.
    let err = Command::new(&exe)
        .arg0(&args[0])
        .args(&args[1..])
        .env_remove(exe_guard::ORIGINAL_EXE)
        .exec();
    missing(&exe, err)
}

impl PeopleFace for Exec {
    type Tree = tree::Berth;

    fn run(_cmd: PeopleCommand, _ctx: &Context) -> Outcome {
        Err(hand_over().into())
    }

    fn systemd_cgroup() -> Result<(), String> {
        Err(hand_over())
    }

    fn release(state: &State, default_image_root: &Path) -> Result<(), String> {
        let (image_root, with_root) = match state.annotations.get(ANN_IMAGE_ROOT) {
            Some(root) => (PathBuf::from(root), true),
            None => (default_image_root.to_path_buf(), false),
        };
        // The common case, a runtime-face container on no network, costs one stat.
        if !with_root && !has_attachments(&image_root, &state.id) {
            return Ok(());
        }
        let exe = people_exe()?;
        let out = Command::new(&exe)
            .arg("--image-root")
            .arg(&image_root)
            .args(["hook", "release"])
            .args(with_root.then_some("--with-root"))
            .arg("--")
            .arg(&state.id)
            .env_remove(exe_guard::ORIGINAL_EXE)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| missing(&exe, e))?;
        if out.status.success() {
            return Ok(());
        }
        // berth-people printed one "berth: ..." line; that line is the error.
        let text = String::from_utf8_lossy(&out.stderr);
        let line = text.lines().last().unwrap_or_default();
        Err(match line.strip_prefix("berth: ") {
            Some(msg) => msg.to_string(),
            None => format!("{} hook release: {}", exe.display(), out.status),
        })
    }
}
