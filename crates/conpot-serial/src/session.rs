//! The serial device server's TCP sessions: the emulated slave (Modbus RTU frames inside
//! TCP, answered by the device's Modbus slaves through `conpot-modbus`) and the bridge (the
//! bytes carried to the configured upstream serial server and back, each frame decoded for
//! the log). Sans-IO: bytes, time and channel events in, an [`Output`] out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::event::EventDraft;
use conpot_core::protocol::{ChannelId, IoEvent, IoRequest, Output, Session, response_delay};
use conpot_modbus::ModbusDevice;
use conpot_modbus::pdu::{Request, function_name};
use conpot_modbus::session::{answer, event};
use serde_json::json;

use crate::rtu::{self, Direction, Framed, MAX_FRAME};

/// Bytes of an unfinished frame kept: a frame is at most [`MAX_FRAME`], so more is garbage.
pub const MAX_PENDING: usize = 2 * MAX_FRAME;
/// Client bytes held while the upstream connects (or reconnects).
pub const MAX_HELD: usize = 4096;

fn malformed(error: &str, raw: &[u8]) -> EventDraft {
    let mut d = EventDraft::new("serial.malformed").with("error", error.to_owned());
    d.body.raw = Some(raw.to_vec());
    d
}

/// A frame buffer with the silence rule: bytes are taken in, whole frames come out, and an
/// unfinished frame that a silence has ended is dropped (as a serial slave's receiver does).
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
}

impl Deframer {
    /// Appends `input` (at most [`MAX_PENDING`] kept; what passes it is reported as garbage).
    pub fn push(&mut self, input: &[u8], out: &mut Vec<EventDraft>) {
        let room = MAX_PENDING.saturating_sub(self.buf.len());
        let (keep, drop) = input.split_at(input.len().min(room));
        self.buf.extend_from_slice(keep);
        if !drop.is_empty() {
            out.push(malformed("more than two frames of undelimited bytes: dropped", drop));
        }
    }

    /// The next whole frame travelling `dir` (its bytes), reporting bad CRCs and garbage.
    pub fn next(&mut self, dir: Direction, out: &mut Vec<EventDraft>) -> Option<Vec<u8>> {
        loop {
            match rtu::frame(&self.buf, dir) {
                Framed::Incomplete => return None,
                Framed::Frame { size, .. } => {
                    let f: Vec<u8> = self.buf.drain(..size.min(self.buf.len())).collect();
                    return Some(f);
                }
                Framed::BadCrc { size } => {
                    let f: Vec<u8> = self.buf.drain(..size.min(self.buf.len())).collect();
                    out.push(malformed("CRC error: frame ignored", &f));
                }
                Framed::Garbage(n) => {
                    let f: Vec<u8> = self.buf.drain(..n.min(self.buf.len())).collect();
                    out.push(malformed("no RTU frame: bytes dropped", &f));
                }
            }
        }
    }

    /// A silence passed: an unfinished frame is dropped.
    pub fn silence(&mut self, out: &mut Vec<EventDraft>) {
        if !self.buf.is_empty() {
            out.push(malformed("frame cut short by a silence: dropped", &self.buf));
            self.buf.clear();
        }
    }

    /// Whether bytes of an unfinished frame are held.
    pub fn pending(&self) -> bool {
        !self.buf.is_empty()
    }
}

/// Modbus RTU over TCP served by the device's slaves.
pub struct EmulatedSession {
    device: Arc<ModbusDevice>,
    frames: Deframer,
    silence: Duration,
}

impl EmulatedSession {
    /// A session answered by `device`; an unfinished frame is dropped after `silence`.
    pub fn new(device: Arc<ModbusDevice>, silence: Duration) -> Self {
        EmulatedSession {
            device,
            frames: Deframer::default(),
            silence,
        }
    }

    /// Answers one frame (address, PDU, CRC already checked), as a serial slave does: a
    /// broadcast or a frame for an address no slave has gets no reply.
    fn serve(&self, frame: &[u8], now: SystemTime, out: &mut Output) {
        let unit = frame.first().copied().unwrap_or(0);
        let pdu = frame.get(1..frame.len().saturating_sub(2)).unwrap_or_default();
        let mut handled = self.device.handle(unit, pdu, now);
        if handled.slave.is_none() {
            // Nobody on the line has this address: silence.
            handled.response = None;
        }
        let start = out.bytes.len();
        if let Some(resp) = handled.response.take() {
            handled.response = Some(answer(handled.function, resp, &mut out.bytes, |r, o| {
                rtu::emit(unit, o, |w| r.encode(w))
            }));
            out.delay = out.delay.max(response_delay(self.device.config.response_time_ms));
        }
        let reply = out.bytes.get(start..).unwrap_or_default();
        out.events
            .push(event(None, unit, frame, &handled, reply).with("framing", "rtu"));
    }
}

impl Session for EmulatedSession {
    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        self.frames.push(input, &mut out.events);
        while let Some(f) = self.frames.next(Direction::Request, &mut out.events) {
            self.serve(&f, now, out);
        }
        if self.frames.pending() {
            out.set_deadline(now + self.silence);
        } else {
            out.clear_deadline();
        }
        input.len()
    }

    fn on_timeout(&mut self, _now: SystemTime, out: &mut Output) {
        self.frames.silence(&mut out.events);
    }

    fn on_eof(&mut self, _rest: &[u8], _now: SystemTime, out: &mut Output) {
        self.frames.silence(&mut out.events);
    }
}

/// The channel of a bridge's upstream or serial line.
pub const UPSTREAM: ChannelId = 1;

/// Back-off of reconnections to a vanished serial server: 1 s doubling to 30 s.
pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs((1u64 << failures.min(5)).min(30))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Connecting,
    Up,
    Down,
}

/// Where a bridge carries its client's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A TCP serial server (one connection per client).
    Tcp(SocketAddr),
    /// The serial line the sensor opened, shared with the other clients: the listener's
    /// arbiter takes whole request frames (decoded) or the bytes as they come (raw), and
    /// reports the line's state itself.
    Line(String),
}

/// A TCP client bridged to the configured upstream serial server or to the shared serial
/// line, every frame decoded.
pub struct BridgeSession {
    target: Target,
    link: Link,
    failures: u32,
    held: Vec<u8>,
    requests: Deframer,
    responses: Deframer,
    /// The last request sent down the line, waiting for its response.
    asked: Option<Vec<u8>>,
    silence: Duration,
    decode: bool,
}

impl BridgeSession {
    /// A session bridged to `upstream`; `decode`: frames are logged as Modbus RTU,
    /// otherwise each chunk is logged raw.
    pub fn new(upstream: SocketAddr, silence: Duration, decode: bool) -> Self {
        Self::to(Target::Tcp(upstream), silence, decode)
    }

    /// A session bridged to `target`.
    pub fn to(target: Target, silence: Duration, decode: bool) -> Self {
        BridgeSession {
            target,
            link: Link::Connecting,
            failures: 0,
            held: Vec::new(),
            requests: Deframer::default(),
            responses: Deframer::default(),
            asked: None,
            silence,
            decode,
        }
    }

    fn connect(&mut self, out: &mut Output) {
        self.link = Link::Connecting;
        out.request(match &self.target {
            Target::Tcp(addr) => IoRequest::Upstream {
                channel: UPSTREAM,
                addr: *addr,
            },
            Target::Line(_) => IoRequest::SerialLine { channel: UPSTREAM },
        });
    }

    fn link_event(&self, state: &str, reason: Option<&str>) -> EventDraft {
        let (key, target) = match &self.target {
            Target::Tcp(a) => ("upstream", a.to_string()),
            Target::Line(d) => ("device", d.clone()),
        };
        EventDraft::new("serial.link")
            .with("state", state.to_owned())
            .with(key, target)
            .with("reason", reason.map_or(serde_json::Value::Null, |r| json!(r)))
            .with("failures", self.failures)
    }

    fn down(&mut self, reason: &str, now: SystemTime, out: &mut Output) {
        self.link = Link::Down;
        self.failures = self.failures.saturating_add(1);
        let wait = backoff(self.failures - 1);
        out.events.push(
            self.link_event("down", Some(reason))
                .with("retry_ms", wait.as_millis() as u64),
        );
        out.set_deadline(now + wait);
    }

    /// Logs the whole request frames received and returns them, back to back.
    fn log_request(&mut self, out: &mut Output) -> Vec<u8> {
        let mut frames = Vec::new();
        while let Some(f) = self.requests.next(Direction::Request, &mut out.events) {
            frames.extend_from_slice(&f);
            if let Some(old) = self.asked.replace(f) {
                // The line never answered the previous one (a timeout on a real master).
                out.events.push(request_event(&old, None));
            }
        }
        frames
    }

    fn log_response(&mut self, out: &mut Output) {
        while let Some(f) = self.responses.next(Direction::Response, &mut out.events) {
            match self.asked.take() {
                Some(req) => out.events.push(request_event(&req, Some(&f))),
                None => out.events.push(malformed("response without a request", &f)),
            }
        }
    }
}

/// The `modbus.request` event of a frame seen on the bridge and the line's answer.
fn request_event(req: &[u8], resp: Option<&[u8]>) -> EventDraft {
    let unit = req.first().copied().unwrap_or(0);
    let pdu = req.get(1..req.len().saturating_sub(2)).unwrap_or_default();
    let fc = pdu.first().copied().unwrap_or(0);
    let mut d = EventDraft::new("modbus.request")
        .with("unit_id", unit)
        .with("function_code", fc)
        .with("framing", "rtu")
        .with("bridged", true);
    d.body.request = Some(match Request::parse(pdu) {
        Ok(r) => r.to_json(),
        Err(_) => json!({"function": function_name(fc), "malformed": true}),
    });
    d.body.response = Some(match resp.and_then(|r| r.get(1..r.len().saturating_sub(2))) {
        None => json!({"reply": "none"}),
        Some([f, code, ..]) if f & 0x80 != 0 => json!({"exception": code}),
        Some(p) => json!({"function": function_name(p.first().copied().unwrap_or(0)), "length": p.len()}),
    });
    d.body.raw = Some(req.to_vec());
    d.body.raw_response = resp.map(<[u8]>::to_vec);
    d
}

impl Session for BridgeSession {
    fn on_open(&mut self, _now: SystemTime, out: &mut Output) {
        self.connect(out);
    }

    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        // A shared line takes whole frames only: a partial one would garble the others'.
        let mut frames = None;
        if self.decode {
            self.requests.push(input, &mut out.events);
            let whole = self.log_request(out);
            if matches!(self.target, Target::Line(_)) {
                frames = Some(whole);
            }
            if self.requests.pending() {
                out.set_deadline(now + self.silence);
            }
        } else {
            let mut d = EventDraft::new("serial.data").with("direction", "to_device");
            d.body.raw = Some(input.to_vec());
            out.events.push(d);
        }
        let send = frames.as_deref().unwrap_or(input);
        match self.link {
            _ if send.is_empty() => {}
            Link::Up => out.request(IoRequest::Send {
                channel: UPSTREAM,
                bytes: send.to_vec(),
            }),
            _ => {
                let room = MAX_HELD.saturating_sub(self.held.len());
                let (keep, drop) = send.split_at(send.len().min(room));
                self.held.extend_from_slice(keep);
                if !drop.is_empty() {
                    out.events.push(malformed("serial line down: bytes dropped", drop));
                }
            }
        }
        input.len()
    }

    fn on_io(&mut self, ev: IoEvent, now: SystemTime, out: &mut Output) {
        match ev {
            IoEvent::Connected { .. } => {
                self.link = Link::Up;
                if matches!(self.target, Target::Tcp(_)) {
                    out.events.push(self.link_event("up", None));
                }
                self.failures = 0;
                if !self.held.is_empty() {
                    out.request(IoRequest::Send {
                        channel: UPSTREAM,
                        bytes: std::mem::take(&mut self.held),
                    });
                }
            }
            IoEvent::Data { bytes, .. } => {
                out.bytes.extend_from_slice(&bytes);
                if self.decode {
                    self.responses.push(&bytes, &mut out.events);
                    self.log_response(out);
                    if self.responses.pending() {
                        out.set_deadline(now + self.silence);
                    }
                } else {
                    let mut d = EventDraft::new("serial.data").with("direction", "from_device");
                    d.body.raw = Some(bytes);
                    out.events.push(d);
                }
            }
            IoEvent::Failed { reason, .. } => self.down(reason, now, out),
            IoEvent::Closed { .. } => self.down("closed", now, out),
            _ => {}
        }
    }

    fn on_timeout(&mut self, _now: SystemTime, out: &mut Output) {
        self.requests.silence(&mut out.events);
        self.responses.silence(&mut out.events);
        if self.link == Link::Down {
            self.connect(out);
        }
    }

    fn on_eof(&mut self, _rest: &[u8], _now: SystemTime, out: &mut Output) {
        if let Some(req) = self.asked.take() {
            out.events.push(request_event(&req, None));
        }
        if self.link == Link::Up {
            out.request(IoRequest::Close { channel: UPSTREAM });
        }
    }
}
