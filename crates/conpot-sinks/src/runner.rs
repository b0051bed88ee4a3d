//! The runner every sink shares: it drains the sink's own bounded queue on the sink's own
//! thread, encodes events into records, hands them to the transport in batches, and while
//! the destination fails it keeps them in the disk spool, trying again after a pause that
//! doubles (with jitter) up to a limit. Spooled records go out first and in order once the
//! destination is back; new events queue up behind them. Delivery is at least once: a
//! batch whose outcome is unknown is sent again, and every transport uses the event id to
//! ignore a repeat. What neither the queue nor the spool can hold, and what a sink without
//! a spool fails to deliver, is counted exactly and reported as an `events.dropped` event
//! (with the queue's drops by class and by source, from [`SinkReceiver::take_drop_report`]).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use conpot_core::bus::{SinkReceiver, Taken};
use conpot_core::event::{Event, EventDraft, Origin, SessionInfo, Transport};
use conpot_core::metrics::Metrics;
use conpot_core::rng::Rng;

use crate::encode::Encoder;
use crate::record::Record;
use crate::spec::Delivery;
use crate::spool::Spool;

/// Pause between two batches while events keep coming, so a busy sensor wakes the sink a
/// few hundred times a second rather than once per event.
const PAUSE: Duration = Duration::from_millis(2);
/// How long a runner with batches in flight and an empty queue waits for the next event
/// before it waits for those batches instead.
const IDLE_SETTLE: Duration = Duration::from_millis(50);

/// A transport: takes batches of records to their destination.
pub trait Deliver: Send {
    /// Delivers `batch` in order. An error means the runner will send the whole batch
    /// again later (records already taken are ignored by their event id).
    fn deliver(&mut self, batch: &[Record]) -> io::Result<()>;

    /// Whether the transport reads the records' envelope fields (database columns, the
    /// syslog header), or only their bodies.
    fn needs_envelope(&self) -> bool {
        true
    }

    /// Records at the front of the last batch whose delivery failed that did reach the
    /// destination before the failure (a file written up to a point). The runner spools or
    /// counts as lost only the rest, so losses are counted exactly.
    fn delivered_before_error(&self) -> usize {
        0
    }

    /// Lets go of the destination and opens it anew (after log rotation, on SIGHUP).
    fn reopen(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// How much a pipelined transport may have unacknowledged at once; `None` (the default)
    /// for a transport whose [`deliver`](Deliver::deliver) returns only once the batch is
    /// taken, which the runner then calls alone. With a window the runner calls
    /// [`start`](Deliver::start) and [`settle`](Deliver::settle) instead, so the next batch
    /// is encoded and sent while the server still stores the last one.
    fn window(&self) -> Option<Window> {
        None
    }

    /// Sends `batch` without awaiting its outcome (only called when [`window`](Deliver::window)
    /// is set). An error gives up this batch and every one still in flight: the runner
    /// sends them all again, in order.
    fn start(&mut self, batch: &[Record]) -> io::Result<()> {
        self.deliver(batch)
    }

    /// The outcome of the oldest started batch: `None` when none is in flight, or when it is
    /// still in flight and `wait` is false. `Some(Err)` gives up that batch and every later
    /// one too (the transport forgets them; the runner sends them again, in order).
    fn settle(&mut self, _wait: bool) -> Option<io::Result<()>> {
        None
    }
}

/// [`Deliver::deliver`] of a pipelined transport: starts `batch`, then waits for every batch
/// in flight (the spool's drain and `conpot collect` deliver this way, with nothing else in
/// flight).
pub fn start_and_settle<D: Deliver + ?Sized>(transport: &mut D, batch: &[Record]) -> io::Result<()> {
    transport.start(batch)?;
    while let Some(outcome) = transport.settle(true) {
        outcome?;
    }
    Ok(())
}

/// The outcome of the oldest task a pipelined transport has in flight, run to its end on
/// `rt`: `None` when none is in flight, or when it is still running and `wait` is false
/// (what [`Deliver::settle`] answers). A task that panicked or was aborted is an error.
pub fn settle_oldest<T>(
    rt: &tokio::runtime::Runtime,
    in_flight: &mut VecDeque<tokio::task::JoinHandle<T>>,
    wait: bool,
) -> Option<io::Result<T>> {
    if !wait && !in_flight.front()?.is_finished() {
        return None;
    }
    let task = in_flight.pop_front()?;
    Some(rt.block_on(task).map_err(io::Error::other))
}

/// The most a pipelined transport keeps unacknowledged: whichever bound is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Batches started and not settled.
    pub batches: usize,
    /// Records in those batches.
    pub records: usize,
}

/// One sink's own counters, for the metrics endpoint: shared with whoever attached it.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Records the destination took.
    pub delivered: AtomicU64,
    /// Records given up after a failed delivery, or not encodable.
    pub failed: AtomicU64,
    /// Records the full spool could not take.
    pub spool_dropped: AtomicU64,
    /// Events the full queue could not take (the queue's own counter).
    pub queue_dropped: Arc<AtomicU64>,
}

/// What the runner needs besides the transport.
pub struct Runner {
    /// The sink's queue.
    pub rx: SinkReceiver,
    /// Envelope for the runner's own events (`events.dropped`).
    pub origin: Origin,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Bumped on SIGHUP.
    pub reopen: Arc<AtomicU64>,
    /// Encoding of the records.
    pub encoder: Encoder,
    /// Batching, retry and spool sizes.
    pub delivery: Delivery,
    /// The disk spool, when the sink has one.
    pub spool: Option<Spool>,
    /// Whether records carry the envelope (set from the transport when the runner starts).
    pub envelope: bool,
    /// This sink's counters.
    pub stats: Arc<SinkStats>,
}

struct State {
    /// Queue drops (the bus's count) at the last report.
    reported_queue: u64,
    /// Spool drops at the last report.
    reported_spool: u64,
    spool_dropped: u64,
    /// Events given up after a failed delivery (or not encodable), in all.
    failed_total: u64,
    /// Of those, not reported yet.
    failed_unreported: u64,
    failing: bool,
    backoff: Duration,
    retry_at: Instant,
    generation: u64,
    rng: Rng,
    /// Batches a pipelined transport has started and not settled, oldest first. Never
    /// non-empty while the spool holds records: a failure spools every one of them.
    in_flight: VecDeque<Vec<Record>>,
    /// Records in `in_flight`.
    in_flight_records: usize,
    /// Emptied batch vectors of settled batches, for the next ones.
    spare: Vec<Vec<Record>>,
}

impl Runner {
    /// Runs until every sender of the bus is gone and the queue is empty; spooled records
    /// the destination did not take by then stay on disk for the next start.
    pub fn run(mut self, deliver: &mut dyn Deliver) {
        self.envelope = deliver.needs_envelope();
        let rt = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(sink = %self.rx.name, error = %e, "cannot start the sink's timer");
                return;
            }
        };
        let mut st = State {
            reported_queue: 0,
            reported_spool: 0,
            spool_dropped: 0,
            failed_total: 0,
            failed_unreported: 0,
            failing: false,
            backoff: self.delivery.retry_min,
            retry_at: Instant::now(),
            generation: self.reopen.load(Ordering::Relaxed),
            rng: Rng::from_entropy(),
            in_flight: VecDeque::new(),
            in_flight_records: 0,
            spare: Vec::new(),
        };
        let mut open = true;
        // One batch vector for the sink's life: a fresh one of a few thousand records per
        // batch was a megabyte allocated, faulted in and given back to the system each time.
        let mut batch = Vec::new();
        while open {
            let mut first = None;
            if !st.in_flight.is_empty() && self.rx.queued().0 == 0 {
                // Nothing to send meanwhile. An event that comes within a moment may go out
                // beside the batches in flight (a slow batch does not hold back the next);
                // otherwise they are settled before the runner sleeps on the queue, so the
                // counters never wait for the next event.
                let rx = &mut self.rx;
                match rt.block_on(async { tokio::time::timeout(IDLE_SETTLE, rx.recv_taken()).await }) {
                    Ok(Some(e)) => first = Some(e),
                    Ok(None) => open = false,
                    Err(_) => self.settle(&mut st, deliver, true),
                }
            }
            let outage = self.in_outage();
            let first = if first.is_some() || !open {
                first
            } else if outage {
                let wait = st.retry_at.saturating_duration_since(Instant::now());
                let rx = &mut self.rx;
                // The timer is made inside the runtime, which owns the clock.
                match rt.block_on(async { tokio::time::timeout(wait, rx.recv_taken()).await }) {
                    Ok(Some(e)) => Some(e),
                    Ok(None) => {
                        open = false;
                        None
                    }
                    Err(_) => None,
                }
            } else {
                match rt.block_on(self.rx.recv_taken()) {
                    Some(e) => Some(e),
                    None => {
                        open = false;
                        None
                    }
                }
            };
            let wanted = self.reopen.load(Ordering::Relaxed);
            if wanted != st.generation {
                st.generation = wanted;
                if let Err(e) = deliver.reopen() {
                    self.failed(&mut st, 0, &e);
                }
            }
            batch.clear();
            self.report_drops(&mut st, &mut batch);
            if let Some(e) = first {
                self.push(&mut st, e, &mut batch);
                while batch.len() < self.delivery.batch {
                    match self.rx.try_recv_taken() {
                        Ok(e) => self.push(&mut st, e, &mut batch),
                        Err(_) => break,
                    }
                }
            }
            let full = batch.len() > 1;
            if !batch.is_empty() {
                self.dispatch(&mut st, deliver, &mut batch);
                batch.clear();
            }
            if st.failed_unreported > 0 && !st.failing && !self.in_outage() {
                // Delivering works again: say at once what was lost.
                let mut report = Vec::new();
                self.report_drops(&mut st, &mut report);
                if !report.is_empty() {
                    self.dispatch(&mut st, deliver, &mut report);
                }
            }
            if self.in_outage() && (Instant::now() >= st.retry_at || !open) {
                self.drain(&mut st, deliver);
                // Back from an outage: say at once what was lost, not at the next event.
                if !self.in_outage() {
                    let mut report = Vec::new();
                    self.report_drops(&mut st, &mut report);
                    if !report.is_empty() {
                        self.dispatch(&mut st, deliver, &mut report);
                    }
                }
            }
            if full && open && !self.in_outage() {
                std::thread::sleep(PAUSE);
            }
        }
        self.settle(&mut st, deliver, true);
        if let Some(s) = &self.spool
            && !s.is_empty()
        {
            tracing::warn!(
                sink = %self.rx.name,
                "{} bytes of events stay in the spool {} for the next start",
                s.pending_bytes(),
                s.path().display()
            );
        }
    }

    fn in_outage(&self) -> bool {
        self.spool.as_ref().is_some_and(|s| !s.is_empty())
    }

    fn push(&self, st: &mut State, taken: Taken, batch: &mut Vec<Record>) {
        let record = match taken {
            Taken::Event(e) if self.envelope => Record::new(self.encoder, &e).map_err(|e| e.to_string()),
            Taken::Event(e) => Record::body_only(self.encoder, &e).map_err(|e| e.to_string()),
            Taken::Prepared(body) => Ok(Record::from_body(body)),
            Taken::Unencodable => Err("the encoder refused it".to_owned()),
        };
        match record {
            Ok(r) => batch.push(r),
            Err(err) => {
                Metrics::inc(&self.metrics.events_failed);
                Metrics::inc(&self.stats.failed);
                st.failed_total += 1;
                st.failed_unreported += 1;
                tracing::error!(sink = %self.rx.name, error = %err, "cannot encode an event");
            }
        }
    }

    /// Adds an `events.dropped` record when events were dropped (from the queue or the
    /// spool) since the last report, or lost in delivery while the destination now takes
    /// events again; unless the spool is too full to take even that.
    fn report_drops(&self, st: &mut State, batch: &mut Vec<Record>) {
        let queue = self.rx.dropped.load(Ordering::Relaxed);
        let new_drops = queue > st.reported_queue || st.spool_dropped > st.reported_spool;
        if !new_drops && (st.failed_unreported == 0 || st.failing) {
            return;
        }
        if let Some(s) = &self.spool
            && !s.is_empty()
            && s.pending_bytes() + 4096 > self.delivery.spool_bytes
        {
            return;
        }
        let report = self.rx.take_drop_report(queue.saturating_sub(st.reported_queue));
        let spooled = st.spool_dropped - st.reported_spool;
        let sources: serde_json::Map<String, serde_json::Value> = report
            .by_source
            .iter()
            .map(|(ip, n)| (ip.map_or_else(|| "other".to_owned(), |a| a.to_string()), (*n).into()))
            .collect();
        let sensor = SessionInfo::new("sensor".into(), Transport::None, None, None);
        let mut draft = EventDraft::new("events.dropped")
            .with("sink", self.rx.name.as_str())
            .with("dropped", report.dropped + spooled)
            .with("dropped_total", queue + st.spool_dropped)
            .with("queue_full", queue)
            .with("spool_full", st.spool_dropped)
            .with("essential", report.essential)
            .with("failed", st.failed_unreported)
            .with("failed_total", st.failed_total);
        if !sources.is_empty() {
            draft = draft.with("sources", serde_json::Value::Object(sources));
        }
        st.reported_queue = queue;
        st.reported_spool = st.spool_dropped;
        st.failed_unreported = 0;
        self.push(
            st,
            Taken::Event(Arc::new(Event::stamp(&self.origin, &sensor, draft, SystemTime::now()))),
            batch,
        );
    }

    /// Sends a fresh batch, or spools it behind older records (or after a failure). A
    /// pipelined transport may keep it: then `batch` is taken (left empty) and counted
    /// delivered when it settles.
    fn dispatch(&mut self, st: &mut State, deliver: &mut dyn Deliver, batch: &mut Vec<Record>) {
        if self.in_outage() {
            self.spool_all(st, batch);
            return;
        }
        if let Some(w) = deliver.window() {
            self.settle(st, deliver, false);
            while !st.in_flight.is_empty()
                && (st.in_flight.len() >= w.batches || st.in_flight_records + batch.len() > w.records)
            {
                self.settle_next(st, deliver, true);
            }
            if self.in_outage() {
                // A batch in flight failed: this one goes behind it into the spool.
                self.spool_all(st, batch);
                return;
            }
            match deliver.start(batch) {
                Ok(()) => {
                    let spare = st.spare.pop().unwrap_or_default();
                    let started = std::mem::replace(batch, spare);
                    st.in_flight_records += started.len();
                    st.in_flight.push_back(started);
                }
                Err(e) => {
                    // The transport gave up the batches in flight as well: older first.
                    self.give_up_in_flight(st, &e);
                    if self.spool.is_some() {
                        self.spool_all(st, batch);
                    } else {
                        self.failed(st, batch.len() as u64, &e);
                    }
                }
            }
            return;
        }
        match deliver.deliver(batch) {
            Ok(()) => {
                Metrics::add(&self.stats.delivered, batch.len() as u64);
                self.recovered(st);
            }
            Err(e) => {
                let rest = batch.get(deliver.delivered_before_error()..).unwrap_or_default();
                if self.spool.is_some() {
                    self.failed(st, 0, &e);
                    self.spool_all(st, rest);
                } else {
                    self.failed(st, rest.len() as u64, &e);
                }
            }
        }
    }

    /// Settles the batches in flight that are done (all of them, waiting, with `all`).
    fn settle(&mut self, st: &mut State, deliver: &mut dyn Deliver, all: bool) {
        while !st.in_flight.is_empty() {
            if !self.settle_next(st, deliver, all) {
                return;
            }
        }
    }

    /// Settles the oldest batch in flight if it is done (waiting for it with `wait`):
    /// counted delivered only now that every record of it is acknowledged; on failure it
    /// and every later batch in flight are spooled in order (or counted lost). Whether a
    /// batch was settled.
    fn settle_next(&mut self, st: &mut State, deliver: &mut dyn Deliver, wait: bool) -> bool {
        if st.in_flight.is_empty() {
            return false;
        }
        match deliver.settle(wait) {
            None if wait => {
                // The transport lost track of its batches (it must not): their outcome is
                // unknown, so they are sent again.
                let e = io::Error::other("the transport forgot batches in flight");
                self.give_up_in_flight(st, &e);
                true
            }
            None => false,
            Some(Ok(())) => {
                if let Some(mut done) = st.in_flight.pop_front() {
                    st.in_flight_records -= done.len();
                    Metrics::add(&self.stats.delivered, done.len() as u64);
                    done.clear();
                    st.spare.push(done);
                }
                self.recovered(st);
                true
            }
            Some(Err(e)) => {
                self.give_up_in_flight(st, &e);
                true
            }
        }
    }

    /// After a failure of the oldest batch in flight: it and every later one, whose outcome
    /// is unknown, go to the spool in order (the repeats are ignored by their event ids), or
    /// are counted lost without a spool.
    fn give_up_in_flight(&mut self, st: &mut State, e: &io::Error) {
        let batches = std::mem::take(&mut st.in_flight);
        st.in_flight_records = 0;
        if self.spool.is_some() {
            self.failed(st, 0, e);
            for mut b in batches {
                self.spool_all(st, &b);
                b.clear();
                st.spare.push(b);
            }
        } else {
            let lost: usize = batches.iter().map(Vec::len).sum();
            self.failed(st, lost as u64, e);
        }
    }

    fn spool_all(&mut self, st: &mut State, batch: &[Record]) {
        let Some(spool) = &mut self.spool else { return };
        for r in batch {
            match spool.push(r) {
                Ok(true) => {}
                Ok(false) => {
                    st.spool_dropped += 1;
                    Metrics::inc(&self.stats.spool_dropped);
                    Metrics::inc(&self.metrics.events_dropped);
                }
                Err(e) => {
                    st.spool_dropped += 1;
                    Metrics::inc(&self.stats.spool_dropped);
                    Metrics::inc(&self.metrics.events_dropped);
                    tracing::error!(sink = %self.rx.name, error = %e, "cannot write the spool");
                }
            }
        }
    }

    /// Sends spooled records in order until the spool is empty or the destination fails;
    /// between batches, what arrived on the queue goes to the back of the spool.
    fn drain(&mut self, st: &mut State, deliver: &mut dyn Deliver) {
        // Spooled records go out only behind every batch in flight (there are none while the
        // spool holds records; this keeps it so).
        self.settle(st, deliver, true);
        loop {
            let Some(spool) = &mut self.spool else { return };
            if spool.is_empty() {
                return;
            }
            let (records, pos, damaged) = match spool.peek(self.delivery.batch) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(sink = %self.rx.name, error = %e, "cannot read the spool");
                    self.schedule(st);
                    return;
                }
            };
            if damaged > 0 {
                self.metrics.events_failed.fetch_add(damaged, Ordering::Relaxed);
                Metrics::add(&self.stats.failed, damaged);
                st.failed_total += damaged;
                st.failed_unreported += damaged;
            }
            let sent = if records.is_empty() {
                Ok(())
            } else {
                deliver.deliver(&records)
            };
            match sent {
                Ok(()) => {
                    Metrics::add(&self.stats.delivered, records.len() as u64);
                    if let Err(e) = spool.commit(pos) {
                        tracing::error!(sink = %self.rx.name, error = %e, "cannot update the spool");
                    }
                    self.recovered(st);
                }
                Err(e) => {
                    self.failed(st, 0, &e);
                    return;
                }
            }
            let mut incoming = Vec::new();
            while incoming.len() < self.delivery.batch {
                match self.rx.try_recv_taken() {
                    Ok(e) => self.push(st, e, &mut incoming),
                    Err(_) => break,
                }
            }
            self.spool_all(st, &incoming);
        }
    }

    fn recovered(&self, st: &mut State) {
        if st.failing {
            tracing::info!(sink = %self.rx.name, "event sink delivers again");
        }
        st.failing = false;
        st.backoff = self.delivery.retry_min;
    }

    /// Records a failure (`lost` records given up), logs the first of a streak, and sets
    /// the time of the next attempt.
    fn failed(&self, st: &mut State, lost: u64, e: &io::Error) {
        if lost > 0 {
            self.metrics.events_failed.fetch_add(lost, Ordering::Relaxed);
            Metrics::add(&self.stats.failed, lost);
            st.failed_total += lost;
            st.failed_unreported += lost;
        }
        if !st.failing {
            tracing::error!(
                sink = %self.rx.name,
                error = %e,
                "event sink failed{}",
                if self.spool.is_some() { "; spooling events until it is back" } else { "" }
            );
        }
        st.failing = true;
        self.schedule(st);
    }

    fn schedule(&self, st: &mut State) {
        // Full jitter over the upper half: sensors that lost the same server do not all
        // come back at the same instant.
        let b = st.backoff.as_micros() as u64;
        let wait = b / 2 + st.rng.next_u64() % (b / 2 + 1);
        st.retry_at = Instant::now() + Duration::from_micros(wait);
        st.backoff = (st.backoff * 2).min(self.delivery.retry_max);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::collections::HashSet;

    use conpot_core::bus::{EventBus, QueueLimits};

    use super::*;

    /// A pipelined transport that never finishes a batch on its own (so batches pile up in
    /// flight up to the window) and fails the settling of its `fail_at`-th batch; what it
    /// acknowledged is recorded in order.
    struct Pipe {
        window: Window,
        started: usize,
        fail_at: usize,
        in_flight: VecDeque<(usize, Vec<(String, u64)>)>,
        /// Event id and number of every record acknowledged, in order.
        acked: Vec<(String, u64)>,
        /// Most batches in flight at once.
        most: usize,
        /// Batches started, seen from other threads.
        started_seen: Arc<AtomicU64>,
    }

    fn key(r: &Record) -> (String, u64) {
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        (r.id.clone(), body["data"]["n"].as_u64().unwrap())
    }

    impl Deliver for Pipe {
        fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
            assert!(
                self.in_flight.is_empty(),
                "the spool drains only behind the batches in flight"
            );
            self.acked.extend(batch.iter().map(key));
            Ok(())
        }

        fn window(&self) -> Option<Window> {
            Some(self.window)
        }

        fn start(&mut self, batch: &[Record]) -> io::Result<()> {
            self.in_flight
                .push_back((self.started, batch.iter().map(key).collect()));
            self.started += 1;
            self.started_seen.fetch_add(1, Ordering::Relaxed);
            self.most = self.most.max(self.in_flight.len());
            Ok(())
        }

        fn settle(&mut self, wait: bool) -> Option<io::Result<()>> {
            if !wait {
                return None;
            }
            let (n, ids) = self.in_flight.pop_front()?;
            if n == self.fail_at {
                self.in_flight.clear();
                return Some(Err(io::Error::other("acknowledgement timed out")));
            }
            self.acked.extend(ids);
            Some(Ok(()))
        }
    }

    fn origin() -> Origin {
        Origin {
            sensor_id: "s".into(),
            persona: "p".into(),
            public_ip: None,
            raw_limit: 4096,
        }
    }

    fn session() -> SessionInfo {
        SessionInfo::new(
            "modbus".into(),
            Transport::Tcp,
            Some("198.51.100.4:40000".parse().unwrap()),
            None,
        )
    }

    fn request(n: u64) -> Event {
        Event::stamp(
            &origin(),
            &session(),
            EventDraft::new("modbus.request").with("n", n),
            SystemTime::now(),
        )
    }

    /// A bus with one sink queue of 10,000 events, and the runner of that queue spooling
    /// to `dir`, with its counters.
    fn bus_and_runner(dir: &std::path::Path) -> (EventBus, Runner, Arc<Metrics>, Arc<SinkStats>) {
        let metrics = Arc::new(Metrics::default());
        let mut bus = EventBus::new(Arc::clone(&metrics));
        bus.set_queue_limits(QueueLimits {
            events: 10_000,
            bytes: 64 << 20,
            source_share: 100,
        });
        let rx = bus.add_sink("pipe", 10_000);
        let stats = Arc::new(SinkStats::default());
        let runner = Runner {
            rx,
            origin: origin(),
            metrics: Arc::clone(&metrics),
            reopen: Arc::default(),
            encoder: Encoder::Native,
            delivery: Delivery {
                batch: 100,
                retry_min: Duration::from_millis(1),
                retry_max: Duration::from_millis(2),
                spool_bytes: 64 << 20,
            },
            spool: Some(Spool::open(dir, "pipe", 64 << 20).unwrap()),
            envelope: true,
            stats: Arc::clone(&stats),
        };
        (bus, runner, metrics, stats)
    }

    fn pipe(batches: usize, fail_at: usize) -> Pipe {
        Pipe {
            window: Window {
                batches,
                records: 10_000,
            },
            started: 0,
            fail_at,
            in_flight: VecDeque::new(),
            acked: Vec::new(),
            most: 0,
            started_seen: Arc::default(),
        }
    }

    #[test]
    fn an_in_flight_batch_that_fails_is_spooled_with_the_later_ones_and_never_counted() {
        let dir = std::env::temp_dir().join(format!("conpot-runner-pipe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (bus, runner, metrics, stats) = bus_and_runner(&dir);
        let total = 1000u64;
        for i in 0..total {
            bus.publish(request(i));
        }
        drop(bus);
        let mut pipe = pipe(3, 4);
        runner.run(&mut pipe);
        assert_eq!(pipe.most, 3, "batches were kept in flight up to the window");
        // Counted delivered: exactly what was acknowledged (repeats included), never the
        // failed batch nor the ones given up behind it.
        assert_eq!(stats.delivered.load(Ordering::Relaxed), pipe.acked.len() as u64);
        let unique: HashSet<&String> = pipe.acked.iter().map(|(id, _)| id).collect();
        assert_eq!(unique.len() as u64, total, "nothing lost");
        assert_eq!(metrics.events_failed.load(Ordering::Relaxed), 0);
        assert_eq!(metrics.events_dropped.load(Ordering::Relaxed), 0);
        // In order: the failed batch and those behind it went to the spool and out again
        // before anything newer.
        let mut seen = HashSet::new();
        let first: Vec<u64> = pipe
            .acked
            .iter()
            .filter(|(id, _)| seen.insert(id))
            .map(|k| k.1)
            .collect();
        assert_eq!(
            first,
            (0..total).collect::<Vec<_>>(),
            "first arrivals in publishing order"
        );
        assert!(pipe.started > 4, "the failing batch was in flight");
        assert_eq!(
            stats.delivered.load(Ordering::Relaxed),
            total,
            "each record counted once: the batches given up were counted only when sent again"
        );
        assert!(
            Spool::open(&dir, "pipe", 64 << 20).unwrap().is_empty(),
            "the spool drained"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An event that comes while a batch is in flight and the queue is otherwise empty goes
    /// out beside it, instead of waiting until that batch settles.
    #[test]
    fn an_event_coming_while_a_batch_is_in_flight_is_started_beside_it() {
        let dir = std::env::temp_dir().join(format!("conpot-runner-idle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (bus, runner, _, stats) = bus_and_runner(&dir);
        let mut p = pipe(2, usize::MAX);
        let started = Arc::clone(&p.started_seen);
        let sink = std::thread::spawn(move || {
            runner.run(&mut p);
            p
        });
        let until = |n: u64| {
            let deadline = Instant::now() + Duration::from_secs(5);
            while started.load(Ordering::Relaxed) < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        bus.publish(request(0));
        until(1);
        bus.publish(request(1));
        until(2);
        drop(bus);
        let pipe = sink.join().unwrap();
        assert_eq!(pipe.started, 2, "one batch per event");
        assert_eq!(pipe.most, 2, "the second batch went out while the first was in flight");
        assert_eq!(stats.delivered.load(Ordering::Relaxed), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
