//! One relayed connection as a sans-IO session: it asks the listener for the upstream
//! connection (the configured target only), holds the client's first bytes (bounded)
//! until the upstream is up, then passes bytes both ways, each through the decoder. The
//! listener carries out the I/O and applies backpressure: a client's bytes go to the
//! upstream through a bounded queue, the upstream's bytes are written to the client before
//! more are read.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use conpot_core::event::EventDraft;
use conpot_core::protocol::{ChannelId, IoEvent, IoRequest, Output, Session};

use crate::config::ProxyConfig;
use crate::decode::{Decoder, Direction};

/// The upstream connection's channel.
pub const UPSTREAM: ChannelId = 1;
/// Client bytes held while the upstream connects; beyond, input waits in the listener
/// (whose buffer limit applies).
pub const MAX_HELD: usize = 64 * 1024;

/// Where the upstream connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Asked for, not yet connected.
    Connecting,
    /// Connected: bytes pass.
    Up,
    /// Failed or closed: the session is closing.
    Down,
}

/// A session's place among the proxy's connections; released when the session ends.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// A place among at most `max` connections counted by `count`, if one is free.
    pub fn take(count: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Slot(Arc::clone(count)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One client connection relayed to the upstream.
pub struct ProxySession {
    config: Arc<ProxyConfig>,
    /// Released when the session is dropped (the listener drops it when the connection ends).
    slot: Option<Slot>,
    link: Link,
    held: Vec<u8>,
    decoder: Box<dyn Decoder>,
    /// When the upstream must have connected (while connecting).
    connect_by: Option<SystemTime>,
    /// The last time a byte passed either way.
    active: SystemTime,
    finished: bool,
}

impl ProxySession {
    /// A session for `config`, holding `slot` (`None`: over the connection limit, the
    /// session refuses at open).
    pub fn new(config: Arc<ProxyConfig>, slot: Option<Slot>) -> Self {
        let decoder = config.decoder.build();
        ProxySession {
            config,
            slot,
            link: Link::Connecting,
            held: Vec::new(),
            decoder,
            connect_by: None,
            active: SystemTime::UNIX_EPOCH,
            finished: false,
        }
    }

    /// Where the upstream connection stands.
    pub fn link(&self) -> Link {
        self.link
    }

    fn named(&self, d: EventDraft) -> EventDraft {
        d.with("proxy", self.config.name.as_str())
    }

    fn upstream_event(&self, state: &str, reason: Option<&str>) -> EventDraft {
        let mut d = self.named(
            EventDraft::new("proxy.upstream")
                .with("state", state.to_owned())
                .with("upstream", self.config.upstream.to_string()),
        );
        if let Some(r) = reason {
            d = d.with("reason", r.to_owned());
        }
        d
    }

    fn push_events(&self, events: Vec<EventDraft>, out: &mut Output) {
        out.events.extend(events.into_iter().map(|e| self.named(e)));
    }

    fn decode(&mut self, dir: Direction, bytes: &[u8], out: &mut Output) {
        let mut events = Vec::new();
        self.decoder.feed(dir, bytes, &mut events);
        self.push_events(events, out);
    }

    fn finish(&mut self, out: &mut Output) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let mut events = Vec::new();
        self.decoder.finish(&mut events);
        self.push_events(events, out);
    }

    /// Ends the session: the upstream is down (`state`, `reason`), so the client is closed.
    fn down(&mut self, state: &str, reason: Option<&str>, out: &mut Output) {
        if self.link == Link::Down {
            return;
        }
        if self.link == Link::Up || self.connect_by.is_some() {
            out.request(IoRequest::Close { channel: UPSTREAM });
        }
        self.link = Link::Down;
        self.connect_by = None;
        out.events.push(self.upstream_event(state, reason));
        self.finish(out);
        out.clear_deadline();
        out.close = true;
    }

    fn arm(&self, out: &mut Output) {
        match self.connect_by {
            Some(t) => out.set_deadline(t),
            None => out.set_deadline(self.active + self.config.idle_timeout),
        }
    }
}

impl Session for ProxySession {
    fn on_open(&mut self, now: SystemTime, out: &mut Output) {
        self.active = now;
        if self.slot.is_none() {
            self.link = Link::Down;
            out.events.push(
                self.named(
                    EventDraft::new("proxy.refused")
                        .with("reason", "max_connections")
                        .with("limit", self.config.max_connections),
                ),
            );
            out.close = true;
            return;
        }
        out.request(IoRequest::Upstream {
            channel: UPSTREAM,
            addr: self.config.upstream,
        });
        self.connect_by = Some(now + self.config.connect_timeout);
        self.arm(out);
    }

    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        let take = match self.link {
            Link::Down => return input.len(),
            Link::Up => input.len(),
            Link::Connecting => input.len().min(MAX_HELD.saturating_sub(self.held.len())),
        };
        let Some(bytes) = input.get(..take) else { return 0 };
        if bytes.is_empty() {
            return 0;
        }
        self.active = now;
        self.decode(Direction::ToUpstream, bytes, out);
        if self.link == Link::Up {
            out.request(IoRequest::Send {
                channel: UPSTREAM,
                bytes: bytes.to_vec(),
            });
            self.arm(out);
        } else {
            self.held.extend_from_slice(bytes);
        }
        take
    }

    fn on_io(&mut self, ev: IoEvent, now: SystemTime, out: &mut Output) {
        match ev {
            IoEvent::Connected { .. } if self.link == Link::Connecting => {
                self.link = Link::Up;
                self.connect_by = None;
                self.active = now;
                out.events.push(self.upstream_event("connected", None));
                if !self.held.is_empty() {
                    out.request(IoRequest::Send {
                        channel: UPSTREAM,
                        bytes: std::mem::take(&mut self.held),
                    });
                }
                self.arm(out);
            }
            IoEvent::Data { bytes, .. } if self.link == Link::Up => {
                self.active = now;
                self.decode(Direction::FromUpstream, &bytes, out);
                out.bytes.extend_from_slice(&bytes);
                self.arm(out);
            }
            IoEvent::Failed { reason, .. } => {
                let state = if self.link == Link::Connecting {
                    "failed"
                } else {
                    "lost"
                };
                self.down(state, Some(reason), out);
            }
            IoEvent::Closed { .. } => self.down("closed", Some("upstream closed"), out),
            _ => {}
        }
    }

    fn on_timeout(&mut self, now: SystemTime, out: &mut Output) {
        match self.connect_by {
            Some(t) if now >= t => self.down("failed", Some("connect_timeout"), out),
            Some(_) => self.arm(out),
            None if self.link == Link::Up && now >= self.active + self.config.idle_timeout => {
                self.down("closed", Some("idle_timeout"), out);
            }
            None if self.link == Link::Up => self.arm(out),
            None => {}
        }
    }

    fn on_eof(&mut self, _rest: &[u8], _now: SystemTime, out: &mut Output) {
        if self.link != Link::Down {
            out.request(IoRequest::Close { channel: UPSTREAM });
            self.link = Link::Down;
        }
        self.finish(out);
    }
}
