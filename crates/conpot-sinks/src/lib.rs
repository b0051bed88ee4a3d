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
/// report drops as `events.dropped` events, count failures.
fn run(
    mut rx: SinkReceiver,
    origin: &Origin,
    metrics: &Metrics,
    reopen: &std::sync::atomic::AtomicU64,
    writer: &mut impl Writer,
) {
    let mut generation = reopen.load(Ordering::Relaxed);
    let sensor = SessionInfo::new("sensor".into(), Transport::None, None, None);
    let mut reported = 0u64;
    let mut failing = false;
    let name = rx.name.clone();
    let outcome = |r: std::io::Result<()>, failing: &mut bool| match r {
        Ok(()) => *failing = false,
        Err(e) => {
            Metrics::inc(&metrics.events_failed);
            if !*failing {
                tracing::error!(sink = %name, error = %e, "event sink write failed");
            }
            *failing = true;
        }
    };
    // Block while the queue is empty; once events flow, drain in batches with a short
    // pause between them, so a busy sensor wakes this thread a few hundred times a second
    // rather than once per event.
    let mut next = rx.rx.blocking_recv();
    while let Some(first) = next.take() {
        let wanted = reopen.load(Ordering::Relaxed);
        if wanted != generation {
            generation = wanted;
            outcome(writer.flush().and_then(|()| writer.reopen()), &mut failing);
        }
        let mut ev = Some(first);
        let mut n = 0;
        while let Some(e) = ev {
            let dropped = rx.dropped.load(Ordering::Relaxed);
            if dropped > reported {
                let draft = EventDraft::new("events.dropped")
                    .with("sink", rx.name.as_str())
                    .with("dropped", dropped - reported)
                    .with("dropped_total", dropped);
                reported = dropped;
                outcome(
                    writer.write(&Event::stamp(origin, &sensor, draft, SystemTime::now())),
                    &mut failing,
                );
            }
            outcome(writer.write(&e), &mut failing);
            n += 1;
            ev = rx.rx.try_recv().ok();
        }
        outcome(writer.flush(), &mut failing);
        if n > 1 {
            std::thread::sleep(PAUSE);
            next = match rx.rx.try_recv() {
                Ok(e) => Some(e),
                Err(mpsc::error::TryRecvError::Empty) => rx.rx.blocking_recv(),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            };
        } else {
            next = rx.rx.blocking_recv();
        }
    }
    outcome(writer.flush(), &mut failing);
}
