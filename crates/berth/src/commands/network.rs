//! `berth network create|ls|inspect|rm|connect|disconnect`: bridge networks under
//! `<image root>/networks`.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use berth_net::{attach, AttachRequest, Netns, NetworkSpec, PortMapping};
use clap::Subcommand;

use super::{Context, Outcome};
use crate::people::network_store;

/// Manage bridge networks and attach containers to them
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: NetworkCommand,
}

#[derive(Subcommand, Debug)]
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
        /// Interface name inside the container
        #[arg(long, default_value = "eth0", value_name = "NAME")]
        ifname: String,
        network: String,
        id: String,
    },
    /// Detach a container from a network
    Disconnect { network: String, id: String },
}

impl Args {
    pub fn run(self, ctx: &Context) -> Outcome {
        let store = network_store(&ctx.image_root);
        match self.command {
            NetworkCommand::Create {
                subnet,
                gateway,
                mtu,
                no_nat,
                bridge,
                name,
            } => {
                let n = store.create(&NetworkSpec {
                    name,
                    bridge,
                    subnet,
                    gateway,
                    mtu,
                    nat: !no_nat,
                })?;
                println!("{} {} {}", n.name, n.subnet, n.bridge);
            }
            NetworkCommand::Ls => {
                println!(
                    "{:<20} {:<18} {:<15} {:<16} {:>5}  NAT",
                    "NAME", "SUBNET", "GATEWAY", "BRIDGE", "MTU"
                );
                for n in store.list()? {
                    println!(
                        "{:<20} {:<18} {:<15} {:<16} {:>5}  {}",
                        n.name,
                        n.subnet.to_string(),
                        n.gateway.to_string(),
                        n.bridge,
                        n.mtu,
                        if n.nat { "yes" } else { "no" }
                    );
                }
            }
            NetworkCommand::Inspect { name } => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&attach::inspect(&store, &name)?)?
                );
            }
            NetworkCommand::Rm { name } => {
                attach::remove_network(&store, &name)?;
            }
            NetworkCommand::Connect {
                ip,
                publish,
                ifname,
                network,
                id,
            } => {
                let ports = publish
                    .iter()
                    .map(|p| p.parse::<PortMapping>().map_err(|e| format!("-p {p}: {e}")))
                    .collect::<Result<Vec<_>, _>>()?;
                let pid = running_pid(ctx, &id)?;
                let ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
                let a = attach::attach(
                    &store,
                    &network,
                    &AttachRequest {
                        container_id: &id,
                        netns: Netns::Path(&ns),
                        ip,
                        ports: &ports,
                        ifname: &ifname,
                    },
                )?;
                println!("{} {}/{} via {}", a.ifname, a.ip, a.prefix_len, a.gateway);
            }
            NetworkCommand::Disconnect { network, id } => {
                attach::detach(&store, &network, &id)?;
            }
        }
        Ok(0)
    }
}

/// The init pid of a created, running or paused container.
fn running_pid(ctx: &Context, id: &str) -> Result<i32, Box<dyn std::error::Error>> {
    let dir = ctx.root.open(id)?;
    let state = dir.load()?;
    match dir.status(&state) {
        berth_runtime::state::Status::Stopped => {
            Err(format!("container {id} is stopped: nothing to connect").into())
        }
        _ => Ok(state.pid),
    }
}
