//! `berth-people`: the people face, containers from images, with networks, on top of the
//! runtime face. `berth` executes it for those commands (berth::face::Exec); it parses the
//! same command line (berth::cli) with every command's definitions (berth::tree::Full), where
//! `berth` knows the people verbs by name only, and accepts everything `berth` does, but is
//! not meant to be called by hand.
//!
//! `berth run IMAGE CMD…` turns an image and Docker-style flags into an ordinary OCI bundle
//! (`<image root>/containers/<id>/`: the image crate's overlay root as rootfs, plus a generated
//! `config.json`, `hosts` and `resolv.conf`) and hands it to the runtime's own `run`, so every
//! runtime command (exec, kill, ps, pause, delete…) works on the result unchanged. What such a
//! container holds outside the runtime's state is given back by [`release`].
//!
//! Owns: the people-face commands ([`commands`]), the spec generation ([`config`]), the `--net`
//! modes and the network hook ([`net`]), the image-form `run` ([`run`]), the release hook
//! ([`release`]), the kept containers' records ([`record`]) and the spawn of their monitor ([`monitor`]),
//! the `--init`'s unsafe call ([`sys`]), checkpoint and restore through CRIU ([`criu`]).
//! Must not touch: the runtime's state directory, which only the runtime library writes.
//! Imports point one way: this file → [`commands`] → [`run`] → [`monitor`] → [`record`],
//! [`config`] → [`security`], [`release`] → [`net`] → [`error`].
//!
//! Started without Rust's runtime start-up (`#![no_main]`), as `berth` is: once per image-form
//! `run` and every other people command, its /proc/self/maps read and signal stack cost
//! ~0.1 ms of CPU and 17 syscalls (berth::cli::c_main). Its unit tests keep the harness's main.
#![cfg_attr(not(test), no_main)]

mod commands;
mod config;
mod criu;
mod error;
mod layers;
mod monitor;
mod names;
mod net;
mod record;
mod release;
mod run;
mod seccomp;
mod security;
mod sys;

use std::path::Path;

use berth::context::{Context, Outcome};
use berth::face::PeopleFace;
use berth::people_cli::PeopleCommand;
use berth_runtime::state::State;

/// The people face run in this process: `berth-people`'s [`PeopleFace`].
struct InProcess;

impl PeopleFace for InProcess {
    type Tree = berth::tree::Full;

    fn run(cmd: PeopleCommand, ctx: &Context) -> Outcome {
        commands::run(cmd, ctx)
    }

    fn release(state: &State, default_image_root: &Path) -> Result<(), String> {
        release::release(state, default_image_root).map_err(|e| e.to_string())
    }

    fn systemd_cgroup() -> Result<(), String> {
        berth_cgroups::enable_systemd_driver();
        Ok(())
    }
}

// The C entry point glibc's start code calls; std reads argv and the environment itself.
#[allow(unsafe_code)] // no_mangle: nothing else in the program defines `main`.
#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    berth::cli::c_main::<InProcess>()
}

// The unit tests' harness has its own main: the face is still the program they test.
#[cfg(test)]
const _: fn() -> std::ffi::c_int = berth::cli::c_main::<InProcess>;

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// `berth` repeats facts of the image, network and monitor crates so it links none: they
    /// must stay the ones those crates use.
    #[test]
    fn berth_face_facts_match_the_image_network_and_monitor_crates() {
        assert_eq!(berth::face::DEFAULT_IMAGE_ROOT, berth_image::DEFAULT_ROOT);
        assert_eq!(
            berth::commands::start::RUNTIME_START_ENV,
            berth_monitor::RUNTIME_START_ENV
        );
        let dir = tempfile::tempdir().unwrap();
        let image_root = dir.path();
        let store = crate::release::network_store(image_root);
        let id = "c1";
        let agree = |want: bool| {
            assert_eq!(berth::face::has_attachments(image_root, id), want);
            assert_eq!(berth_net::store::has_attachments(store.root(), id), want);
        };
        agree(false);
        // The network crate's own marker, made as an attach makes it.
        let marker = berth_net::store::attachment_marker(store.root(), id);
        std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
        std::fs::write(&marker, "").unwrap();
        agree(true);
        assert!(marker.starts_with(Path::new(image_root)));
    }
}
