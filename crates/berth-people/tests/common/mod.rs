//! What the people tests share: the `berth` they drive.

use std::path::PathBuf;
use std::sync::LazyLock;

/// `berth`, beside the `berth-people` Cargo built for these tests: the people face is reached
/// through it, as users reach it. `cargo build --workspace --bins` builds it, berth-monitor and
/// berth-init;
/// `cargo test -p berth-people` builds neither.
pub static BERTH: LazyLock<PathBuf> = LazyLock::new(|| {
    let people = PathBuf::from(env!("CARGO_BIN_EXE_berth-people"));
    let berth = people.with_file_name("berth");
    // berth-people starts berth-monitor for a kept container, and binds berth-init for
    // --init, from the same directory.
    for exe in [
        berth.clone(),
        people.with_file_name("berth-monitor"),
        people.with_file_name("berth-init"),
    ] {
        assert!(
            exe.exists(),
            "{} is missing: build every executable beside berth-people (cargo build \
             --workspace --bins, as scripts/test.sh does)",
            exe.display()
        );
    }
    berth
});
