//! `delete` removes the container's cgroup in every hierarchy: with one rmdir when it has no
//! child cgroups, and leaf first when the container made some (a walk of the subtree).

mod common;

use common::*;

/// A container without child cgroups: nothing is left after `delete --force`.
#[test]
fn delete_removes_a_childless_cgroup() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("cgrm", &["sleep", "1000"]);
    c.create_and_start();
    assert!(c.cgroup_dirs().iter().any(|d| d.exists()), "no cgroup made");
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
    c.assert_nothing_left();
}

/// Child cgroups below the container's (as a program with its own cgroup tree makes) are
/// removed too, before their parent, in every hierarchy.
#[test]
fn delete_removes_child_cgroups_first() {
    if !need_root() {
        return;
    }
    let c = Ctr::new("cgrm", &["sleep", "1000"]);
    c.create_and_start();
    let children: Vec<_> = c
        .cgroup_dirs()
        .into_iter()
        .filter(|d| d.exists())
        .map(|d| d.join("child/grandchild"))
        .collect();
    for d in &children {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
    }
    assert!(!children.is_empty());
    assert_ok(&c.cmd(&["delete", "--force", &c.id]), "delete");
    for d in &children {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    c.assert_nothing_left();
}
