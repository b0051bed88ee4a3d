//! Event sinks of conpot-rs: encoders (native, conpot-legacy, text) and transports
//! (JSON-lines file, the text log). Each sink runs as its own task on its own bounded queue.

pub mod encode;
pub mod jsonl;
pub mod textlog;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use tokio::sync::mpsc;

use conpot_core::bus::{EventBus, SinkReceiver};
use conpot_core::config::{SinkConfig, SinkKind};
use conpot_core::event::{Event, EventDraft, Origin, SessionInfo, Transport};
use conpot_core::metrics::Metrics;

/// Pause between two batches while events keep coming.
const PAUSE: std::time::Duration = std::time::Duration::from_millis(2);

/// A transport that writes encoded events.
pub trait Writer: Send {
    /// Writes one event (may buffer).
    fn write(&mut self, event: &Event) -> std::io::Result<()>;
    /// Pushes buffered events out.
    fn flush(&mut self) -> std::io::Result<()>;
    /// Lets go of the destination and opens it anew (after log rotation).
    fn reopen(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Events lost (not written) since the last call. A writer counts them itself, since
    /// one failed call may lose many buffered events, or none.
    fn take_lost(&mut self) -> u64 {
        0
    }
}

impl Writer for jsonl::JsonLines {
    fn write(&mut self, event: &Event) -> std::io::Result<()> {
        jsonl::JsonLines::write(self, event)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        jsonl::JsonLines::flush(self)
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        jsonl::JsonLines::reopen(self)
    }

    fn take_lost(&mut self) -> u64 {
        jsonl::JsonLines::take_lost(self)
    }
}

/// Opens the sink of `config`, attaches a queue of `capacity` events to `bus`, and
/// returns the blocking job that drains it: run it on its own thread (for example with
/// `tokio::task::spawn_blocking`), so encoding and file writes never stall a protocol.
/// The job ends, having flushed, when every sender of the bus is gone.
pub fn attach(
    config: &SinkConfig,
    bus: &mut EventBus,
    capacity: usize,
    origin: Origin,
    reopen: Arc<std::sync::atomic::AtomicU64>,
) -> std::io::Result<(String, impl FnOnce() + Send + 'static)> {
    match &config.kind {
        SinkKind::JsonLines { path } => {
            let mut file = jsonl::JsonLines::open(path, config.format)?;
            let name = format!("jsonl:{}", file.path().display());
            let rx = bus.add_sink(name.clone(), capacity);
            let metrics = Arc::clone(bus.metrics());
            let task = move || run(rx, &origin, &metrics, &reopen, &mut file);
            Ok((name, task))
        }
    }
}

/// Attaches the text log: every event as one readable line through `tracing` (so to stderr
/// and the `-l` file, as Conpot logs traffic), on its own queue of `capacity` events like any
/// sink. Returns the sink's name and the blocking job that drains it (see [`attach`]).
pub fn attach_text_log(
    bus: &mut EventBus,
    capacity: usize,
    origin: Origin,
    reopen: Arc<std::sync::atomic::AtomicU64>,
) -> (String, impl FnOnce() + Send + 'static) {
    let name = textlog::NAME.to_owned();
    let rx = bus.add_sink(name.clone(), capacity);
    let metrics = Arc::clone(bus.metrics());
    let mut log = textlog::TextLog::default();
    (name, move || run(rx, &origin, &metrics, &reopen, &mut log))
}

/// The loop every sink runs: write events as they come, flush when the queue is empty,
/// report drops and write failures as `events.dropped` events, count lost events exactly.
fn run(
    mut rx: SinkReceiver,
    origin: &Origin,
    metrics: &Metrics,
    reopen: &std::sync::atomic::AtomicU64,
    writer: &mut impl Writer,
) {
    let mut generation = reopen.load(Ordering::Relaxed);
    let mut state = LossState::default();
    let name = rx.name.clone();
    // Block while the queue is empty; once events flow, drain in batches with a short
    // pause between them, so a busy sensor wakes this thread a few hundred times a second
    // rather than once per event.
    let mut next = rx.blocking_recv();
    while let Some(first) = next.take() {
        let wanted = reopen.load(Ordering::Relaxed);
        if wanted != generation {
            generation = wanted;
            let r = writer.flush().and_then(|()| writer.reopen());
            state.outcome(r, writer, metrics, &name);
        }
        let mut ev = Some(first);
        let mut n = 0;
        while let Some(e) = ev {
            state.report(&rx, origin, metrics, writer, &name);
            let r = writer.write(&e);
            state.outcome(r, writer, metrics, &name);
            n += 1;
            ev = rx.try_recv().ok();
        }
        let r = writer.flush();
        state.outcome(r, writer, metrics, &name);
        if state.failed_unreported > 0 && !state.failing {
            // Writing works again: say at once what was lost.
            state.report(&rx, origin, metrics, writer, &name);
            let r = writer.flush();
            state.outcome(r, writer, metrics, &name);
        }
        if n > 1 {
            std::thread::sleep(PAUSE);
            next = match rx.try_recv() {
                Ok(e) => Some(e),
                Err(mpsc::error::TryRecvError::Empty) => rx.blocking_recv(),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            };
        } else {
            next = rx.blocking_recv();
        }
    }
    state.report(&rx, origin, metrics, writer, &name);
    let r = writer.flush();
    state.outcome(r, writer, metrics, &name);
}

/// What one sink has lost and not yet reported.
#[derive(Debug, Default)]
struct LossState {
    reported_drops: u64,
    failed_total: u64,
    failed_unreported: u64,
    failing: bool,
}

impl LossState {
    /// Counts what the writer lost in the call that returned `r`; logs the first failure
    /// of a run of them.
    fn outcome(&mut self, r: std::io::Result<()>, writer: &mut impl Writer, metrics: &Metrics, name: &str) {
        let lost = writer.take_lost();
        if lost > 0 {
            metrics.events_failed.fetch_add(lost, Ordering::Relaxed);
            self.failed_total += lost;
            self.failed_unreported += lost;
        }
        match r {
            Ok(()) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    tracing::error!(sink = %name, error = %e, "event sink write failed");
                }
                self.failing = true;
            }
        }
    }

    /// Writes an `events.dropped` event if events were dropped from the queue or lost in
    /// writing since the last one.
    fn report(&mut self, rx: &SinkReceiver, origin: &Origin, metrics: &Metrics, writer: &mut impl Writer, name: &str) {
        let dropped = rx.dropped.load(Ordering::Relaxed);
        if dropped <= self.reported_drops && (self.failed_unreported == 0 || self.failing) {
            return;
        }
        let report = rx.take_drop_report(dropped - self.reported_drops);
        let sources: serde_json::Map<String, serde_json::Value> = report
            .by_source
            .iter()
            .map(|(ip, n)| (ip.map_or_else(|| "other".to_owned(), |a| a.to_string()), (*n).into()))
            .collect();
        let mut draft = EventDraft::new("events.dropped")
            .with("sink", rx.name.as_str())
            .with("dropped", report.dropped)
            .with("dropped_total", dropped)
            .with("essential", report.essential)
            .with("failed", self.failed_unreported)
            .with("failed_total", self.failed_total);
        if !sources.is_empty() {
            draft = draft.with("sources", serde_json::Value::Object(sources));
        }
        self.reported_drops = dropped;
        self.failed_unreported = 0;
        let sensor = SessionInfo::new("sensor".into(), Transport::None, None, None);
        let r = writer.write(&Event::stamp(origin, &sensor, draft, SystemTime::now()));
        self.outcome(r, writer, metrics, name);
    }
}
