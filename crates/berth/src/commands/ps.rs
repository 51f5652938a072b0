use std::process::Command;

use crate::container_cli::LsArgs;
use crate::context::{Context, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Without an ID: the listing's flags (-a, -q)
    #[command(flatten)]
    pub ls: LsArgs,
    /// json prints the host pids; table runs ps(1) and keeps the container's lines
    #[arg(long, short = 'f', default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Container ID (none: list containers, as `container ls`)
    pub id: Option<String>,
    /// Options for ps(1) in table format (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        let id = self.id.as_deref().unwrap_or_default();
        if self.ls.all || self.ls.quiet {
            return Err("-a and -q belong to the listing (berth ps without an ID)".into());
        }
        let pids = berth_runtime::container::pids(&ctx.root, id)?;
        if self.format == "json" {
            crate::outln!("{}", serde_json::to_string(&pids)?);
            return Ok(0);
        }
        let args = if self.ps_args.is_empty() {
            vec!["-ef".to_string()]
        } else {
            self.ps_args.clone()
        };
        let out = Command::new("ps")
            .args(&args)
            .output()
            .map_err(|e| format!("run ps: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ps {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )
            .into());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        let pid_col = header
            .split_whitespace()
            .position(|c| c == "PID")
            .ok_or("ps output has no PID column")?;
        crate::outln!("{header}");
        for line in lines {
            let pid = line
                .split_whitespace()
                .nth(pid_col)
                .and_then(|p| p.parse::<i32>().ok());
            if pid.is_some_and(|p| pids.contains(&p)) {
                crate::outln!("{line}");
            }
        }
        Ok(0)
    }
}
