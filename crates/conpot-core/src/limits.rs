//! Connection admission: a global limit and a per-source-address limit. At the global
//! limit the newcomer is not refused: the connection idle longest, of the source holding
//! the most connections, is asked to close to make room, so a few sources holding every
//! slot with slow or silent connections cannot lock everyone else out.
//!
//! Time is passed in by the caller as milliseconds of its own monotonic clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::task::AtomicWaker;

/// Which limit refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many connections in total, and no connection could be evicted for it.
    Global,
    /// Too many connections from this source address.
    PerSource,
}

/// How a connection was admitted.
#[derive(Debug)]
pub struct Admission {
    /// Its place; dropping it frees the place.
    pub permit: Permit,
    /// Whether another connection was asked to close to make room for it (the global
    /// limit was reached).
    pub evicted: bool,
}

/// Evictions asked for but not yet completed, at most, before newcomers are refused: the
/// global limit is passed by at most this many connections for the moment they close.
const MAX_EVICTING: usize = 64;

/// One open connection as the limiter sees it.
#[derive(Debug)]
struct Slot {
    ip: IpAddr,
    last_active: AtomicU64,
    evicting: AtomicBool,
    /// The connection's task, woken when it is asked to leave (eviction or shutdown).
    /// Polling it costs two uncontended atomic operations, where a `Notify` took its
    /// waiters' lock on every poll of a connection's loop.
    waker: AtomicWaker,
}

#[derive(Debug, Default)]
struct Table {
    per_ip: HashMap<IpAddr, usize>,
    slots: HashMap<u64, Arc<Slot>>,
    next_id: u64,
}

/// Counts open connections, globally and per source address.
#[derive(Debug)]
pub struct ConnLimiter {
    max_total: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    evicting: AtomicUsize,
    closing: AtomicBool,
    table: Mutex<Table>,
}

/// Why a connection is asked to leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// To make room at the global limit.
    Evicted,
    /// The sensor stops.
    Shutdown,
}

/// Held while a connection is open; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<ConnLimiter>,
    id: u64,
    slot: Arc<Slot>,
}

impl ConnLimiter {
    /// A limiter admitting `max_total` connections, `max_per_ip` from one address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(ConnLimiter {
            max_total,
            max_per_ip,
            total: AtomicUsize::new(0),
            evicting: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            table: Mutex::new(Table::default()),
        })
    }

    /// Admits a connection from `ip` at `now_ms`, or says which limit refuses it. At the
    /// global limit another connection is asked to close (see [`Permit::told_to_leave`]).
    pub fn admit(self: &Arc<Self>, ip: IpAddr, now_ms: u64) -> Result<Admission, Refusal> {
        let Ok(mut table) = self.table.lock() else {
            return Err(Refusal::Global);
        };
        let n = table.per_ip.get(&ip).copied().unwrap_or(0);
        if n >= self.max_per_ip {
            return Err(Refusal::PerSource);
        }
        let mut evicted = false;
        let open = self.total.load(Ordering::Acquire);
        if open >= self.max_total {
            // Each admission over the limit is paired with one connection asked to leave;
            // at most MAX_EVICTING such pairs are in flight.
            if self.evicting.load(Ordering::Acquire) >= MAX_EVICTING || !self.evict_one(&table) {
                return Err(Refusal::Global);
            }
            evicted = true;
        }
        let id = table.next_id;
        table.next_id += 1;
        let slot = Arc::new(Slot {
            ip,
            last_active: AtomicU64::new(now_ms),
            evicting: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        table.slots.insert(id, Arc::clone(&slot));
        *table.per_ip.entry(ip).or_insert(0) += 1;
        self.total.fetch_add(1, Ordering::AcqRel);
        Ok(Admission {
            permit: Permit {
                limiter: Arc::clone(self),
                id,
                slot,
            },
            evicted,
        })
    }

    /// Asks one connection to close: of the source with the most connections, the one
    /// idle longest. False if every connection is already leaving.
    fn evict_one(&self, table: &Table) -> bool {
        let mut best: Option<(usize, u64, &Arc<Slot>)> = None;
        for slot in table.slots.values() {
            if slot.evicting.load(Ordering::Acquire) {
                continue;
            }
            let count = table.per_ip.get(&slot.ip).copied().unwrap_or(0);
            let last = slot.last_active.load(Ordering::Relaxed);
            let better = match best {
                None => true,
                Some((c, l, _)) => count > c || (count == c && last < l),
            };
            if better {
                best = Some((count, last, slot));
            }
        }
        let Some((_, _, victim)) = best else { return false };
        victim.evicting.store(true, Ordering::Release);
        self.evicting.fetch_add(1, Ordering::AcqRel);
        victim.waker.wake();
        true
    }

    /// Asks every connection, open now or admitted later, to leave ([`Permit::told_to_leave`]
    /// completes with [`Leave::Shutdown`]): the sensor is stopping.
    pub fn close_all(&self) {
        self.closing.store(true, Ordering::Release);
        if let Ok(table) = self.table.lock() {
            for slot in table.slots.values() {
                slot.waker.wake();
            }
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

impl Permit {
    /// Records activity at `now_ms` (input that made progress): the longer a connection
    /// goes without, the sooner it is evicted at the global limit.
    pub fn touch(&self, now_ms: u64) {
        self.slot.last_active.store(now_ms, Ordering::Relaxed);
    }

    /// Completes when the limiter asks this connection to leave: to make room for another
    /// ([`Leave::Evicted`]) or because the sensor stops ([`Leave::Shutdown`]). The future
    /// holds its own references, so a listener can keep it pinned for the connection's life.
    pub fn told_to_leave(&self) -> impl std::future::Future<Output = Leave> + Send + 'static {
        let slot = Arc::clone(&self.slot);
        let limiter = Arc::clone(&self.limiter);
        std::future::poll_fn(move |cx| {
            slot.waker.register(cx.waker());
            if slot.evicting.load(Ordering::Acquire) {
                std::task::Poll::Ready(Leave::Evicted)
            } else if limiter.closing.load(Ordering::Acquire) {
                std::task::Poll::Ready(Leave::Shutdown)
            } else {
                std::task::Poll::Pending
            }
        })
    }

    /// Whether this connection was asked to close.
    pub fn is_evicted(&self) -> bool {
        self.slot.evicting.load(Ordering::Acquire)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Ok(mut table) = self.limiter.table.lock() {
            table.slots.remove(&self.id);
            if let Some(n) = table.per_ip.get_mut(&self.slot.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    table.per_ip.remove(&self.slot.ip);
                }
            }
        }
        if self.slot.evicting.load(Ordering::Acquire) {
            self.limiter.evicting.fetch_sub(1, Ordering::AcqRel);
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
        let p1 = l.admit(a, 0).unwrap();
        let _p2 = l.admit(a, 0).unwrap();
        assert_eq!(l.admit(a, 0).unwrap_err(), Refusal::PerSource);
        let p3 = l.admit(b, 0).unwrap();
        assert!(!p3.evicted);
        assert_eq!(l.open(), 3);
        drop(p1);
        assert_eq!(l.open(), 2);
        let _p4 = l.admit(a, 0).unwrap();
    }

    #[test]
    fn the_global_limit_evicts_the_idlest_of_the_biggest_source() {
        let l = ConnLimiter::new(4, 10);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        let a1 = l.admit(a, 10).unwrap().permit;
        let a2 = l.admit(a, 20).unwrap().permit;
        let a3 = l.admit(a, 30).unwrap().permit;
        let b1 = l.admit(b, 0).unwrap().permit;
        a1.touch(40);
        // Full: the newcomer gets in, `a` (three connections) loses its idlest (a2), not
        // `b`'s single connection even though that one is idle longer.
        let c1 = l.admit(c, 50).unwrap();
        assert!(c1.evicted);
        assert!(a2.is_evicted());
        assert!(!a1.is_evicted() && !a3.is_evicted() && !b1.is_evicted());
        assert_eq!(l.open(), 5, "over the limit only while the evicted one leaves");
        drop(a2);
        assert_eq!(l.open(), 4);
        // Evictions in flight are bounded: never more than MAX_EVICTING over the limit.
        let mut held = Vec::new();
        for i in 0..(MAX_EVICTING as u64 + 10) {
            if let Ok(adm) = l.admit(IpAddr::from([10, 1, (i >> 8) as u8, i as u8]), 60 + i) {
                held.push(adm.permit);
            }
        }
        assert!(l.open() <= 4 + MAX_EVICTING, "{}", l.open());
        drop((a1, a3, b1, c1));
    }

    #[tokio::test]
    async fn an_evicted_permit_is_told() {
        let l = ConnLimiter::new(1, 10);
        let a = l.admit("10.0.0.1".parse().unwrap(), 0).unwrap().permit;
        let _b = l.admit("10.0.0.2".parse().unwrap(), 1).unwrap();
        let told = tokio::time::timeout(std::time::Duration::from_secs(1), a.told_to_leave()).await;
        assert_eq!(told.unwrap(), Leave::Evicted);
    }

    #[tokio::test]
    async fn close_all_tells_open_and_later_permits_to_leave() {
        let l = ConnLimiter::new(10, 10);
        let a = l.admit("10.0.0.1".parse().unwrap(), 0).unwrap().permit;
        let waiting = tokio::spawn(a.told_to_leave());
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "nobody was told yet");
        l.close_all();
        let told = tokio::time::timeout(std::time::Duration::from_secs(1), waiting).await;
        assert_eq!(told.unwrap().unwrap(), Leave::Shutdown);
        let later = l.admit("10.0.0.2".parse().unwrap(), 0).unwrap().permit;
        assert_eq!(later.told_to_leave().await, Leave::Shutdown);
        assert!(!later.is_evicted(), "shutdown is not an eviction");
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
