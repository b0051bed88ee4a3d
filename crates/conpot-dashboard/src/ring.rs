//! Bounded history: a ring keeping the newest items, and a per-second rate series keeping a
//! fixed window. Both have a size fixed when made, whatever an attacker sends.

use std::collections::VecDeque;

/// The newest `capacity` items pushed; older ones fall off the front.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    items: VecDeque<T>,
    capacity: usize,
    pushed: u64,
}

impl<T> Ring<T> {
    /// An empty ring holding at most `capacity` items (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Ring {
            items: VecDeque::with_capacity(capacity),
            capacity,
            pushed: 0,
        }
    }

    /// Adds `item`, dropping the oldest when full.
    pub fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
        }
        self.items.push_back(item);
        self.pushed += 1;
    }

    /// The items held, newest first (as the page lists them).
    pub fn newest_first(&self) -> impl Iterator<Item = &T> {
        self.items.iter().rev()
    }

    /// Items held now.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items ever pushed (held or fallen off), for "showing the last N of M".
    pub fn pushed(&self) -> u64 {
        self.pushed
    }
}

/// Seconds in one bucket of a [`Rate`].
pub const BUCKET_SECS: u64 = 5;
/// Buckets of a [`Rate`]: 60 of 5 s, the last five minutes.
pub const BUCKETS: usize = 60;

/// Counts per [`BUCKET_SECS`]-second bucket over the last [`BUCKETS`] buckets. Each slot
/// remembers which bucket it counts, so an idle time needs no clearing pass.
#[derive(Debug, Clone)]
pub struct Rate {
    stamps: [u64; BUCKETS],
    counts: [u32; BUCKETS],
}

impl Default for Rate {
    fn default() -> Self {
        Rate {
            stamps: [u64::MAX; BUCKETS],
            counts: [0; BUCKETS],
        }
    }
}

impl Rate {
    /// Counts one at `secs` (seconds since the epoch).
    pub fn add(&mut self, secs: u64) {
        let bucket = secs / BUCKET_SECS;
        let slot = (bucket % BUCKETS as u64) as usize;
        if let (Some(stamp), Some(count)) = (self.stamps.get_mut(slot), self.counts.get_mut(slot)) {
            if *stamp != bucket {
                *stamp = bucket;
                *count = 0;
            }
            *count = count.saturating_add(1);
        }
    }

    /// The counts of the [`BUCKETS`] buckets ending with the one holding `now_secs`, oldest
    /// first; buckets of the future (a clock set back) and of the past window count zero.
    pub fn series(&self, now_secs: u64) -> [u32; BUCKETS] {
        let last = now_secs / BUCKET_SECS;
        let mut out = [0; BUCKETS];
        for (i, o) in out.iter_mut().enumerate() {
            let Some(bucket) = (last + 1 + i as u64).checked_sub(BUCKETS as u64) else {
                continue;
            };
            let slot = (bucket % BUCKETS as u64) as usize;
            if self.stamps.get(slot) == Some(&bucket) {
                *o = self.counts.get(slot).copied().unwrap_or(0);
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ring_keeps_the_newest() {
        let mut r = Ring::new(3);
        assert!(r.is_empty());
        for i in 0..10 {
            r.push(i);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.pushed(), 10);
        assert_eq!(r.newest_first().copied().collect::<Vec<_>>(), vec![9, 8, 7]);
        let mut z = Ring::new(0);
        z.push(1);
        z.push(2);
        assert_eq!(z.newest_first().copied().collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn rate_counts_the_last_five_minutes() {
        let mut r = Rate::default();
        let t0 = 1_800_000_000;
        for _ in 0..3 {
            r.add(t0);
        }
        r.add(t0 + 5);
        let s = r.series(t0 + 5);
        assert_eq!(s[BUCKETS - 1], 1);
        assert_eq!(s[BUCKETS - 2], 3);
        assert_eq!(s.iter().sum::<u32>(), 4);
        // Five minutes later the old buckets are out of the window, though never cleared.
        assert_eq!(r.series(t0 + 300).iter().sum::<u32>(), 1);
        assert_eq!(r.series(t0 + 305).iter().sum::<u32>(), 0);
        // A slot reused by a later bucket starts again from zero.
        r.add(t0 + 300);
        assert_eq!(r.series(t0 + 300)[BUCKETS - 1], 1);
        // Early times (near the epoch) do not underflow.
        assert_eq!(Rate::default().series(0).iter().sum::<u32>(), 0);
    }

    proptest! {
        #[test]
        fn ring_never_exceeds_its_capacity(cap in 0usize..50, n in 0usize..500) {
            let mut r = Ring::new(cap);
            for i in 0..n {
                r.push(i);
            }
            prop_assert!(r.len() <= cap.max(1));
            prop_assert_eq!(r.pushed(), n as u64);
            if n > 0 {
                prop_assert_eq!(r.newest_first().next().copied(), Some(n - 1));
            }
        }

        #[test]
        fn rate_window_counts_exactly_the_recent_adds(mut times in proptest::collection::vec(0u64..2_000, 0..200), now in 0u64..2_000) {
            // Events arrive in time order, none after `now`: every add of the window is counted
            // and none older (a slot is only reused once its bucket has left the window).
            times.retain(|&t| t <= now);
            times.sort_unstable();
            let mut r = Rate::default();
            for &t in &times {
                r.add(t);
            }
            let last = now / BUCKET_SECS;
            let expected = times.iter().filter(|&&t| t / BUCKET_SECS + (BUCKETS as u64) > last).count() as u32;
            prop_assert_eq!(r.series(now).iter().sum::<u32>(), expected);
        }
    }
}
