//! `berth switch`: the user-space Ethernet switch for `--net switch:PATH`, in the foreground.

use std::path::PathBuf;

use berth_net::switch::{run_switch, SwitchConfig};

use super::{Context, Outcome};

/// Run the tap switch in the foreground (containers join with --net switch:PATH)
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Unix socket the containers post their tap devices to
    #[arg(long, default_value = "/run/berth/switch.sock", value_name = "PATH")]
    pub socket: PathBuf,
}

impl Args {
    pub fn run(self, _ctx: &Context) -> Outcome {
        if let Some(dir) = self.socket.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        }
        run_switch(SwitchConfig::new(self.socket))?;
        Ok(0)
    }
}
