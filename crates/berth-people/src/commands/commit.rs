//! `commit CONTAINER IMAGE [--change …]` and `diff CONTAINER`: an image-form container's root
//! read from the image store (its upper dir over its image), running or stopped.

use berth::context::{Context, Outcome};
use berth::people_cli::{CommitArgs, DiffArgs};
use berth_image::Store;

pub fn commit(a: CommitArgs, ctx: &Context) -> Outcome {
    let store = Store::open(&ctx.image_root)?;
    let d = store.commit_container(&a.container, &a.image, &a.change)?;
    berth::outln!("{} {}", d.record.name, d.record.config_digest);
    Ok(0)
}

pub fn diff(a: DiffArgs, ctx: &Context) -> Outcome {
    let store = Store::open(&ctx.image_root)?;
    for line in store.container_diff(&a.container)? {
        berth::outln!("{line}");
    }
    Ok(0)
}
