//! berth: a fast, runc-compatible container runtime.
//!
//! This binary is only the command line: it parses runc's flags, calls berth-runtime, and
//! turns errors into one line on stderr, a JSON (or text) line in the `--log` file, and
//! exit status 1.

mod commands;
mod log;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A fast, runc-compatible Linux container runtime",
    long_about = "berth runs OCI bundles with runc's command line, so containerd, Docker and \
                  podman can use it in place of runc."
)]
pub struct Cli {
    /// Directory for container state (tmpfs recommended)
    #[arg(long, global = true, default_value = "/run/berth", value_name = "DIR")]
    root: PathBuf,
    /// Also write errors (and with --debug, debug lines) to this file
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Format of the --log file
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Log debug information
    #[arg(long, global = true)]
    debug: bool,
    /// cgroupsPath is systemd's slice:prefix:name (berth creates the matching cgroupfs
    /// directories itself; no systemd is needed)
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility: berth picks rootless mode from the user namespace
    #[arg(long, value_name = "true|false|auto", hide = true)]
    rootless: Option<String>,
    /// Accepted for runc compatibility (checkpointing is not supported)
    #[arg(long, value_name = "PATH", hide = true)]
    criu: Option<String>,
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logger = log::Logger::new(cli.log.clone(), &cli.log_format, cli.debug);
    let ctx = commands::Context {
        root: berth_runtime::state::StateRoot::new(&cli.root),
        log: &logger,
        systemd_cgroup: cli.systemd_cgroup,
    };
    match cli.command.run(&ctx) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            logger.error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}
