use std::path::PathBuf;

use berth_runtime::spec::default_spec;

use crate::context::{Context, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Bundle directory to write config.json into
    #[arg(long, short = 'b', default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// A config for a non-root user: a user namespace mapping the caller
    #[arg(long)]
    pub rootless: bool,
}

impl Args {
    pub fn run(self, _ctx: &Context) -> Outcome {
        let path = self.bundle.join("config.json");
        if path.exists() {
            return Err(format!("{} exists: remove it first", path.display()).into());
        }
        let spec = default_spec(self.rootless);
        std::fs::write(&path, serde_json::to_string_pretty(&spec)? + "\n")
            .map_err(|e| format!("write {}: {e}", path.display()))?;
        Ok(0)
    }
}
