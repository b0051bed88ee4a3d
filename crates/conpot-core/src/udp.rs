//! The UDP listener framework: one socket per listener, a session per source address with
//! idle expiry, and a per-source answer budget, so a datagram service can never be used
//! to flood a spoofed victim. Replies larger than a set multiple of their request are not
//! sent. Every refusal is counted and logged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;

use crate::event::{EventDraft, SessionInfo, Transport};
use crate::listener::Sensor;
use crate::metrics::Metrics;

/// What a datagram service answers to one datagram.
#[derive(Debug, Default)]
pub struct DatagramOutput {
    /// The reply, if any.
    pub reply: Option<Vec<u8>>,
    /// Events to log.
    pub events: Vec<EventDraft>,
    /// Wait this long before sending the reply (the device's response time).
    pub delay: Duration,
}

/// A protocol served over UDP: each datagram is handled on its own (sans-IO).
pub trait DatagramService: Send + Sync + 'static {
    /// Protocol name used in events.
    fn protocol(&self) -> &'static str;

    /// Handles one datagram from `peer` to `local` at `now`. `max_reply` is the largest
    /// reply the listener will send for it (the service should answer within it, e.g.
    /// with a tooBig error).
    fn handle(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
        local: SocketAddr,
        now: SystemTime,
        max_reply: usize,
    ) -> DatagramOutput;
}

/// Limits of a UDP listener.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UdpLimits {
    /// Answers per second to one source address.
    pub answers_per_source: u32,
    /// A reply may be at most this many times its request's size.
    pub amplification: usize,
    /// Sessions (sources) tracked at once; the oldest is closed beyond.
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

struct Source {
    info: SessionInfo,
    last: SystemTime,
    opened: SystemTime,
    datagrams: u64,
}

struct Budget {
    second: u64,
    used: u32,
}

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;

/// Binds a UDP socket on `addr` (IPv6 sockets are IPv6-only).
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    UdpSocket::from_std(sock.into())
}

/// Serves `service` on `socket` until the sensor shuts down.
pub fn serve_udp(sensor: Arc<Sensor>, socket: UdpSocket, service: Arc<dyn DatagramService>, limits: UdpLimits) {
    let tracker = sensor.tracker.clone();
    tracker.spawn(udp_loop(sensor, socket, service, limits));
}

async fn udp_loop(sensor: Arc<Sensor>, socket: UdpSocket, service: Arc<dyn DatagramService>, limits: UdpLimits) {
    let socket = Arc::new(socket);
    let protocol: Arc<str> = Arc::from(service.protocol());
    let local = socket
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut sources: HashMap<SocketAddr, Source> = HashMap::new();
    let mut budgets: HashMap<IpAddr, Budget> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    loop {
        let received = tokio::select! {
            _ = sensor.shutdown.cancelled() => break,
            _ = sweep.tick() => {
                let now = SystemTime::now();
                expire(&sensor, &mut sources, now, |s| now.duration_since(s.last).unwrap_or_default() >= sensor.session_timeout);
                budgets.retain(|_, b| b.second + 2 >= secs(now));
                continue;
            }
            r = socket.recv_from(&mut buf) => r,
        };
        let (n, peer) = match received {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "udp receive failed");
                continue;
            }
        };
        let now = SystemTime::now();
        let datagram = buf.get(..n).unwrap_or_default();
        if !sources.contains_key(&peer) {
            if sources.len() >= limits.max_sessions {
                // Full (a flood from many sources): close one session to make room. Any
                // one will do; scanning for the oldest would cost a pass per datagram.
                if let Some(old) = sources.keys().next().copied()
                    && let Some(s) = sources.remove(&old)
                {
                    close(&sensor, s, now, "session_limit");
                    Metrics::inc(&sensor.metrics.limit_udp_sessions);
                }
            }
            let info = SessionInfo::new(Arc::clone(&protocol), Transport::Udp, Some(peer), Some(local));
            sensor.emit(&info, EventDraft::new("session.open"), now);
            sources.insert(
                peer,
                Source {
                    info,
                    last: now,
                    opened: now,
                    datagrams: 0,
                },
            );
        }
        let Some(src) = sources.get_mut(&peer) else { continue };
        src.last = now;
        src.datagrams += 1;
        let max_reply = n.saturating_mul(limits.amplification).max(64);
        let out = service.handle(datagram, peer, local, now, max_reply);
        for ev in out.events {
            sensor.emit(&src.info, ev, now);
        }
        let Some(reply) = out.reply else { continue };
        if reply.len() > max_reply {
            Metrics::inc(&sensor.metrics.limit_amplification);
            sensor.limit_hit(&src.info, "amplification", limits.amplification, now);
            continue;
        }
        let budget = budgets.entry(peer.ip()).or_insert(Budget {
            second: secs(now),
            used: 0,
        });
        if budget.second != secs(now) {
            *budget = Budget {
                second: secs(now),
                used: 0,
            };
        }
        if budget.used >= limits.answers_per_source {
            Metrics::inc(&sensor.metrics.limit_udp_budget);
            sensor.limit_hit(&src.info, "answers_per_source", limits.answers_per_source as usize, now);
            continue;
        }
        budget.used += 1;
        if out.delay.is_zero() {
            if let Err(e) = socket.send_to(&reply, peer).await {
                tracing::debug!(error = %e, "udp send failed");
            }
        } else {
            let (sock, delay) = (Arc::clone(&socket), out.delay);
            sensor.tracker.spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = sock.send_to(&reply, peer).await;
            });
        }
    }
    let now = SystemTime::now();
    expire(&sensor, &mut sources, now, |_| true);
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn expire(sensor: &Sensor, sources: &mut HashMap<SocketAddr, Source>, now: SystemTime, pred: impl Fn(&Source) -> bool) {
    let gone: Vec<SocketAddr> = sources.iter().filter(|(_, s)| pred(s)).map(|(a, _)| *a).collect();
    let reason = if sensor.shutdown.is_cancelled() {
        "shutdown"
    } else {
        "idle_timeout"
    };
    for a in gone {
        if let Some(s) = sources.remove(&a) {
            close(sensor, s, now, reason);
        }
    }
}

fn close(sensor: &Sensor, s: Source, now: SystemTime, reason: &'static str) {
    let d = EventDraft::new("session.close")
        .with("reason", reason)
        .with(
            "duration_ms",
            now.duration_since(s.opened).unwrap_or_default().as_millis() as u64,
        )
        .with("datagrams", s.datagrams);
    sensor.emit(&s.info, d, now);
}
