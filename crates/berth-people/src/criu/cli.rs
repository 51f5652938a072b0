//! `checkpoint` and `restore`, runc's commands and flags. `berth` passes their arguments on
//! unparsed (`berth::people_cli::RawArgs`) and hands both commands over, so neither these
//! definitions nor CRIU's client grow its text; they are parsed here.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

/// The flags both commands share, as runc spells them.
#[derive(clap::Args, Debug, Clone)]
pub struct CriuFlags {
    /// Directory of the CRIU image files [default: ./checkpoint]
    #[arg(long, value_name = "DIR")]
    pub image_path: Option<PathBuf>,
    /// Directory for CRIU's log and work files [default: the image path]
    #[arg(long, value_name = "DIR")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow shell jobs (a process on a terminal the container does not own)
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks
    #[arg(long)]
    pub file_locks: bool,
    /// How CRIU treats cgroups: soft (default), full, strict or ignore
    #[arg(long, value_name = "MODE", value_parser = ["soft", "full", "strict", "ignore"])]
    pub manage_cgroups_mode: Option<String>,
    /// Make this namespace but do not dump or restore what is in it (network only: a network
    /// namespace someone else sets up)
    #[arg(long, value_name = "NS")]
    pub empty_ns: Vec<String>,
    /// Deduplicate memory images against the parent (runc's flag; not supported)
    #[arg(long)]
    pub auto_dedup: bool,
    /// Restore memory lazily through userfaultfd (runc's flag; not supported)
    #[arg(long)]
    pub lazy_pages: bool,
}

/// Checkpoint a running container with CRIU: by default it stops, and `restore` starts it again
#[derive(Parser, Debug)]
#[command(name = "berth checkpoint")]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Keep the container running after the checkpoint
    #[arg(long)]
    pub leave_running: bool,
    /// Dump only the memory, leaving the container running; a later checkpoint with
    /// --parent-path writes only what changed since
    #[arg(long)]
    pub pre_dump: bool,
    /// Image directory of a previous pre-dump (relative to --image-path, or absolute)
    #[arg(long, value_name = "DIR")]
    pub parent_path: Option<PathBuf>,
    /// ADDRESS:PORT of a CRIU page server (runc's flag; not supported)
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub page_server: Option<String>,
    /// CRIU writes \0 to this fd once lazy pages are ready (runc's flag; not supported)
    #[arg(long, value_name = "FD")]
    pub status_fd: Option<i32>,
    /// Container ID
    pub id: String,
}

/// Restore a container from a checkpoint, under this ID, from this bundle's config
#[derive(Parser, Debug)]
#[command(name = "berth restore")]
pub struct RestoreArgs {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Path to the bundle directory (holding config.json)
    #[arg(long, short = 'b', default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Return once the container runs instead of waiting for it to exit
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Write the restored init's pid to this file
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is true
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility: CRIU mounts the root itself
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility: a foreground restore waits for the init itself
    #[arg(long)]
    pub no_subreaper: bool,
    /// An LSM profile TYPE:NAME for the restored processes (runc's flag; not supported)
    #[arg(long, value_name = "TYPE:NAME")]
    pub lsm_profile: Option<String>,
    /// An LSM mount context (runc's flag; not supported)
    #[arg(long, value_name = "CONTEXT")]
    pub lsm_mount_context: Option<String>,
    /// Container ID
    pub id: String,
}

/// Parses a command's raw arguments; clap's own exit for --help and for a bad flag.
pub fn parse<P: Parser>(raw: Vec<OsString>) -> P {
    P::parse_from(std::iter::once(OsString::new()).chain(raw))
}
