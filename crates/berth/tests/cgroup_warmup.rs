//! create's cgroup warm-up (crates/berth-runtime/src/container/warmup.rs): on a v1 or hybrid
//! host a helper process takes the kernel's cgroup write lock while create works; create
//! reaps it. This test makes itself a child subreaper, so anything create cloned and left
//! unreaped would become its zombie child: after `create` returns, the only child of its own
//! it may find is the init, alive and waiting for `start`. Runs as root, in a test binary
//! of its own (a subreaper adopts every orphan of the process).

mod common;

use common::*;
use rustix::process::{waitid, WaitId, WaitIdOptions};

#[test]
fn create_leaves_no_helper_behind() {
    if !need_root() {
        return;
    }
    let fs = rustix::fs::statfs("/sys/fs/cgroup").unwrap();
    if fs.f_type == 0x6367_7270 {
        berth_common::skip!("pure cgroup v2 host: create clones the init into its cgroup, no warm-up");
    }
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap();
    let c = Ctr::new("warmup", &["true"]);
    for _ in 0..3 {
        assert_ok(&c.create(), "create");
        let zombie = waitid(
            WaitId::All,
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
        )
        .unwrap();
        assert!(
            zombie.is_none(),
            "create left an exited child behind: {zombie:?}"
        );
        assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
        // The init was adopted here: reap it.
        let _ = waitid(WaitId::All, WaitIdOptions::EXITED);
    }
    c.assert_nothing_left();
}
