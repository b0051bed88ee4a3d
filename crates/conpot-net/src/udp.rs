//! The UDP listener: one socket, and one sans-IO session per source address that keeps
//! its state across datagrams (IPMI RMCP+ sessions, TFTP transfers, BACnet segmentation),
//! with idle expiry, its own timer, and fresh transfer ports on request. Whatever a
//! session sends, in answer to a datagram, on a timer or from a transfer port, passes the
//! per-source answer budget, and answers to a datagram on the listening socket pass the
//! amplification cap, so the service can never be used to flood a spoofed victim (a
//! transfer port's answers are paced by the peer's acknowledgments instead). Every
//! refusal is counted and logged.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::event::{EventDraft, SessionInfo, Transport};
use conpot_core::limits::TokenBucket;
use conpot_core::metrics::Metrics;
use conpot_core::protocol::{
    ChannelId, Deadline, IoEvent, IoRequest, Output, Service, Session, SessionCtx, answer_delay,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::channels::{MAX_CHANNELS, Refused, channel_of, refused_event};
use crate::close::{CloseReason, Tally, close_event};
use crate::sensor::Sensor;

/// Limits of a UDP listener.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UdpLimits {
    /// Answers per second to one source address.
    pub answers_per_source: u32,
    /// A reply may be at most this many times its request's size.
    pub amplification: usize,
    /// Sessions (sources) tracked at once; one is closed to make room beyond.
    pub max_sessions: usize,
}

impl Default for UdpLimits {
    fn default() -> Self {
        UdpLimits {
            answers_per_source: 250,
            amplification: 8,
            max_sessions: 10_000,
        }
    }
}

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// The smallest reply the amplification cap always allows (error answers to tiny probes).
const MIN_REPLY: usize = 64;
/// Datagrams taken from the socket per wake-up before timers and transfer ports are
/// looked at again.
const MAX_BURST: usize = 32;
/// I/O outcomes handled in one go for a session before the loop serves others.
const MAX_IO_ROUNDS: usize = 8;

/// One source address and its session.
struct Source {
    info: SessionInfo,
    session: Box<dyn Session>,
    local: SocketAddr,
    last: SystemTime,
    opened: SystemTime,
    tally: Tally,
    deadline: Option<SystemTime>,
    ports: HashMap<ChannelId, (Arc<UdpSocket>, AbortHandle)>,
}

/// A datagram to send: from a transfer port, or (`None`) from the listening socket.
type Send = (Option<Arc<UdpSocket>>, Vec<u8>);

/// A datagram that arrived on a session's transfer port.
struct PortDatagram {
    peer: SocketAddr,
    channel: ChannelId,
    bytes: Vec<u8>,
}

/// Serves `service` on `socket` until the sensor shuts down.
pub fn serve_udp(sensor: Arc<Sensor>, socket: UdpSocket, service: Arc<dyn Service>, limits: UdpLimits) {
    let tracker = sensor.tracker.clone();
    let (mut udp, mut port_rx) = Udp::new(sensor, socket, service, limits);
    tracker.spawn(async move { udp.serve(&mut port_rx).await });
}

struct Udp {
    sensor: Arc<Sensor>,
    socket: Arc<UdpSocket>,
    service: Arc<dyn Service>,
    protocol: Arc<str>,
    limits: UdpLimits,
    response_time: (u32, u32),
    local: SocketAddr,
    sources: HashMap<SocketAddr, Source>,
    budgets: HashMap<IpAddr, TokenBucket>,
    summaries: HashMap<IpAddr, Summary>,
    deadlines: BinaryHeap<Reverse<(SystemTime, SocketAddr)>>,
    port_tx: mpsc::Sender<PortDatagram>,
    out: Output,
    /// Answers on the listening socket held until the datagrams queued with the one that
    /// woke the loop are served: then sent back to back, so a client with many requests
    /// in flight is woken once for them, not once per answer.
    held: Vec<(SocketAddr, Vec<u8>)>,
    /// The events of the inputs served in this wake-up, published once their answers are
    /// sent, so a client's next request is not held up by logging the last.
    held_events: Vec<HeldEvents>,
}

/// The events of one input, waiting for its answer to be sent.
struct HeldEvents {
    /// The source address, whose summary counts what the budget holds back.
    ip: IpAddr,
    info: SessionInfo,
    events: Vec<EventDraft>,
    answer: Answer,
    now: SystemTime,
}

impl Udp {
    fn new(
        sensor: Arc<Sensor>,
        socket: UdpSocket,
        service: Arc<dyn Service>,
        limits: UdpLimits,
    ) -> (Self, mpsc::Receiver<PortDatagram>) {
        let local = socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (port_tx, port_rx) = mpsc::channel(1024);
        let u = Udp {
            protocol: Arc::from(service.protocol()),
            response_time: service.response_time(),
            sensor,
            socket: Arc::new(socket),
            service,
            limits,
            local,
            sources: HashMap::new(),
            budgets: HashMap::new(),
            summaries: HashMap::new(),
            deadlines: BinaryHeap::new(),
            port_tx,
            out: Output::default(),
            held: Vec::new(),
            held_events: Vec::new(),
        };
        (u, port_rx)
    }
}

impl Udp {
    async fn serve(&mut self, port_rx: &mut mpsc::Receiver<PortDatagram>) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let with_dst = self.local.ip().is_unspecified();
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        let sensor = Arc::clone(&self.sensor);
        // Registered once, not once per wake-up.
        let cancelled = sensor.shutdown.cancelled();
        tokio::pin!(cancelled);
        loop {
            let next = self.deadlines.peek().map(|Reverse((t, _))| *t);
            let wait = next.map(|t| t.duration_since(SystemTime::now()).unwrap_or_default());
            tokio::select! {
                _ = &mut cancelled => break,
                _ = sweep.tick() => self.sweep(SystemTime::now()),
                _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => self.fire_deadlines().await,
                r = crate::pktinfo::recv(&self.socket, &mut buf, with_dst) => match r {
                    Ok(got) => {
                        self.received(got, &buf).await;
                        // Then those already queued, without a trip through the wait each.
                        for _ in 1..MAX_BURST {
                            match crate::pktinfo::try_recv(&self.socket, &mut buf, with_dst) {
                                Ok(got) => self.received(got, &buf).await,
                                Err(e) => {
                                    if e.kind() != std::io::ErrorKind::WouldBlock {
                                        tracing::debug!(error = %e, "udp receive failed");
                                    }
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "udp receive failed"),
                },
                Some(d) = port_rx.recv() => self.port_datagram(d).await,
            }
            self.send_held().await;
        }
        let now = SystemTime::now();
        self.publish_held();
        for summary in self.summaries.values_mut() {
            summary.flush_if_due(&self.sensor, now, true);
        }
        let all: Vec<SocketAddr> = self.sources.keys().copied().collect();
        for a in all {
            self.close(a, now, CloseReason::Shutdown);
        }
    }

    /// Sends the answers held during this wake-up, in order, then publishes the events.
    async fn send_held(&mut self) {
        let mut held = std::mem::take(&mut self.held);
        let mut rest = held.as_slice();
        while let Some(((peer, d), tail)) = rest.split_first() {
            // Together, in as few system calls as the kernel takes them.
            match crate::mmsg::try_send(&self.socket, rest) {
                Ok(n) => rest = rest.get(n.max(1)..).unwrap_or_default(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // The socket's buffer is full: the first waits for room, then the
                    // rest go together again.
                    if let Err(e) = self.socket.send_to(d, *peer).await {
                        tracing::debug!(error = %e, "udp send failed");
                    }
                    rest = tail;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "udp send failed");
                    rest = tail;
                }
            }
        }
        // The vector's room is kept for the next wake-up.
        held.clear();
        self.held = held;
        self.publish_held();
    }

    /// Publishes the events held in this wake-up, in order (before anything else about
    /// their sessions is logged, such as a close).
    fn publish_held(&mut self) {
        for h in self.held_events.drain(..) {
            let summary = self.summaries.entry(h.ip).or_default();
            log_events(&self.sensor, &h.info, h.events, h.answer, summary, h.now);
        }
    }

    /// A datagram received into `buf`, addressed to where it was sent.
    async fn received(&mut self, got: crate::pktinfo::Received, buf: &[u8]) {
        let local = got.dst.map_or(self.local, |ip| SocketAddr::new(ip, self.local.port()));
        let datagram = buf.get(..got.len).unwrap_or_default();
        self.datagram(datagram, got.peer, local).await;
    }

    /// A datagram on the listening socket: to the source's session (new if needed).
    async fn datagram(&mut self, datagram: &[u8], peer: SocketAddr, local: SocketAddr) {
        let now = SystemTime::now();
        if !self.sources.contains_key(&peer) {
            if self.sources.len() >= self.limits.max_sessions {
                // Full (a flood from many sources): close one session to make room. Any
                // one will do; scanning for the oldest would cost a pass per datagram.
                if let Some(old) = self.sources.keys().next().copied() {
                    self.close(old, now, CloseReason::SessionLimit);
                    Metrics::inc(&self.sensor.metrics.limit_udp_sessions);
                    let info = SessionInfo::new(Arc::clone(&self.protocol), Transport::Udp, Some(peer), Some(local));
                    self.sensor
                        .limit_hit(&info, "session_limit", self.limits.max_sessions, now);
                }
            }
            self.open(peer, local, now).await;
        }
        let Some(src) = self.sources.get_mut(&peer) else { return };
        src.last = now;
        src.tally.bytes_in += datagram.len() as u64;
        if let Some(n) = &mut src.tally.datagrams {
            *n += 1;
        }
        let limit = datagram.len().saturating_mul(self.limits.amplification).max(MIN_REPLY);
        self.out.reply_limit = Some(limit);
        src.session.on_input(datagram, now, &mut self.out);
        self.act(peer, Some(limit), now).await;
    }

    async fn open(&mut self, peer: SocketAddr, local: SocketAddr, now: SystemTime) {
        let info = SessionInfo::new(Arc::clone(&self.protocol), Transport::Udp, Some(peer), Some(local));
        self.sensor.emit(&info, EventDraft::new("session.open"), now);
        let ctx = SessionCtx {
            transport: Transport::Udp,
            peer,
            local,
        };
        let mut session = self.service.new_session(&ctx);
        session.on_open(now, &mut self.out);
        self.sources.insert(
            peer,
            Source {
                info,
                session,
                local,
                last: now,
                opened: now,
                tally: Tally {
                    datagrams: Some(0),
                    ..Tally::default()
                },
                deadline: None,
                ports: HashMap::new(),
            },
        );
        self.act(peer, None, now).await;
    }

    /// A datagram on a session's transfer port.
    async fn port_datagram(&mut self, d: PortDatagram) {
        let now = SystemTime::now();
        let Some(src) = self.sources.get_mut(&d.peer) else {
            return;
        };
        src.last = now;
        src.tally.bytes_in += d.bytes.len() as u64;
        if let Some(n) = &mut src.tally.datagrams {
            *n += 1;
        }
        let event = IoEvent::Data {
            channel: d.channel,
            bytes: d.bytes,
        };
        src.session.on_io(event, now, &mut self.out);
        // No amplification cap here: a transfer port is known only to the peer that got
        // our datagram from it (a spoofed source never learns it), and a transfer's
        // answers are paced by the peer's acknowledgments (a TFTP ACK of 4 bytes asks for
        // a block of up to 64 KiB). The per-source answer budget still applies.
        self.act(d.peer, None, now).await;
    }

    async fn fire_deadlines(&mut self) {
        let now = SystemTime::now();
        while let Some(Reverse((t, peer))) = self.deadlines.peek().copied() {
            if t > now {
                break;
            }
            self.deadlines.pop();
            let Some(src) = self.sources.get_mut(&peer) else {
                continue;
            };
            if src.deadline != Some(t) {
                continue; // replaced or cleared since
            }
            src.deadline = None;
            src.session.on_timeout(now, &mut self.out);
            self.act(peer, None, now).await;
        }
    }

    /// Carries out what the session of `peer` put in `out`, feeding I/O outcomes back
    /// to it (a bounded number of rounds).
    async fn act(&mut self, peer: SocketAddr, reply_limit: Option<usize>, now: SystemTime) {
        let mut limit = reply_limit;
        for _ in 0..MAX_IO_ROUNDS {
            let out = std::mem::take(&mut self.out);
            let delay = answer_delay(self.response_time, &out);
            let close = out.close;
            let (sends, io) = self.account_with_io(peer, out, limit, now);
            limit = None;
            if delay.is_zero() {
                for (s, d) in sends {
                    match s {
                        Some(port) => {
                            if let Err(e) = port.send_to(&d, peer).await {
                                tracing::debug!(error = %e, "udp send failed");
                            }
                        }
                        None => self.held.push((peer, d)),
                    }
                }
            } else if !sends.is_empty() {
                let sock = Arc::clone(&self.socket);
                self.sensor.tracker.spawn(async move {
                    tokio::time::sleep(delay).await;
                    for (s, d) in sends {
                        let _ = s.unwrap_or_else(|| Arc::clone(&sock)).send_to(&d, peer).await;
                    }
                });
            }
            if close {
                self.close(peer, now, CloseReason::Server);
                return;
            }
            if io.is_empty() {
                return;
            }
            let Some(src) = self.sources.get_mut(&peer) else { return };
            for ev in io {
                src.session.on_io(ev, now, &mut self.out);
            }
        }
    }

    /// Publishes events and files, applies the timer and requests, and returns what may be
    /// sent (after the amplification cap and the answer budget) with the I/O outcomes.
    fn account_with_io(
        &mut self,
        peer: SocketAddr,
        mut out: Output,
        reply_limit: Option<usize>,
        now: SystemTime,
    ) -> (Vec<Send>, Vec<IoEvent>) {
        let mut sends = Vec::new();
        let mut io = Vec::new();
        let Some(src) = self.sources.get_mut(&peer) else {
            return (sends, io);
        };
        let events = std::mem::take(&mut out.events);
        for file in out.files.drain(..) {
            self.sensor.capture(&src.info, file, now);
        }
        match out.deadline {
            Deadline::Keep => {}
            Deadline::At(t) => {
                src.deadline = Some(t);
                self.deadlines.push(Reverse((t, peer)));
            }
            Deadline::Clear => src.deadline = None,
        }
        for request in out.requests.drain(..) {
            let channel = channel_of(&request);
            match request {
                IoRequest::NewUdpPort { channel }
                    if src.ports.len() < MAX_CHANNELS && !src.ports.contains_key(&channel) =>
                {
                    match open_port(&self.sensor, src.local, peer, channel, self.port_tx.clone()) {
                        Ok((sock, local, abort)) => {
                            src.ports.insert(channel, (sock, abort));
                            io.push(IoEvent::Listening { channel, local });
                        }
                        Err(_) => io.push(IoEvent::Failed {
                            channel,
                            reason: "no_port",
                        }),
                    }
                }
                IoRequest::Send { channel, bytes } => match src.ports.get(&channel) {
                    Some((sock, _)) => sends.push((Some(Arc::clone(sock)), bytes)),
                    None => io.push(IoEvent::Failed {
                        channel,
                        reason: "not_open",
                    }),
                },
                IoRequest::Close { channel } => {
                    if let Some((_, abort)) = src.ports.remove(&channel) {
                        abort.abort();
                    }
                    io.push(IoEvent::Closed { channel });
                }
                other => {
                    let why = if matches!(other, IoRequest::NewUdpPort { .. }) {
                        self.sensor.limit_hit(&src.info, "io_channels", MAX_CHANNELS, now);
                        Refused::ChannelLimit
                    } else {
                        Refused::Unsupported
                    };
                    self.sensor.emit(&src.info, refused_event(&other, why), now);
                    io.push(IoEvent::Failed {
                        channel,
                        reason: why.as_str(),
                    });
                }
            }
        }
        for d in out.datagrams() {
            sends.push((None, d.to_vec()));
        }
        let total: usize = sends.iter().map(|(_, d)| d.len()).sum();
        let produced = sends.len();
        let mut suppressed_by = None;
        if let Some(limit) = reply_limit
            && total > limit
        {
            Metrics::inc(&self.sensor.metrics.limit_amplification);
            self.sensor
                .limit_hit(&src.info, "amplification", self.limits.amplification, now);
            sends.clear();
            suppressed_by = Some("amplification");
        }
        let per_second = self.limits.answers_per_source;
        let budget = self
            .budgets
            .entry(peer.ip())
            .or_insert_with(|| TokenBucket::new(per_second, now));
        let allowed = budget.take(per_second, sends.len() as u64, now) as usize;
        if sends.len() > allowed {
            sends.truncate(allowed);
            Metrics::inc(&self.sensor.metrics.limit_udp_budget);
            self.sensor
                .limit_hit(&src.info, "answers_per_source", per_second as usize, now);
            suppressed_by = Some("budget");
        }
        src.tally.bytes_out += sends.iter().map(|(_, d)| d.len() as u64).sum::<u64>();
        let answer = match (produced, suppressed_by) {
            (0, _) => Answer::None,
            (_, None) => Answer::Sent,
            (_, Some(why)) => Answer::Suppressed(why),
        };
        if !events.is_empty() {
            self.held_events.push(HeldEvents {
                ip: peer.ip(),
                info: src.info.clone(),
                events,
                answer,
                now,
            });
        }
        (sends, io)
    }

    fn sweep(&mut self, now: SystemTime) {
        let timeout = self.sensor.session_timeout;
        let idle: Vec<SocketAddr> = self
            .sources
            .iter()
            .filter(|(_, s)| now.duration_since(s.last).unwrap_or_default() >= timeout)
            .map(|(a, _)| *a)
            .collect();
        for a in idle {
            Metrics::inc(&self.sensor.metrics.idle_timeouts);
            self.close(a, now, CloseReason::Idle);
        }
        let per_second = self.limits.answers_per_source;
        self.budgets.retain(|_, b| !b.full(per_second, now));
        let sensor = &self.sensor;
        self.summaries.retain(|_, summary| {
            summary.flush_if_due(sensor, now, false);
            !summary.is_idle(now)
        });
        if self.deadlines.len() > 4 * self.sources.len() + 64 {
            // Replaced deadlines are dropped lazily; rebuild when they pile up.
            self.deadlines = self
                .sources
                .iter()
                .filter_map(|(a, s)| s.deadline.map(|t| Reverse((t, *a))))
                .collect();
        }
    }

    fn close(&mut self, peer: SocketAddr, now: SystemTime, reason: CloseReason) {
        self.publish_held();
        let Some(s) = self.sources.remove(&peer) else { return };
        for (_, (_, abort)) in s.ports {
            abort.abort();
        }
        self.sensor
            .emit(&s.info, close_event(reason, s.opened, now, s.tally), now);
    }
}

/// Binds a transfer port on the session's local address and forwards what the peer
/// sends to it (datagrams from anyone else are dropped).
fn open_port(
    sensor: &Sensor,
    local: SocketAddr,
    peer: SocketAddr,
    channel: ChannelId,
    tx: mpsc::Sender<PortDatagram>,
) -> std::io::Result<(Arc<UdpSocket>, SocketAddr, AbortHandle)> {
    let sock = Arc::new(crate::bind::bind_udp(SocketAddr::new(local.ip(), 0))?);
    let bound = sock.local_addr()?;
    let announced = SocketAddr::new(local.ip(), bound.port());
    let reader = Arc::clone(&sock);
    let handle = sensor.tracker.spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let (n, from) = match reader.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(_) => return,
            };
            if from != peer {
                continue;
            }
            let bytes = buf.get(..n).unwrap_or_default().to_vec();
            if tx.send(PortDatagram { peer, channel, bytes }).await.is_err() {
                return;
            }
        }
    });
    Ok((sock, announced, handle.abort_handle()))
}

/// What became of the answer to one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The session had nothing to send.
    None,
    /// Sent (at least in part).
    Sent,
    /// Not sent, and why (`budget`, `amplification`).
    Suppressed(&'static str),
}

/// Over-budget (or over the amplification cap) traffic of one source, summarised: the
/// first such request of a second is logged in full (the sample, without the response
/// that never left), the rest are counted, and one `udp.suppressed`
/// event per source per second says how many and of what type. So a flood can never make
/// the log grow faster than the answer budget plus two events per source per second.
#[derive(Debug, Default)]
struct Summary {
    /// Start of the current window (none: no over-budget traffic in it yet).
    since: Option<SystemTime>,
    /// Requests counted but not logged in this window, by event type.
    counted: Vec<(String, u64)>,
    /// When over-budget traffic was last seen.
    last: Option<SystemTime>,
    /// The session the summary is logged in (the source's latest).
    info: Option<SessionInfo>,
}

/// Event types named in one summary, at most.
const MAX_SUMMARY_TYPES: usize = 8;

impl Summary {
    /// Takes one over-budget request; true if it is to be logged (the window's sample).
    fn take(&mut self, info: &SessionInfo, event_type: &str, now: SystemTime) -> bool {
        self.last = Some(now);
        if self.info.as_ref().is_none_or(|i| i.id != info.id) {
            self.info = Some(info.clone());
        }
        match self.since {
            None => {
                self.since = Some(now);
                true
            }
            Some(_) => {
                let key = if self.counted.iter().any(|(t, _)| t == event_type) || self.counted.len() < MAX_SUMMARY_TYPES
                {
                    event_type
                } else {
                    "other"
                };
                match self.counted.iter_mut().find(|(t, _)| t == key) {
                    Some((_, n)) => *n += 1,
                    None => self.counted.push((key.to_owned(), 1)),
                }
                false
            }
        }
    }

    /// Writes the summary of a window a second old or more (any age if `force`), if it
    /// counted anything, and starts a new one.
    fn flush_if_due(&mut self, sensor: &Sensor, now: SystemTime, force: bool) {
        let Some(since) = self.since else { return };
        if !force && now.duration_since(since).unwrap_or_default() < Duration::from_secs(1) {
            return;
        }
        let counted = std::mem::take(&mut self.counted);
        self.since = None;
        let total: u64 = counted.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return;
        }
        Metrics::add(&sensor.metrics.events_summarised, total);
        let Some(info) = &self.info else { return };
        let types: serde_json::Map<String, serde_json::Value> =
            counted.into_iter().map(|(t, n)| (t, n.into())).collect();
        let d = EventDraft::new("udp.suppressed")
            .with("requests", total)
            .with("event_types", serde_json::Value::Object(types))
            .with(
                "window_ms",
                now.duration_since(since).unwrap_or_default().as_millis() as u64,
            )
            .with("answer", "suppressed");
        sensor.emit(info, d, now);
    }

    /// Nothing over budget for a while: the entry can go.
    fn is_idle(&self, now: SystemTime) -> bool {
        self.since.is_none()
            && self
                .last
                .is_none_or(|t| now.duration_since(t).unwrap_or_default() > Duration::from_secs(2))
    }
}

/// Publishes the events of one input, saying what became of its answer: an event that
/// describes an answer never sent loses its `response` and says `answer = "suppressed"`
/// with `suppressed_by`; over the budget, all but the sample of each second are counted
/// in the source's summary instead of logged. Essential events are always published.
fn log_events(
    sensor: &Sensor,
    info: &SessionInfo,
    events: Vec<EventDraft>,
    answer: Answer,
    summary: &mut Summary,
    now: SystemTime,
) {
    if matches!(answer, Answer::Suppressed(_)) {
        summary.flush_if_due(sensor, now, false);
    }
    for mut ev in events {
        let describes_answer = ev.body.response.is_some() || ev.body.raw_response.is_some();
        match answer {
            Answer::Sent if describes_answer => ev = ev.with("answer", "sent"),
            Answer::Suppressed(why) => {
                if conpot_core::bus::is_essential(&ev.event_type) {
                    sensor.emit(info, ev, now);
                    continue;
                }
                if !summary.take(info, &ev.event_type, now) {
                    continue;
                }
                ev.body.response = None;
                ev.body.raw_response = None;
                ev = ev.with("answer", "suppressed").with("suppressed_by", why);
            }
            _ => {}
        }
        sensor.emit(info, ev, now);
    }
}
