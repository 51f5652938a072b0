//! Puts the functions the runtime commands run first in `berth`'s text, in the order they
//! run (symbol-order.txt, written by bench/order.sh): the kernel maps a binary's text in
//! 64 KiB fault-around windows, so the hot path packed together makes a few windows resident
//! instead of nearly the whole binary (bench/README.md, "Session 6: memory"). A name the
//! build no longer has is skipped. The ordering file is lld's, the default linker of
//! x86_64-unknown-linux-gnu since Rust 1.90; older toolchains link without it.

use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=symbol-order.txt");
    // bench/order.sh's link map: the address of every function of the binary as built.
    println!("cargo::rerun-if-env-changed=BERTH_LINK_MAP");
    if let Some(map) = std::env::var_os("BERTH_LINK_MAP").filter(|m| !m.is_empty()) {
        println!(
            "cargo::rustc-link-arg-bin=berth=-Wl,-Map={}",
            std::path::Path::new(&map).display()
        );
    }
    if !rustc_links_with_lld() {
        return;
    }
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    for arg in [
        format!("--symbol-ordering-file={}", order.display()),
        "--no-warn-symbol-ordering".into(),
    ] {
        println!("cargo::rustc-link-arg-bin=berth=-Wl,{arg}");
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
