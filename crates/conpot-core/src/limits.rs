//! Connection admission: a global limit and a per-source-address limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Which limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many connections in total.
    Global,
    /// Too many connections from this source address.
    PerSource,
}

/// Counts open connections, globally and per source address.
#[derive(Debug)]
pub struct ConnLimiter {
    max_total: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Held while a connection is open; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

impl ConnLimiter {
    /// A limiter admitting `max_total` connections, `max_per_ip` from one address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(ConnLimiter {
            max_total,
            max_per_ip,
            total: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// Admits a connection from `ip`, or says which limit refuses it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Global);
        }
        let Ok(mut map) = self.per_ip.lock() else {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Global);
        };
        let n = map.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            drop(map);
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::PerSource);
        }
        *n += 1;
        Ok(Permit {
            limiter: Arc::clone(self),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut map) = self.limiter.per_ip.lock()
            && let Some(n) = map.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
        self.limiter.total.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Lets through at most one report per second; counts what it holds back.
#[derive(Debug, Default)]
pub struct ReportGate {
    last_sec: AtomicU64,
    held: AtomicU64,
}

impl ReportGate {
    /// `Some(n)` if a report may go out at `unix_secs` (`n` reports were held back since
    /// the last one), `None` if this one is held back.
    pub fn pass(&self, unix_secs: u64) -> Option<u64> {
        let last = self.last_sec.load(Ordering::Relaxed);
        if last != unix_secs
            && self
                .last_sec
                .compare_exchange(last, unix_secs, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            Some(self.held.swap(0, Ordering::AcqRel))
        } else {
            self.held.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// A per-source answer budget as a token bucket: at most `per_second` answers in any one
/// second, never more. A calendar-second window let a source spend its budget at the end
/// of one second and again at the start of the next (twice the rate); here a fresh source
/// starts with a burst of a tenth of the budget and the bucket refills at the other nine
/// tenths per second, so burst plus one second of refill is exactly the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    /// Tokens held, in millionths of an answer.
    micro: u64,
    /// When `micro` was last brought up to date.
    last: std::time::SystemTime,
}

/// Millionths per token.
const MICRO: u64 = 1_000_000;

impl TokenBucket {
    /// The burst a bucket of `per_second` holds when full: a tenth, at least one answer.
    pub fn burst(per_second: u32) -> u64 {
        (u64::from(per_second) / 10).max(1)
    }

    /// The refill rate of a bucket of `per_second`: what the burst leaves of the budget.
    pub fn refill(per_second: u32) -> u64 {
        u64::from(per_second).saturating_sub(Self::burst(per_second))
    }

    /// A full bucket at `now`.
    pub fn new(per_second: u32, now: std::time::SystemTime) -> Self {
        TokenBucket {
            micro: Self::burst(per_second).saturating_mul(MICRO),
            last: now,
        }
    }

    /// Refills for the time since the last call, then takes up to `wanted` tokens and
    /// returns how many it took.
    pub fn take(&mut self, per_second: u32, wanted: u64, now: std::time::SystemTime) -> u64 {
        let elapsed = now.duration_since(self.last).unwrap_or_default();
        if !elapsed.is_zero() {
            let add = u128::from(Self::refill(per_second)) * elapsed.as_micros();
            let cap = u128::from(Self::burst(per_second).saturating_mul(MICRO));
            let micro = (u128::from(self.micro) + add).min(cap);
            self.micro = u64::try_from(micro).unwrap_or(u64::MAX);
            self.last = now;
        }
        let got = (self.micro / MICRO).min(wanted);
        self.micro -= got * MICRO;
        got
    }

    /// Whether the bucket is full at `now` (a source that can be forgotten).
    pub fn full(&self, per_second: u32, now: std::time::SystemTime) -> bool {
        let mut probe = *self;
        probe.take(per_second, 0, now);
        probe.micro >= Self::burst(per_second).saturating_mul(MICRO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_release() {
        let l = ConnLimiter::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let p1 = l.admit(a).unwrap();
        let _p2 = l.admit(a).unwrap();
        assert_eq!(l.admit(a).unwrap_err(), Refusal::PerSource);
        let _p3 = l.admit(b).unwrap();
        assert_eq!(l.admit(b).unwrap_err(), Refusal::Global);
        assert_eq!(l.open(), 3);
        drop(p1);
        assert_eq!(l.open(), 2);
        let _p4 = l.admit(a).unwrap();
    }

    #[test]
    fn bucket_never_gives_more_than_the_budget_in_a_second() {
        use std::time::{Duration, SystemTime};
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut b = TokenBucket::new(250, t0);
        let mut got = b.take(250, 1000, t0);
        assert_eq!(got, 25);
        // One request every millisecond for a second: the rest of the budget, no more.
        for ms in 1..=1000 {
            got += b.take(250, 1, t0 + Duration::from_millis(ms));
        }
        assert_eq!(got, 250);
        // Long idle: refills to the burst only.
        assert!(b.full(250, t0 + Duration::from_secs(10)));
        assert_eq!(b.take(250, 1000, t0 + Duration::from_secs(10)), 25);
        // A budget of 1: one answer per second.
        let mut one = TokenBucket::new(1, t0);
        assert_eq!(one.take(1, 5, t0), 1);
        assert_eq!(one.take(1, 5, t0 + Duration::from_millis(500)), 0);
    }

    proptest::proptest! {
        #[test]
        fn any_one_second_window_stays_within_the_budget(
            per_second in 1u32..2000,
            gaps in proptest::collection::vec(0u64..50_000, 1..400),
        ) {
            use std::time::{Duration, SystemTime};
            let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
            let mut b = TokenBucket::new(per_second, t0);
            let mut t = t0;
            let mut log: Vec<(SystemTime, u64)> = Vec::new();
            for g in gaps {
                t += Duration::from_micros(g);
                let got = b.take(per_second, 10, t);
                log.push((t, got));
                let window: u64 = log
                    .iter()
                    .filter(|(at, _)| t.duration_since(*at).unwrap_or_default() < Duration::from_secs(1))
                    .map(|(_, n)| n)
                    .sum();
                proptest::prop_assert!(window <= u64::from(per_second), "{window} > {per_second}");
            }
        }
    }

    #[test]
    fn gate_one_per_second() {
        let g = ReportGate::default();
        assert_eq!(g.pass(10), Some(0));
        assert_eq!(g.pass(10), None);
        assert_eq!(g.pass(10), None);
        assert_eq!(g.pass(11), Some(2));
    }
}
