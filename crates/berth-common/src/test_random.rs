//! Reproducible random numbers for the tests that kill berth at random instants or fuzz its
//! input: the seed comes from an environment variable (a failure's, to replay it) or from the
//! clock, and is printed. Unused by the executables (the linker drops it), as `skip!`.

use std::str::FromStr;

/// xorshift64*: the same numbers for the same seed.
pub struct Rng {
    seed: u64,
    state: u64,
}

impl Rng {
    /// Seeded from the environment variable `var`, else from the clock; prints `var=SEED` on
    /// stderr, so a failing run says how to replay it.
    pub fn from_env(var: &str) -> Rng {
        let seed = env_or(var, 0u64);
        let seed = if seed != 0 {
            seed
        } else {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64 | 1)
        };
        eprintln!("{var}={seed}");
        Rng { seed, state: seed }
    }

    /// The seed, for a message that must name it.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 for an `n` of 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// The number the environment variable `var` holds (rounds, seconds), else `default`.
pub fn env_or<T: FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_numbers_again() {
        let mut a = Rng { seed: 7, state: 7 };
        let mut b = Rng { seed: 7, state: 7 };
        let first: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..5).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert!(first.windows(2).all(|w| w[0] != w[1]));
        assert!((0..100).all(|_| a.below(3) < 3));
        assert_eq!(a.below(0), 0);
    }
}
