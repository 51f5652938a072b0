//! A bounded, stable-toolchain fuzz loop over what berth parses from users: config.json
//! (oci-spec `Spec` + `spec::validate`), process.json (`Process`), mount options, and the
//! seccomp compiler. Seeds are the real client configs (Docker, podman, containerd) and
//! berth's default; mutations are structural (replace, drop or duplicate a JSON value,
//! retype it, change numbers to edge values) and textual (byte flips, truncation).
//! Any panic fails the test. Runs for BERTH_FUZZ_SECS seconds (default 10), no root.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_runtime::init::{rootfs, security};
use berth_runtime::spec;
use oci_spec::runtime::{Process, Spec};
use serde_json::{json, Value};

use berth_common::test_random::Rng;

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
    let secs: u64 = berth_common::test_random::env_or("BERTH_FUZZ_SECS", 10);
    let mut rng = Rng::from_env("BERTH_FUZZ_SEED");
    let seed = rng.seed();
    let seeds = seeds();
    let process_seeds: Vec<Value> = seeds.iter().map(|s| s["process"].clone()).collect();
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

// Properties (proptest): bounded case counts, no clock. PROPTEST_CASES overrides the count.

use berth_runtime::text::{one_line, Shown, LINE_MAX, VALUE_MAX};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn cases(n: u32) -> Config {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(n);
    Config {
        failure_persistence: None,
        ..Config::with_cases(n)
    }
}

/// Hostile text: long runs, newlines, escape sequences, bidi overrides, any character.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "\\PC{0,20}",
        any::<String>(),
        Just("\n".to_string()),
        Just("\r\u{1b}[2K".to_string()),
        Just("\u{202e}".to_string()),
        (1..3000usize).prop_map(|n| "A".repeat(n)),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

/// berth's default config with `text` put where validation echoes a value.
fn config_with(field: usize, text: &str) -> Value {
    let mut v = seeds().swap_remove(0);
    v["process"] = json!({"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}});
    v["root"] = json!({"path": "rootfs"});
    v["linux"] = json!({"namespaces": [{"type": "pid"}, {"type": "mount"}]});
    match field {
        0 => v["ociVersion"] = json!(text),
        1 => v["process"]["cwd"] = json!(format!("rel{text}")),
        2 => v["linux"]["sysctl"] = json!({ format!("kernel.{text}"): "1" }),
        3 => v["linux"]["namespaces"][0]["path"] = json!(format!("rel{text}")),
        _ => v["linux"]["rootfsPropagation"] = json!(format!("x{text}")),
    }
    v
}

proptest! {
    #![proptest_config(cases(500))]

    /// Every value validation echoes is bounded and escaped: the message stays one short line
    /// whatever the value, before the CLI's own bound ([`one_line`]) is even applied.
    #[test]
    fn validation_errors_are_short_single_lines(field in 0..5usize, text in hostile_text()) {
        let spec: Spec = serde_json::from_value(config_with(field, &text)).expect("a Spec");
        if let Err(e) = spec::validate(&spec) {
            let msg = e.to_string();
            prop_assert!(!msg.chars().any(char::is_control), "{:?}", msg);
            prop_assert!(msg.chars().count() < VALUE_MAX + 200, "{} chars", msg.chars().count());
        }
    }

    /// The line bound itself: no control character and at most LINE_MAX (+ "…") characters
    /// out of any input; one value at most VALUE_MAX (+ quotes and "…").
    #[test]
    fn shown_and_one_line_bound_any_text(text in hostile_text()) {
        let line = one_line(&text);
        prop_assert!(!line.chars().any(char::is_control), "{:?}", line);
        prop_assert!(line.chars().count() <= LINE_MAX + 1);
        let shown = Shown(&text).to_string();
        prop_assert!(!shown.chars().any(char::is_control));
        prop_assert!(shown.chars().count() <= VALUE_MAX + 3);
    }

    /// config.json loading from a file (serde_path_to_error, then validation) on damaged text
    /// of real configs: an error or a spec, never a panic.
    #[test]
    fn load_bundle_never_panics(
        seed in 0..64usize,
        cut in any::<usize>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
    ) {
        let seeds = seeds();
        let mut text = serde_json::to_vec(&seeds[seed % seeds.len()]).expect("json");
        for (i, x) in flips {
            let i = i % text.len();
            text[i] ^= x;
        }
        if cut % 4 == 0 {
            text.truncate(cut % (text.len() + 1));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("config.json"), &text).expect("write");
        if let Err(e) = spec::load_bundle(dir.path()) {
            prop_assert!(!one_line(&e.to_string()).contains('\n'));
        }
    }
}
