use std::path::PathBuf;

use oci_spec::runtime::Spec;

use super::{Context, Outcome};

/// Write a default config.json (as runc spec) into the bundle
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

/// The config `berth spec` writes; `berth run IMAGE` starts from it too.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = if rootless {
        Spec::rootless(nix_uid(), nix_gid())
    } else {
        Spec::default()
    };
    spec.set_version("1.0.2".into());
    spec.set_hostname(Some("berth".into()));
    if let Some(p) = spec.process_mut() {
        p.set_terminal(Some(true));
    }
    spec
}

fn nix_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(0)
}

fn nix_gid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::gid(&m))
        .unwrap_or(0)
}
