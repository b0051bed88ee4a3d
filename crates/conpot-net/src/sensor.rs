//! What every listener of one sensor shares: the event envelope, the bus, counters,
//! connection admission, limits, shutdown, and the capture store.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use conpot_core::bus::EventBus;
use conpot_core::capture::{FileStore, hex_digest};
use conpot_core::config::Limits;
use conpot_core::event::{Event, EventDraft, Origin, SessionInfo, bound_fields};
use conpot_core::limits::{ConnLimiter, ReportGate};
use conpot_core::metrics::Metrics;
use conpot_core::protocol::Capture;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Limits whose hits are reported at most once per second each (the rest counted).
const GATED: [&str; 9] = [
    "max_connections",
    "frame_timeout",
    "min_input_rate",
    "output_timeout",
    "max_connections_per_ip",
    "answers_per_source",
    "amplification",
    "max_buffer",
    "session_limit",
];

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
    pub captures: Option<FileStore>,
    /// The shared serial lines, by device path (serial device server bridged to a device).
    pub lines: crate::serial::Lines,
    gates: [ReportGate; GATED.len() + 1],
    epoch: std::time::Instant,
}

impl Sensor {
    /// A sensor context.
    pub fn new(
        origin: Origin,
        bus: Arc<EventBus>,
        limits: Limits,
        session_timeout: Duration,
        captures: Option<FileStore>,
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
            lines: Default::default(),
            gates: Default::default(),
            epoch: std::time::Instant::now(),
        })
    }

    /// Another persona served by this process (`[[personas]]`): its events carry `origin`
    /// and its captures go to `captures`, while the bus, counters, connection admission
    /// (one global and per-source count for every persona), limits, shutdown and task
    /// tracking are this sensor's, so one stop drains every persona and an attacker
    /// cannot multiply the connection limits by spreading over the devices.
    pub fn sibling(&self, origin: Origin, captures: Option<FileStore>) -> Arc<Self> {
        Arc::new(Sensor {
            origin,
            limiter: Arc::clone(&self.limiter),
            metrics: Arc::clone(&self.metrics),
            bus: Arc::clone(&self.bus),
            limits: self.limits.clone(),
            session_timeout: self.session_timeout,
            shutdown: self.shutdown.clone(),
            tracker: self.tracker.clone(),
            captures,
            lines: Default::default(),
            gates: Default::default(),
            // The limiter's clock is the first sensor's, whichever persona asks.
            epoch: self.epoch,
        })
    }

    /// A sensor whose events go to one in-memory queue of `queue` events, with the default
    /// envelope of a test sensor: what integration tests and tools run listeners with.
    pub fn standalone(
        limits: Limits,
        session_timeout: Duration,
        captures: Option<FileStore>,
        queue: usize,
    ) -> (Arc<Self>, conpot_core::bus::SinkReceiver) {
        let mut bus = EventBus::new(Arc::new(Metrics::default()));
        let rx = bus.add_sink("standalone", queue);
        let origin = Origin {
            sensor_id: "standalone".into(),
            persona: "standalone".into(),
            public_ip: None,
            raw_limit: 4096,
        };
        (
            Sensor::new(origin, Arc::new(bus), limits, session_timeout, captures),
            rx,
        )
    }

    /// Milliseconds since the sensor started, on the monotonic clock: the time the
    /// connection limiter is given.
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms_at(std::time::Instant::now())
    }

    /// [`Self::clock_ms`] at `at`, for a caller that has just read the clock anyway (a
    /// connection stamps its activity once per read).
    pub fn clock_ms_at(&self, at: std::time::Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Stamps and publishes `draft` for `session` at `now`.
    /// Every decoded field is first bounded by the field limit (see
    /// [`conpot_core::event::bound_fields`]).
    pub fn emit(&self, session: &SessionInfo, mut draft: EventDraft, now: SystemTime) {
        if bound_fields(&mut draft, self.limits.field_limit) > 0 {
            Metrics::inc(&self.metrics.fields_truncated);
        }
        if draft.event_type.ends_with(".malformed") {
            Metrics::inc(&self.metrics.malformed_frames);
        }
        self.bus.publish(Event::stamp(&self.origin, session, draft, now));
    }

    /// Stores a captured file (when a store is configured) and publishes its event.
    pub fn capture(&self, session: &SessionInfo, file: Capture, now: SystemTime) {
        let ev = match &self.captures {
            Some(store) => store.store(file),
            None => EventDraft::new("file.upload")
                .with("name", file.name)
                .with("sha256", hex_digest(&file.bytes))
                .with("status", "not_stored"),
        };
        self.emit(session, ev, now);
    }

    /// Logs a limit hit (at most one event per limit per second; the rest are counted in
    /// the next event's `suppressed`).
    pub fn limit_hit(&self, session: &SessionInfo, limit: &'static str, value: usize, now: SystemTime) {
        let i = GATED.iter().position(|l| *l == limit).unwrap_or(GATED.len());
        let Some(gate) = self.gates.get(i) else { return };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_sibling_names_its_persona_and_shares_bus_limits_and_shutdown() {
        let limits = Limits {
            max_connections_per_ip: 1,
            ..Limits::default()
        };
        let (first, mut rx) = Sensor::standalone(limits, Duration::from_secs(5), None, 16);
        let second = first.sibling(
            Origin {
                persona: "meter".into(),
                ..first.origin.clone()
            },
            None,
        );
        let session = SessionInfo::new("kamstrup_meter".into(), conpot_core::event::Transport::Tcp, None, None);
        second.emit(&session, EventDraft::new("x.y"), SystemTime::now());
        first.emit(&session, EventDraft::new("x.y"), SystemTime::now());
        assert_eq!(&*rx.try_recv().unwrap().persona, "meter");
        assert_eq!(&*rx.try_recv().unwrap().persona, "standalone");
        // One connection per source for the whole process: the second persona refuses the next.
        let ip = "192.0.2.1".parse().unwrap();
        let held = first.limiter.admit(ip, first.clock_ms()).unwrap();
        assert!(second.limiter.admit(ip, second.clock_ms()).is_err());
        assert_eq!(second.limiter.open(), 1);
        drop(held);
        first.shutdown.cancel();
        assert!(second.shutdown.is_cancelled());
    }
}
