//! `berth network create|ls|inspect|rm|connect|disconnect`: bridge networks under
//! `<image root>/networks`.

use std::path::PathBuf;

use berth_net::{attach, AttachRequest, Ipam, Netns, NetworkSpec, PortMapping};

use berth::context::{Context, Outcome};
use berth::people_cli::{NetworkArgs, NetworkCommand};

use crate::release::network_store;

pub fn run(args: NetworkArgs, ctx: &Context) -> Outcome {
    let store = network_store(&ctx.image_root);
    match args.command {
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
            berth::outln!("{} {} {}", n.name, n.subnet, n.bridge);
        }
        NetworkCommand::Ls => {
            berth::outln!(
                "{:<20} {:<18} {:<15} {:<16} {:>5}  NAT",
                "NAME",
                "SUBNET",
                "GATEWAY",
                "BRIDGE",
                "MTU"
            );
            for n in store.list()? {
                berth::outln!(
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
            berth::outln!(
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
            let net = store.get(&network)?;
            if Ipam::new(&store, &net).get(&id)?.is_some() {
                return Err(format!(
                    "container {id} is already on network {network}: \
                     `berth network disconnect {network} {id}` first"
                )
                .into());
            }
            let ifname = match ifname {
                Some(name) if attach::has_link(Netns::Path(&ns), &name)? => {
                    let free = attach::free_ifname(Netns::Path(&ns))?;
                    return Err(format!(
                        "container {id} already has an interface {name}: leave out --ifname \
                         and berth names it {free}, or name another with --ifname"
                    )
                    .into());
                }
                Some(name) => name,
                None => attach::free_ifname(Netns::Path(&ns))?,
            };
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
            crate::names::refresh(&store, &ctx.image_root, &network, None)?;
            berth::outln!("{} {}/{} via {}", a.ifname, a.ip, a.prefix_len, a.gateway);
        }
        NetworkCommand::Disconnect { network, id } => {
            attach::detach(&store, &network, &id)?;
            crate::names::refresh(&store, &ctx.image_root, &network, Some(&id))?;
        }
    }
    Ok(0)
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
