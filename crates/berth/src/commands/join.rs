use std::ffi::OsString;
use std::path::PathBuf;

use berth_runtime::container::{self, JoinOptions, Namespace};

use crate::context::{Context, Outcome};

#[derive(clap::Args, Debug)]
#[command(
    override_usage = "berth join [OPTIONS] -- PROGRAM [ARGS]...",
    long_about = "Run a program from the host inside chosen namespaces of chosen running \
containers, e.g. the IPC namespace of one and the mount namespace of another. The flags are \
nsenter's, but each takes a container ID instead of a pid.\n\n\
The program is opened on the host before any namespace is joined, so PROGRAM is a host path \
(or a name in the host's $PATH) even with --mount; a program used with --mount should be \
statically linked, since its loader and libraries are looked up in the container's filesystem. \
Only namespaces change: the program keeps berth's environment, credentials (root of a joined \
user namespace), capabilities and cgroup, unlike `exec`. stdin, stdout and stderr pass through; \
berth waits and exits with the program's status (128+N when killed by signal N). A container \
must be running (its init alive); a namespace named with a flag must be one the container has \
of its own.",
    after_help = "Examples:\n  \
berth join --ipc client --mount server -- ./bridge\n  \
berth join -n web -- ip addr\n  \
berth join --all db --cwd /var/lib -- ./static-busybox ls"
)]
pub struct Args {
    /// Join the mount namespace of container ID (paths resolve in its filesystem)
    #[arg(long, short = 'm', value_name = "ID")]
    pub mount: Option<String>,
    /// Join the UTS namespace (hostname) of container ID
    #[arg(long, short = 'u', value_name = "ID")]
    pub uts: Option<String>,
    /// Join the IPC namespace (System V IPC, POSIX queues) of container ID
    #[arg(long, short = 'i', value_name = "ID")]
    pub ipc: Option<String>,
    /// Join the network namespace of container ID
    #[arg(long, short = 'n', visible_alias = "network", value_name = "ID")]
    pub net: Option<String>,
    /// Join the pid namespace of container ID (the program becomes a process in it)
    #[arg(long, short = 'p', value_name = "ID")]
    pub pid: Option<String>,
    /// Join the user namespace of container ID (and become its root)
    #[arg(long, short = 'U', value_name = "ID")]
    pub user: Option<String>,
    /// Join the cgroup namespace of container ID (the view of /proc/self/cgroup; the program
    /// stays in berth's cgroup)
    #[arg(long, short = 'C', value_name = "ID")]
    pub cgroup: Option<String>,
    /// Join the time namespace of container ID
    #[arg(long, short = 'T', value_name = "ID")]
    pub time: Option<String>,
    /// Join every namespace container ID has of its own; the flags above override it
    #[arg(long, short = 'a', value_name = "ID")]
    pub all: Option<String>,
    /// Working directory of the program, resolved after joining [default: the container's /
    /// with --mount, else the current directory]
    #[arg(long, short = 'w', visible_alias = "wd", value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Host program to run and its arguments (put `--` before it)
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    pub command: Vec<OsString>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        let named = [
            (Namespace::Mount, self.mount),
            (Namespace::Uts, self.uts),
            (Namespace::Ipc, self.ipc),
            (Namespace::Net, self.net),
            (Namespace::Pid, self.pid),
            (Namespace::User, self.user),
            (Namespace::Cgroup, self.cgroup),
            (Namespace::Time, self.time),
        ];
        let mut command = self.command.into_iter();
        let program = command
            .next()
            .ok_or("join needs a PROGRAM to run after --")?;
        let opts = JoinOptions {
            namespaces: named
                .into_iter()
                .filter_map(|(ns, id)| id.map(|id| (ns, id)))
                .collect(),
            all: self.all,
            cwd: self.cwd,
            program,
            args: command.collect(),
        };
        let code = container::join(&ctx.root, &opts)?;
        Ok(code.clamp(0, 255) as u8)
    }
}
