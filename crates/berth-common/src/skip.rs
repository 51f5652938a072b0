//! How a test that cannot run here says so: `skip!("why")` prints `skipped: why` and ends the
//! test. cargo still counts it as passed, so the macro also appends one line naming the test
//! to the file `BERTH_SKIP_LOG` names (scripts/test.sh sets it), and the suite's tally moves
//! it from passed to skipped. Macros, so that nothing of this reaches a binary.

/// Records that the running test is skipped, and why, without returning: for a helper that
/// decides for its caller (the caller then returns). The line is
/// `<package>/<test binary or crate> <test name>: <why>`.
#[macro_export]
macro_rules! note_skipped {
    ($($why:tt)+) => {{
        let why = format!($($why)+);
        eprintln!("skipped: {why}");
        if let Some(log) = std::env::var_os("BERTH_SKIP_LOG") {
            use std::io::Write as _;
            // libtest runs each test on a thread named after it.
            let thread = std::thread::current();
            let line = format!(
                "{}/{} {}: {}\n",
                env!("CARGO_PKG_NAME"),
                env!("CARGO_CRATE_NAME"),
                thread.name().unwrap_or("?"),
                why.replace('\n', " ")
            );
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .unwrap_or_else(|e| panic!("append to BERTH_SKIP_LOG {log:?}: {e}"));
        }
    }};
}

/// Ends the running test as skipped: `note_skipped!`, then return.
#[macro_export]
macro_rules! skip {
    ($($why:tt)+) => {{
        $crate::note_skipped!($($why)+);
        return;
    }};
}
