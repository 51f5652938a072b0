//! `berth`: the runtime face. People-face commands are handed to `berth-people` (see lib.rs).

fn main() -> std::process::ExitCode {
    berth::cli::main::<berth::face::Exec>()
}
