//! Bench helper for bench/image.sh (never part of the tests): times the container-root setup
//! alone, as `berth run IMAGE` does it before handing the bundle to the runtime.
//!
//! `overlay_setup IMAGE_ROOT IMAGE ID` calls [`Store::create_container_root`] (volatile, as for a `--rm` run) as a
//! foreground `berth run` does (store lock, image lookup, the container's record,
//! upper/work/merged, the overlay mount), prints the microseconds it took on stdout, then
//! [`Store::remove_container_root`] and prints the microseconds of that on a second line.

use std::process::ExitCode;
use std::time::Instant;

use berth_image::Store;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, image, id] = args.as_slice() else {
        eprintln!("usage: overlay_setup IMAGE_ROOT IMAGE ID");
        return ExitCode::from(2);
    };
    let t0 = Instant::now();
    let store = match Store::open(root) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("overlay_setup: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = store.create_container_root(
        image,
        id,
        berth_image::OverlayOptions {
            readonly: false,
            volatile: true,
        },
    ) {
        eprintln!("overlay_setup: {e}");
        return ExitCode::FAILURE;
    }
    let setup = t0.elapsed();
    let t1 = Instant::now();
    if let Err(e) = store.remove_container_root(id) {
        eprintln!("overlay_setup: {e}");
        return ExitCode::FAILURE;
    }
    println!("{}\n{}", setup.as_micros(), t1.elapsed().as_micros());
    ExitCode::SUCCESS
}
