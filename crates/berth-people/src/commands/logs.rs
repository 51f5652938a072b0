//! `berth logs [-f] ID`: what an image-form container started with `run -d` wrote to its
//! stdout and stderr, as `docker logs` shows it. The output lives in its bundle
//! (`<image root>/containers/ID/output.log`) and goes when the container is deleted.

use std::fs::File;
use std::io::ErrorKind;
use std::time::Duration;

use berth_runtime::state::Status;

use berth::context::{Context, Outcome};
use berth::people_cli::LogsArgs;

use crate::run::OUTPUT_LOG;

pub fn run(args: LogsArgs, ctx: &Context) -> Outcome {
    let store = berth_image::Store::open(&ctx.image_root)?;
    let path = store.container_dir(&args.id)?.join(OUTPUT_LOG);
    let mut log = File::open(&path).map_err(|e| match e.kind() {
        // Neither a container nor its bundle: it may have been a --rm one, gone with its log.
        ErrorKind::NotFound if !path.parent().is_some_and(|d| d.exists()) => format!(
            "no container {id} (a container run with --rm, or in the foreground, is removed \
             with its output when it exits: run it with -d and without --rm to read its logs \
             afterwards)",
            id = args.id
        ),
        ErrorKind::NotFound => format!(
            "container {} has no output log ({}): only containers started with \
             `berth run -d IMAGE` (without -t) keep their output",
            args.id,
            path.display()
        ),
        _ => format!("open {}: {e}", path.display()),
    })?;
    let mut out = std::io::stdout().lock();
    let mut copy = |log: &mut File| {
        std::io::copy(log, &mut out).map_err(|e| format!("copy {}: {e}", path.display()))
    };
    copy(&mut log)?;
    if args.follow {
        // Polled: a log reader is not on anyone's hot path. The open file outlives the
        // bundle, so what a `--rm` container wrote last is still read after it is gone.
        while running(ctx, &args.id) {
            std::thread::sleep(Duration::from_millis(100));
            copy(&mut log)?;
        }
        copy(&mut log)?;
    }
    Ok(0)
}
fn running(ctx: &Context, id: &str) -> bool {
    ctx.root
        .open(id)
        .and_then(|d| d.load().map(|s| d.status(&s)))
        .is_ok_and(|s| s != Status::Stopped)
}
