//! `checkpoint` and `restore` through CRIU's RPC (`criu swrk` over a socketpair, the
//! rust-criu crate), as runc drives CRIU: every bind mount of the config and every masked
//! file declared external (CRIU dumps neither; restore binds what the config names), the
//! namespaces the config joins by path as external ones, the cgroup, the console. Linked into
//! `berth-people` only: `berth` hands both commands over (berth::face).

mod checkpoint;
mod cli;
mod restore;

use std::path::{Path, PathBuf};

use berth::context::{Context, Outcome};
use berth::people_cli::RawArgs;
use berth_runtime::state::State;
use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};
use rust_criu::{CgMode, Criu};

use cli::CriuFlags;

/// `berth checkpoint ARGS…`.
pub fn checkpoint(raw: RawArgs, ctx: &Context) -> Outcome {
    checkpoint::checkpoint(cli::parse(raw.args), ctx)
}

/// `berth restore ARGS…`.
pub fn restore(raw: RawArgs, ctx: &Context) -> Outcome {
    restore::restore(cli::parse(raw.args), ctx)
}

/// What checkpoint and restore fail at, beyond the runtime's own errors.
#[derive(Debug, thiserror::Error)]
pub enum CriuError {
    /// CRIU answered with a failure: its own words are in its log.
    #[error("criu {op} failed: {cause} (log: {})", log.display())]
    Failed {
        op: &'static str,
        cause: String,
        log: PathBuf,
    },
    #[error("{0} is not supported")]
    Unsupported(String),
    /// rust-criu refused a request before sending it.
    #[error("criu: {0}")]
    Client(#[from] rust_criu::CriuError),
    #[error("criu restore: no restored process was reported")]
    NoPid,
    #[error(transparent)]
    Io(#[from] berth_common::io::IoError),
}

/// The criu binary: `--criu`, else `criu` on PATH.
fn new_criu(ctx: &Context) -> Result<Criu, CriuError> {
    let path = ctx
        .criu
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "criu".into());
    Ok(Criu::new_with_criu_path(path)?)
}

/// The options both commands pass the same way; refuses the flags berth does not carry out.
fn common_options(criu: &mut Criu, flags: &CriuFlags) -> Result<(), CriuError> {
    if flags.auto_dedup {
        return Err(CriuError::Unsupported("--auto-dedup".into()));
    }
    if flags.lazy_pages {
        return Err(CriuError::Unsupported("--lazy-pages".into()));
    }
    for ns in &flags.empty_ns {
        // CRIU itself accepts only the network namespace here.
        if ns != "network" {
            return Err(CriuError::Unsupported(format!(
                "--empty-ns {ns:?} (only network)"
            )));
        }
        criu.set_empty_net_ns(true);
    }
    criu.set_log_level(4);
    criu.set_tcp_established(flags.tcp_established);
    criu.set_ext_unix_sk(flags.ext_unix_sk);
    criu.set_shell_job(flags.shell_job);
    criu.set_file_locks(flags.file_locks);
    criu.set_manage_cgroups(true);
    criu.cgroups_mode(match flags.manage_cgroups_mode.as_deref() {
        Some("full") => CgMode::FULL,
        Some("strict") => CgMode::STRICT,
        Some("ignore") => CgMode::IGNORE,
        _ => CgMode::SOFT,
    });
    Ok(())
}

/// runc's default image directory: `checkpoint` in the current directory.
fn image_path(flags: &CriuFlags) -> PathBuf {
    flags
        .image_path
        .clone()
        .unwrap_or_else(|| PathBuf::from("checkpoint"))
}

/// Where CRIU writes its log `name`: the work directory, else the image directory.
fn log_path(flags: &CriuFlags, name: &str) -> PathBuf {
    flags
        .work_path
        .as_deref()
        .unwrap_or(&image_path(flags))
        .join(name)
}

/// A CRIU failure as one line: CRIU's first error from its log (the cause; the later ones
/// follow from it), and the log's path.
fn failed(op: &'static str, log: PathBuf, err: rust_criu::CriuError) -> CriuError {
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let cause = text
        .lines()
        .find(|l| l.contains("Error ("))
        // Without CRIU's timestamp: "(00.035324) Error (criu/…): …".
        .map(|l| {
            l.split_once(") ")
                .map_or(l, |(_, rest)| rest)
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| err.to_string());
    CriuError::Failed { op, cause, log }
}

/// The config's bind mounts: CRIU must not dump them, and restore binds their sources.
fn bind_mounts(spec: &Spec) -> impl Iterator<Item = &Mount> {
    spec.mounts().iter().flatten().filter(|m| {
        m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind")
    })
}

/// The binds of the container's own cgroup directories that berth makes for a `cgroup`
/// mount (berth_runtime's rootfs/mounts.rs): on v2 the unified directory at the mount's
/// destination, else each hierarchy's under it. They are external like the config's binds:
/// a checkpoint names them by destination, a restore binds the new container's directories.
fn cgroup_binds(state: &State) -> Vec<(String, PathBuf)> {
    let Some(paths) = &state.cgroup else {
        return Vec::new();
    };
    let mounts = state.config.mounts().iter().flatten();
    let cgroup_mounts = mounts.filter(|m| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")));
    let mut binds = Vec::new();
    for m in cgroup_mounts {
        let dest = m.destination();
        if paths.layout == berth_cgroups::LayoutKind::V2 {
            binds.extend(
                paths
                    .dirs
                    .first()
                    .map(|(_, d)| (dest.to_string_lossy().into_owned(), d.clone())),
            );
            continue;
        }
        for (key, dir) in &paths.dirs {
            let name = match key.as_str() {
                "" => "unified",
                k => k.strip_prefix("name=").unwrap_or(k),
            };
            binds.push((dest.join(name).to_string_lossy().into_owned(), dir.clone()));
        }
    }
    binds
}

/// The namespace of type `t` the config joins by path, if any.
fn joined(spec: &Spec, t: LinuxNamespaceType) -> Option<&Path> {
    spec.linux()
        .as_ref()?
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == t)?
        .path()
        .as_deref()
}

/// CRIU's key for an external namespace, runc's: `extRootNetNS`, `extRootPidNS`.
fn ns_key(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Network => "extRootNetNS",
        _ => "extRootPidNS",
    }
}

/// The key CRIU records a masked file's /dev/null bind under, runc's.
const MASKED_KEY: &str = "/dev/null";

/// The name of the file beside the images that records the init's stdio (runc's).
const DESCRIPTORS: &str = "descriptors.json";
