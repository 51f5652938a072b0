//! A bounded, stable-toolchain fuzz loop over what berth parses from users: config.json
//! (oci-spec `Spec` + `spec::validate`), process.json (`Process`), mount options, and the
//! seccomp compiler. Seeds are the real client configs (Docker, podman, containerd) and
//! berth's default; mutations are structural (replace, drop or duplicate a JSON value,
//! retype it, change numbers to edge values) and textual (byte flips, truncation).
//! Any panic fails the test. Runs for BERTH_FUZZ_SECS seconds (default 10), no root.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_runtime::{rootfs, security, spec};
use oci_spec::runtime::{Process, Spec};
use serde_json::{json, Value};

/// xorshift64*: deterministic for a seed, so a failure prints a seed to replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Value> {
    let mut out = vec![serde_json::to_value(Spec::default()).unwrap()];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/client-configs");
    if dir.is_dir() {
        json_files(&dir, &mut out);
    } else {
        eprintln!(
            "note: {} missing, fuzzing from berth's default only",
            dir.display()
        );
    }
    out
}

/// Every JSON file under `dir`, subdirectories included (containerd-2.3/ holds Kubernetes pods).
fn json_files(dir: &Path, out: &mut Vec<Value>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            json_files(&path, out);
        } else if let Ok(v) = serde_json::from_slice(&std::fs::read(&path).unwrap()) {
            out.push(v);
        }
    }
}

const EDGE: [i64; 8] = [0, -1, 1, i64::MAX, i64::MIN, 4096, 65536, u32::MAX as i64];
const STRINGS: [&str; 10] = [
    "",
    "/",
    "..",
    "/proc/self/fd/3",
    "CAP_SYS_ADMIN",
    "SCMP_ACT_NOTIFY",
    "net.ipv4.ip_forward",
    "a\u{0}b",
    "../../../../etc",
    "SCMP_CMP_MASKED_EQ",
];

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 2 { 4 } else { 6 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 1),
        2 => json!(EDGE[rng.below(EDGE.len())]),
        3 => json!(STRINGS[rng.below(STRINGS.len())]),
        4 => Value::Array(
            (0..rng.below(3))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => json!({ "type": random_value(rng, depth + 1), "path": random_value(rng, depth + 1) }),
    }
}

/// Walks to a random node and replaces, removes, retypes or duplicates it.
fn mutate(v: &mut Value, rng: &mut Rng, depth: usize) {
    if depth > 0 {
        let child = match v {
            Value::Object(m) if !m.is_empty() => {
                let k = m.keys().nth(rng.below(m.len())).cloned().unwrap();
                m.get_mut(&k)
            }
            Value::Array(a) if !a.is_empty() => {
                let i = rng.below(a.len());
                a.get_mut(i)
            }
            _ => None,
        };
        if let Some(c) = child {
            return mutate(c, rng, depth - 1);
        }
    }
    match (rng.below(4), &mut *v) {
        (0, Value::Object(m)) if !m.is_empty() => {
            let k = m.keys().nth(rng.below(m.len())).cloned().unwrap();
            m.remove(&k);
        }
        (1, Value::Array(a)) if !a.is_empty() => {
            let dup = a[rng.below(a.len())].clone();
            a.push(dup);
        }
        (2, Value::Number(_)) => *v = json!(EDGE[rng.below(EDGE.len())]),
        _ => *v = random_value(rng, 0),
    }
}

fn exercise(text: &[u8]) {
    if let Ok(spec) = serde_json::from_slice::<Spec>(text) {
        let _ = spec::validate(&spec);
        for m in spec.mounts().iter().flatten() {
            let _ = rootfs::parse_options(m.options().as_deref().unwrap_or_default());
        }
        if let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            let _ = security::build_seccomp(seccomp);
        }
        if let Some(p) = spec.process() {
            let _ = security::check_lsm(p);
        }
    }
    if let Ok(p) = serde_json::from_slice::<Process>(text) {
        let _ = security::check_lsm(&p);
    }
}

#[test]
fn config_and_process_parsing_never_panics() {
    let secs: u64 = std::env::var("BERTH_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("BERTH_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let seeds = seeds();
    let process_seeds: Vec<Value> = seeds.iter().map(|s| s["process"].clone()).collect();
    let mut rng = Rng(seed);
    let end = Instant::now() + Duration::from_secs(secs);
    let mut runs = 0u64;
    while Instant::now() < end {
        let pool = if rng.below(3) == 0 {
            &process_seeds
        } else {
            &seeds
        };
        let mut v = pool[rng.below(pool.len())].clone();
        for _ in 0..=rng.below(4) {
            let depth = rng.below(6);
            mutate(&mut v, &mut rng, depth);
        }
        let mut text = serde_json::to_vec(&v).unwrap();
        if rng.below(8) == 0 && !text.is_empty() {
            // Textual damage too: a flipped byte or a truncation.
            let i = rng.below(text.len());
            if rng.below(2) == 0 {
                text[i] ^= 1 << rng.below(8);
            } else {
                text.truncate(i);
            }
        }
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| exercise(&text)));
        assert!(
            result.is_ok(),
            "panic on input (BERTH_FUZZ_SEED={seed}): {}",
            String::from_utf8_lossy(&text)
        );
        runs += 1;
    }
    eprintln!("fuzz: {runs} inputs in {secs}s, seed {seed}");
}
