use std::path::PathBuf;

use berth_runtime::container::{self, ExecOptions};
use berth_runtime::state::StateRoot;
use oci_spec::runtime::{Capability, Process};

use crate::context::{Context, Outcome};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// process.json describing the process (instead of COMMAND and the flags below)
    #[arg(long, short = 'p', value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-TTY
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Unix socket that receives the pty master
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Return once the process has started
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Write the process's pid to this file
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Add an environment variable (KEY=VALUE), repeatable
    #[arg(long, short = 'e', value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// UID[:GID] to run as
    #[arg(long, short = 'u', value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Supplementary group, repeatable
    #[arg(long, short = 'g', value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Add a capability (CAP_NET_ADMIN or NET_ADMIN), repeatable
    #[arg(long, short = 'c', value_name = "CAP")]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// Pass this many extra fds (from 3 on) to the process
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Accepted for command-line compatibility: SELinux is not enabled on hosts berth supports yet
    #[arg(long, hide = true)]
    pub process_label: Option<String>,
    /// Accepted for command-line compatibility: AppArmor is not enabled on hosts berth supports yet
    #[arg(long, hide = true)]
    pub apparmor: Option<String>,
    /// Container ID
    pub id: String,
    /// Command and arguments (when no --process is given)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        let process = self.build_process(&ctx.root)?;
        let code = container::exec(
            &ctx.root,
            &ExecOptions {
                id: self.id.clone(),
                process,
                console_socket: self.console_socket.clone(),
                detach: self.detach,
                pid_file: self.pid_file.clone(),
                preserve_fds: self.preserve_fds,
            },
        )?;
        Ok(code.clamp(0, 255) as u8)
    }

    /// runc's rules: a process.json as given, or the container's own process with the
    /// command and flags applied.
    fn build_process(&self, root: &StateRoot) -> Result<Process, Box<dyn std::error::Error>> {
        if let Some(path) = &self.process {
            let text = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
            let p: Process = serde_json::from_slice(&text)
                .map_err(|e| format!("invalid {}: {e}", path.display()))?;
            if p.args().as_ref().is_none_or(|a| a.is_empty()) {
                return Err(format!("invalid {}: args must name a program", path.display()).into());
            }
            return Ok(p);
        }
        if self.command.is_empty() {
            return Err("exec needs a COMMAND or --process".into());
        }
        let state = root.open(&self.id)?.load()?;
        let mut p = state.config.process().clone().unwrap_or_default();
        p.set_args(Some(self.command.clone()));
        p.set_terminal(Some(self.tty));
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(self.env.iter().cloned());
        p.set_env(Some(env));
        if let Some(cwd) = &self.cwd {
            p.set_cwd(cwd.clone());
        }
        let mut user = p.user().clone();
        if let Some(spec) = &self.user {
            let (uid, gid) = match spec.split_once(':') {
                Some((u, g)) => (u, Some(g)),
                None => (spec.as_str(), None),
            };
            user.set_uid(
                uid.parse()
                    .map_err(|_| format!("invalid --user {spec:?}"))?,
            );
            user.set_gid(match gid {
                Some(g) => g.parse().map_err(|_| format!("invalid --user {spec:?}"))?,
                None => 0,
            });
        }
        if !self.additional_gids.is_empty() {
            user.set_additional_gids(Some(self.additional_gids.clone()));
        }
        p.set_user(user);
        if self.no_new_privs {
            p.set_no_new_privileges(Some(true));
        }
        if !self.cap.is_empty() {
            let mut caps = p.capabilities().clone().unwrap_or_default();
            for name in &self.cap {
                let cap: Capability =
                    serde_json::from_value(serde_json::Value::String(name.clone()))
                        .map_err(|_| format!("unknown capability {name:?}"))?;
                let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                    let mut s = s.clone().unwrap_or_default();
                    s.insert(cap);
                    Some(s)
                };
                caps.set_bounding(add(caps.bounding()));
                caps.set_effective(add(caps.effective()));
                caps.set_permitted(add(caps.permitted()));
            }
            p.set_capabilities(Some(caps));
        }
        Ok(p)
    }
}
