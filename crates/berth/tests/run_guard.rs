//! `run`'s exe guard (CVE-2019-5736) once its form is known: `berth` re-executes from a
//! read-only mount of itself after the parse, for the runtime form only (the image form is
//! handed to berth-people, which starts from a read-only mount of its own:
//! crates/berth-people/tests/imagerun.rs).

mod common;

use std::os::unix::fs::MetadataExt;

use common::*;

#[test]
fn the_runtime_form_of_run_keeps_its_container_from_a_read_only_berth() {
    if !rustix::process::geteuid().is_root() {
        berth_common::skip!("needs root");
    }
    let c = Ctr::new("runguard", &["sleep", "1000"]);
    // In the foreground: this process clones the init and stays its keeper.
    let mut run = c.spawn_run();
    let exe = format!("/proc/{}/exe", run.id());
    // The same file as berth, reached through another mount, and that one read-only.
    let berth = std::fs::metadata(BERTH).unwrap();
    let running = std::fs::metadata(&exe).unwrap();
    assert_eq!(
        (running.dev(), running.ino()),
        (berth.dev(), berth.ino()),
        "the keeper is not berth"
    );
    let flags = rustix::fs::statvfs(exe.as_str()).unwrap().f_flag;
    assert!(
        flags.contains(rustix::fs::StatVfsMountFlags::RDONLY),
        "run --bundle keeps its container from a writable berth"
    );
    assert_ok(&c.cmd(&["kill", &c.id, "KILL"]), "kill");
    run.wait().unwrap();
}
