//! What every command runs with, whichever face runs it.

use std::path::PathBuf;

use berth_runtime::state::StateRoot;

use crate::log::Logger;

pub struct Context<'a> {
    pub root: StateRoot,
    /// The image store root; networks live in its networks/ directory.
    pub image_root: PathBuf,
    #[allow(dead_code)]
    pub log: &'a Logger,
    pub systemd_cgroup: bool,
    /// `--criu`: the criu binary `checkpoint` and `restore` run.
    pub criu: Option<PathBuf>,
    /// What `delete` and `run` call to give back what a container holds outside the runtime.
    pub release: &'a berth_runtime::container::Release,
}

/// What a command returns: the exit code, or an error for one line on stderr and the log.
pub type Outcome = Result<u8, Box<dyn std::error::Error>>;
