//! The TCP listener framework: binds sockets, admits connections under the limits, and
//! runs each connection's sans-IO session with idle timeout, bounded buffering and
//! graceful shutdown. Every session open, close and limit hit becomes an event.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::EventBus;
use crate::config::Limits;
use crate::event::{Event, EventDraft, Origin, SessionInfo, Transport};
use crate::limits::{ConnLimiter, Refusal, ReportGate};
use crate::metrics::Metrics;
use crate::protocol::{Output, StreamService};

/// Read granularity: a buffer grows by this much when data arrives.
const READ_CHUNK: usize = 4096;
/// Buffers larger than this are released when they empty.
const KEEP_CAPACITY: usize = 16 * 1024;

/// What every listener of one sensor shares.
#[derive(Debug)]
pub struct Sensor {
    /// Envelope values of events.
    pub origin: Origin,
    /// Where events go.
    pub bus: Arc<EventBus>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Connection admission.
    pub limiter: Arc<ConnLimiter>,
    /// Limits.
    pub limits: Limits,
    /// Idle time after which a session is closed.
    pub session_timeout: Duration,
    /// Cancelled to shut down.
    pub shutdown: CancellationToken,
    /// Tracks listener and session tasks so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Where files handed over by attackers are kept (none: only their events).
    pub captures: Option<crate::capture::FileStore>,
    gates: [ReportGate; 5],
}

impl Sensor {
    /// A sensor context.
    pub fn new(
        origin: Origin,
        bus: Arc<EventBus>,
        limits: Limits,
        session_timeout: Duration,
        captures: Option<crate::capture::FileStore>,
    ) -> Arc<Self> {
        let metrics = Arc::clone(bus.metrics());
        Arc::new(Sensor {
            origin,
            limiter: ConnLimiter::new(limits.max_connections, limits.max_connections_per_ip),
            metrics,
            bus,
            limits,
            session_timeout,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            captures,
            gates: Default::default(),
        })
    }

    /// Stamps and publishes `draft` for `session` at `now`.
    pub fn emit(&self, session: &SessionInfo, draft: EventDraft, now: SystemTime) {
        if draft.event_type.ends_with(".malformed") {
            Metrics::inc(&self.metrics.malformed_frames);
        }
        self.bus.publish(Event::stamp(&self.origin, session, draft, now));
    }

    /// Logs a limit hit (at most one event per limit per second; the rest are counted in
    /// the next event's `suppressed`).
    pub fn limit_hit(&self, session: &SessionInfo, limit: &'static str, value: usize, now: SystemTime) {
        let gate = match limit {
            "max_connections" => &self.gates[0],
            "max_connections_per_ip" => &self.gates[1],
            "answers_per_source" => &self.gates[3],
            "amplification" => &self.gates[4],
            _ => &self.gates[2],
        };
        let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        if let Some(suppressed) = gate.pass(secs) {
            self.emit(
                session,
                EventDraft::new("limit.hit")
                    .with("limit", limit)
                    .with("value", value)
                    .with("suppressed", suppressed),
                now,
            );
        }
    }
}

/// Binds a TCP listening socket on `addr` (IPv6 sockets are IPv6-only, so `[::]` and
/// `0.0.0.0` can be bound side by side).
pub fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(4096)?;
    TcpListener::from_std(sock.into())
}

/// Serves `service` on `listener` until the sensor shuts down.
pub fn serve_tcp(sensor: Arc<Sensor>, listener: TcpListener, service: Arc<dyn StreamService>) {
    let tracker = sensor.tracker.clone();
    tracker.spawn(accept_loop(sensor, listener, service));
}

async fn accept_loop(sensor: Arc<Sensor>, listener: TcpListener, service: Arc<dyn StreamService>) {
    let protocol: Arc<str> = Arc::from(service.protocol());
    loop {
        let accepted = tokio::select! {
            _ = sensor.shutdown.cancelled() => return,
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
        let permit = match sensor.limiter.admit(peer.ip()) {
            Ok(p) => p,
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
        sensor.tracker.spawn(async move {
            serve_connection(&s, stream, peer, local, svc.as_ref(), proto).await;
            drop(permit);
        });
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseReason {
    Peer,
    Server,
    Idle,
    Buffer,
    Shutdown,
    Error,
}

impl CloseReason {
    fn as_str(self) -> &'static str {
        match self {
            CloseReason::Peer => "peer",
            CloseReason::Server => "server",
            CloseReason::Idle => "idle_timeout",
            CloseReason::Buffer => "buffer_limit",
            CloseReason::Shutdown => "shutdown",
            CloseReason::Error => "error",
        }
    }
}

async fn serve_connection(
    sensor: &Sensor,
    mut stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    service: &dyn StreamService,
    protocol: Arc<str>,
) {
    let info = SessionInfo::new(protocol, Transport::Tcp, Some(peer), Some(local));
    let opened = SystemTime::now();
    sensor.emit(&info, EventDraft::new("session.open"), opened);
    let mut session = service.new_session(peer, local);
    let mut out = Output::default();
    let mut buf = BytesMut::new();
    let (mut bytes_in, mut bytes_out) = (0u64, 0u64);
    let mut error: Option<String> = None;

    session.on_open(opened, &mut out);
    let mut reason = match flush(sensor, &info, &mut stream, &mut out, &mut bytes_out).await {
        Err(e) => {
            error = Some(e.to_string());
            Some(CloseReason::Error)
        }
        Ok(true) => Some(CloseReason::Server),
        Ok(false) => None,
    };

    // One shutdown registration and one idle timer per connection, re-armed only when it
    // fires: nothing per request but an `Instant::now()`.
    let cancelled = sensor.shutdown.cancelled();
    tokio::pin!(cancelled);
    let idle = tokio::time::sleep(sensor.session_timeout);
    tokio::pin!(idle);
    let mut last_active = tokio::time::Instant::now();
    while reason.is_none() {
        let ready = tokio::select! {
            biased;
            _ = &mut cancelled => { reason = Some(CloseReason::Shutdown); break; }
            r = stream.readable() => Some(r),
            _ = &mut idle => None,
        };
        match ready {
            None => {
                let deadline = last_active + sensor.session_timeout;
                if tokio::time::Instant::now() < deadline {
                    idle.as_mut().reset(deadline);
                    continue;
                }
                Metrics::inc(&sensor.metrics.idle_timeouts);
                reason = Some(CloseReason::Idle);
                break;
            }
            Some(Err(e)) => {
                error = Some(e.to_string());
                reason = Some(CloseReason::Error);
                break;
            }
            Some(Ok(())) => {}
        }
        let now = SystemTime::now();
        match read_and_feed(&stream, &mut buf, session.as_mut(), now, &mut out) {
            Ok(0) => {
                session.on_eof(&buf, now, &mut out);
                let _ = flush(sensor, &info, &mut stream, &mut out, &mut bytes_out).await;
                reason = Some(CloseReason::Peer);
                break;
            }
            Ok(n) => {
                bytes_in += n as u64;
                last_active = tokio::time::Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                error = Some(e.to_string());
                reason = Some(if e.kind() == io::ErrorKind::ConnectionReset {
                    CloseReason::Peer
                } else {
                    CloseReason::Error
                });
                break;
            }
        }
        match flush(sensor, &info, &mut stream, &mut out, &mut bytes_out).await {
            Err(e) => {
                error = Some(e.to_string());
                reason = Some(CloseReason::Error);
            }
            Ok(true) => reason = Some(CloseReason::Server),
            Ok(false) => {}
        }
        if reason.is_none() && buf.len() > sensor.limits.max_buffer {
            Metrics::inc(&sensor.metrics.limit_buffer);
            sensor.limit_hit(&info, "max_buffer", sensor.limits.max_buffer, now);
            reason = Some(CloseReason::Buffer);
        }
        if buf.is_empty() && buf.capacity() > KEEP_CAPACITY {
            buf = BytesMut::new();
        }
    }

    let reason = reason.unwrap_or(CloseReason::Server);
    let closed = SystemTime::now();
    let duration = closed.duration_since(opened).unwrap_or_default();
    let mut draft = EventDraft::new("session.close")
        .with("reason", reason.as_str())
        .with("duration_ms", duration.as_millis() as u64)
        .with("bytes_in", bytes_in)
        .with("bytes_out", bytes_out);
    draft.body.error = error;
    sensor.emit(&info, draft, closed);
    let _ = stream.shutdown().await;
}

/// Reads what the socket has into a stack buffer and feeds it to the session; returns the
/// bytes read (0 at end of stream). An idle or spuriously woken connection allocates
/// nothing, and input consumed at once (the common case) is never copied. Not async, so
/// the stack buffer is never part of the connection's future.
fn read_and_feed(
    stream: &TcpStream,
    buf: &mut BytesMut,
    session: &mut dyn crate::protocol::StreamSession,
    now: SystemTime,
    out: &mut Output,
) -> io::Result<usize> {
    let mut chunk = [0u8; READ_CHUNK];
    let n = stream.try_read(&mut chunk)?;
    let fresh = chunk.get(..n).unwrap_or_default();
    if n == 0 {
        return Ok(0);
    }
    if buf.is_empty() {
        let used = feed(session, fresh, now, out);
        buf.extend_from_slice(fresh.get(used..).unwrap_or_default());
    } else {
        buf.extend_from_slice(fresh);
        let used = feed(session, buf, now, out);
        buf.advance(used);
    }
    Ok(n)
}

/// Hands `input` to the session until it consumes nothing more or asks to close; returns
/// how many bytes it consumed.
fn feed(session: &mut dyn crate::protocol::StreamSession, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
    let mut used = 0;
    while used < input.len() {
        let n = session
            .on_data(input.get(used..).unwrap_or_default(), now, out)
            .min(input.len() - used);
        used += n;
        if n == 0 || out.close {
            break;
        }
    }
    used
}

/// Sends what `out` holds and publishes its events; `Ok(true)` if the session asked to
/// close.
async fn flush(
    sensor: &Sensor,
    info: &SessionInfo,
    stream: &mut TcpStream,
    out: &mut Output,
    sent: &mut u64,
) -> io::Result<bool> {
    if out.is_empty() {
        return Ok(false);
    }
    let now = SystemTime::now();
    for ev in out.events.drain(..) {
        sensor.emit(info, ev, now);
    }
    for file in out.files.drain(..) {
        let ev = match &sensor.captures {
            Some(store) => store.store(file),
            None => {
                let sha = crate::capture::hex_digest(&file.bytes);
                EventDraft::new("file.upload")
                    .with("name", file.name)
                    .with("sha256", sha)
                    .with("status", "not_stored")
            }
        };
        sensor.emit(info, ev, now);
    }
    if !out.delay.is_zero() {
        tokio::time::sleep(out.delay).await;
    }
    if !out.bytes.is_empty() {
        match tokio::time::timeout(sensor.session_timeout, stream.write_all(&out.bytes)).await {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
        *sent += out.bytes.len() as u64;
    }
    let close = out.close;
    out.clear();
    if out.bytes.capacity() > KEEP_CAPACITY {
        out.bytes = Vec::new();
    }
    Ok(close)
}
