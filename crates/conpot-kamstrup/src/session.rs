//! One KMP connection: frames cut from the stream, checked, answered by the [`Meter`].
//!
//! As on the real meter, a frame to another address or with a bad CRC gets no answer (the
//! event records it), and the connection stays open for the next frame. Bytes before a
//! start byte are noise; a frame cut by another start byte or longer than
//! [`kmp::MAX_FRAME`] is dropped; a peer that closes inside a frame leaves a truncated event.

use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::event::EventDraft;
use conpot_core::protocol::{Output, Session};
use serde_json::Value as Json;

use crate::kmp::{self, Direction, Frame, KmpError, Request, Scan};
use crate::meter::{MAX_REPLY, Meter};

/// Noise and broken-frame events logged per connection before they are only counted.
pub const MAX_NOISE_EVENTS: u32 = 16;
/// Bytes of noise kept in an event.
const NOISE_RAW: usize = 64;

/// The state of one meter connection.
#[derive(Debug)]
pub struct KmpSession {
    meter: Arc<Meter>,
    noise_events: u32,
}

/// How one request frame ended, for events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Answered.
    Ok,
    /// Addressed to another meter: silence.
    WrongAddress,
    /// Bad CRC: silence.
    BadCrc,
    /// Not a well-formed frame or payload: silence.
    Malformed,
    /// A command the meter does not answer (PutRegister, unknown codes): silence.
    Unanswered,
}

impl Status {
    /// For events.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::WrongAddress => "wrong_address",
            Status::BadCrc => "bad_crc",
            Status::Malformed => "malformed",
            Status::Unanswered => "unanswered",
        }
    }
}

/// The meter's handling of one complete request frame (`bytes` from start to stop byte):
/// the reply frame to send (if any) and the `kamstrup.request` event. Shared by the
/// session and by anything else that needs the meter's exact answer.
pub fn handle_frame(meter: &Meter, bytes: &[u8], now: SystemTime) -> (Option<Vec<u8>>, EventDraft) {
    let mut ev = EventDraft::new("kamstrup.request");
    ev.body.raw = Some(bytes.iter().take(kmp::MAX_FRAME).copied().collect());
    let (status, reply, request) = match kmp::decode_frame(bytes) {
        Err(e) => {
            let status = if matches!(e, KmpError::BadCrc { .. }) {
                Status::BadCrc
            } else {
                Status::Malformed
            };
            ev = ev.with("error", e.to_string());
            (status, None, Json::Null)
        }
        Ok(frame) => {
            let described = Json::Object(kmp::describe(&frame));
            if frame.direction != Direction::Request {
                (Status::Malformed, None, described)
            } else if frame.address != meter.config.address {
                (Status::WrongAddress, None, described)
            } else {
                match Request::parse(frame.command, &frame.payload) {
                    Err(_) => (Status::Malformed, None, described),
                    Ok(req) => match meter.answer(&req, now) {
                        None => (Status::Unanswered, None, described),
                        Some(resp) => {
                            let reply = Frame {
                                direction: Direction::Response,
                                address: meter.config.address,
                                command: frame.command,
                                payload: resp.payload(MAX_REPLY),
                            };
                            (Status::Ok, Some(reply), described)
                        }
                    },
                }
            }
        }
    };
    let response = reply.as_ref().map_or(Json::Null, |f| Json::Object(kmp::describe(f)));
    let reply_bytes = reply.as_ref().map(kmp::encode_frame);
    ev.body.raw_response = reply_bytes.clone();
    let ev = ev
        .with("status", status.as_str())
        .with("request", request)
        .with("response", response);
    (reply_bytes, ev)
}

impl KmpSession {
    /// A session of `meter`.
    pub fn new(meter: Arc<Meter>) -> KmpSession {
        KmpSession { meter, noise_events: 0 }
    }

    fn noise(&mut self, kind: &'static str, bytes: &[u8], out: &mut Output) {
        if bytes.is_empty() {
            return;
        }
        self.noise_events = self.noise_events.saturating_add(1);
        if self.noise_events > MAX_NOISE_EVENTS {
            if self.noise_events == MAX_NOISE_EVENTS + 1 {
                out.events
                    .push(EventDraft::new("limit.hit").with("limit", "kamstrup_noise_events"));
            }
            return;
        }
        let mut ev = EventDraft::new("kamstrup.noise")
            .with("kind", kind)
            .with("length", bytes.len());
        ev.body.raw = Some(bytes.iter().take(NOISE_RAW).copied().collect());
        out.events.push(ev);
    }
}

impl Session for KmpSession {
    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        match kmp::scan(input, Direction::Request) {
            Scan::Noise { skip } => {
                self.noise("noise", input.get(..skip).unwrap_or_default(), out);
                skip
            }
            Scan::Partial { start } => {
                self.noise("noise", input.get(..start).unwrap_or_default(), out);
                start
            }
            Scan::Broken { start, end } => {
                self.noise("noise", input.get(..start).unwrap_or_default(), out);
                self.noise("broken_frame", input.get(start..end).unwrap_or_default(), out);
                end
            }
            Scan::Frame { start, end } => {
                self.noise("noise", input.get(..start).unwrap_or_default(), out);
                let (reply, ev) = handle_frame(&self.meter, input.get(start..end).unwrap_or_default(), now);
                if let Some(r) = reply {
                    out.bytes.extend_from_slice(&r);
                }
                out.events.push(ev);
                end
            }
        }
    }

    fn on_eof(&mut self, rest: &[u8], _now: SystemTime, out: &mut Output) {
        if !rest.is_empty() {
            let mut ev = EventDraft::new("kamstrup.truncated").with("length", rest.len());
            ev.body.raw = Some(rest.iter().take(kmp::MAX_FRAME).copied().collect());
            out.events.push(ev);
        }
    }
}
