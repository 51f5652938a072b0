//! The people face: containers from images, with networks, on top of the runtime face.
//!
//! `berth run IMAGE CMD…` turns an image and Docker-style flags into an ordinary OCI bundle
//! (`<image root>/containers/<id>/`: the image crate's overlay root as rootfs, plus a generated
//! `config.json`, `hosts` and `resolv.conf`) and hands it to the runtime's own `run`, so every
//! runtime command (exec, kill, ps, pause, delete…) works on the result unchanged.
//!
//! What such a container holds outside the runtime's state is written into the generated
//! config as annotations ([`ANN_IMAGE_ROOT`], [`net::ANN_NET`]), and given back by [`release`],
//! the runtime's release hook (see `berth_runtime::container::set_release_hook`). The hook is
//! a callback rather than a dependency so the runtime library stays free of the image and
//! network crates; it runs on every destroy path (`delete`, `delete --force`, the end of a
//! foreground `run`). The network half of `release` also runs for runtime-face containers, so
//! one attached with `network connect` loses its veth, lease and port rules when it is deleted.
//!
//! All of this runs in `berth-people` ([`InProcess`]); `berth` reaches it by executing
//! `berth-people` (crate::face::Exec), for a release through `berth-people hook release`.
//!
//! Owns: the spec generation ([`config`]), the `--net` modes and the network hook ([`net`]),
//! the image-form `run` ([`run`]). Must not touch: the runtime's state directory, which only
//! the runtime library writes.

pub mod config;
pub mod net;
pub mod run;

use std::path::{Path, PathBuf};

use berth_runtime::state::State;

use crate::commands::{Context, Outcome, PeopleCommand};
use crate::face::PeopleFace;

/// The image store root a container's overlay root and bundle live under.
pub const ANN_IMAGE_ROOT: &str = "dev.berth.image-root";
/// The image a container was made from (informational).
pub const ANN_IMAGE: &str = "dev.berth.image";

/// Everything the people face can fail at, naming the step and the value involved.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Image(#[from] berth_image::StoreError),
    #[error(transparent)]
    Net(#[from] berth_net::attach::AttachError),
    #[error(transparent)]
    NetStore(#[from] berth_net::store::StoreError),
    #[error(transparent)]
    Tap(#[from] berth_net::tap::TapError),
    #[error(transparent)]
    Etc(#[from] berth_net::etc::EtcError),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error("{step} {path}: {source}")]
    Io {
        step: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

pub(crate) fn io_err(
    step: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> PeopleError {
    let path = path.to_path_buf();
    move |source| PeopleError::Io { step, path, source }
}

/// Where the network store lives: beside the image store.
pub fn networks_dir(image_root: &Path) -> PathBuf {
    image_root.join("networks")
}

/// The network store that lives beside the image store.
pub fn network_store(image_root: &Path) -> berth_net::NetworkStore {
    berth_net::NetworkStore::new(networks_dir(image_root))
}

/// The people face run in this process: `berth-people`'s [`PeopleFace`].
pub struct InProcess;

impl PeopleFace for InProcess {
    fn run(cmd: PeopleCommand, ctx: &Context) -> Outcome {
        cmd.run(ctx)
    }

    fn release(state: &State, default_image_root: &Path) -> Result<(), String> {
        release(state, default_image_root).map_err(|e| e.to_string())
    }
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

/// Gives back a container's networks and (with `has_root`) its overlay root and bundle.
pub fn cleanup(image_root: &Path, id: &str, has_root: bool) -> Result<(), PeopleError> {
    let store = network_store(image_root);
    let remove_root = || -> Result<(), PeopleError> {
        if has_root {
            berth_image::Store::open(image_root)?.remove_container_root(id)?;
        }
        Ok(())
    };
    if !has_root || !berth_net::store::has_attachments(store.root(), id) {
        net::release(&store, id)?;
        return remove_root();
    }
    // Deleting a veth and unmounting an overlay each wait out RCU grace periods in the kernel
    // (15-25 ms here); side by side they cost one wait instead of two.
    std::thread::scope(|s| {
        let nets = s.spawn(|| net::release(&store, id));
        let root = remove_root();
        let nets = nets
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        nets.and(root)
    })
}

/// A random 11-character base62 container ID, as containode names its containers.
pub fn random_id() -> Result<String, PeopleError> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 11];
    let path = Path::new("/dev/urandom");
    std::io::Read::read_exact(
        &mut std::fs::File::open(path).map_err(io_err("open", path))?,
        &mut bytes,
    )
    .map_err(io_err("read", path))?;
    // 256 % 62 leaves a slight bias towards the first characters: harmless for a name.
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}
