//! `CreateOptions::config = Config::Spec`: a container is created from the spec as built in
//! memory (what `berth run IMAGE` does), never from `<bundle>/config.json` read back. Here
//! that file is not a config at all, and the container still runs with the given spec.

#[path = "../../berth/tests/common/rootfs.rs"]
mod rootfs;

use std::fs;

use berth_runtime::container::{self, Config, CreateOptions};
use berth_runtime::spec::default_spec;
use berth_runtime::state::StateRoot;
use oci_spec::runtime::{Mount, Spec};
use rustix::event::{PollFd, PollFlags, Timespec};

fn spec_writing_hostname_to(out: &std::path::Path) -> Spec {
    let mut spec = default_spec(false);
    spec.set_hostname(Some("from-memory".into()));
    let process = spec.process_mut().as_mut().unwrap();
    process.set_terminal(Some(false));
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "hostname > /out/hostname".into(),
    ]));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    let mut out_mount = Mount::default();
    out_mount
        .set_destination("/out".into())
        .set_typ(Some("bind".into()))
        .set_source(Some(out.to_path_buf()))
        .set_options(Some(vec!["rbind".into(), "rw".into()]));
    mounts.push(out_mount);
    spec.set_mounts(Some(mounts));
    spec
}

#[test]
fn create_uses_the_in_memory_spec_not_the_bundles_config_json() {
    if !rustix::process::geteuid().is_root() {
        berth_common::skip!("needs root");
    }
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    rootfs::write(&bundle.join("rootfs"));
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    // Whatever is at config.json must not matter: it is never read back.
    fs::write(bundle.join("config.json"), "not a config").unwrap();
    let root = StateRoot::new(tmp.path().join("state"));
    let id = format!("inmem-{}", std::process::id());
    let opts = CreateOptions {
        id: id.clone(),
        bundle: bundle.clone(),
        config: Config::Spec(spec_writing_hostname_to(&out).into()),
        ..Default::default()
    };
    let created = container::create(&root, &opts).expect("create from the in-memory spec");
    let pidfd = created.pidfd;
    drop(created.dir);
    container::start(&root, &id).expect("start");
    // The pidfd turns readable when the init exits; a minute bounds a hang, it times nothing.
    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
    let minute = Timespec {
        tv_sec: 60,
        tv_nsec: 0,
    };
    let ready = rustix::event::poll(&mut fds, Some(&minute)).unwrap();
    assert_eq!(ready, 1, "the container's process did not exit");
    container::delete(&root, &id, false, &|_| Ok(())).expect("delete");
    let hostname = fs::read_to_string(out.join("hostname")).expect("the process ran");
    assert_eq!(hostname.trim(), "from-memory");
    assert_eq!(
        fs::read_to_string(bundle.join("config.json")).unwrap(),
        "not a config"
    );
}
