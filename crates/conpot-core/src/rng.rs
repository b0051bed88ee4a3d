//! A small, seedable pseudo-random generator (xoshiro256**), used for template values,
//! emulators and persona generation. Not for cryptography.

use std::cell::RefCell;

/// A seedable pseudo-random number generator.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole sequence is determined by `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut st = seed;
        Rng {
            s: [
                splitmix(&mut st),
                splitmix(&mut st),
                splitmix(&mut st),
                splitmix(&mut st),
            ],
        }
    }

    /// A generator seeded from the operating system's entropy.
    pub fn from_entropy() -> Self {
        Rng::from_seed(entropy_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `lo..=hi` (the bounds are swapped if reversed).
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let span = (hi as i128 - lo as i128 + 1) as u128;
        let r = u128::from(self.next_u64()) % span;
        (lo as i128 + r as i128) as i64
    }

    /// A uniform float in `[lo, hi)`.
    pub fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    /// A uniform index below `len` (`len` must be non-zero to be meaningful; 0 gives 0).
    pub fn index(&mut self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        (self.next_u64() % len as u64) as usize
    }
}

/// 64 bits from the operating system's entropy source (falls back to time and address
/// entropy if the source is unavailable).
pub fn entropy_u64() -> u64 {
    match getrandom::u64() {
        Ok(v) => v,
        Err(_) => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let local = 0u8;
            t ^ (&local as *const u8 as u64).rotate_left(32)
        }
    }
}

thread_local! {
    static THREAD_RNG: RefCell<Rng> = RefCell::new(Rng::from_entropy());
}

/// Runs `f` with this thread's entropy-seeded generator.
pub fn with_thread_rng<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    THREAD_RNG.with(|r| f(&mut r.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let mut a = Rng::from_seed(7);
        let mut b = Rng::from_seed(7);
        for _ in 0..1000 {
            let x = a.range_i64(-3, 5);
            assert_eq!(x, b.range_i64(-3, 5));
            assert!((-3..=5).contains(&x));
            let f = a.range_f64(1.0, 2.0);
            b.range_f64(1.0, 2.0);
            assert!((1.0..2.0).contains(&f));
        }
        assert_ne!(Rng::from_seed(1).next_u64(), Rng::from_seed(2).next_u64());
        assert_eq!(
            Rng::from_seed(1).range_i64(i64::MIN, i64::MAX),
            Rng::from_seed(1).range_i64(i64::MIN, i64::MAX)
        );
    }
}
