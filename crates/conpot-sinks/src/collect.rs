//! The central collector (`conpot collect`): reads the events every sensor of a fleet
//! publishes to a JetStream stream through a durable pull consumer and writes them to
//! PostgreSQL (the PostgreSQL sink's schema and writer, which ignores event ids already
//! stored) or to a JSON-lines file. A batch is acknowledged only once its write has
//! committed, so a collector that dies loses nothing: what it had not acknowledged is
//! delivered again after the consumer's `ack_wait`, to it or to another collector sharing
//! the same durable consumer (several collectors scale out on one consumer; each message
//! goes to one of them at a time).

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::PullConsumer};
use futures_util::StreamExt;

use crate::Deliver;
use crate::nats::{ENVELOPE_HEADER, Envelope, NatsSpec};
use crate::record::Record;

/// Where the collector writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A PostgreSQL database (connection string).
    Postgres(String),
    /// A JSON-lines file (one per collector: two collectors must not share a file).
    JsonLines(PathBuf),
}

/// What one collector reads and where it writes.
#[derive(Debug, Clone)]
pub struct CollectSpec {
    /// The server, the stream (created with these limits when missing) and the subject
    /// prefix the sensors publish under.
    pub nats: NatsSpec,
    /// Name of the durable consumer: collectors with the same name share the work.
    pub consumer: String,
    /// Most messages fetched and written at once.
    pub batch: usize,
    /// How long the server waits for an acknowledgement before delivering a message again
    /// (to any collector of the consumer).
    pub ack_wait: Duration,
    /// Destination.
    pub output: Output,
}

/// What a collector has done, for its log and tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events written (and acknowledged), repeats included.
    pub written: AtomicU64,
    /// Messages without a conpot envelope, terminated (never delivered again).
    pub rejected: AtomicU64,
    /// Batches whose write failed (given back for redelivery).
    pub failed_batches: AtomicU64,
}

/// How long one fetch waits for messages before the stop flag is looked at again.
const FETCH_WAIT: Duration = Duration::from_secs(1);

/// Longest pause between attempts while the server or the database is down.
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Turns one stream message into a record: the event id from `Nats-Msg-Id`, the envelope
/// from its header, the body from the payload. `None` for a message no sensor published.
pub fn record_of(msg: &async_nats::Message) -> Option<Record> {
    let headers = msg.headers.as_ref()?;
    let id = headers.get("Nats-Msg-Id")?.as_str();
    if id.is_empty() || id.len() > 64 {
        return None;
    }
    let envelope: Envelope = serde_json::from_str(headers.get(ENVELOPE_HEADER)?.as_str()).ok()?;
    let body = std::str::from_utf8(&msg.payload).ok()?;
    Some(envelope.into_record(id.to_owned(), body.to_owned()))
}

/// Runs one collector until `stop` is set: connects (again, with back-off, whenever the
/// server is gone), makes the stream and the durable consumer when missing, and moves
/// batches from the stream to the output. Errors only for an output that cannot be opened.
pub fn run(spec: &CollectSpec, stop: &AtomicBool, stats: &Stats) -> io::Result<()> {
    let mut out: Box<dyn Deliver> = match &spec.output {
        Output::Postgres(url) => Box::new(crate::postgres::Postgres::new(url, "collect")?),
        Output::JsonLines(path) => Box::new(crate::jsonl::JsonLines::open(path)?),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("conpot-collect")
        .enable_all()
        .build()?;
    let mut backoff = Duration::from_millis(100);
    let mut consumer: Option<PullConsumer> = None;
    while !stop.load(Ordering::Relaxed) {
        let c = match &consumer {
            Some(c) => c.clone(),
            None => match rt.block_on(open(spec)) {
                Ok(c) => {
                    tracing::info!(
                        "collecting from stream {} (consumer {}) at {}",
                        spec.nats.stream,
                        spec.consumer,
                        spec.nats.url
                    );
                    backoff = Duration::from_millis(100);
                    consumer = Some(c.clone());
                    c
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach the stream; trying again in {backoff:?}");
                    pause(stop, backoff);
                    backoff = (backoff * 2).min(RETRY_MAX);
                    continue;
                }
            },
        };
        let msgs = match rt.block_on(fetch(&c, spec.batch)) {
            Ok(m) => m,
            Err(e) => {
                // Connect and look the stream and consumer up again (either may be gone).
                consumer = None;
                tracing::warn!(error = %e, "fetching from the stream failed; trying again in {backoff:?}");
                pause(stop, backoff);
                backoff = (backoff * 2).min(RETRY_MAX);
                continue;
            }
        };
        if msgs.is_empty() {
            continue;
        }
        let mut records = Vec::with_capacity(msgs.len());
        let mut bad = Vec::new();
        for m in &msgs {
            match record_of(m) {
                Some(r) => records.push(r),
                None => bad.push(m),
            }
        }
        let written = if records.is_empty() {
            Ok(())
        } else {
            out.deliver(&records)
        };
        match written {
            Ok(()) => {
                backoff = Duration::from_millis(100);
                stats.written.fetch_add(records.len() as u64, Ordering::Relaxed);
                stats.rejected.fetch_add(bad.len() as u64, Ordering::Relaxed);
                for m in &bad {
                    tracing::warn!(subject = %m.subject, "a message without a conpot envelope: terminated");
                }
                let acked = rt.block_on(async {
                    for m in &msgs {
                        let kind = if bad.iter().any(|b| std::ptr::eq(*b, m)) {
                            AckKind::Term
                        } else {
                            AckKind::Ack
                        };
                        m.ack_with(kind).await?;
                    }
                    Ok::<_, async_nats::Error>(())
                });
                if let Err(e) = acked {
                    // Written but maybe not acknowledged: the repeat is ignored by its id.
                    tracing::warn!(error = %e, "acknowledging a written batch failed");
                }
            }
            Err(e) => {
                stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "writing a batch failed; it is given back for redelivery in {backoff:?}");
                // Given back at once for later (maybe to another collector), not held for ack_wait.
                let _ = rt.block_on(async {
                    for m in &msgs {
                        m.ack_with(AckKind::Nak(Some(backoff))).await?;
                    }
                    Ok::<_, async_nats::Error>(())
                });
                pause(stop, backoff);
                backoff = (backoff * 2).min(RETRY_MAX);
            }
        }
    }
    Ok(())
}

/// Sleeps `d`, waking early when `stop` is set.
fn pause(stop: &AtomicBool, d: Duration) {
    let end = std::time::Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Connects, and makes the stream and the durable consumer unless they exist.
async fn open(spec: &CollectSpec) -> io::Result<PullConsumer> {
    let client = crate::nats::connect(&spec.nats, "conpot-collect").await?;
    let js = jetstream::new(client);
    let stream = crate::nats::ensure_stream(&js, &spec.nats).await?;
    let config = jetstream::consumer::pull::Config {
        durable_name: Some(spec.consumer.clone()),
        description: Some("conpot collect: events to the database".into()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: spec.ack_wait,
        deliver_policy: jetstream::consumer::DeliverPolicy::All,
        filter_subject: format!("{}.>", spec.nats.subject_prefix),
        // Room for every collector's batches in flight at once.
        max_ack_pending: 100_000,
        ..Default::default()
    };
    stream
        .get_or_create_consumer(&spec.consumer, config)
        .await
        .map_err(io::Error::other)
}

/// One batch: up to `max` messages, waiting at most [`FETCH_WAIT`] for them.
async fn fetch(c: &PullConsumer, max: usize) -> io::Result<Vec<jetstream::Message>> {
    let mut batch = c
        .fetch()
        .max_messages(max)
        .expires(FETCH_WAIT)
        .messages()
        .await
        .map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(max.min(4096));
    while let Some(m) = batch.next().await {
        out.push(m.map_err(io::Error::other)?);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn msg(headers: &[(&str, &str)], payload: &str) -> async_nats::Message {
        let mut h = async_nats::HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, *v);
        }
        async_nats::Message {
            subject: "conpot.s.modbus.modbus.request".into(),
            reply: None,
            payload: payload.to_owned().into(),
            headers: Some(h),
            status: None,
            description: None,
            length: 0,
        }
    }

    #[test]
    fn a_message_with_id_and_envelope_is_a_record() {
        let env = r#"{"time":"t","time_us":5,"sensor":"s","session":"x","protocol":"modbus","transport":"tcp","event_type":"modbus.request","src_port":7}"#;
        let r = record_of(&msg(&[("Nats-Msg-Id", "id-1"), (ENVELOPE_HEADER, env)], "{\"a\":1}")).unwrap();
        assert_eq!(r.id, "id-1");
        assert_eq!(r.sensor, "s");
        assert_eq!(r.src_port, Some(7));
        assert_eq!(r.src_ip, None);
        assert_eq!(r.body, "{\"a\":1}");
    }

    #[test]
    fn foreign_messages_are_not_records() {
        assert!(record_of(&msg(&[("Nats-Msg-Id", "id-1")], "{}")).is_none());
        assert!(record_of(&msg(&[(ENVELOPE_HEADER, "{}")], "{}")).is_none());
        assert!(record_of(&msg(&[("Nats-Msg-Id", "i"), (ENVELOPE_HEADER, "not json")], "{}")).is_none());
        let long = "x".repeat(65);
        let env =
            r#"{"time":"t","time_us":5,"sensor":"s","session":"x","protocol":"p","transport":"tcp","event_type":"e"}"#;
        assert!(record_of(&msg(&[("Nats-Msg-Id", &long), (ENVELOPE_HEADER, env)], "{}")).is_none());
    }
}
