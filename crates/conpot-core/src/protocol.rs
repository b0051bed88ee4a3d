//! The sans-IO contract between a protocol core and the listener that carries it.
//!
//! A protocol session never touches a socket or the clock: it is handed bytes and the
//! current time, and fills an [`Output`] with bytes to send, events, and whether to close.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use crate::event::EventDraft;

/// What a session wants done after handling input.
#[derive(Debug, Default)]
pub struct Output {
    /// Bytes to send, in order.
    pub bytes: Vec<u8>,
    /// Events to log.
    pub events: Vec<EventDraft>,
    /// Close the connection after sending `bytes`.
    pub close: bool,
    /// Wait this long before sending (the device's response time).
    pub delay: Duration,
    /// Files the attacker handed over (uploads, downloaded PLC blocks), to be stored.
    pub files: Vec<Capture>,
}

/// A file received from an attacker.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// Name the attacker gave it (or a descriptive one).
    pub name: String,
    /// Content (already capped by the protocol at the configured size).
    pub bytes: Vec<u8>,
    /// How many bytes the attacker sent in all (more than `bytes` if capped).
    pub original_len: usize,
    /// Protocol-specific facts about the file.
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl Output {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.events.is_empty() && !self.close && self.files.is_empty()
    }

    /// Resets for reuse, keeping allocations.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.events.clear();
        self.close = false;
        self.delay = Duration::ZERO;
        self.files.clear();
    }
}

/// A response delay drawn from a `[min, max]` millisecond profile (zero for `(0, 0)`).
pub fn response_delay((lo, hi): (u32, u32)) -> Duration {
    if hi == 0 {
        return Duration::ZERO;
    }
    let ms = crate::rng::with_thread_rng(|r| r.range_i64(i64::from(lo), i64::from(hi)));
    Duration::from_millis(ms.max(0) as u64)
}

/// One connection's protocol state machine.
pub trait StreamSession: Send {
    /// Called once when the connection opens (a greeting may be sent).
    fn on_open(&mut self, _now: SystemTime, _out: &mut Output) {}

    /// Handles buffered input and returns how many bytes were consumed. The listener calls
    /// it again while it consumes something and asks for no close; unconsumed bytes stay
    /// buffered (bounded by the connection's buffer limit) until more arrive.
    fn on_data(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize;

    /// The peer closed its side; `rest` holds bytes never consumed (a truncated frame).
    fn on_eof(&mut self, _rest: &[u8], _now: SystemTime, _out: &mut Output) {}
}

/// A stream protocol served by a listener: creates one session per connection.
pub trait StreamService: Send + Sync + 'static {
    /// Protocol name used in events (`modbus`, `s7comm`, ...).
    fn protocol(&self) -> &'static str;

    /// A new session for a connection from `peer` to `local`.
    fn new_session(&self, peer: SocketAddr, local: SocketAddr) -> Box<dyn StreamSession>;
}
