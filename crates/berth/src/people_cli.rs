//! The people face's command line: the definitions `berth-people`'s tree parses
//! (crate::tree::Full) for images, networks, the switch, logs, hooks, `run IMAGE`. Only clap
//! definitions: the code that carries them out is in the berth-people crate, and `berth`,
//! which hands these commands over unparsed, never builds them.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::Subcommand;

/// The commands of the people face, as `face::PeopleFace::run` receives them.
#[derive(Debug)]
pub enum PeopleCommand {
    Image(ImageArgs),
    Network(NetworkArgs),
    Switch(SwitchArgs),
    Logs(LogsArgs),
    Hook(HookArgs),
    Login(LoginArgs),
    Logout(LogoutArgs),
    Commit(CommitArgs),
    Diff(DiffArgs),
    /// The container lifecycle (crate::container_cli).
    Container(crate::container_cli::ContainerCommand),
    /// `run` in its image form (boxed: its flags dwarf the other variants).
    Run(Box<ImageRunArgs>),
    /// Runtime-face commands carried out by CRIU, whose client only berth-people links.
    Checkpoint(RawArgs),
    Restore(RawArgs),
}

// A command's arguments as given (`checkpoint`, `restore`): berth-people's CRIU module
// parses them with definitions that live beside CRIU's client. Not a doc comment: it would
// replace each command's own description in berth-people's deferred tree (tree::Full).
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RawArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0.., value_name = "ARGS")]
    pub args: Vec<std::ffi::OsString>,
}

/// `run` in its image form: the flags of `berth run` that apply to it.
#[derive(Debug)]
pub struct ImageRunArgs {
    pub flags: PeopleFlags,
    /// Positional arguments: IMAGE CMD… (or only CMD… with --image).
    pub args: Vec<String>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
}

// The flags only the image form has; any of them selects it.
#[derive(clap::Args, Debug, Default, Clone)]
#[command(next_help_heading = "Image form")]
pub struct PeopleFlags {
    /// Container ID (default: a random 11-character name)
    #[arg(long, value_name = "ID")]
    pub name: Option<String>,
    /// Image to run; then every positional argument is the command
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Remove the container when it exits (otherwise it is kept, stopped, with its files and
    /// exit code, until `berth rm`)
    #[arg(long)]
    pub rm: bool,
    /// Keep stdin open (otherwise the container reads /dev/null)
    #[arg(long, short = 'i')]
    pub interactive: bool,
    /// Give the container a terminal
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Set an environment variable (NAME=VALUE, or NAME to pass the caller's)
    #[arg(long = "env", short = 'e', value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Read environment variables from a file (NAME=VALUE lines)
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(long, short = 'w', value_name = "DIR")]
    pub workdir: Option<String>,
    /// User (name or uid, optionally :group or :gid)
    #[arg(long, short = 'u', value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Bind-mount a host path
    #[arg(long, short = 'v', value_name = "HOST:CTR[:ro]")]
    pub volume: Vec<String>,
    /// Hostname (default: the container ID)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Memory limit (e.g. 64m, 1g)
    #[arg(long, short = 'm', value_name = "SIZE")]
    pub memory: Option<String>,
    /// CPU limit in CPUs (e.g. 0.5)
    #[arg(long, value_name = "N")]
    pub cpus: Option<f64>,
    /// Maximum number of processes
    #[arg(long, value_name = "N")]
    pub pids_limit: Option<i64>,
    /// Mount the root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    /// Network: none, host, bridge[:NAME] (default bridge), container:ID, ns:PATH, switch:PATH
    #[arg(long, visible_alias = "network", value_name = "MODE")]
    pub net: Option<String>,
    /// Address: IP on a bridge, ADDR/PREFIX on a switch
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// Publish a port (bridge only)
    #[arg(
        long = "publish",
        short = 'p',
        value_name = "[HOSTIP:]HOSTPORT:PORT[/tcp|udp]"
    )]
    pub publish: Vec<String>,
    /// "host": share the host's pid namespace
    #[arg(long, value_name = "host")]
    pub pid: Option<String>,
    /// "host": share the host's ipc namespace
    #[arg(long, value_name = "host")]
    pub ipc: Option<String>,
    /// "host": share the host's uts namespace (and hostname)
    #[arg(long, value_name = "host")]
    pub uts: Option<String>,
    /// Add a capability to Docker's default set (ALL for every one)
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from the set (ALL for every one; --cap-add wins for a capability in both)
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Every capability, no seccomp filter, no masked or read-only /proc paths, every device
    /// allowed by the device cgroup (host device nodes are not copied in: use --device)
    #[arg(long)]
    pub privileged: bool,
    /// Give the container a host device node (rwm access)
    #[arg(long, value_name = "HOST[:CTR[:rwm]]")]
    pub device: Vec<String>,
    /// no-new-privileges[=true|false] (true is already the default), seccomp=unconfined,
    /// seccomp=FILE (a Docker or OCI seccomp profile in JSON)
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// A supplementary group for the container's process (numeric GID)
    #[arg(long, value_name = "GID")]
    pub group_add: Vec<String>,
    /// Resource limit, e.g. nofile=1024:2048 (-1 or unlimited for none)
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Namespaced kernel parameter, e.g. net.ipv4.ip_forward=1
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
    /// Mount a tmpfs (nosuid,nodev,noexec unless OPTS say otherwise), e.g. /run:size=64m
    #[arg(long, value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Run berth's own minimal init as PID 1: it forwards signals to the command, reaps
    /// zombies and exits with the command's status
    #[arg(long)]
    pub init: bool,
    /// Size of /dev/shm (default 64m)
    #[arg(long, value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// Keep the container's changes in DIR (the overlay's upper dir; created if missing, its
    /// work dir is DIR's sibling .NAME.work): they stay there after the container is removed
    #[arg(long, value_name = "DIR")]
    pub upper: Option<PathBuf>,
    /// Use DIR as the root's read-only lower layer, without copying it (DIR is never
    /// written); every positional argument is then the command
    #[arg(long, value_name = "DIR", conflicts_with = "image")]
    pub rootfs: Option<PathBuf>,
}

impl PeopleFlags {
    /// True when any image-form flag was given.
    pub fn any(&self) -> bool {
        self.name.is_some()
            || self.image.is_some()
            || self.rm
            || self.interactive
            || self.tty
            || !self.env.is_empty()
            || !self.env_file.is_empty()
            || self.workdir.is_some()
            || self.user.is_some()
            || !self.volume.is_empty()
            || self.hostname.is_some()
            || self.memory.is_some()
            || self.cpus.is_some()
            || self.pids_limit.is_some()
            || self.read_only
            || self.net.is_some()
            || self.ip.is_some()
            || !self.publish.is_empty()
            || self.pid.is_some()
            || self.ipc.is_some()
            || self.uts.is_some()
            || !self.cap_add.is_empty()
            || !self.cap_drop.is_empty()
            || self.privileged
            || !self.device.is_empty()
            || !self.security_opt.is_empty()
            || !self.group_add.is_empty()
            || !self.ulimit.is_empty()
            || !self.sysctl.is_empty()
            || !self.tmpfs.is_empty()
            || self.shm_size.is_some()
            || self.init
            || self.upper.is_some()
            || self.rootfs.is_some()
    }
}

/// Manage images (import, pull, push, tag, save, load, list, inspect, remove)
#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)] // built when used: commands/mod.rs says why
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls {
        /// Print only image names
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Print JSON
        #[arg(long, value_parser = ["table", "json"], default_value = "table")]
        format: String,
    },
    /// Show an image's record and config as JSON
    Inspect {
        /// Image name or id
        reference: String,
    },
    /// Remove images
    #[command(visible_alias = "remove")]
    Rm {
        /// Remove even when a container's root uses it (its layers stay until the container goes)
        #[arg(long, short = 'f')]
        force: bool,
        #[arg(required = true, value_name = "IMAGE")]
        references: Vec<String>,
    },
    /// Remove layers and blobs no image or container uses
    Prune,
    /// Import a rootfs tar (docker export), an OCI archive, a docker save archive or a directory
    Import {
        /// Set the config of a rootfs or directory import, Dockerfile syntax: CMD, ENTRYPOINT,
        /// ENV, WORKDIR, USER, EXPOSE, LABEL (e.g. --change 'CMD ["sh"]')
        #[arg(long, short = 'c', value_name = "INSTRUCTION")]
        change: Vec<String>,
        /// The tar file or directory
        path: PathBuf,
        /// Name for the image, e.g. busybox:latest
        name: String,
    },
    /// Pull an image from an OCI registry
    Pull {
        /// Talk plain HTTP to the registry
        #[arg(long)]
        insecure: bool,
        /// Read registry credentials from this file only
        #[arg(long, value_name = "FILE")]
        authfile: Option<PathBuf>,
        /// Platform (os/arch[/variant]) to pick from a multi-platform image
        #[arg(long, value_name = "OS/ARCH")]
        platform: Option<String>,
        /// No progress output
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Reference, e.g. docker.io/library/busybox:latest or 127.0.0.1:5000/img:tag
        reference: String,
    },
    /// Show disk usage of images, layers and containers
    Df,
    /// Push an image to a registry (the layers as the same tars, so the same image ID);
    /// plain HTTP is used by itself for localhost, 127.0.0.0/8 and ::1
    Push {
        /// Talk plain HTTP to the registry
        #[arg(long)]
        insecure: bool,
        /// Read registry credentials from this file only
        #[arg(long, value_name = "FILE")]
        authfile: Option<PathBuf>,
        /// No progress output
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Local image (name or id)
        local: String,
        /// Where to push it, e.g. 127.0.0.1:5000/img:tag (default: LOCAL's own name)
        remote: Option<String>,
    },
    /// Give an image another name
    Tag {
        /// Image (name or id)
        source: String,
        /// The new name, e.g. 127.0.0.1:5000/img:v1
        target: String,
    },
    /// Write images to a docker-archive (docker save's format) or an oci-archive
    Save {
        /// Write to FILE instead of stdout
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Archive format (an oci-archive holds one image)
        #[arg(long, value_parser = ["docker-archive", "oci-archive"], default_value = "docker-archive")]
        format: String,
        #[arg(required = true, value_name = "IMAGE")]
        references: Vec<String>,
    },
    /// Load the images of a docker-archive or oci-archive under the names it gives them
    Load {
        /// Read from FILE instead of stdin
        #[arg(long, short = 'i', value_name = "FILE")]
        input: Option<PathBuf>,
    },
}

/// Log in to a registry: check the credentials and write them to the auth file
/// ($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else
/// /run/containers/UID/auth.json; ~/.docker/config.json is read too)
#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// User name
    #[arg(long, short = 'u', value_name = "USER")]
    pub username: Option<String>,
    /// Password (visible to other users in the process list: prefer --password-stdin)
    #[arg(
        long,
        short = 'p',
        value_name = "PASS",
        conflicts_with = "password_stdin"
    )]
    pub password: Option<String>,
    /// Read the password from stdin (its first line)
    #[arg(long)]
    pub password_stdin: bool,
    /// Write this auth file instead
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Talk plain HTTP to the registry
    #[arg(long)]
    pub insecure: bool,
    /// Registry host[:port], e.g. 127.0.0.1:5000
    pub registry: String,
}

/// Store a container's root (its image's layers plus its changes) as a new image; works on a
/// running or stopped container
#[derive(clap::Args, Debug)]
pub struct CommitArgs {
    /// Change the new image's config, Dockerfile syntax: CMD, ENTRYPOINT, ENV, WORKDIR, USER,
    /// EXPOSE, LABEL (e.g. --change 'CMD ["sh"]')
    #[arg(long, short = 'c', value_name = "INSTRUCTION")]
    pub change: Vec<String>,
    /// Container ID
    pub container: String,
    /// Name of the new image, e.g. myimage:v1
    pub image: String,
}

/// List what a container added (A), changed (C) and deleted (D), as Docker's diff
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// Container ID
    pub container: String,
}

/// Remove a registry's credentials from the auth file
#[derive(clap::Args, Debug)]
pub struct LogoutArgs {
    /// Edit this auth file instead
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Registry host[:port]
    pub registry: String,
}

/// Manage bridge networks and attach containers to them
#[derive(clap::Args, Debug)]
pub struct NetworkArgs {
    #[command(subcommand)]
    pub command: NetworkCommand,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)] // built when used: commands/mod.rs says why
pub enum NetworkCommand {
    /// Create a bridge network
    Create {
        /// Subnet (CIDR); a free 10.86.N.0/24 when omitted
        #[arg(long, value_name = "CIDR")]
        subnet: Option<String>,
        /// Gateway address (the bridge's); the subnet's first address when omitted
        #[arg(long, value_name = "IP")]
        gateway: Option<Ipv4Addr>,
        /// MTU of the bridge and the veths
        #[arg(long, value_name = "N")]
        mtu: Option<u32>,
        /// No outbound NAT
        #[arg(long)]
        no_nat: bool,
        /// Bridge device name (derived from NAME when omitted)
        #[arg(long, value_name = "DEV")]
        bridge: Option<String>,
        name: String,
    },
    /// List networks
    #[command(visible_alias = "list")]
    Ls,
    /// Show a network and its address leases as JSON
    Inspect { name: String },
    /// Remove a network (refused while containers are attached)
    #[command(visible_alias = "remove")]
    Rm { name: String },
    /// Attach a running berth container (either face) to a network
    Connect {
        /// Address to take (a free one when omitted)
        #[arg(long, value_name = "IP")]
        ip: Option<Ipv4Addr>,
        /// Publish a port
        #[arg(
            long = "publish",
            short = 'p',
            value_name = "[HOSTIP:]HOSTPORT:PORT[/tcp|udp]"
        )]
        publish: Vec<String>,
        /// Interface name inside the container (default: the first free ethN, from eth0)
        #[arg(long, value_name = "NAME")]
        ifname: Option<String>,
        network: String,
        id: String,
    },
    /// Detach a container from a network
    Disconnect { network: String, id: String },
}

/// Run the tap switch in the foreground (containers join with --net switch:PATH); each member
/// joining, leaving or refused is one line on stderr and in --log
#[derive(clap::Args, Debug)]
pub struct SwitchArgs {
    /// Unix socket the containers post their tap devices to
    #[arg(long, default_value = "/run/berth/switch.sock", value_name = "PATH")]
    pub socket: PathBuf,
}

/// Print the output of an image-form container started with -d or `start`
#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Keep printing what it writes until the container stops
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Prefix each line with the RFC 3339 time it was written
    #[arg(long, short = 't')]
    pub timestamps: bool,
    /// Only lines written since then: RFC 3339 time, or a duration ago (10s, 5m, 2h)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only the last N lines
    #[arg(long, short = 'n', value_name = "N")]
    pub tail: Option<usize>,
    /// Container ID
    pub id: String,
}

/// Hooks berth puts into the configs it generates
#[derive(clap::Args, Debug)]
pub struct HookArgs {
    #[command(subcommand)]
    pub which: Which,
}

#[derive(Subcommand, Debug)]
#[command(defer = true)] // built when used: commands/mod.rs says why
pub enum Which {
    /// Attach the container in the OCI state on stdin to its planned networks
    NetSetup,
    /// After the exit of kept container ID (its monitor, berth-monitor, runs this): delete
    /// its runtime container, giving back networks and overlay mount but keeping its files;
    /// with --rm, everything
    Teardown {
        #[arg(long)]
        rm: bool,
        id: String,
    },
    /// Give back the networks (and, with --with-root, the overlay root and bundle) of
    /// container ID, which is being deleted
    Release {
        #[arg(long)]
        with_root: bool,
        id: String,
    },
}
