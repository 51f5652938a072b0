//! `berth hook …`: helpers berth starts for the containers it makes; not for people to call.
//! `net-setup` is the createRuntime hook of image-form containers (see people::net);
//! `reap ID` waits for a `run -d --rm` container to exit and deletes it; `release ID` is the
//! runtime's release hook as `berth` runs it (see crate::face::Exec).

use std::io::Read;
use std::os::fd::AsFd;

use clap::Subcommand;

use super::{Context, Outcome};

/// Hooks berth puts into the configs it generates
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub which: Which,
}

#[derive(Subcommand, Debug)]
pub enum Which {
    /// Attach the container in the OCI state on stdin to its planned networks
    NetSetup,
    /// Wait until container ID's init exits, then delete the container
    Reap { id: String },
    /// Give back the networks (and, with --with-root, the overlay root and bundle) of
    /// container ID, which is being deleted
    Release {
        #[arg(long)]
        with_root: bool,
        id: String,
    },
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        match self.which {
            Which::NetSetup => {
                let mut input = String::new();
                std::io::stdin()
                    .read_to_string(&mut input)
                    .map_err(|e| format!("read the container state from stdin: {e}"))?;
                let state: serde_json::Value = serde_json::from_str(&input)
                    .map_err(|e| format!("container state on stdin: {e}"))?;
                crate::people::net::hook_setup(
                    &crate::people::network_store(&ctx.image_root),
                    &state,
                )?;
            }
            Which::Reap { id } => {
                let state = ctx.root.open(&id)?.load()?;
                // The pidfd pins the process, so checking its identity after opening it
                // cannot be fooled by a recycled pid.
                if let Ok(fd) = berth_runtime::sys::pidfd_open(state.pid) {
                    if berth_runtime::state::process_matches(state.pid, state.pid_start_time) {
                        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
                        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                        while let Err(nix::errno::Errno::EINTR) = poll(&mut fds, PollTimeout::NONE)
                        {
                        }
                    }
                }
                berth_runtime::container::delete(&ctx.root, &id, true)?;
            }
            Which::Release { with_root, id } => {
                crate::people::cleanup(&ctx.image_root, &id, with_root)?;
            }
        }
        Ok(0)
    }
}
