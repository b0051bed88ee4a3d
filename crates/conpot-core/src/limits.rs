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
    fn gate_one_per_second() {
        let g = ReportGate::default();
        assert_eq!(g.pass(10), Some(0));
        assert_eq!(g.pass(10), None);
        assert_eq!(g.pass(10), None);
        assert_eq!(g.pass(11), Some(2));
    }
}
