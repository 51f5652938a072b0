//! Puts the functions an executable runs first at the start of its text, in the order they
//! run (the package's symbol-order.txt, written by bench/order.sh): the kernel maps a binary's
//! text in 64 KiB fault-around windows, so the hot path packed together makes a few windows
//! resident instead of nearly the whole binary (bench/README.md, "Session 6: memory"). One
//! mechanism for both executables: `berth` (the runtime commands) and `berth-people` (its
//! start and the container lifecycle), whose Cargo.toml names this file as its build script
//! (bench/README.md, "Session 7: stop"). A name the build no longer has is skipped. The
//! ordering file is lld's, the default linker of x86_64-unknown-linux-gnu since Rust 1.90;
//! older toolchains link without it.

use std::process::Command;

fn main() {
    // The package's executable has the package's name (berth, berth-people).
    let bin = std::env::var("CARGO_PKG_NAME").expect("cargo sets CARGO_PKG_NAME");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo::rerun-if-changed=symbol-order.txt");
    // bench/order.sh's link maps (<dir>/<executable>.map): the address of every function of
    // the binary as built.
    println!("cargo::rerun-if-env-changed=BERTH_LINK_MAP_DIR");
    if let Some(maps) = std::env::var_os("BERTH_LINK_MAP_DIR").filter(|m| !m.is_empty()) {
        let map = std::path::Path::new(&maps).join(format!("{bin}.map"));
        println!("cargo::rustc-link-arg-bin={bin}=-Wl,-Map={}", map.display());
    }
    if !rustc_links_with_lld() {
        return;
    }
    let order = std::path::Path::new(&dir).join("symbol-order.txt");
    for arg in [
        format!("--symbol-ordering-file={}", order.display()),
        "--no-warn-symbol-ordering".into(),
    ] {
        println!("cargo::rustc-link-arg-bin={bin}=-Wl,{arg}");
    }
}

/// Rust 1.90 or later, for x86_64-unknown-linux-gnu.
fn rustc_links_with_lld() -> bool {
    let target = std::env::var("TARGET").unwrap_or_default();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let v = String::from_utf8_lossy(&o.stdout).into_owned();
            let ver = v.split_whitespace().nth(1)?.to_string();
            let mut parts = ver.split('.');
            (parts.next()? == "1").then_some(())?;
            parts.next()?.parse::<u32>().ok()
        });
    target == "x86_64-unknown-linux-gnu" && minor.is_some_and(|m| m >= 90)
}
