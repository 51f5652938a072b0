//! What the people tests share: the `berth` they drive.

use std::path::PathBuf;
use std::sync::LazyLock;

/// `berth`, beside the `berth-people` Cargo built for these tests: the people face is reached
/// through it, as users reach it. `cargo test --workspace` builds both; `cargo test -p
/// berth-people` alone uses the `berth` last built into the same target directory.
pub static BERTH: LazyLock<PathBuf> = LazyLock::new(|| {
    let people = PathBuf::from(env!("CARGO_BIN_EXE_berth-people"));
    let berth = people.with_file_name("berth");
    assert!(
        berth.exists(),
        "{} is missing: build it beside berth-people (cargo build -p berth, or cargo test \
         --workspace, which builds both)",
        berth.display()
    );
    berth
});
