//! `--detach-keys`: Docker's syntax for the key sequence that detaches `attach` from a
//! container and leaves it running (comma-separated keys, each a single character or
//! `ctrl-<c>` with c in a-z, @, [, \, ], ^, _; default `ctrl-p,ctrl-q`), and the matcher that
//! holds back a sequence's first keys until the sequence completes (detach) or breaks (they
//! go to the container after all).

/// Docker's default.
pub const DEFAULT: &str = "ctrl-p,ctrl-q";

/// Parses `keys` into the bytes a terminal sends for them.
pub fn parse(keys: &str) -> Result<Vec<u8>, String> {
    let bad = |k: &str| {
        format!("--detach-keys {keys:?}: unknown key {k:?} (give keys such as ctrl-p,ctrl-q, ctrl-a..ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_, or single characters, comma-separated)")
    };
    let mut seq = Vec::new();
    for k in keys.split(',') {
        let code = match k.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => match c.as_bytes()[0] {
                c @ b'a'..=b'z' => c - b'a' + 1,
                c @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_') => c - b'@',
                _ => return Err(bad(k)),
            },
            Some(_) => return Err(bad(k)),
            None if k.len() == 1 => k.as_bytes()[0],
            None => return Err(bad(k)),
        };
        seq.push(code);
    }
    Ok(seq)
}

/// Finds the detach sequence in what the user types, across reads.
pub struct Matcher {
    seq: Vec<u8>,
    /// How many of the sequence's keys the last bytes typed matched (held back).
    held: usize,
}

/// What one read of the user's input comes to.
#[derive(Debug, PartialEq, Eq)]
pub struct Fed {
    /// Bytes for the container.
    pub forward: Vec<u8>,
    /// The sequence completed: detach (nothing typed after it is forwarded).
    pub detach: bool,
}

impl Matcher {
    pub fn new(seq: Vec<u8>) -> Matcher {
        Matcher { seq, held: 0 }
    }

    pub fn feed(&mut self, input: &[u8]) -> Fed {
        let mut forward = Vec::with_capacity(input.len());
        for &b in input {
            if b != self.seq[self.held] && self.held > 0 {
                // The sequence broke: the keys held back were meant for the container.
                forward.extend_from_slice(&self.seq[..self.held]);
                self.held = 0;
            }
            if b == self.seq[self.held] {
                self.held += 1;
                if self.held == self.seq.len() {
                    self.held = 0;
                    return Fed {
                        forward,
                        detach: true,
                    };
                }
            } else {
                forward.push(b);
            }
        }
        Fed {
            forward,
            detach: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_syntax() {
        assert_eq!(parse(DEFAULT).unwrap(), [0x10, 0x11]);
        assert_eq!(parse("ctrl-a,x,ctrl-@,ctrl-_").unwrap(), [1, b'x', 0, 31]);
        for bad in ["", "ctrl-", "ctrl-1", "ctrl-ab", "xy", "ctrl-p,,ctrl-q"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn held_keys_go_through_when_the_sequence_breaks() {
        let mut m = Matcher::new(parse("ctrl-x,a,b").unwrap());
        let fed = |m: &mut Matcher, s: &[u8]| m.feed(s);
        assert_eq!(fed(&mut m, b"hi\x18").forward, b"hi");
        // Broken by 'c': the held ctrl-x goes through, then 'c'.
        assert_eq!(fed(&mut m, b"c").forward, b"\x18c");
        // Broken by a new ctrl-x, which starts the sequence again; completed across reads.
        assert_eq!(fed(&mut m, b"\x18a\x18").forward, b"\x18a");
        let last = fed(&mut m, b"ab-after");
        assert!(last.detach);
        assert_eq!(last.forward, b"");
    }
}
