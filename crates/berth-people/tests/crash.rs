//! SIGKILL of `berth run --rm IMAGE` at random instants (root): the people face's make of
//! the root, the runtime's create and run, the release. Whatever a kill leaves, the next
//! commands understand: `ps -a` lists a container whose runtime state is left (and `rm -f`
//! removes it), and gives back a root a killed run left before its runtime state existed.
//! After them nothing is left (no root, mount or state) and the name runs again. And the
//! same for `run -d`, whose monitor goes on making the container after the kill: `rm -f`
//! returns, and leaves no monitor, container process, root, mount or state.

use std::time::Duration;

use berth_common::test_random::Rng;

mod common;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, World};

/// The seed (printed, `BERTH_CRASH_SEED` replays it) and the number of rounds.
fn seed_and_rounds(default_rounds: usize) -> (Rng, usize) {
    let rounds = berth_common::test_random::env_or("BERTH_CRASH_ROUNDS", default_rounds);
    (Rng::from_env("BERTH_CRASH_SEED"), rounds)
}

#[test]
fn sigkill_at_any_instant_of_an_image_run_leaves_what_the_next_commands_clear() {
    require_root!();
    let (mut rng, rounds) = seed_and_rounds(100);
    let w = World::new();
    let id = name("crash");
    // The whole run takes ~10-15 ms here: the kills fall from its start to after its end.
    let span = {
        let t = std::time::Instant::now();
        w.ok(&[
            "run", "--rm", "--name", &id, "--net", "none", "busybox", "true",
        ]);
        t.elapsed().as_micros() as u64 + 1
    };
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for round in 0..rounds {
        // Every other kill within the first quarter: the people face's own steps (the store,
        // the root, the bundle) before the runtime's.
        let delay =
            Duration::from_micros(rng.next_u64() % if round % 2 == 0 { span / 4 } else { span });
        let finished = killed_after(
            &w,
            &[
                "run", "--rm", "--name", &id, "--net", "none", "busybox", "true",
            ],
            delay,
        );
        let listed = w.ok(&["ps", "-a"]).contains(&id);
        if listed {
            w.ok(&["rm", "-f", &id]);
        }
        let outcome = match (finished, listed) {
            (true, _) => "ran to its end",
            (false, true) => "killed, its container listed and removed",
            (false, false) => "killed, nothing listed",
        };
        *outcomes.entry(outcome).or_default() += 1;
        nothing_left(&w, round, delay);
    }
    eprintln!("outcomes: {outcomes:?}");
    w.ok(&[
        "run", "--rm", "--name", &id, "--net", "none", "busybox", "true",
    ]);
    w.assert_clean();
}

/// No root, mount or runtime state of the world's containers (the seccomp cache aside).
fn nothing_left(w: &World, round: usize, delay: Duration) {
    assert_eq!(
        w.kept(),
        Vec::<String>::new(),
        "round {round} ({delay:?}): roots left"
    );
    assert_eq!(
        w.mounts(),
        Vec::<String>::new(),
        "round {round} ({delay:?}): mounts left"
    );
    let state: Vec<String> = world::names(&w.state_root())
        .into_iter()
        .filter(|n| !n.starts_with("seccomp#"))
        .collect();
    assert_eq!(
        state,
        Vec::<String>::new(),
        "round {round} ({delay:?}): runtime state left"
    );
}

/// Starts berth with `args` and SIGKILLs it after `delay`; true if it had finished by then,
/// successfully.
fn killed_after(w: &World, args: &[&str], delay: Duration) -> bool {
    let mut child = w
        .cmd(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    child.wait().unwrap().success()
}

/// Runs berth with `args` and fails the test if it has not returned within 20 s.
fn within_20s(w: &World, args: &[&str], round: usize, delay: Duration) -> std::process::Output {
    let mut child = w
        .cmd(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("round {round} ({delay:?}): {args:?} did not return in 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// The processes of this world's monitors that have not exited (a zombie waits only for its
/// reaper): their command lines name the world's image root.
fn monitors(w: &World) -> Vec<String> {
    let root = w.image_root().display().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        });
        if cmdline.contains("berth-monitor") && cmdline.contains(&root) && !zombie {
            found.push(cmdline);
        }
    }
    found
}

#[test]
fn sigkill_of_a_detached_run_at_any_instant_leaves_what_rm_f_clears() {
    require_root!();
    let (mut rng, rounds) = seed_and_rounds(40);
    let w = World::new();
    let id = name("crashd");
    let run = [
        "run", "-d", "--name", &id, "--net", "none", "busybox", "sleep", "100",
    ];
    let span = {
        let t = std::time::Instant::now();
        w.ok(&run);
        let span = t.elapsed().as_micros() as u64 + 1;
        w.ok(&["rm", "-f", &id]);
        span
    };
    for round in 0..rounds {
        let delay = Duration::from_micros(rng.next_u64() % span);
        killed_after(&w, &run, delay);
        // Every other round `stop -t 0` first: it must not return with the container up.
        if round % 2 == 1 {
            let out = within_20s(&w, &["stop", "-t", "0", &id], round, delay);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() || err.contains("no such container"),
                "round {round} ({delay:?}): stop: {err}"
            );
            let listing = w.ok(&["ps", "-a"]);
            assert!(
                !listing
                    .lines()
                    .any(|l| l.starts_with(&id) && l.contains(" Up ")),
                "round {round} ({delay:?}): up after stop:\n{listing}"
            );
        }
        // Before the fix `rm -f` waited forever for a monitor still making the container.
        let out = within_20s(&w, &["rm", "-f", &id], round, delay);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() || err.contains("no such container"),
            "round {round} ({delay:?}): {err}"
        );
        for _ in 0..100 {
            if monitors(&w).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            monitors(&w),
            Vec::<String>::new(),
            "round {round} ({delay:?})"
        );
        nothing_left(&w, round, delay);
    }
    w.ok(&run);
    w.ok(&["rm", "-f", &id]);
    w.assert_clean();
}
