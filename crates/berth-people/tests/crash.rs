//! SIGKILL of `berth run --rm IMAGE` at random instants (root): the people face's make of
//! the root, the runtime's create and run, the release. Whatever a kill leaves, the next
//! commands understand: `ps -a` lists a container whose runtime state is left (and `rm -f`
//! removes it), and gives back a root a killed run left before its runtime state existed.
//! After them nothing is left (no root, mount or state) and the name runs again.

use std::time::Duration;

mod common;

#[path = "common/world.rs"]
#[macro_use]
mod world;
use world::{name, World};

/// xorshift64: the kill delays, reproducible from the seed the test prints.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn sigkill_at_any_instant_of_an_image_run_leaves_what_the_next_commands_clear() {
    require_root!();
    let rounds: usize = std::env::var("BERTH_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    let seed = std::env::var("BERTH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("BERTH_CRASH_SEED={seed} BERTH_CRASH_ROUNDS={rounds}");
    let mut rng = Rng(seed);
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
            Duration::from_micros(rng.next() % if round % 2 == 0 { span / 4 } else { span });
        let mut run = w
            .cmd(&[
                "run", "--rm", "--name", &id, "--net", "none", "busybox", "true",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = run.kill();
        let finished = run.wait().unwrap().success();
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
        assert_eq!(
            world::names(&w.state_root())
                .into_iter()
                .filter(|n| !n.starts_with("seccomp#"))
                .collect::<Vec<_>>(),
            Vec::<String>::new(),
            "round {round} ({delay:?}): runtime state left"
        );
    }
    eprintln!("outcomes: {outcomes:?}");
    w.ok(&[
        "run", "--rm", "--name", &id, "--net", "none", "busybox", "true",
    ]);
    w.assert_clean();
}
