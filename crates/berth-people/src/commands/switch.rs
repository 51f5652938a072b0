//! `berth switch`: the user-space Ethernet switch for `--net switch:PATH`, in the foreground.

use berth_net::switch::{run_switch, SwitchConfig};

use berth::context::{Context, Outcome};
use berth::people_cli::SwitchArgs;

pub fn run(args: SwitchArgs, ctx: &Context) -> Outcome {
    if let Some(dir) = args.socket.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    // Members joining, leaving and refused: one line each on stderr and in --log.
    let log = ctx.log.clone();
    run_switch(
        SwitchConfig::new(args.socket),
        Box::new(move |event| log.info(&event.to_string())),
    )?;
    Ok(0)
}
