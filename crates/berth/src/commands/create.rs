use std::path::PathBuf;

use berth_runtime::container::{self, CreateOptions};

use super::{Context, Outcome};

/// Create a container from a bundle; it waits for `start`
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub common: CreateArgs,
}

/// The flags `create` and `run` share, as runc spells them.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Path to the bundle directory (holding config.json)
    #[arg(long, short = 'b', default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Write the container init's pid to this file
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is true
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root (for a rootfs on a ramdisk)
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not give the container its own session keyring
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many extra fds (from 3 on) to the container
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Container ID
    pub id: String,
}

impl CreateArgs {
    pub fn options(&self, ctx: &Context) -> CreateOptions {
        CreateOptions {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            systemd_cgroup: ctx.systemd_cgroup,
        }
    }
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        container::create(&ctx.root, &self.common.options(ctx))?;
        Ok(0)
    }
}
