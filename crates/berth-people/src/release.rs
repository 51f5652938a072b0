//! The runtime's release hook: what a destroyed container held outside the runtime's state.
//!
//! What an image-form container holds is written into its generated config as annotations
//! ([`ANN_IMAGE_ROOT`], [`crate::net::ANN_NET`]) and given back by [`release`]. The hook is a
//! callback rather than a dependency so the runtime library stays free of the image and
//! network crates; it runs on every destroy path (`delete`, `delete --force`, the end of a
//! foreground `run`). The network half also runs for runtime-face containers, so one attached
//! with `network connect` loses its veth, lease and port rules when it is deleted. `berth`
//! reaches it by executing `berth-people hook release` (berth::face::Exec).

use std::path::{Path, PathBuf};

use berth::face::{networks_dir, ANN_IMAGE_ROOT};
use berth_runtime::state::State;

use crate::error::PeopleError;
use crate::net;

/// The network store that lives beside the image store.
pub fn network_store(image_root: &Path) -> berth_net::NetworkStore {
    berth_net::NetworkStore::new(networks_dir(image_root))
}

/// The release hook: detaches the container from every network it holds a lease on, then
/// unmounts and removes its overlay root and bundle (when it has one). Idempotent, so it is
/// also the cleanup after a failed create. `default_root` is the image root for containers
/// whose config does not name one (runtime-face containers).
pub fn release(state: &State, default_root: &Path) -> Result<(), PeopleError> {
    match state.annotations.get(ANN_IMAGE_ROOT).map(PathBuf::from) {
        Some(root) => cleanup(&root, &state.id, true),
        None => {
            // A runtime-face container only holds networks if `network connect` attached it;
            // a broken network store must not make it undeletable, so this only warns.
            if let Err(e) = cleanup(default_root, &state.id, false) {
                eprintln!("berth: warning: detach {} from its networks: {e}", state.id);
            }
            Ok(())
        }
    }
}

/// The end of a kept container's running incarnation (the monitor's, or a foreground run's
/// without --rm): its networks are given back and its overlay unmounted, but the upper dir,
/// bundle, log and record stay for `start`, `logs`, `inspect` and `rm`.
pub fn keep(image_root: &Path, id: &str) -> Result<(), PeopleError> {
    net::release(&network_store(image_root), image_root, id)?;
    berth_image::Store::open(image_root)?.unmount_container_root(id)?;
    Ok(())
}

/// Gives back a container's networks and (with `has_root`) its overlay root and bundle.
pub fn cleanup(image_root: &Path, id: &str, has_root: bool) -> Result<(), PeopleError> {
    let store = network_store(image_root);
    let remove_root = || -> Result<(), PeopleError> {
        if has_root {
            let _step = berth_runtime::steps::step("release: trash the root");
            release_root(image_root, id)?;
        }
        Ok(())
    };
    if !has_root || !berth_net::store::has_attachments(store.root(), id) {
        net::release(&store, image_root, id)?;
        return remove_root();
    }
    // Deleting a veth and unmounting an overlay each wait out RCU grace periods in the kernel
    // (15-25 ms here); side by side they cost one wait instead of two.
    std::thread::scope(|s| {
        let nets = s.spawn(|| net::release(&store, image_root, id));
        let root = remove_root();
        let nets = nets
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        nets.and(root)
    })
}

/// Gives back a container root that a command killed while it made it left behind (issue:
/// SIGKILL at any instant): one without a record (container.json) and without a runtime
/// container, whose maker is gone (berth_image::Store::container_root_abandoned). A
/// foreground `--rm` run never has a record: its runtime container, and before that its own
/// lock, say that it lives. True if the root was given back.
pub fn reclaim_abandoned(ctx: &berth::context::Context, id: &str) -> Result<bool, PeopleError> {
    if berth::container_cli::has_record(&ctx.image_root, id) {
        return Ok(false);
    }
    match ctx.root.open(id) {
        Err(berth_runtime::state::StateError::NotFound(_)) => {}
        Ok(_) => return Ok(false),
        Err(e) => return Err(PeopleError::Runtime(e.into())),
    }
    let store = berth_image::Store::open_unswept(&ctx.image_root)?;
    if !store.container_root_abandoned(id)? {
        return Ok(false);
    }
    release_root(&ctx.image_root, id)?;
    Ok(true)
}

/// Gives back a container's overlay root and bundle: moved into the store's trash now (its ID
/// free at once), unmounted, then kept as a spare root or removed by a detached remover that
/// nobody waits for (berth_image::store::trash). If that cannot start, it is done here.
fn release_root(image_root: &Path, id: &str) -> Result<(), PeopleError> {
    let store = berth_image::Store::existing(image_root);
    let Some(trashed) = store.trash_container_root(id)? else {
        return Ok(());
    };
    let deferred = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
        Some(pending) => {
            pending.push((store, trashed));
            None
        }
        None => Some((store, trashed)),
    });
    match deferred {
        Some((store, trashed)) => start_remover(&store, &trashed),
        None => Ok(()),
    }
}

fn start_remover(
    store: &berth_image::Store,
    trashed: &berth_image::Trashed,
) -> Result<(), PeopleError> {
    let started = berth_runtime::steps::timed("release: start the remover", || {
        spawn_remover(store, trashed)
    });
    if started.is_err() {
        trashed.finish(store)?;
    }
    Ok(())
}

thread_local! {
    /// While a [`DeferRemovers`] lives: the trash entries released meanwhile on this thread.
    static DEFERRED: std::cell::RefCell<Option<Vec<(berth_image::Store, berth_image::Trashed)>>> =
        const { std::cell::RefCell::new(None) };
}

/// While it lives, the removers of the roots released on this thread wait; they start when it
/// is dropped. The foreground `run` holds one until the container is deleted: a fork copies
/// the page tables, and each page either process writes afterwards faults and is copied
/// (~55 pages of the command's end, ~0.1 ms), so the remover is forked as late as possible.
pub struct DeferRemovers(());

impl DeferRemovers {
    pub fn begin() -> DeferRemovers {
        DEFERRED.with(|d| {
            d.borrow_mut().get_or_insert_with(Vec::new);
        });
        DeferRemovers(())
    }
}

impl Drop for DeferRemovers {
    fn drop(&mut self) {
        let pending = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
        for (store, trashed) in pending {
            if let Err(e) = start_remover(&store, &trashed) {
                eprintln!("berth: warning: remove {}: {e}", trashed.dir.display());
            }
        }
    }
}

/// Starts the remover of a trash entry and returns without waiting: a child forked from
/// this process that unmounts the root, makes a spare root of what a spare keeps and removes
/// the rest
/// ([`berth_image::Trashed::finish`]; no exec: an executable's start, even `rm`'s dynamic
/// loading, costs more than the removal) and exits. It gets the entry's locked fd as its
/// stdin, so it holds the lock until it is done or killed, and nothing else of this process's
/// descriptors (crate::sys::fork_detached). Killed, it leaves the entry unlocked for the next
/// store command to unmount and remove.
fn spawn_remover(
    store: &berth_image::Store,
    trashed: &berth_image::Trashed,
) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    crate::sys::fork_detached(trashed.lock.as_fd(), || trashed.finish(store).is_ok())
}
