//! berth-checker: the process of a conformance-test container. It reads the config.json the
//! container was started with and checks from inside that every field it can observe was
//! honoured, printing TAP on stdout (`ok N - what`, `not ok N - what # why`).
//!
//! Usage: `berth-checker [DIR]` (default `/.berth-checker`). DIR holds:
//! - `config.json`: the bundle's config (the harness bind-mounts DIR read-only);
//! - `host` (optional), what the harness saw on the host: lines `ns TYPE INODE` (the namespaces
//!   of the runtime's caller, TYPE as in /proc/self/ns) and `nspath PATH INODE` (the namespace a
//!   config path names), so a namespace can be told new, shared with the host, or joined; and
//!   `peer SOURCE GROUP` (a bind source's shared peer group), so a shared bind mount can be seen
//!   to stay in the host's peer group.
//!
//! Exits 0 when every check passed or was skipped, 1 when one failed, 2 when the config cannot
//! be read. Modelled on runtime-tools' validation tests and youki's runtimetest.

mod linux;
mod mounts;
mod process;
mod procfs;
mod tap;

use serde_json::Value;
use std::path::Path;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/.berth-checker".into());
    let dir = Path::new(&dir);
    let config = match std::fs::read(dir.join("config.json"))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            println!("Bail out! reading {}/config.json: {e}", dir.display());
            std::process::exit(2);
        }
    };
    let host = Host(std::fs::read_to_string(dir.join("host")).unwrap_or_default());

    let mut t = tap::Tap::default();
    process::check(&mut t, &config);
    mounts::check(&mut t, &config, &host);
    linux::check(&mut t, &config, &host);
    std::process::exit(t.finish());
}

/// The `host` file: lines of three words, looked up by the first two.
pub struct Host(String);

impl Host {
    pub fn get(&self, kind: &str, key: &str) -> Option<&str> {
        self.0.lines().find_map(|line| {
            let mut f = line.split_whitespace();
            (f.next() == Some(kind) && f.next() == Some(key)).then(|| f.next().unwrap_or(""))
        })
    }
}
