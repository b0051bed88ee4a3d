//! Driving a session without sockets: the feed loop the TCP listener uses, and a harness
//! (template text -> device -> service -> session) that unit tests, property tests and
//! fuzz targets share, so every protocol is exercised exactly as the listener drives it.

use std::net::SocketAddr;
use std::time::SystemTime;

use crate::event::{EventDraft, Transport};
use std::time::Duration;

use crate::protocol::{Capture, Deadline, IoEvent, IoRequest, Output, Service, Session, SessionCtx, answer_delay};

/// Hands stream `input` to the session until it consumes nothing more or asks to close;
/// returns how many bytes it consumed. The TCP listener and [`Driver`] both use it.
pub fn feed_stream(session: &mut dyn Session, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
    feed_stream_bounded(session, input, now, out, OutputBound::UNBOUNDED)
}

/// How much output one round of input may produce before the rest of the input waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputBound {
    /// Bytes to send.
    pub bytes: usize,
    /// Events.
    pub events: usize,
}

impl OutputBound {
    /// No bound.
    pub const UNBOUNDED: OutputBound = OutputBound {
        bytes: usize::MAX,
        events: usize::MAX,
    };

    /// Whether `out` holds as much as the bound allows.
    pub fn reached(&self, out: &Output) -> bool {
        out.bytes.len() >= self.bytes || out.events.len() >= self.events
    }
}

/// As [`feed_stream`], but stops once `out` reaches `bound`: the listener sends what was
/// produced before it hands the session more of a pipelined burst, so a client that sends
/// many requests and reads no answers holds at most one round of output.
pub fn feed_stream_bounded(
    session: &mut dyn Session,
    input: &[u8],
    now: SystemTime,
    out: &mut Output,
    bound: OutputBound,
) -> usize {
    let mut used = 0;
    while used < input.len() && !bound.reached(out) {
        let n = session
            .on_input(input.get(used..).unwrap_or_default(), now, out)
            .min(input.len() - used);
        used += n;
        if n == 0 || out.close {
            break;
        }
    }
    used
}

/// What a [`Driver`] collected from one step.
#[derive(Debug, Default)]
pub struct Step {
    /// Bytes sent (TCP), or all datagrams concatenated (UDP).
    pub bytes: Vec<u8>,
    /// UDP: each datagram sent.
    pub datagrams: Vec<Vec<u8>>,
    /// Events.
    pub events: Vec<EventDraft>,
    /// Captured files.
    pub files: Vec<Capture>,
    /// I/O requests.
    pub requests: Vec<IoRequest>,
    /// Whether the session asked to close.
    pub close: bool,
    /// How long the listener would wait before sending (the session's delay, or the
    /// service's response time for an answer).
    pub delay: Duration,
}

impl Step {
    /// The event types, in order.
    pub fn types(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.event_type.as_ref()).collect()
    }

    /// The first event of type `ty`.
    pub fn event(&self, ty: &str) -> Option<&EventDraft> {
        self.events.iter().find(|e| e.event_type == ty)
    }
}

/// Drives one session as the listener would, but in memory: stream input is buffered
/// across calls, the session's deadline is kept and fired by [`Driver::advance`], and
/// everything it asks for is collected into [`Step`]s.
pub struct Driver {
    session: Box<dyn Session>,
    ctx: SessionCtx,
    response_time: (u32, u32),
    buffered: Vec<u8>,
    out: Output,
    /// The deadline the session asked for, if any.
    pub deadline: Option<SystemTime>,
    /// The largest UDP reply (the listener's amplification cap), applied to UDP inputs.
    pub reply_limit: usize,
    /// Whether the session asked to close.
    pub closed: bool,
}

impl Driver {
    /// Opens a session of `service` for `ctx` at `now`; the step holds the greeting.
    pub fn open(service: &dyn Service, ctx: SessionCtx, now: SystemTime) -> (Driver, Step) {
        let mut d = Driver {
            session: service.new_session(&ctx),
            ctx,
            response_time: service.response_time(),
            buffered: Vec::new(),
            out: Output::default(),
            deadline: None,
            reply_limit: 65_507,
            closed: false,
        };
        d.session.on_open(now, &mut d.out);
        let step = d.take();
        (d, step)
    }

    /// A TCP session from 192.0.2.10:40000 to 192.0.2.1:`port` at `now`.
    pub fn tcp(service: &dyn Service, port: u16, now: SystemTime) -> (Driver, Step) {
        Self::open(service, ctx(Transport::Tcp, port), now)
    }

    /// A UDP session from 192.0.2.10:40000 to 192.0.2.1:`port` at `now`.
    pub fn udp(service: &dyn Service, port: u16, now: SystemTime) -> (Driver, Step) {
        Self::open(service, ctx(Transport::Udp, port), now)
    }

    /// Feeds bytes: a stream chunk (TCP, buffered across calls like the listener does) or
    /// one datagram (UDP).
    pub fn input(&mut self, bytes: &[u8], now: SystemTime) -> Step {
        if self.closed {
            return Step::default();
        }
        if self.ctx.transport == Transport::Udp {
            self.out.reply_limit = Some(self.reply_limit);
            self.session.on_input(bytes, now, &mut self.out);
        } else {
            self.buffered.extend_from_slice(bytes);
            let used = feed_stream(self.session.as_mut(), &self.buffered, now, &mut self.out);
            self.buffered.drain(..used.min(self.buffered.len()));
        }
        self.take()
    }

    /// The peer closes its side (TCP): the session sees what stayed unconsumed.
    pub fn eof(&mut self, now: SystemTime) -> Step {
        let rest = std::mem::take(&mut self.buffered);
        self.session.on_eof(&rest, now, &mut self.out);
        self.closed = true;
        self.take()
    }

    /// Moves the clock to `now`: fires the session's deadline if it has passed.
    pub fn advance(&mut self, now: SystemTime) -> Step {
        match self.deadline {
            Some(t) if t <= now && !self.closed => {
                self.deadline = None;
                self.session.on_timeout(now, &mut self.out);
                self.take()
            }
            _ => Step::default(),
        }
    }

    /// Reports an I/O outcome to the session.
    pub fn io(&mut self, event: IoEvent, now: SystemTime) -> Step {
        self.session.on_io(event, now, &mut self.out);
        self.take()
    }

    /// Bytes buffered and not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buffered
    }

    fn take(&mut self) -> Step {
        match std::mem::take(&mut self.out.deadline) {
            Deadline::Keep => {}
            Deadline::At(t) => self.deadline = Some(t),
            Deadline::Clear => self.deadline = None,
        }
        let datagrams = if self.ctx.transport == Transport::Udp {
            self.out.datagrams().map(<[u8]>::to_vec).collect()
        } else {
            Vec::new()
        };
        self.closed |= self.out.close;
        let delay = answer_delay(self.response_time, &self.out);
        let step = Step {
            delay,
            bytes: std::mem::take(&mut self.out.bytes),
            datagrams,
            events: std::mem::take(&mut self.out.events),
            files: std::mem::take(&mut self.out.files),
            requests: std::mem::take(&mut self.out.requests),
            close: self.out.close,
        };
        self.out.clear();
        step
    }
}

fn ctx(transport: Transport, port: u16) -> SessionCtx {
    SessionCtx {
        transport,
        peer: SocketAddr::from(([192, 0, 2, 10], 40000)),
        local: SocketAddr::from(([192, 0, 2, 1], port)),
    }
}

/// Builds the device of a native template given as TOML text, with a fixed persona seed
/// and boot time, so tests and fuzz targets see the same device every run.
pub fn device_from_toml(text: &str) -> Result<crate::Device, Vec<crate::template::TemplateError>> {
    let template = crate::template::Template::from_toml("test", text)?;
    device_of(&template)
}

/// Builds the device of a loaded template with a fixed persona seed and boot time.
pub fn device_of(template: &crate::template::Template) -> Result<crate::Device, Vec<crate::template::TemplateError>> {
    let persona = template.persona.generate(&template.name, 1);
    crate::Device::build(
        template,
        persona,
        SystemTime::UNIX_EPOCH,
        &mut crate::rng::Rng::from_seed(1),
    )
}

/// The device of a native template given as TOML text and its `protocol` section, ready
/// for a protocol crate's `build`: what tests and fuzz targets start from.
pub fn device_and_section(
    text: &str,
    protocol: &str,
) -> Result<(crate::Device, crate::template::ProtocolSection), Vec<crate::template::TemplateError>> {
    let template = crate::template::Template::from_toml("test", text)?;
    let device = device_of(&template)?;
    let section = template.protocols.get(protocol).cloned().ok_or_else(|| {
        vec![crate::template::TemplateError {
            file: "template.toml".into(),
            key: format!("protocols.{protocol}"),
            expected: "a section for this protocol".into(),
        }]
    })?;
    Ok((device, section))
}
