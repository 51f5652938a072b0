use std::path::PathBuf;

use berth_runtime::container::{self, CreateOptions};

use crate::context::{Context, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Path to the bundle directory (holding config.json)
    #[arg(long, short = 'b', default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Container ID
    pub id: String,
}

// The flags `create` and `run` share, as runc spells them (each has its own --bundle and ID:
// `run`'s image form takes neither).
#[derive(clap::Args, Debug)]
pub struct CreateFlags {
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
}

impl CreateFlags {
    pub fn options(self, ctx: &Context, id: String, bundle: PathBuf) -> CreateOptions {
        CreateOptions {
            id,
            bundle,
            config: container::Config::Bundle,
            pid_file: self.pid_file,
            console_socket: self.console_socket,
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            systemd_cgroup: ctx.systemd_cgroup,
        }
    }

    /// Whether a flag is given that only a bundle of one's own can honour.
    pub fn bundle_only(&self) -> bool {
        self.no_pivot || self.no_new_keyring || self.preserve_fds != 0
    }
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        container::create(&ctx.root, &self.flags.options(ctx, self.id, self.bundle))?;
        Ok(0)
    }
}
