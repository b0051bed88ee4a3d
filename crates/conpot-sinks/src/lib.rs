//! Event sinks of conpot-rs: encoders (native, conpot-legacy) and transports (JSON-lines
//! file). Each sink runs as its own task on its own bounded queue.

pub mod encode;
pub mod jsonl;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use conpot_core::bus::{EventBus, SinkReceiver};
use conpot_core::config::{SinkConfig, SinkKind};
use conpot_core::event::{Event, EventDraft, Origin, SessionInfo, Transport};
use conpot_core::metrics::Metrics;

/// Most events written between two flushes while the queue stays busy.
const BATCH: usize = 1024;

/// A transport that writes encoded events.
pub trait Writer: Send {
    /// Writes one event (may buffer).
    fn write(&mut self, event: &Event) -> std::io::Result<()>;
    /// Pushes buffered events out.
    fn flush(&mut self) -> std::io::Result<()>;
}

impl Writer for jsonl::JsonLines {
    fn write(&mut self, event: &Event) -> std::io::Result<()> {
        jsonl::JsonLines::write(self, event)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        jsonl::JsonLines::flush(self)
    }
}

/// Opens the sink of `config`, attaches a queue of `capacity` events to `bus`, and
/// returns the task that drains it (spawn it). The task ends, having flushed, when every
/// sender of the bus is gone.
pub fn attach(
    config: &SinkConfig,
    bus: &mut EventBus,
    capacity: usize,
    origin: Origin,
) -> std::io::Result<(String, impl Future<Output = ()> + Send + 'static)> {
    match &config.kind {
        SinkKind::JsonLines { path } => {
            let mut file = jsonl::JsonLines::open(path, config.format)?;
            let name = format!("jsonl:{}", file.path().display());
            let rx = bus.add_sink(name.clone(), capacity);
            let metrics = Arc::clone(bus.metrics());
            let task = async move {
                run(rx, &origin, &metrics, &mut file).await;
            };
            Ok((name, task))
        }
    }
}

/// The loop every sink runs: write events as they come, flush when the queue is empty,
/// report drops as `events.dropped` events, count failures.
async fn run(
    mut rx: SinkReceiver,
    origin: &Origin,
    metrics: &Metrics,
    writer: &mut impl Writer,
) {
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
    while let Some(first) = rx.rx.recv().await {
        let mut next = Some(first);
        let mut n = 0;
        while let Some(ev) = next {
            let dropped = rx.dropped.load(Ordering::Relaxed);
            if dropped > reported {
                let draft = EventDraft::new("events.dropped")
                    .with("sink", rx.name.as_str())
                    .with("dropped", dropped - reported)
                    .with("dropped_total", dropped);
                reported = dropped;
                outcome(writer.write(&Event::stamp(origin, &sensor, draft, SystemTime::now())), &mut failing);
            }
            outcome(writer.write(&ev), &mut failing);
            n += 1;
            next = if n < BATCH { rx.rx.try_recv().ok() } else { None };
        }
        outcome(writer.flush(), &mut failing);
    }
    outcome(writer.flush(), &mut failing);
}
