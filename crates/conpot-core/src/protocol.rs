//! The sans-IO contract between a protocol core and the listener that carries it, one for
//! every shape of protocol: TCP streams, UDP exchanges with per-source state, sessions
//! with timers, and sessions that need more sockets than their own (FTP data channels,
//! TFTP transfer ports, proxy upstreams).
//!
//! A session never touches a socket or the clock. The listener hands it bytes and the
//! current time; the session fills an [`Output`] with what it wants done: bytes to send,
//! events, captured files, a close, a response delay, the next time it wants to be woken
//! (as quinn-proto's `poll_timeout`), and [`IoRequest`]s the listener carries out on its
//! behalf, reporting back through [`Session::on_io`]. The listener enforces every limit
//! (who a data channel may connect to, which upstream targets exist, the UDP budgets), so
//! a protocol cannot open a socket the operator did not allow, even by mistake.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use crate::event::{EventDraft, Transport};

/// Where a session runs: its transport and both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCtx {
    /// TCP connection or UDP source.
    pub transport: Transport,
    /// The attacker's address.
    pub peer: SocketAddr,
    /// Our address the attacker reached (the datagram's real destination for UDP).
    pub local: SocketAddr,
}

/// One session's protocol state machine: a TCP connection, or the datagrams of one UDP
/// source address. Every method fills `out`; the listener acts on it after the call.
pub trait Session: Send {
    /// Called once when the session opens, before any input (a greeting may be sent, a
    /// first timer set).
    fn on_open(&mut self, _now: SystemTime, _out: &mut Output) {}

    /// Handles input and returns how many bytes were consumed.
    ///
    /// TCP: `input` is the buffered stream; the listener calls again while something is
    /// consumed and no close is asked for, and keeps unconsumed bytes (bounded by the
    /// connection's buffer limit) until more arrive. UDP: `input` is exactly one datagram
    /// and the return value is ignored.
    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize;

    /// The deadline set with [`Output::set_deadline`] has passed.
    fn on_timeout(&mut self, _now: SystemTime, _out: &mut Output) {}

    /// The peer closed its side (TCP); `rest` holds bytes never consumed (a truncated
    /// frame). Not called for UDP sessions, which end by idle expiry.
    fn on_eof(&mut self, _rest: &[u8], _now: SystemTime, _out: &mut Output) {}

    /// The outcome of an [`IoRequest`], or traffic on a channel it opened.
    fn on_io(&mut self, _event: IoEvent, _now: SystemTime, _out: &mut Output) {}
}

/// TLS towards an upstream, as the operator configured it (plain data: the listener makes
/// the client configuration from it once).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamTls {
    /// Check the upstream's certificate (against `ca_file`, or the system's roots) and name.
    /// Off for a device with a self-signed certificate, as most have.
    pub verify: bool,
    /// PEM file of the CAs the upstream's certificate must chain to (with `verify`).
    pub ca_file: Option<std::path::PathBuf>,
    /// The server name sent (SNI) and checked; the upstream's IP address when unset.
    pub server_name: Option<String>,
}

/// A protocol served by listeners: builds one session per TCP connection or UDP source.
pub trait Service: Send + Sync + 'static {
    /// Protocol name used in events (`modbus`, `s7comm`, ...).
    fn protocol(&self) -> &'static str;

    /// The transports this service listens on (EtherNet/IP: TCP and UDP on one port).
    fn transports(&self) -> &'static [Transport] {
        &[Transport::Tcp]
    }

    /// A new session for a connection or source.
    fn new_session(&self, ctx: &SessionCtx) -> Box<dyn Session>;

    /// The device's response time, `[min, max]` milliseconds (the section's
    /// `response_time_ms`): before sending an answer the listener waits a draw of it, so
    /// every protocol gets the device's latency from one place ([`answer_delay`]).
    fn response_time(&self) -> (u32, u32) {
        (0, 0)
    }

    /// Upstream targets the operator configured (proxy, serial bridge): the only
    /// addresses an [`IoRequest::Upstream`] may reach.
    fn upstream_targets(&self) -> &[SocketAddr] {
        &[]
    }

    /// How upstream connections are secured, if by TLS (a proxy in front of a device that
    /// speaks TLS): the listener wraps every [`IoRequest::Upstream`] connection of the
    /// service in a TLS client, so the session sends and receives plaintext either way.
    fn upstream_tls(&self) -> Option<&UpstreamTls> {
        None
    }

    /// The serial device the service shares among its sessions (a serial device server
    /// bridged to a real line it opened): the only line an [`IoRequest::SerialLine`]
    /// reaches. Like the upstream targets, only the template sets it.
    fn serial_line(&self) -> Option<&str> {
        None
    }
}

/// Identifies a channel opened by an [`IoRequest`]; chosen by the session, unique within it.
pub type ChannelId = u32;

/// Work a session asks the listener to do on its behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoRequest {
    /// Listen on the session's local address, on a free port of `ports` (inclusive), and
    /// accept one connection from the session's peer address (FTP PASV/EPSV). Answered
    /// with [`IoEvent::Listening`], then [`IoEvent::Connected`] or [`IoEvent::Failed`].
    OpenDataListener {
        /// Channel of the new listener and its connection.
        channel: ChannelId,
        /// The configured port range.
        ports: (u16, u16),
    },
    /// Connect to `addr` (FTP PORT/EPRT). Allowed only to the session's own peer address:
    /// any other address is refused and logged as a bounce attempt.
    ConnectBack {
        /// Channel of the connection.
        channel: ChannelId,
        /// Where the client asked us to connect.
        addr: SocketAddr,
    },
    /// Open a fresh UDP port on the session's local address and talk to the peer from it
    /// (TFTP transfers); datagrams from the peer to it arrive as [`IoEvent::Data`].
    NewUdpPort {
        /// Channel of the new port.
        channel: ChannelId,
    },
    /// Connect to a configured upstream target (proxy, serial bridge); anything not in
    /// [`Service::upstream_targets`] is refused.
    Upstream {
        /// Channel of the connection.
        channel: ChannelId,
        /// The target, one of the configured ones.
        addr: SocketAddr,
    },
    /// Attach to the service's serial line ([`Service::serial_line`]), shared with the
    /// service's other sessions: what is sent on the channel goes to the line's arbiter,
    /// and what the line sends for this session arrives as [`IoEvent::Data`]. Answered
    /// with [`IoEvent::Connected`]; refused if the service has no line.
    SerialLine {
        /// Channel of the attachment.
        channel: ChannelId,
    },
    /// An RFC 2217 COM-PORT-OPTION client command (its code and value, as on the wire)
    /// to apply to the serial line attached on `channel`: a client of a serial device
    /// server sets the real line's baud rate, framing and flow control.
    SerialControl {
        /// The channel of a [`IoRequest::SerialLine`].
        channel: ChannelId,
        /// The client command code (1 SET-BAUDRATE ... 5 SET-CONTROL).
        command: u8,
        /// Its value.
        value: Vec<u8>,
    },
    /// Send bytes (one datagram on a UDP channel) on an open channel.
    Send {
        /// The channel.
        channel: ChannelId,
        /// What to send.
        bytes: Vec<u8>,
    },
    /// Close a channel (after sending what was queued on it).
    Close {
        /// The channel.
        channel: ChannelId,
    },
}

/// What the listener reports about a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoEvent {
    /// A data listener or UDP port is bound at `local` (the address to announce).
    Listening {
        /// The channel.
        channel: ChannelId,
        /// Where it listens.
        local: SocketAddr,
    },
    /// A connection on the channel is established (accepted or connected).
    Connected {
        /// The channel.
        channel: ChannelId,
        /// The other end.
        peer: SocketAddr,
    },
    /// Bytes (a TCP chunk or one datagram) arrived on the channel.
    Data {
        /// The channel.
        channel: ChannelId,
        /// What arrived.
        bytes: Vec<u8>,
    },
    /// The channel's sends were all written (a transfer may report completion).
    Drained {
        /// The channel.
        channel: ChannelId,
    },
    /// The other end closed the channel.
    Closed {
        /// The channel.
        channel: ChannelId,
    },
    /// The request could not be carried out, or the channel failed.
    Failed {
        /// The channel.
        channel: ChannelId,
        /// Why, as a stable string (`refused`, `bounce`, `no_port`, `timeout`, `io`, ...).
        reason: &'static str,
    },
}

/// How a session's timer changes after a call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deadline {
    /// Leave the timer as it was.
    #[default]
    Keep,
    /// Wake the session at this time (replacing any earlier deadline).
    At(SystemTime),
    /// No timer.
    Clear,
}

/// What a session wants done after one call.
#[derive(Debug, Default)]
pub struct Output {
    /// Bytes to send, in order. Over UDP they form datagrams split at `datagram_ends`.
    pub bytes: Vec<u8>,
    /// UDP only: offsets in `bytes` where a datagram ends (see [`Output::end_datagram`]);
    /// bytes after the last mark form one more datagram.
    pub datagram_ends: Vec<usize>,
    /// Events to log.
    pub events: Vec<EventDraft>,
    /// Close the session after sending `bytes`.
    pub close: bool,
    /// Wait this long before sending (the device's response time).
    pub delay: Duration,
    /// Files the attacker handed over (uploads, downloaded PLC blocks), to be stored.
    pub files: Vec<Capture>,
    /// The next time the session wants [`Session::on_timeout`].
    pub deadline: Deadline,
    /// I/O the listener carries out for the session.
    pub requests: Vec<IoRequest>,
    /// Set by the listener before a UDP input: the largest reply it will send for it (the
    /// amplification cap). A service answers within it (SNMP: tooBig). `None` over TCP.
    pub reply_limit: Option<usize>,
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
        self.bytes.is_empty()
            && self.events.is_empty()
            && !self.close
            && self.files.is_empty()
            && self.requests.is_empty()
            && self.deadline == Deadline::Keep
    }

    /// Resets for reuse, keeping allocations.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.datagram_ends.clear();
        self.events.clear();
        self.close = false;
        self.delay = Duration::ZERO;
        self.files.clear();
        self.deadline = Deadline::Keep;
        self.requests.clear();
        self.reply_limit = None;
    }

    /// Asks to be woken at `at` (replaces an earlier deadline).
    pub fn set_deadline(&mut self, at: SystemTime) {
        self.deadline = Deadline::At(at);
    }

    /// Cancels the session's timer.
    pub fn clear_deadline(&mut self) {
        self.deadline = Deadline::Clear;
    }

    /// UDP: ends the datagram written so far, so the next bytes start another one.
    pub fn end_datagram(&mut self) {
        if self.datagram_ends.last() != Some(&self.bytes.len()) && !self.bytes.is_empty() {
            self.datagram_ends.push(self.bytes.len());
        }
    }

    /// UDP: the datagrams in `bytes`, in order (empty ones skipped).
    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let ends = self
            .datagram_ends
            .iter()
            .copied()
            .chain(std::iter::once(self.bytes.len()));
        let mut start = 0;
        ends.filter_map(move |end| {
            let d = self.bytes.get(start..end).unwrap_or_default();
            start = end.max(start);
            (!d.is_empty()).then_some(d)
        })
    }

    /// Asks the listener for I/O on the session's behalf.
    pub fn request(&mut self, request: IoRequest) {
        self.requests.push(request);
    }
}

/// How long to wait before sending what `out` holds: the session's own delay, or for an
/// answer at least a draw of the device's response time `profile`.
pub fn answer_delay(profile: (u32, u32), out: &Output) -> Duration {
    if out.bytes.is_empty() {
        out.delay
    } else {
        out.delay.max(response_delay(profile))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_split_at_marks() {
        let mut out = Output::default();
        out.end_datagram();
        out.bytes.extend_from_slice(b"one");
        out.end_datagram();
        out.end_datagram();
        out.bytes.extend_from_slice(b"two");
        let d: Vec<&[u8]> = out.datagrams().collect();
        assert_eq!(d, vec![&b"one"[..], &b"two"[..]]);
        out.clear();
        assert_eq!(out.datagrams().count(), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn deadline_changes_are_not_empty() {
        let mut out = Output::default();
        out.set_deadline(SystemTime::UNIX_EPOCH);
        assert!(!out.is_empty());
        out.clear();
        assert_eq!(out.deadline, Deadline::Keep);
    }
}
