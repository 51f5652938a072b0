//! `berth-people`: the whole command line with the people face (images, networks, the tap
//! switch, `run IMAGE CMD...`) run in process. `berth` executes it for those commands; it is
//! not meant to be called by hand, though it accepts everything `berth` does.

fn main() -> std::process::ExitCode {
    berth::people_main()
}
