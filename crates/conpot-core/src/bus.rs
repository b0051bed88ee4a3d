//! The event bus: every sink has its own bounded queue, so a slow or dead sink never
//! blocks a protocol or another sink. A queue is bounded both in events and in bytes (as
//! estimated by [`Event::approx_size`], or the memory a prepared body holds), since a count
//! alone let large events take the process's memory.
//!
//! A sink that writes only encoded bodies gets a prepared queue: the publishing thread
//! encodes the event and frees it, and only the body crosses to the sink's thread.
//!
//! A full queue drops the event and counts it; the sink reports the count as an
//! `events.dropped` event as soon as it catches up. Dropping is not blind:
//!
//! - the last eighth of a queue is kept for the events an analyst cannot do without
//!   (session open and close, authentication attempts, captured files, limit hits, the
//!   sensor's own events), so protocol detail is dropped first;
//! - the protocol detail of one source address may fill at most its share of a queue
//!   (`event_source_share`, in events and bytes); past it, that source's detail is
//!   dropped and counted per source, and the events of every other source still get in.
//!
//! Sources are tracked in a fixed table of hashed buckets (two sources may share one),
//! so a flood from many addresses costs no memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::event::Event;
use crate::metrics::Metrics;

/// Buckets of the per-source share table.
const SHARES: usize = 256;
/// Sources named in a queue's per-source drop counts before the rest go under `other`.
const MAX_NAMED_SOURCES: usize = 16;

/// How much one sink queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Events at most.
    pub events: usize,
    /// Bytes (estimated) at most.
    pub bytes: usize,
    /// Percent of `events` and `bytes` the protocol detail of one source may fill.
    pub source_share: u8,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            events: 16_384,
            bytes: 8 << 20,
            source_share: 25,
        }
    }
}

impl From<&crate::config::Limits> for QueueLimits {
    fn from(l: &crate::config::Limits) -> Self {
        QueueLimits {
            events: l.event_queue,
            bytes: l.event_queue_bytes,
            source_share: l.event_source_share,
        }
    }
}

/// Whether an event of this type is kept even when protocol detail is being dropped.
pub fn is_essential(event_type: &str) -> bool {
    matches!(
        event_type,
        "session.open" | "session.close" | "auth.attempt" | "limit.hit" | "events.dropped"
    ) || event_type.starts_with("file.")
        || event_type.starts_with("sensor.")
}

/// Encodes an event into a sink's ready-made record body, on the thread that publishes it
/// (see [`EventBus::add_prepared_sink`]). Returns false when the event cannot be encoded.
pub type Prepare = Arc<dyn Fn(&Event, &mut Vec<u8>) -> bool + Send + Sync>;

/// What a sink takes from its queue: the event itself, or, for a prepared queue, the body
/// its encoder made of it on the publishing thread.
#[derive(Debug, Clone)]
pub enum Taken {
    /// The event, shared with the other sinks.
    Event(Arc<Event>),
    /// The encoded body of an event (a prepared queue's items).
    Prepared(Vec<u8>),
    /// An event the prepared queue's encoder could not encode (counted by the sink).
    Unencodable,
}

impl Taken {
    /// The event, when this is one.
    pub fn into_event(self) -> Option<Arc<Event>> {
        match self {
            Taken::Event(e) => Some(e),
            Taken::Prepared(_) | Taken::Unencodable => None,
        }
    }
}

/// One queued item and what it holds of its queue.
#[derive(Debug)]
struct Queued {
    item: Taken,
    size: usize,
    share: Option<usize>,
}

/// What a queue holds, shared by the bus (adding) and the sink (taking).
#[derive(Debug)]
struct Usage {
    limits: QueueLimits,
    bytes: AtomicUsize,
    share_events: [AtomicUsize; SHARES],
    share_bytes: [AtomicUsize; SHARES],
    dropped: Arc<AtomicU64>,
    dropped_essential: AtomicU64,
    by_source: Mutex<HashMap<Option<IpAddr>, u64>>,
}

impl Usage {
    fn new(limits: QueueLimits, dropped: Arc<AtomicU64>) -> Self {
        Usage {
            limits,
            bytes: AtomicUsize::new(0),
            share_events: std::array::from_fn(|_| AtomicUsize::new(0)),
            share_bytes: std::array::from_fn(|_| AtomicUsize::new(0)),
            dropped,
            dropped_essential: AtomicU64::new(0),
            by_source: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves room for an event of `size` bytes when the channel has `available` free
    /// places; `share` is its source's bucket (none for essential events and sensor
    /// events). The event count itself is the channel's.
    fn reserve(&self, size: usize, essential: bool, share: Option<usize>, available: usize) -> bool {
        let l = &self.limits;
        let max_bytes = if essential {
            l.bytes
        } else {
            if available <= l.events / 8 {
                return false;
            }
            l.bytes - l.bytes / 8
        };
        if !take(&self.bytes, size, max_bytes) {
            return false;
        }
        if let Some(i) = share {
            let pct = usize::from(l.source_share.clamp(1, 100));
            let (se, sb) = ((l.events * pct / 100).max(1), (l.bytes * pct / 100).max(1));
            let (Some(ev), Some(by)) = (self.share_events.get(i), self.share_bytes.get(i)) else {
                return true;
            };
            if !take(ev, 1, se) {
                self.bytes.fetch_sub(size, Ordering::AcqRel);
                return false;
            }
            if !take(by, size, sb) {
                ev.fetch_sub(1, Ordering::AcqRel);
                self.bytes.fetch_sub(size, Ordering::AcqRel);
                return false;
            }
        }
        true
    }

    /// Whether an event could be taken at all now (before it is encoded for a prepared
    /// queue, so that a full queue costs no encoding): the same event and byte bounds as
    /// [`reserve`](Self::reserve), without the source share.
    fn may_take(&self, essential: bool, available: usize) -> bool {
        let l = &self.limits;
        if essential {
            available > 0 && self.bytes.load(Ordering::Acquire) < l.bytes
        } else {
            available > l.events / 8 && self.bytes.load(Ordering::Acquire) < l.bytes - l.bytes / 8
        }
    }

    /// Gives back the room reserved for one event that was not queued after all.
    fn unreserve(&self, size: usize, share: Option<usize>) {
        self.bytes.fetch_sub(size, Ordering::AcqRel);
        if let Some(i) = share
            && let (Some(ev), Some(by)) = (self.share_events.get(i), self.share_bytes.get(i))
        {
            ev.fetch_sub(1, Ordering::AcqRel);
            by.fetch_sub(size, Ordering::AcqRel);
        }
    }

    /// Gives back the room of events taken.
    fn release(&self, r: &Released) {
        if r.bytes > 0 {
            self.bytes.fetch_sub(r.bytes, Ordering::AcqRel);
        }
        for &i in &r.touched {
            if let (Some(ev), Some(by), Some(n), Some(b)) = (
                self.share_events.get(i),
                self.share_bytes.get(i),
                r.share_events.get(i),
                r.share_bytes.get(i),
            ) {
                ev.fetch_sub(*n, Ordering::AcqRel);
                by.fetch_sub(*b, Ordering::AcqRel);
            }
        }
    }

    fn count_drop(&self, event: &Event, essential: bool) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if essential {
            self.dropped_essential.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut m) = self.by_source.lock() {
            let src = event.src.map(|a| a.ip());
            let key = if m.contains_key(&src) || m.len() < MAX_NAMED_SOURCES {
                src
            } else {
                None
            };
            *m.entry(key).or_insert(0) += 1;
        }
    }
}

/// Room of taken events not yet given back: the sink gives it back in batches (every
/// [`RELEASE_BATCH`] events, and whenever its queue is empty), so taking an event costs no
/// shared atomic operation.
#[derive(Debug)]
struct Released {
    events: usize,
    bytes: usize,
    share_events: Vec<usize>,
    share_bytes: Vec<usize>,
    touched: Vec<usize>,
}

/// The buffer a prepared body is encoded into, in bytes.
const PREPARED_BODY: usize = 1024;

/// Events taken before their room is given back.
const RELEASE_BATCH: usize = 64;

impl Released {
    fn new() -> Self {
        Released {
            events: 0,
            bytes: 0,
            share_events: vec![0; SHARES],
            share_bytes: vec![0; SHARES],
            touched: Vec::new(),
        }
    }

    fn add(&mut self, size: usize, share: Option<usize>) {
        self.events += 1;
        self.bytes += size;
        if let Some(i) = share
            && let (Some(n), Some(b)) = (self.share_events.get_mut(i), self.share_bytes.get_mut(i))
        {
            if *n == 0 {
                self.touched.push(i);
            }
            *n += 1;
            *b += size;
        }
    }

    fn clear(&mut self) {
        for &i in &self.touched {
            if let (Some(n), Some(b)) = (self.share_events.get_mut(i), self.share_bytes.get_mut(i)) {
                *n = 0;
                *b = 0;
            }
        }
        self.touched.clear();
        self.events = 0;
        self.bytes = 0;
    }
}

/// Adds `n` to `counter` if the result stays within `max`.
fn take(counter: &AtomicUsize, n: usize, max: usize) -> bool {
    let before = counter.fetch_add(n, Ordering::AcqRel);
    if before.saturating_add(n) > max {
        counter.fetch_sub(n, Ordering::AcqRel);
        return false;
    }
    true
}

/// The bucket of a source address in the share table.
fn bucket(ip: IpAddr) -> usize {
    // FNV-1a over the address's bytes: cheap, and spreads neighbouring addresses.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    match ip.to_canonical() {
        IpAddr::V4(a) => eat(&a.octets()),
        IpAddr::V6(a) => eat(&a.octets()),
    }
    (h % SHARES as u64) as usize
}

struct Queue {
    tx: mpsc::Sender<Queued>,
    usage: Arc<Usage>,
    prepare: Option<Prepare>,
}

/// What a sink lost since its last report, for its `events.dropped` event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropReport {
    /// Events dropped since the last report.
    pub dropped: u64,
    /// Of those, essential ones (session open/close, auth, files, ...).
    pub essential: u64,
    /// Drops per source address (`None`: sensor events, or sources past the first 16).
    pub by_source: Vec<(Option<IpAddr>, u64)>,
}

/// The receiving end of one sink's queue.
#[derive(Debug)]
pub struct SinkReceiver {
    /// Sink name, for logs.
    pub name: String,
    rx: mpsc::Receiver<Queued>,
    usage: Arc<Usage>,
    released: Released,
    /// Events dropped because this queue was full (or a source past its share).
    pub dropped: Arc<AtomicU64>,
}

impl SinkReceiver {
    fn taken(&mut self, q: Queued) -> Taken {
        self.released.add(q.size, q.share);
        if self.released.events >= RELEASE_BATCH {
            self.give_back();
        }
        q.item
    }

    fn give_back(&mut self) {
        if self.released.events > 0 {
            self.usage.release(&self.released);
            self.released.clear();
        }
    }

    /// The next item, waiting for one; `None` once the bus is gone and the queue empty.
    pub async fn recv_taken(&mut self) -> Option<Taken> {
        let q = match self.rx.try_recv() {
            Ok(q) => q,
            Err(_) => {
                self.give_back();
                self.rx.recv().await?
            }
        };
        Some(self.taken(q))
    }

    /// The next item if one is queued.
    pub fn try_recv_taken(&mut self) -> Result<Taken, mpsc::error::TryRecvError> {
        match self.rx.try_recv() {
            Ok(q) => Ok(self.taken(q)),
            Err(e) => {
                self.give_back();
                Err(e)
            }
        }
    }

    /// The next event, waiting for one; `None` once the bus is gone and the queue empty.
    /// For queues of events ([`EventBus::add_sink`]): a prepared queue's items are skipped.
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        loop {
            if let Some(e) = self.recv_taken().await?.into_event() {
                return Some(e);
            }
        }
    }

    /// The next event, blocking this thread (sinks run on their own threads).
    pub fn blocking_recv(&mut self) -> Option<Arc<Event>> {
        loop {
            let q = match self.rx.try_recv() {
                Ok(q) => q,
                Err(_) => {
                    self.give_back();
                    self.rx.blocking_recv()?
                }
            };
            if let Some(e) = self.taken(q).into_event() {
                return Some(e);
            }
        }
    }

    /// The next event if one is queued (prepared items are skipped, as by [`recv`](Self::recv)).
    pub fn try_recv(&mut self) -> Result<Arc<Event>, mpsc::error::TryRecvError> {
        loop {
            if let Some(e) = self.try_recv_taken()?.into_event() {
                return Ok(e);
            }
        }
    }

    /// What was dropped since the last call, by class and by source.
    pub fn take_drop_report(&self, dropped: u64) -> DropReport {
        let mut by_source: Vec<(Option<IpAddr>, u64)> = self
            .usage
            .by_source
            .lock()
            .map(|mut m| m.drain().collect())
            .unwrap_or_default();
        by_source.sort_by_key(|e| std::cmp::Reverse(e.1));
        DropReport {
            dropped,
            essential: self.usage.dropped_essential.swap(0, Ordering::AcqRel),
            by_source,
        }
    }

    /// Events and bytes queued now.
    pub fn queued(&self) -> (usize, usize) {
        let bytes = self.usage.bytes.load(Ordering::Acquire);
        (self.rx.len(), bytes.saturating_sub(self.released.bytes))
    }
}

/// Fan-out of events to every sink's queue.
pub struct EventBus {
    queues: Vec<Queue>,
    metrics: Arc<Metrics>,
    limits: QueueLimits,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus").field("sinks", &self.queues.len()).finish()
    }
}

impl EventBus {
    /// A bus with no sinks yet, whose queues get the default byte bound and share.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        EventBus {
            queues: Vec::new(),
            metrics,
            limits: QueueLimits::default(),
        }
    }

    /// The byte bound and source share of sinks added from now on (their event count is
    /// what [`EventBus::add_sink`] is given).
    pub fn set_queue_limits(&mut self, limits: QueueLimits) {
        self.limits = limits;
    }

    /// Adds a sink queue holding at most `capacity` events (and the configured bytes).
    pub fn add_sink(&mut self, name: impl Into<String>, capacity: usize) -> SinkReceiver {
        self.add_queue(name.into(), capacity, None)
    }

    /// Adds a sink queue whose items are the bodies `prepare` encodes on the publishing
    /// thread ([`Taken::Prepared`]), bounded by their length. For sinks that write only the
    /// body: the event is then freed by the thread that made it, where handing the event to
    /// the sink's thread made every one of its allocations a cross-thread free, which the
    /// allocator pays for on both threads.
    pub fn add_prepared_sink(&mut self, name: impl Into<String>, capacity: usize, prepare: Prepare) -> SinkReceiver {
        self.add_queue(name.into(), capacity, Some(prepare))
    }

    fn add_queue(&mut self, name: String, capacity: usize, prepare: Option<Prepare>) -> SinkReceiver {
        let limits = QueueLimits {
            events: capacity.max(1),
            ..self.limits
        };
        let (tx, rx) = mpsc::channel(limits.events);
        let dropped = Arc::new(AtomicU64::new(0));
        let usage = Arc::new(Usage::new(limits, Arc::clone(&dropped)));
        self.queues.push(Queue {
            tx,
            usage: Arc::clone(&usage),
            prepare,
        });
        SinkReceiver {
            name,
            rx,
            usage,
            released: Released::new(),
            dropped,
        }
    }

    /// The counters this bus updates.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Events waiting in the fullest sink queue: how far the slowest sink lags (for
    /// metrics, and for load generators that must not outrun a sink).
    pub fn backlog(&self) -> usize {
        self.queues
            .iter()
            .map(|q| q.tx.max_capacity() - q.tx.capacity())
            .max()
            .unwrap_or(0)
    }

    /// Hands `event` to every sink without waiting; a queue without room for it drops it
    /// and counts.
    pub fn publish(&self, event: Event) {
        Metrics::inc(&self.metrics.events_published);
        let essential = is_essential(&event.event_type);
        let share = if essential {
            None
        } else {
            event.src.map(|a| bucket(a.ip()))
        };
        let mut wanted = false;
        for q in &self.queues {
            let Some(prepare) = &q.prepare else {
                wanted = true;
                continue;
            };
            if !q.usage.may_take(essential, q.tx.capacity()) {
                self.dropped(q, &event, essential);
                continue;
            }
            // Room for a typical request's line (a Modbus or SNMP request is 600-800
            // bytes native), so that encoding it does not grow the buffer and copy it.
            let mut body = Vec::with_capacity(PREPARED_BODY);
            let (item, size) = if prepare(&event, &mut body) {
                // What the body holds of memory, not only its length.
                let size = body.capacity();
                (Taken::Prepared(body), size)
            } else {
                (Taken::Unencodable, 0)
            };
            self.offer(q, item, size, share, essential, &event);
        }
        if !wanted {
            return;
        }
        let size = event.approx_size();
        let event = Arc::new(event);
        for q in self.queues.iter().filter(|q| q.prepare.is_none()) {
            self.offer(q, Taken::Event(Arc::clone(&event)), size, share, essential, &event);
        }
    }

    /// Queues `item` on `q` if its bounds allow, else drops and counts it.
    fn offer(&self, q: &Queue, item: Taken, size: usize, share: Option<usize>, essential: bool, event: &Event) {
        let queued = q.usage.reserve(size, essential, share, q.tx.capacity())
            && match q.tx.try_send(Queued { item, size, share }) {
                Ok(()) => true,
                Err(_) => {
                    q.usage.unreserve(size, share);
                    false
                }
            };
        if !queued {
            self.dropped(q, event, essential);
        }
    }

    fn dropped(&self, q: &Queue, event: &Event, essential: bool) {
        q.usage.count_drop(event, essential);
        Metrics::inc(&self.metrics.events_dropped);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::event::{EventDraft, Origin, SessionInfo, Transport};

    fn ev_from(ty: &'static str, src: Option<&str>, raw: usize) -> Event {
        let o = Origin {
            sensor_id: "s".into(),
            persona: "p".into(),
            public_ip: None,
            raw_limit: 1 << 20,
        };
        let s = SessionInfo::new("t".into(), Transport::Tcp, src.map(|a| a.parse().unwrap()), None);
        let mut d = EventDraft::new(ty);
        if raw > 0 {
            d.body.raw = Some(vec![0; raw]);
        }
        Event::stamp(&o, &s, d, std::time::SystemTime::UNIX_EPOCH)
    }

    fn ev() -> Event {
        ev_from("x", None, 0)
    }

    fn drain(rx: &mut SinkReceiver) -> Vec<Arc<Event>> {
        let mut v = Vec::new();
        while let Ok(e) = rx.try_recv() {
            v.push(e);
        }
        v
    }

    #[test]
    fn full_queue_drops_and_counts_without_blocking_others() {
        let metrics = Arc::new(Metrics::default());
        let mut bus = EventBus::new(Arc::clone(&metrics));
        let mut small = bus.add_sink("small", 2);
        let mut big = bus.add_sink("big", 100);
        for _ in 0..10 {
            bus.publish(ev());
        }
        // Of a queue of two, detail may take only the part not kept for essential events.
        assert_eq!(small.dropped.load(Ordering::Relaxed), 8);
        assert_eq!(big.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(metrics.events_dropped.load(Ordering::Relaxed), 8);
        assert_eq!(metrics.events_published.load(Ordering::Relaxed), 10);
        assert_eq!(bus.backlog(), 10, "the fullest queue");
        assert_eq!(drain(&mut small).len(), 2);
        assert_eq!(drain(&mut big).len(), 10);
        assert_eq!(small.queued(), (0, 0), "taking an event gives its room back");
    }

    #[test]
    fn queues_are_bounded_in_bytes() {
        let mut bus = EventBus::new(Arc::new(Metrics::default()));
        bus.set_queue_limits(QueueLimits {
            events: 1000,
            bytes: 100_000,
            source_share: 100,
        });
        let mut rx = bus.add_sink("q", 1000);
        for _ in 0..100 {
            bus.publish(ev_from("big.request", Some("10.0.0.1:1"), 10_000));
        }
        let got = drain(&mut rx);
        assert!(got.len() < 10, "{} events of 10 kB in a 100 kB queue", got.len());
        assert!(rx.dropped.load(Ordering::Relaxed) > 90);
    }

    #[test]
    fn one_source_flood_leaves_room_for_others_and_for_essentials() {
        let mut bus = EventBus::new(Arc::new(Metrics::default()));
        bus.set_queue_limits(QueueLimits {
            events: 1000,
            bytes: 10 << 20,
            source_share: 25,
        });
        let mut rx = bus.add_sink("q", 1000);
        // One source floods: its detail fills its share, no more.
        for _ in 0..5000 {
            bus.publish(ev_from("flood.request", Some("10.0.0.1:1"), 100));
        }
        // Another source still gets everything in, detail included.
        bus.publish(ev_from("session.open", Some("10.0.0.2:1"), 0));
        for _ in 0..10 {
            bus.publish(ev_from("other.request", Some("10.0.0.2:1"), 100));
        }
        bus.publish(ev_from("session.close", Some("10.0.0.2:1"), 0));
        // The flooding source's own session events are essential: kept too.
        bus.publish(ev_from("session.close", Some("10.0.0.1:1"), 0));
        let report = rx.take_drop_report(rx.dropped.load(Ordering::Relaxed));
        let got = drain(&mut rx);
        let count = |ty: &str, ip: &str| {
            got.iter()
                .filter(|e| e.event_type == ty && e.src.unwrap().ip().to_string() == ip)
                .count()
        };
        assert_eq!(count("flood.request", "10.0.0.1"), 250);
        assert_eq!(count("session.open", "10.0.0.2"), 1);
        assert_eq!(count("other.request", "10.0.0.2"), 10);
        assert_eq!(count("session.close", "10.0.0.2"), 1);
        assert_eq!(count("session.close", "10.0.0.1"), 1);
        assert_eq!(report.essential, 0);
        assert_eq!(report.by_source, vec![(Some("10.0.0.1".parse().unwrap()), 4750)]);
    }

    #[test]
    fn prepared_queues_take_bodies_made_on_the_publisher() {
        let metrics = Arc::new(Metrics::default());
        let mut bus = EventBus::new(Arc::clone(&metrics));
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let prepare: Prepare = Arc::new(move |e: &Event, out: &mut Vec<u8>| {
            c.fetch_add(1, Ordering::Relaxed);
            if e.event_type == "bad" {
                return false;
            }
            out.extend_from_slice(e.event_type.as_bytes());
            true
        });
        let mut prepared = bus.add_prepared_sink("p", 16, prepare);
        let mut plain = bus.add_sink("e", 16);
        bus.publish(ev_from("one", None, 0));
        bus.publish(ev_from("bad", None, 0));
        assert!(matches!(prepared.try_recv_taken(), Ok(Taken::Prepared(b)) if b == b"one"));
        assert!(matches!(prepared.try_recv_taken(), Ok(Taken::Unencodable)));
        assert!(prepared.try_recv_taken().is_err());
        // The other sink still gets the events themselves.
        assert_eq!(
            drain(&mut plain)
                .iter()
                .map(|e| e.event_type.to_string())
                .collect::<Vec<_>>(),
            ["one", "bad"]
        );
        // A full prepared queue drops detail before encoding it; essentials still get in.
        for _ in 0..40 {
            bus.publish(ev_from("x", None, 0));
        }
        let before = calls.load(Ordering::Relaxed);
        for _ in 0..10 {
            bus.publish(ev_from("x", None, 0));
        }
        assert_eq!(
            calls.load(Ordering::Relaxed),
            before,
            "no encoding for a queue that cannot take it"
        );
        bus.publish(ev_from("session.open", Some("10.0.0.1:1"), 0));
        let mut bodies = Vec::new();
        while let Ok(t) = prepared.try_recv_taken() {
            if let Taken::Prepared(b) = t {
                bodies.push(String::from_utf8(b).unwrap());
            }
        }
        assert_eq!(
            bodies.iter().filter(|b| *b == "x").count(),
            14,
            "detail fills the queue but its last eighth"
        );
        assert_eq!(bodies.last().map(String::as_str), Some("session.open"));
        assert_eq!(prepared.dropped.load(Ordering::Relaxed), 36);
        assert_eq!(prepared.queued(), (0, 0), "bodies give their bytes back when taken");
    }

    #[test]
    fn essentials_have_the_last_eighth() {
        let mut bus = EventBus::new(Arc::new(Metrics::default()));
        let mut rx = bus.add_sink("q", 80);
        for _ in 0..200 {
            bus.publish(ev());
        }
        for _ in 0..20 {
            bus.publish(ev_from("session.open", Some("10.0.0.9:1"), 0));
        }
        let got = drain(&mut rx);
        assert_eq!(got.iter().filter(|e| e.event_type == "x").count(), 70);
        assert_eq!(got.iter().filter(|e| e.event_type == "session.open").count(), 10);
        assert_eq!(rx.take_drop_report(0).essential, 10);
    }
}
