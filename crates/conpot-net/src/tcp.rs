//! The TCP listener: admits connections under the limits and runs each connection's
//! sans-IO session with its idle timeout, its own timer, bounded buffering, the I/O
//! channels it asks for, and graceful shutdown. Every open, close and limit hit is an
//! event. A listener may terminate TLS ([`serve_tcp_tls`]): the session then sees the
//! plaintext only.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use bytes::{Buf, BytesMut};
use conpot_core::drive::{OutputBound, feed_stream_bounded};
use conpot_core::event::{EventDraft, SessionInfo, Transport};
use conpot_core::limits::{Leave, Refusal};
use conpot_core::metrics::Metrics;
use conpot_core::protocol::{Capture, Deadline, Output, Service, Session, SessionCtx, answer_delay};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::channels::Channels;
use crate::close::{CloseReason, Tally, close_event};
use crate::sensor::Sensor;
use crate::timer::Timer;
use crate::tls::{Received, TlsConn, TlsServer};

/// Read granularity: a buffer grows by this much when data arrives.
const READ_CHUNK: usize = 4096;
/// Output one round of input may produce before the rest of the input waits for it to be
/// sent: with the socket read only between rounds, this bounds what a client that never
/// reads its answers can make a connection hold.
const ROUND: OutputBound = OutputBound {
    bytes: 64 * 1024,
    events: 256,
};
/// Buffers larger than this are released when they empty.
const KEEP_CAPACITY: usize = 16 * 1024;

/// Serves `service` on `listener` until the sensor shuts down.
pub fn serve_tcp(sensor: Arc<Sensor>, listener: TcpListener, service: Arc<dyn Service>) {
    let tracker = sensor.tracker.clone();
    tracker.spawn(accept_loop(sensor, listener, service, None));
}

/// Serves `service` over TLS on `listener` until the sensor shuts down: the same session
/// as on a plain port, behind `tls`; the handshake's facts and failures are events.
pub fn serve_tcp_tls(sensor: Arc<Sensor>, listener: TcpListener, service: Arc<dyn Service>, tls: TlsServer) {
    let tracker = sensor.tracker.clone();
    tracker.spawn(accept_loop(sensor, listener, service, Some(tls)));
}

async fn accept_loop(sensor: Arc<Sensor>, listener: TcpListener, service: Arc<dyn Service>, tls: Option<TlsServer>) {
    let protocol: Arc<str> = Arc::from(service.protocol());
    loop {
        let accepted = tokio::select! {
            _ = sensor.shutdown.cancelled() => {
                // Every open connection's loop waits on its own waker, not on the token.
                sensor.limiter.close_all();
                return;
            }
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors or a transient error: back off briefly, keep serving.
                tracing::warn!(protocol = %protocol, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let local = stream.local_addr().unwrap_or(peer);
        let now = SystemTime::now();
        let permit = match sensor.limiter.admit(peer.ip(), sensor.clock_ms()) {
            Ok(admission) => {
                if admission.evicted {
                    // Full: another connection (the idlest of the biggest source) was asked
                    // to make room; this one is served.
                    Metrics::inc(&sensor.metrics.limit_evictions);
                    let info = SessionInfo::new(Arc::clone(&protocol), Transport::Tcp, Some(peer), Some(local));
                    sensor.limit_hit(&info, "max_connections", sensor.limits.max_connections, now);
                }
                admission.permit
            }
            Err(refusal) => {
                let info = SessionInfo::new(Arc::clone(&protocol), Transport::Tcp, Some(peer), Some(local));
                let (name, value, counter) = match refusal {
                    Refusal::Global => (
                        "max_connections",
                        sensor.limits.max_connections,
                        &sensor.metrics.limit_max_connections,
                    ),
                    Refusal::PerSource => (
                        "max_connections_per_ip",
                        sensor.limits.max_connections_per_ip,
                        &sensor.metrics.limit_per_ip,
                    ),
                };
                Metrics::inc(counter);
                sensor.limit_hit(&info, name, value, now);
                drop(stream);
                continue;
            }
        };
        Metrics::inc(&sensor.metrics.connections_accepted);
        let _ = stream.set_nodelay(true);
        let s = Arc::clone(&sensor);
        let svc = Arc::clone(&service);
        let proto = Arc::clone(&protocol);
        let tls_conn = match tls.as_ref().map(TlsServer::start) {
            None => None,
            Some(Ok(c)) => Some(Box::new(c)),
            Some(Err(e)) => {
                tracing::warn!(protocol = %protocol, error = %e, "cannot start a TLS connection");
                continue;
            }
        };
        sensor.tracker.spawn(async move {
            let ctx = SessionCtx {
                transport: Transport::Tcp,
                peer,
                local,
            };
            Connection::new(s, stream, ctx, svc, proto, tls_conn).run(permit).await;
        });
    }
}

/// One connection and the session it carries.
struct Connection {
    sensor: Arc<Sensor>,
    stream: TcpStream,
    info: SessionInfo,
    service: Arc<dyn Service>,
    session: Box<dyn Session>,
    out: Output,
    buf: BytesMut,
    tally: Tally,
    response_time: (u32, u32),
    timer: Timer,
    /// The I/O channels, made on a session's first request (most sessions never ask).
    channels: Option<Box<Channels>>,
    /// Complete input is buffered but was held back by the output bound of a round.
    held: bool,
    /// The session consumed input since the partial frame was last checked.
    progressed: bool,
    /// TLS state on a TLS listener (the session sees plaintext).
    tls: Option<Box<TlsConn>>,
    /// Scratch for TLS: decrypted input, and records to send; kept to reuse their memory.
    plain: Vec<u8>,
    wire: Vec<u8>,
}

impl Connection {
    fn new(
        sensor: Arc<Sensor>,
        stream: TcpStream,
        ctx: SessionCtx,
        service: Arc<dyn Service>,
        protocol: Arc<str>,
        tls: Option<Box<TlsConn>>,
    ) -> Self {
        let info = SessionInfo::new(protocol, Transport::Tcp, Some(ctx.peer), Some(ctx.local));
        let session = service.new_session(&ctx);
        let response_time = service.response_time();
        Connection {
            response_time,
            sensor,
            stream,
            info,
            service,
            session,
            out: Output::default(),
            buf: BytesMut::new(),
            tally: Tally::default(),
            timer: Timer::default(),
            channels: None,
            held: false,
            progressed: false,
            tls,
            plain: Vec::new(),
            wire: Vec::new(),
        }
    }

    /// Runs the connection to its end; `permit` (its place under the connection limits)
    /// is released as soon as the session is over, before the socket's own shutdown, so a
    /// client that opens a new connection right after closing one is never refused for it.
    async fn run(mut self, permit: conpot_core::limits::Permit) {
        let opened = SystemTime::now();
        self.sensor.emit(&self.info, EventDraft::new("session.open"), opened);
        self.session.on_open(opened, &mut self.out);
        let mut reason = self.flush().await;

        // One idle timer per connection, re-armed only when it fires: nothing per request
        // but an `Instant::now()`.
        let sensor = Arc::clone(&self.sensor);
        let timeout = sensor.session_timeout;
        let idle = tokio::time::sleep(timeout);
        tokio::pin!(idle);
        let mut last_active = tokio::time::Instant::now();
        // The partial frame: since when input has waited unconsumed, checked by its own
        // timer once a second (frame timeout, minimum input rate).
        let mut frame_since: Option<tokio::time::Instant> = None;
        let frame_timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(frame_timer);
        // Shutdown and eviction come through the connection's own waker (the shared
        // shutdown token's lock, taken by every connection on every wake, is not polled).
        let leave = permit.told_to_leave();
        tokio::pin!(leave);
        if sensor.shutdown.is_cancelled() {
            reason = Some(CloseReason::Shutdown);
        }
        while reason.is_none() {
            let channels_active = self.channels.as_ref().is_some_and(|c| c.active());
            let woke = tokio::select! {
                biased;
                l = &mut leave => {
                    reason = Some(match l {
                        Leave::Evicted => CloseReason::Evicted,
                        Leave::Shutdown => CloseReason::Shutdown,
                    });
                    break;
                }
                _ = std::future::ready(()), if self.held => Wake::Held,
                r = self.stream.readable(), if !self.held => Wake::Readable(r),
                _ = self.timer.wait() => Wake::Timer,
                ev = next_io(&mut self.channels), if channels_active => Wake::Io(ev),
                _ = &mut frame_timer, if frame_since.is_some() => Wake::Frame,
                _ = &mut idle => Wake::Idle,
            };
            let now = SystemTime::now();
            match woke {
                Wake::Idle => {
                    let deadline = last_active + timeout;
                    if tokio::time::Instant::now() < deadline {
                        idle.as_mut().reset(deadline);
                        continue;
                    }
                    Metrics::inc(&self.sensor.metrics.idle_timeouts);
                    reason = Some(CloseReason::Idle);
                    break;
                }
                Wake::Frame => {}
                Wake::Held => {
                    let used = self.feed_buffered(now);
                    if used > 0 {
                        permit.touch(self.sensor.clock_ms());
                    }
                }
                Wake::Timer => {
                    self.timer.disarm();
                    self.session.on_timeout(now, &mut self.out);
                }
                Wake::Io(Some(ev)) => {
                    last_active = tokio::time::Instant::now();
                    self.session.on_io(ev, now, &mut self.out);
                }
                Wake::Io(None) => {}
                Wake::Readable(Err(e)) => {
                    self.session.on_eof(&self.buf, now, &mut self.out);
                    self.emit_pending(now);
                    self.tally.error = Some(e.to_string());
                    reason = Some(CloseReason::Error);
                    break;
                }
                Wake::Readable(Ok(())) => match self.read_and_feed(now) {
                    Ok((0, _)) => {
                        self.session.on_eof(&self.buf, now, &mut self.out);
                        let _ = self.flush().await;
                        reason = Some(CloseReason::Peer);
                        break;
                    }
                    Ok((n, progressed)) => {
                        self.tally.bytes_in += n as u64;
                        last_active = tokio::time::Instant::now();
                        if progressed {
                            // The clock just read, not another read of it.
                            permit.touch(self.sensor.clock_ms_at(last_active.into_std()));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => {
                        // However the connection ends (FIN, RST, a socket error), a frame
                        // left half-sent is the session's to report as truncated.
                        self.session.on_eof(&self.buf, now, &mut self.out);
                        self.emit_pending(now);
                        reason = Some(if e.kind() == io::ErrorKind::ConnectionReset {
                            CloseReason::Peer
                        } else {
                            CloseReason::Error
                        });
                        self.tally.error = Some(e.to_string());
                        break;
                    }
                },
            }
            reason = self.flush().await;
            if reason.is_none() && self.buf.len() > self.sensor.limits.max_buffer {
                Metrics::inc(&self.sensor.metrics.limit_buffer);
                let max = self.sensor.limits.max_buffer;
                self.sensor.limit_hit(&self.info, "max_buffer", max, now);
                self.emit_truncated(now);
                reason = Some(CloseReason::Buffer);
            }
            if reason.is_none() {
                reason = self.check_frame(&mut frame_since, frame_timer.as_mut(), now);
            }
            if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
                self.buf = BytesMut::new();
            }
        }

        let reason = reason.unwrap_or(CloseReason::Server);
        let closed = SystemTime::now();
        let tally = std::mem::take(&mut self.tally);
        drop(permit);
        self.sensor
            .emit(&self.info, close_event(reason, opened, closed, tally), closed);
        if let Some(tls) = self.tls.as_mut() {
            // close_notify (or the alert of a failed handshake), briefly: the client may be gone.
            let bytes = tls.close();
            if !bytes.is_empty() {
                let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.write_all(&bytes)).await;
            }
        }
        let _ = self.stream.shutdown().await;
    }

    /// Tracks the partial frame (unconsumed input): starts its clock when input is left
    /// over, stops it when all is consumed, and closes the connection when the frame is
    /// older than the frame timeout or, after its first second, arrives slower than the
    /// minimum input rate. Re-arms the once-a-second check.
    fn check_frame(
        &mut self,
        since: &mut Option<tokio::time::Instant>,
        timer: std::pin::Pin<&mut tokio::time::Sleep>,
        now: SystemTime,
    ) -> Option<CloseReason> {
        let progressed = std::mem::take(&mut self.progressed);
        if self.buf.is_empty() || self.held {
            // Nothing partial (the usual case after a whole request): no clock to read.
            *since = None;
            return None;
        }
        let at = tokio::time::Instant::now();
        if progressed {
            // Frames were consumed: what is left is a new partial frame, timed from now.
            *since = Some(at);
        }
        let start = *since.get_or_insert(at);
        let age = at.saturating_duration_since(start);
        let limits = &self.sensor.limits;
        if age >= limits.frame_timeout {
            Metrics::inc(&self.sensor.metrics.limit_frame_timeout);
            let secs = limits.frame_timeout.as_secs() as usize;
            self.sensor.limit_hit(&self.info, "frame_timeout", secs, now);
            self.emit_truncated(now);
            return Some(CloseReason::FrameTimeout);
        }
        let rate = u64::from(limits.min_input_rate);
        if rate > 0 && age >= Duration::from_secs(1) {
            let wanted = u128::from(rate) * age.as_millis() / 1000;
            if (self.buf.len() as u128) < wanted {
                Metrics::inc(&self.sensor.metrics.limit_min_input_rate);
                self.sensor
                    .limit_hit(&self.info, "min_input_rate", limits.min_input_rate as usize, now);
                self.emit_truncated(now);
                return Some(CloseReason::SlowInput);
            }
        }
        let next = (start + limits.frame_timeout).min(at + Duration::from_secs(1));
        timer.reset(next);
        None
    }

    /// The partial frame is given up on: the session reports it as truncated, as at EOF.
    fn emit_truncated(&mut self, now: SystemTime) {
        self.session.on_eof(&self.buf, now, &mut self.out);
        self.emit_pending(now);
    }

    /// Reads what the socket has into a stack buffer and feeds it to the session; returns
    /// the bytes read (0 at end of stream) and whether the session consumed any input. An idle or spuriously woken connection
    /// allocates nothing, and input consumed at once (the common case) is never copied.
    /// Not async, so the stack buffer is never part of the connection's future.
    fn read_and_feed(&mut self, now: SystemTime) -> io::Result<(usize, bool)> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = read_draining(&self.stream, &mut chunk)?;
        let fresh = chunk.get(..n).unwrap_or_default();
        if n == 0 {
            return Ok((0, false));
        }
        if self.tls.is_some() {
            return self.read_tls(fresh, now);
        }
        let used = if self.buf.is_empty() {
            let used = feed_stream_bounded(self.session.as_mut(), fresh, now, &mut self.out, ROUND);
            self.buf.extend_from_slice(fresh.get(used..).unwrap_or_default());
            self.held = used < n && ROUND.reached(&self.out) && !self.out.close;
            used
        } else {
            self.buf.extend_from_slice(fresh);
            self.feed_buffered(now)
        };
        self.progressed |= used > 0;
        Ok((n, used > 0))
    }

    /// [`Connection::read_and_feed`] for TLS: the records are decrypted and the plaintext
    /// fed; the TLS events are published here. A close_notify reads as the end of stream.
    fn read_tls(&mut self, raw: &[u8], now: SystemTime) -> io::Result<(usize, bool)> {
        let n = raw.len();
        let mut plain = std::mem::take(&mut self.plain);
        plain.clear();
        let mut events = Vec::new();
        let received = match self.tls.as_mut() {
            Some(tls) => tls.receive(raw, &mut plain, &mut events),
            None => Ok(Received::Open),
        };
        for ev in events {
            self.sensor.emit(&self.info, ev, now);
        }
        let mut used = 0;
        if !plain.is_empty() {
            self.buf.extend_from_slice(&plain);
            used = self.feed_buffered(now);
        }
        if plain.capacity() <= KEEP_CAPACITY {
            self.plain = plain;
        }
        match received {
            Ok(Received::Open) => Ok((n, used > 0)),
            Ok(Received::Closed) => {
                self.tally.bytes_in += n as u64;
                Ok((0, used > 0))
            }
            Err(reason) => Err(io::Error::new(io::ErrorKind::InvalidData, format!("tls: {reason}"))),
        }
    }

    /// Hands the buffered input to the session (one bounded round); returns what it
    /// consumed and notes whether input is left that the bound held back.
    fn feed_buffered(&mut self, now: SystemTime) -> usize {
        let used = feed_stream_bounded(self.session.as_mut(), &self.buf, now, &mut self.out, ROUND);
        self.buf.advance(used);
        self.held = !self.buf.is_empty() && used > 0 && ROUND.reached(&self.out) && !self.out.close;
        self.progressed |= used > 0;
        used
    }

    /// Publishes the events and files in `out` and forgets the rest: what a session says
    /// about a connection that can no longer be written to.
    fn emit_pending(&mut self, now: SystemTime) {
        self.publish(now);
        self.out.clear();
    }

    /// Publishes the events and captured files `out` holds.
    fn publish(&mut self, now: SystemTime) {
        Self::publish_from(&self.sensor, &self.info, &mut self.out.events, &mut self.out.files, now);
    }

    /// [`publish`](Self::publish), for when the output's bytes are borrowed by a write.
    fn publish_from(
        sensor: &Sensor,
        info: &SessionInfo,
        events: &mut Vec<EventDraft>,
        files: &mut Vec<Capture>,
        now: SystemTime,
    ) {
        for ev in events.drain(..) {
            sensor.emit(info, ev, now);
        }
        for file in files.drain(..) {
            sensor.capture(info, file, now);
        }
    }

    /// Carries out what `out` holds: timer, requests, the bytes (after the delay), and the
    /// events and files (after the bytes, or before the requests of a proxied session).
    /// Returns a close reason if the session asked to close or writing failed.
    async fn flush(&mut self) -> Option<CloseReason> {
        if self.out.is_empty() && !self.tls.as_ref().is_some_and(|t| t.wants_write()) {
            return None;
        }
        let now = SystemTime::now();
        // The events go out after the reply, so the client's next request is not held up
        // by logging this one (the event's time is still when it was handled). They go
        // first when the reply waits (a response delay: nothing is lost if the sensor stops
        // meanwhile) and for a proxied request (ahead of what its upstream connection logs).
        let delay = answer_delay(self.response_time, &self.out);
        let events_first = !self.out.requests.is_empty() || !delay.is_zero();
        if events_first {
            self.publish(now);
        }
        match std::mem::take(&mut self.out.deadline) {
            Deadline::Keep => {}
            Deadline::At(t) => self.timer.arm(t),
            Deadline::Clear => self.timer.disarm(),
        }
        if !self.out.requests.is_empty() {
            let requests = std::mem::take(&mut self.out.requests);
            let channels = self.channels.get_or_insert_with(|| {
                let (peer, local) = (self.info.src, self.info.dst);
                let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
                Box::new(Channels::new(
                    Arc::clone(&self.sensor),
                    self.info.clone(),
                    peer.unwrap_or(unspecified),
                    local.unwrap_or(unspecified),
                ))
            });
            for r in requests {
                // Boxed: the request path is rare, and an idle connection's future should
                // not carry its size.
                let (targets, tls) = (self.service.upstream_targets(), self.service.upstream_tls());
                Box::pin(channels.handle(r, targets, tls, self.service.serial_line())).await;
            }
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut reason = None;
        let mut wire = std::mem::take(&mut self.wire);
        wire.clear();
        if let Some(tls) = self.tls.as_mut() {
            tls.seal(&self.out.bytes, &mut wire);
        }
        let bytes: &[u8] = if self.tls.is_some() { &wire } else { &self.out.bytes };
        if bytes.is_empty() {
            if !events_first {
                self.publish(now);
            }
        } else {
            // Nothing more is read while replies wait to be taken (backpressure): a client
            // that never reads holds at most one read's worth of replies here, and is
            // closed after the output timeout.
            let limit = self.sensor.limits.output_timeout;
            let mut write = std::pin::pin!(tokio::time::timeout(limit, self.stream.write_all(bytes)));
            // One attempt first: the reply normally fits the socket's buffer at once. One
            // that has to wait for the client lets the events go out before it waits; they
            // come before any limit the write hits either way.
            let attempt = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
            if !events_first {
                Self::publish_from(&self.sensor, &self.info, &mut self.out.events, &mut self.out.files, now);
            }
            let written = match attempt {
                Poll::Ready(w) => w,
                Poll::Pending => write.await,
            };
            match written {
                Ok(Ok(())) => self.tally.bytes_out += bytes.len() as u64,
                Ok(Err(e)) => {
                    self.tally.error = Some(e.to_string());
                    reason = Some(CloseReason::Error);
                }
                Err(_) => {
                    Metrics::inc(&self.sensor.metrics.limit_output);
                    let secs = limit.as_secs() as usize;
                    self.sensor.limit_hit(&self.info, "output_timeout", secs, now);
                    self.tally.error = Some("replies not taken".into());
                    reason = Some(CloseReason::OutputStalled);
                }
            }
        }
        if wire.capacity() <= KEEP_CAPACITY {
            self.wire = wire;
        }
        if reason.is_none() && self.out.close {
            reason = Some(CloseReason::Server);
        }
        self.out.clear();
        if self.out.bytes.capacity() > KEEP_CAPACITY {
            self.out.bytes = Vec::new();
        }
        reason
    }
}

enum Wake {
    Readable(io::Result<()>),
    Timer,
    Io(Option<conpot_core::protocol::IoEvent>),
    Frame,
    Held,
    Idle,
}

/// One read of what the socket holds, without waiting (`WouldBlock` when it holds nothing).
/// A read that fills less than `buf` has taken all that was queued, so the socket's
/// readiness is cleared at once, as tokio's own `poll_read` does: the connection then waits
/// for the next request rather than making one more read that can only say `WouldBlock`
/// (the reactor is edge-triggered, so data that arrives meanwhile is reported afresh).
fn read_draining(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    use std::io::Read;
    let sock = socket2::SockRef::from(stream);
    let len = buf.len();
    let mut got = 0;
    let read = stream.try_io(tokio::io::Interest::READABLE, || {
        let n = (&*sock).read(buf)?;
        got = n;
        if n > 0 && n < len {
            // Tells `try_io` to clear the readiness; the bytes are returned below.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match read {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        other => other,
    }
}

async fn next_io(channels: &mut Option<Box<Channels>>) -> Option<conpot_core::protocol::IoEvent> {
    match channels {
        Some(c) => c.next().await,
        None => std::future::pending().await,
    }
}
