//! Event sinks of conpot-rs: encoders (native, conpot-legacy, conpot-v1, ecs, text, stix)
//! apart from transports (JSON-lines file, SQLite, PostgreSQL, syslog over UDP, TCP or TLS,
//! NATS JetStream, hpfeeds, TAXII 2.1, the text log). The sink
//! configuration is read here from the raw `[[sinks]]` tables the core keeps
//! ([`spec::parse_all`]). Every sink runs the same [`runner::Runner`] on its own thread and
//! bounded queue: batching, retry with back-off, a disk spool during outages, drops
//! reported as `events.dropped`. Queues are the bus's byte-bounded, fair ones
//! ([`conpot_core::bus::SinkReceiver`]): what they drop is reported by class and source.

pub mod collect;
pub mod encode;
pub mod hpfeeds;
pub mod http;
pub mod jsonl;
pub mod nats;
pub mod postgres;
pub mod record;
pub mod runner;
pub mod spec;
pub mod spool;
pub mod sql;
pub mod sqlite;
pub mod syslog;
pub mod taxii;
pub mod textlog;
pub mod tls;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use conpot_core::bus::{EventBus, SinkReceiver};
use conpot_core::event::{Event, Origin};

pub use encode::Encoder;
pub use runner::Deliver;
pub use spec::{SinkSpec, TransportSpec, parse_all};

/// The folder below the state folder that holds the sinks' spools.
pub const SPOOL_DIR: &str = "spool";

/// The folder below the state folder where the sensor keeps captured files (the NATS sink
/// publishes them from there).
pub const CAPTURE_DIR: &str = "captures";

/// Opens the sink of `spec` (its spool in `<state_dir>/spool`), attaches a queue of
/// `capacity` events to `bus`, and returns the sink's name and the blocking job that
/// drains it: run it on its own thread, so encoding and writes never stall a protocol.
/// The job ends when every sender of the bus is gone and the queue is drained.
pub fn attach(
    spec: &SinkSpec,
    bus: &mut EventBus,
    capacity: usize,
    origin: Origin,
    reopen: Arc<AtomicU64>,
    state_dir: &Path,
) -> std::io::Result<(String, impl FnOnce() + Send + 'static)> {
    attach_counted(spec, bus, capacity, origin, reopen, state_dir).map(|(name, job, _)| (name, job))
}

/// [`attach`], also returning the sink's own counters (delivered, failed, dropped by the
/// spool and by the queue) for the metrics endpoint.
pub fn attach_counted(
    spec: &SinkSpec,
    bus: &mut EventBus,
    capacity: usize,
    origin: Origin,
    reopen: Arc<AtomicU64>,
    state_dir: &Path,
) -> std::io::Result<(String, impl FnOnce() + Send + 'static, Arc<runner::SinkStats>)> {
    let mut deliver: Box<dyn Deliver> = match &spec.transport {
        TransportSpec::JsonLines { path, rotate } => Box::new(jsonl::JsonLines::open(path)?.rotating(*rotate)),
        TransportSpec::Sqlite { path } => Box::new(sqlite::Sqlite::open(path)?),
        TransportSpec::Postgres { url } => Box::new(postgres::Postgres::new(url, &spec.name)?),
        TransportSpec::Syslog(s) => Box::new(syslog::Syslog::new(s.clone())?),
        TransportSpec::Nats(n) => Box::new(nats::Nats::new(n.clone(), &spec.name, &state_dir.join(CAPTURE_DIR))?),
        TransportSpec::Hpfeeds(h) => Box::new(hpfeeds::Hpfeeds::new(h.clone())),
        TransportSpec::Taxii(t) => Box::new(taxii::Taxii::new(t)?),
    };
    let spool = if spec.delivery.spool_bytes > 0 {
        Some(spool::Spool::open(
            &state_dir.join(SPOOL_DIR),
            &spec.name,
            spec.delivery.spool_bytes,
        )?)
    } else {
        None
    };
    let rx = queue(bus, spec.name.clone(), capacity, spec.encoder, deliver.needs_envelope());
    let stats = Arc::new(runner::SinkStats {
        queue_dropped: Arc::clone(&rx.dropped),
        ..Default::default()
    });
    let runner = runner::Runner {
        stats: Arc::clone(&stats),
        rx,
        origin,
        metrics: Arc::clone(bus.metrics()),
        reopen,
        encoder: spec.encoder,
        delivery: spec.delivery.clone(),
        spool,
        envelope: true,
    };
    Ok((spec.name.clone(), move || runner.run(&mut *deliver), stats))
}

/// The queue of a sink: for a transport that writes only the bodies, a prepared queue
/// whose events are encoded on the thread that publishes them (so that the thread that
/// allocated an event also frees it); otherwise a queue of the events themselves.
fn queue(bus: &mut EventBus, name: String, capacity: usize, encoder: Encoder, envelope: bool) -> SinkReceiver {
    if envelope {
        bus.add_sink(name, capacity)
    } else {
        bus.add_prepared_sink(
            name,
            capacity,
            Arc::new(move |e: &Event, body: &mut Vec<u8>| encoder.encode(e, body).is_ok()),
        )
    }
}

/// Attaches the text log: every event as one readable line through `tracing` (so to stderr
/// and the `-l` file, as Conpot logs traffic), on its own queue of `capacity` events like any
/// sink. Returns the sink's name and the blocking job that drains it (see [`attach`]).
pub fn attach_text_log(
    bus: &mut EventBus,
    capacity: usize,
    origin: Origin,
    reopen: Arc<AtomicU64>,
) -> (String, impl FnOnce() + Send + 'static) {
    let name = textlog::NAME.to_owned();
    let rx = queue(bus, name.clone(), capacity, Encoder::Text, false);
    let runner = runner::Runner {
        stats: Arc::new(runner::SinkStats {
            queue_dropped: Arc::clone(&rx.dropped),
            ..Default::default()
        }),
        rx,
        origin,
        metrics: Arc::clone(bus.metrics()),
        reopen,
        encoder: Encoder::Text,
        delivery: spec::Delivery {
            batch: 4096,
            retry_min: std::time::Duration::from_millis(100),
            retry_max: std::time::Duration::from_secs(30),
            spool_bytes: 0,
        },
        spool: None,
        envelope: false,
    };
    (name, move || runner.run(&mut textlog::TextLog))
}
