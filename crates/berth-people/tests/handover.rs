//! `berth` parses only the runtime commands and hands every other command, `run`'s image
//! form, its `--help` and its flag errors, and the top-level help to `berth-people`, which
//! parses them with the real definitions (berth::tree). What users see must be what the full
//! definitions say.

mod common;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use common::BERTH;

fn people() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth-people"))
}

fn berth(args: &[&str]) -> Output {
    Command::new(&*BERTH).args(args).output().unwrap()
}

/// berth-people as `berth` executes it: under berth's name.
fn full(args: &[&str]) -> Output {
    Command::new(people())
        .arg0("berth")
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The top-level help lists every command, as the full tree does.
#[test]
fn berth_lists_the_commands_the_full_tree_defines() {
    for flag in ["--help", "-h"] {
        let (b, f) = (berth(&[flag]), full(&[flag]));
        assert!(b.status.success(), "{}", text(&b));
        assert_eq!(text(&b), text(&f), "berth {flag}");
    }
    let help = text(&berth(&["--help"]));
    for verb in [
        "image",
        "network",
        "container",
        "run",
        "cp",
        "attach",
        "checkpoint",
    ] {
        assert!(
            help.contains(&format!("\n  {verb} ")),
            "{verb} missing:\n{help}"
        );
    }
}

/// `berth VERB --help` prints the verb's real flags, which berth's own tree does not have.
#[test]
fn verb_help_is_the_real_definition() {
    let cases: &[(&[&str], &str)] = &[
        (&["image", "pull", "--help"], "--insecure"),
        (&["image", "--help"], "pull"),
        (&["network", "create", "-h"], "--subnet"),
        (&["container", "create", "--help"], "--publish"),
        (&["logs", "--help"], "--follow"),
        (&["login", "--help"], "--password-stdin"),
        (&["stop", "--help"], "--time"),
        (&["cp", "--help"], "ID:PATH"),
        (&["checkpoint", "--help"], "--image-path"),
        (&["run", "--help"], "--security-opt"),
        (&["run", "--help"], "runtime form (OCI)"),
        (&["run", "-h"], "--bundle"),
        (&["help", "image"], "pull"),
        (&["help", "run"], "--rm"),
    ];
    for (args, want) in cases {
        let b = berth(args);
        let out = text(&b);
        assert!(b.status.success(), "berth {args:?}: {out}");
        assert!(out.contains(want), "berth {args:?} lacks {want}:\n{out}");
        assert_eq!(out, text(&full(args)), "berth {args:?}");
    }
}

/// A flag error in a people verb or in `run`, or an unknown command, is the full
/// definitions' error: clap's message and exit status 2.
#[test]
fn flag_errors_come_from_the_full_definitions() {
    let cases: &[&[&str]] = &[
        &["image", "pull", "--bogus", "x"],
        &["network", "create"],
        &["run", "--rm", "--cpus", "many", "busybox"],
        &["run", "-dit", "--bogus", "busybox"],
        &["imgae", "ls"],
    ];
    for args in cases {
        let b = berth(args);
        let out = text(&b);
        assert_eq!(b.status.code(), Some(2), "berth {args:?}: {out}");
        assert!(out.starts_with("error: "), "berth {args:?}: {out}");
        assert_eq!(out, text(&full(args)), "berth {args:?}");
    }
}
