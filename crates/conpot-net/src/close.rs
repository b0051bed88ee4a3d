//! Why a session ended, and the `session.close` event, the same for TCP and UDP.

use std::time::SystemTime;

use conpot_core::event::EventDraft;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed or reset the connection.
    Peer,
    /// The session asked to close.
    Server,
    /// No input within the session timeout.
    Idle,
    /// The peer sent more than the buffer limit without completing a frame.
    Buffer,
    /// The sensor is shutting down.
    Shutdown,
    /// A UDP session was closed to make room in a full session table.
    SessionLimit,
    /// A partial frame was not completed within the frame timeout.
    FrameTimeout,
    /// A partial frame arrived slower than the minimum input rate.
    SlowInput,
    /// The client did not take its replies within the output timeout.
    OutputStalled,
    /// Closed to make room for a newcomer at the global connection limit.
    Evicted,
    /// A socket error.
    Error,
}

impl CloseReason {
    /// The stable name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Peer => "peer",
            CloseReason::Server => "server",
            CloseReason::Idle => "idle_timeout",
            CloseReason::Buffer => "buffer_limit",
            CloseReason::Shutdown => "shutdown",
            CloseReason::SessionLimit => "session_limit",
            CloseReason::FrameTimeout => "frame_timeout",
            CloseReason::SlowInput => "slow_input",
            CloseReason::OutputStalled => "output_stalled",
            CloseReason::Evicted => "evicted",
            CloseReason::Error => "error",
        }
    }
}

/// What a session did, for its `session.close` event.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Bytes received (TCP) or in datagrams received (UDP).
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Datagrams received (UDP only).
    pub datagrams: Option<u64>,
    /// The socket error that ended it, if any.
    pub error: Option<String>,
}

/// The `session.close` event of a session opened at `opened`.
pub fn close_event(reason: CloseReason, opened: SystemTime, closed: SystemTime, tally: Tally) -> EventDraft {
    let duration = closed.duration_since(opened).unwrap_or_default();
    let mut draft = EventDraft::new("session.close")
        .with("reason", reason.as_str())
        .with("duration_ms", duration.as_millis() as u64)
        .with("bytes_in", tally.bytes_in)
        .with("bytes_out", tally.bytes_out);
    if let Some(n) = tally.datagrams {
        draft = draft.with("datagrams", n);
    }
    draft.body.error = tally.error;
    draft
}
