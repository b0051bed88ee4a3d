//! Login attempts: how many each source address made (a bounded table, oldest source
//! evicted first and counted) and the one `auth.attempt` event every protocol emits, built
//! here and nowhere else so that FTP, SNMP, S7 and IPMI attempts share one schema.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::Value as Json;

use super::{Reason, Secret};
use crate::event::EventDraft;

/// The event type of every login attempt.
pub const EVENT_TYPE: &str = "auth.attempt";

/// The data fields of an `auth.attempt` event, in the order written. Every event has all
/// of them; a field that does not apply is `null`.
pub const FIELDS: &[&str] = &[
    "protocol",
    "username",
    "password",
    "hash",
    "salt",
    "challenge",
    "hash_alg",
    "method",
    "success",
    "reason",
    "attempts",
];

/// Longest piece of attacker material kept in an event field (bytes before escaping or
/// hex): long enough for any real user name, password, HMAC or RAKP challenge.
pub const MAX_FIELD: usize = 1024;

/// How login attempts are counted and when a source is locked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Source addresses tracked at once; beyond, the one first seen longest ago is dropped.
    pub max_sources: usize,
    /// Consecutive failures after which a source is refused even with the right secret
    /// (until `window` passes without an attempt). `None`: never (a honeypot usually wants
    /// the attacker to get in eventually).
    pub lockout_after: Option<u32>,
    /// Quiet time after which a source's counts start over.
    pub window: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_sources: 4096,
            lockout_after: None,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// One source's counts, after the attempt just noted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Attempts from the source within the window, this one included.
    pub attempts: u32,
    /// Failures since its last success.
    pub failures: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    count: Count,
    last: SystemTime,
}

#[derive(Debug, Default)]
struct Table {
    map: HashMap<IpAddr, Entry>,
    /// Sources in the order first seen (entries leave only by eviction, so this and
    /// `map` always hold the same sources).
    order: VecDeque<IpAddr>,
}

/// Per-source attempt counters, shared by every protocol of a device.
#[derive(Debug, Default)]
pub struct Attempts {
    policy: Policy,
    table: Mutex<Table>,
    evicted: AtomicU64,
}

impl Attempts {
    /// Counters under `policy`.
    pub fn new(policy: Policy) -> Attempts {
        Attempts {
            policy,
            table: Mutex::new(Table::default()),
            evicted: AtomicU64::new(0),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn expired(&self, e: &Entry, now: SystemTime) -> bool {
        now.duration_since(e.last).is_ok_and(|d| d > self.policy.window)
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic elsewhere while holding the lock leaves counts that are still counts.
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The counts of `source` at `now`, without noting an attempt.
    pub fn get(&self, source: IpAddr, now: SystemTime) -> Count {
        let t = self.table();
        t.map
            .get(&source)
            .filter(|e| !self.expired(e, now))
            .map_or_else(Count::default, |e| e.count)
    }

    /// Whether `source` is locked out at `now`.
    pub fn locked(&self, source: IpAddr, now: SystemTime) -> bool {
        self.policy
            .lockout_after
            .is_some_and(|n| self.get(source, now).failures >= n)
    }

    /// Notes an attempt from `source` at `now` and returns its counts after it.
    pub fn note(&self, source: IpAddr, success: bool, now: SystemTime) -> Count {
        let mut t = self.table();
        if !t.map.contains_key(&source) {
            while t.map.len() >= self.policy.max_sources.max(1) {
                let Some(old) = t.order.pop_front() else { break };
                t.map.remove(&old);
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
            t.order.push_back(source);
        }
        let entry = t.map.entry(source).or_insert(Entry {
            count: Count::default(),
            last: now,
        });
        if self.expired(entry, now) {
            entry.count = Count::default();
        }
        entry.last = now;
        entry.count.attempts = entry.count.attempts.saturating_add(1);
        entry.count.failures = if success {
            0
        } else {
            entry.count.failures.saturating_add(1)
        };
        entry.count
    }

    /// Sources tracked now.
    pub fn len(&self) -> usize {
        self.table().map.len()
    }

    /// Whether no source is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sources dropped to keep the table within `max_sources`, since start.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

/// What was tried, as the event reports it.
#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    /// Protocol name (`ftp`, `snmp`, `s7comm`, ...).
    pub protocol: &'a str,
    /// The user name sent, if the protocol sends one.
    pub username: Option<&'a [u8]>,
    /// The secret sent.
    pub secret: &'a Secret<'a>,
    /// How it was checked (`password`, `anonymous`, `snmp-usm-hmac-sha`, ...).
    pub method: &'static str,
}

impl std::fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("protocol", &self.protocol)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// Text of attacker bytes for an event: verbatim when they are UTF-8; otherwise each
/// invalid byte as `\xNN` and each backslash doubled, so the original bytes can be read
/// back. At most [`MAX_FIELD`] bytes are kept.
pub fn escape(bytes: &[u8]) -> String {
    let bytes = bytes.get(..MAX_FIELD).unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(bytes.len() * 2);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn hex_or_null(bytes: &[u8]) -> Json {
    if bytes.is_empty() {
        Json::Null
    } else {
        Json::String(crate::hex::encode(bytes.get(..MAX_FIELD).unwrap_or(bytes)))
    }
}

/// The `auth.attempt` event of `attempt` with its outcome (`None`: success) and the
/// source's attempt count. The one place this event is built.
pub fn event(attempt: &Attempt<'_>, reason: Option<&Reason>, attempts: u32) -> EventDraft {
    let (password, hash, salt, challenge, hash_alg) = match attempt.secret {
        Secret::Plain(p) => (Json::String(escape(p)), Json::Null, Json::Null, Json::Null, Json::Null),
        Secret::Proof(p) => (
            Json::Null,
            hex_or_null(p.hash),
            hex_or_null(p.salt),
            hex_or_null(p.challenge),
            if p.hash_alg.is_empty() {
                Json::Null
            } else {
                Json::String(p.hash_alg.to_owned())
            },
        ),
    };
    EventDraft::new(EVENT_TYPE)
        .with("protocol", attempt.protocol)
        .with(
            "username",
            attempt.username.map_or(Json::Null, |u| Json::String(escape(u))),
        )
        .with("password", password)
        .with("hash", hash)
        .with("salt", salt)
        .with("challenge", challenge)
        .with("hash_alg", hash_alg)
        .with("method", attempt.method)
        .with("success", reason.is_none())
        .with(
            "reason",
            reason.map_or(Json::Null, |r| Json::String(r.as_str().to_owned())),
        )
        .with("attempts", attempts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(n))
    }

    #[test]
    fn counts_per_source_and_resets_after_the_window() {
        let a = Attempts::new(Policy::default());
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(a.note(ip(1), false, t0).attempts, 1);
        assert_eq!(
            a.note(ip(1), false, t0),
            Count {
                attempts: 2,
                failures: 2
            }
        );
        assert_eq!(a.note(ip(2), false, t0).attempts, 1, "another source counts alone");
        assert_eq!(
            a.note(ip(1), true, t0),
            Count {
                attempts: 3,
                failures: 0
            }
        );
        let later = t0 + Duration::from_secs(15 * 60 + 1);
        assert_eq!(a.get(ip(1), later), Count::default());
        assert_eq!(
            a.note(ip(1), false, later),
            Count {
                attempts: 1,
                failures: 1
            }
        );
    }

    #[test]
    fn lockout_after_consecutive_failures() {
        let a = Attempts::new(Policy {
            lockout_after: Some(3),
            ..Policy::default()
        });
        let t = SystemTime::UNIX_EPOCH;
        for _ in 0..2 {
            a.note(ip(7), false, t);
        }
        assert!(!a.locked(ip(7), t));
        a.note(ip(7), false, t);
        assert!(a.locked(ip(7), t));
        assert!(!a.locked(ip(8), t));
        assert!(!a.locked(ip(7), t + Duration::from_secs(3600)), "the window passed");
    }

    #[test]
    fn table_is_bounded_and_evictions_counted() {
        let a = Attempts::new(Policy {
            max_sources: 16,
            ..Policy::default()
        });
        let t = SystemTime::UNIX_EPOCH;
        for n in 0..100 {
            a.note(ip(n), false, t);
            assert!(a.len() <= 16);
        }
        assert_eq!(a.len(), 16);
        assert_eq!(a.evicted(), 84);
        assert_eq!(a.get(ip(0), t), Count::default(), "the oldest went first");
        assert_eq!(a.get(ip(99), t).attempts, 1);
        // A known source does not evict anyone.
        a.note(ip(99), false, t);
        assert_eq!(a.evicted(), 84);
    }

    #[test]
    fn escaping_keeps_utf8_and_marks_the_rest() {
        assert_eq!(escape(b"admin"), "admin");
        assert_eq!(escape("D\\us\u{e9}r".as_bytes()), "D\\us\u{e9}r");
        assert_eq!(escape(b"a\\b\xff\x00c"), "a\\\\b\\xff\u{0}c");
        assert_eq!(escape(&[b'x'; 5000]).len(), MAX_FIELD);
    }

    /// Reads back what [`escape`] wrote for bytes that were not UTF-8.
    fn unescape(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = text.as_bytes();
        while let Some((&b, tail)) = rest.split_first() {
            match (b, tail) {
                (b'\\', [b'\\', more @ ..]) => {
                    out.push(b'\\');
                    rest = more;
                }
                (b'\\', [b'x', h, l, more @ ..]) => {
                    out.extend(crate::hex::decode(std::str::from_utf8(&[*h, *l]).unwrap()).unwrap());
                    rest = more;
                }
                _ => {
                    out.push(b);
                    rest = tail;
                }
            }
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn escaping_can_be_read_back(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..48)) {
            let text = escape(&bytes);
            let back = if std::str::from_utf8(&bytes).is_ok() { text.into_bytes() } else { unescape(&text) };
            proptest::prop_assert_eq!(back, bytes);
        }

        #[test]
        fn counts_stay_bounded_and_consistent(
            ops in proptest::collection::vec((0u32..40, proptest::bool::ANY, 0u64..3_000), 0..200),
        ) {
            let a = Attempts::new(Policy { max_sources: 8, ..Policy::default() });
            let mut t = SystemTime::UNIX_EPOCH;
            for (n, ok, step) in ops {
                t += Duration::from_secs(step);
                let c = a.note(ip(n), ok, t);
                proptest::prop_assert!(c.attempts >= 1 && c.failures <= c.attempts);
                proptest::prop_assert_eq!(c.failures == 0, ok);
                proptest::prop_assert!(a.len() <= 8);
            }
        }
    }

    #[test]
    fn the_event_has_every_field_in_order() {
        let secret = Secret::Plain(b"hunter2");
        let e = event(
            &Attempt {
                protocol: "ftp",
                username: Some(b"root"),
                secret: &secret,
                method: "password",
            },
            Some(&Reason::BadPassword),
            4,
        );
        assert_eq!(e.event_type, EVENT_TYPE);
        let keys: Vec<_> = e.body.data.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, FIELDS);
        assert_eq!(e.body.data["password"], "hunter2");
        assert_eq!(e.body.data["hash"], Json::Null);
        assert_eq!(e.body.data["reason"], "bad_password");
        assert_eq!(e.body.data["success"], false);
        assert_eq!(e.body.data["attempts"], 4);
    }
}
