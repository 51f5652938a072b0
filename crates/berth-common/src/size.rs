//! Byte sizes as people write them (`--memory 64m`, `update --memory 1g`): one grammar.

/// Docker's and runc's grammar: a number (`512`, `1.5`), an optional space, an optional unit
/// `k`, `m`, `g`, `t` or `p` (powers of 1024, any case), optionally followed by `i` and/or
/// `b` (`64m`, `64MB`, `64MiB`, `2kb`, `1048576`, `10b`). None for anything else or a size
/// over `i64::MAX`. A fraction is truncated to whole bytes.
pub fn parse_bytes(s: &str) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, rest) = t.split_at(split);
    let (int, frac) = num.split_once('.').unwrap_or((num, "0"));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) {
        return None;
    }
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let rest = rest.strip_suffix('b').unwrap_or(rest);
    let rest = rest.strip_suffix('i').unwrap_or(rest);
    let power = match rest {
        "" => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return None,
    };
    let n: f64 = num.parse().ok()?;
    let bytes = n * 1024f64.powi(power);
    // i64::MAX as f64 rounds up to 2^63: refuse that too.
    (bytes < i64::MAX as f64).then_some(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes_parse_as_docker_and_runc() {
        for (s, want) in [
            ("512", 512),
            ("10b", 10),
            ("2kb", 2048),
            ("512k", 512 << 10),
            ("64m", 64 << 20),
            ("64 MiB", 64 << 20),
            ("1G", 1 << 30),
            ("1.5g", 3 << 29),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
            ("0", 0),
        ] {
            assert_eq!(parse_bytes(s), Some(want), "{s}");
        }
        for s in [
            "", "lots", "-1", "1e3", "inf", "NaN", ".5m", "1.m", "1.2.3", "64x", "1bi", "9999999p",
        ] {
            assert_eq!(parse_bytes(s), None, "{s}");
        }
    }
}
