//! The NATS JetStream transport: every record is published to
//! `<prefix>.<sensor>.<protocol>.<event_type>` on a stream the sensor creates when it is
//! missing, with the event id as `Nats-Msg-Id` (JetStream drops a repeat within the
//! stream's duplicate window, so the runner's at-least-once retries store each event once)
//! and the envelope as a `Conpot-Envelope` header (what `conpot collect` needs for the
//! database columns, whatever the body's encoding). A batch is published pipelined, and
//! its acknowledgements awaited together: the batch counts as delivered only when the
//! server stored every record. Batches themselves are pipelined too (the runner's
//! [`Window`]): while the server stores one, the next is encoded and sent, in order.
//! Captured files go to a JetStream object store bucket under their SHA-256.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::object_store::ObjectStore;
use async_nats::jetstream::{self, Context};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::record::{FileRef, Record};
use crate::runner::Window;

/// The header holding a record's envelope (JSON of [`Envelope`]).
pub const ENVELOPE_HEADER: &str = "Conpot-Envelope";

/// Largest captured file published to the object store; a capture is capped far below this
/// by the sensor's `max_capture`, so this only guards against a file changed on disk.
const MAX_FILE: u64 = 64 << 20;

/// Bytes of a message's header block besides the envelope and the id (`NATS/1.0`, the
/// two header names, separators), rounded up.
const HEADER_OVERHEAD: usize = 64;

/// Longest wait for connecting and setting up the stream.
const CONNECT: Duration = Duration::from_secs(5);

/// Batches published and not yet acknowledged, at most: enough for the sensor to encode
/// and send one while the server stores the ones before it.
const WINDOW: Window = Window {
    batches: 4,
    records: 8192,
};

/// Publish acknowledgements the client may await at once. The runner's window bounds them
/// (to the largest of `WINDOW.records` and one batch, at most 100,000 records); the
/// client's own default of 5,000 would refuse part of a large batch instead.
const MAX_ACKS: usize = 1 << 18;

/// Where and how a sensor publishes to NATS, and the stream it creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSpec {
    /// Server URL(s), comma separated (`nats://host:4222`).
    pub url: String,
    /// User name (with `password`), if the server wants one.
    pub user: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// Token, if the server authenticates by token.
    pub token: Option<String>,
    /// Stream name.
    pub stream: String,
    /// First token of every subject.
    pub subject_prefix: String,
    /// Limits of the stream, when the sensor creates it.
    pub limits: StreamLimits,
    /// Object store bucket for captured files (`None`: files are not published).
    pub files_bucket: Option<String>,
    /// How long a publish acknowledgement is awaited before the batch counts as failed.
    pub ack_timeout: Duration,
}

/// The limits a stream is created with (JetStream's own names; -1: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Most bytes kept (oldest messages are discarded beyond it).
    pub max_bytes: i64,
    /// Most messages kept.
    pub max_messages: i64,
    /// Oldest message kept (zero: no limit).
    pub max_age: Duration,
    /// Window in which a repeated `Nats-Msg-Id` is dropped: longer than the longest
    /// outage a spooled batch may be sent again after.
    pub duplicate_window: Duration,
    /// Replicas in a cluster.
    pub replicas: usize,
    /// Messages kept in memory rather than on disk.
    pub memory: bool,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_bytes: -1,
            max_messages: -1,
            max_age: Duration::ZERO,
            duplicate_window: Duration::from_secs(600),
            replicas: 1,
            memory: false,
        }
    }
}

/// A record's envelope as the `Conpot-Envelope` header carries it (the event id travels
/// as `Nats-Msg-Id`, the body as the payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Event time, RFC 3339.
    pub time: String,
    /// Event time, microseconds since the epoch.
    pub time_us: i64,
    /// Sensor id.
    pub sensor: String,
    /// Session id.
    pub session: String,
    /// Protocol.
    pub protocol: String,
    /// Transport of the session.
    pub transport: String,
    /// Dotted event type.
    pub event_type: String,
    /// Attacker's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<String>,
    /// Attacker's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    /// Our address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_ip: Option<String>,
    /// Our port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_port: Option<u16>,
    /// The captured file of a `file.upload` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileRef>,
}

impl Envelope {
    /// The envelope of `r`.
    pub fn of(r: &Record) -> Envelope {
        Envelope {
            time: r.time.clone(),
            time_us: r.time_us,
            sensor: r.sensor.clone(),
            session: r.session.clone(),
            protocol: r.protocol.clone(),
            transport: r.transport.clone(),
            event_type: r.event_type.clone(),
            src_ip: r.src_ip.clone(),
            src_port: r.src_port,
            dst_ip: r.dst_ip.clone(),
            dst_port: r.dst_port,
            file: r.file.clone(),
        }
    }

    /// The record made of this envelope, the event id and the body again.
    pub fn into_record(self, id: String, body: String) -> Record {
        Record {
            id,
            time: self.time,
            time_us: self.time_us,
            sensor: self.sensor,
            session: self.session,
            protocol: self.protocol,
            transport: self.transport,
            event_type: self.event_type,
            src_ip: self.src_ip,
            src_port: self.src_port,
            dst_ip: self.dst_ip,
            dst_port: self.dst_port,
            file: self.file,
            body,
        }
    }
}

/// [`Envelope`] borrowed from its record: the same JSON (same fields, order and omissions;
/// a test holds them equal) without copying a dozen strings per message first.
#[derive(Serialize)]
struct EnvelopeRef<'a> {
    time: &'a str,
    time_us: i64,
    sensor: &'a str,
    session: &'a str,
    protocol: &'a str,
    transport: &'a str,
    event_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst_ip: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a FileRef>,
}

/// The `Conpot-Envelope` header of `r`: the JSON of [`Envelope::of`] it, written from the
/// record's own fields.
pub fn envelope_header(r: &Record) -> serde_json::Result<String> {
    // Sized for the usual envelope at once (it grew three times from empty, per message).
    let mut out = Vec::with_capacity(
        ENVELOPE_FIXED + r.time.len() + r.sensor.len() + r.session.len() + r.protocol.len() + r.event_type.len(),
    );
    serde_json::to_writer(
        &mut out,
        &EnvelopeRef {
            time: &r.time,
            time_us: r.time_us,
            sensor: &r.sensor,
            session: &r.session,
            protocol: &r.protocol,
            transport: &r.transport,
            event_type: &r.event_type,
            src_ip: r.src_ip.as_deref(),
            src_port: r.src_port,
            dst_ip: r.dst_ip.as_deref(),
            dst_port: r.dst_port,
            file: r.file.as_ref(),
        },
    )?;
    // serde_json writes only UTF-8.
    String::from_utf8(out).map_err(serde::ser::Error::custom)
}

/// Bytes of an envelope header besides its variable strings: the names, quotes and
/// separators, the time in microseconds, both addresses and ports.
const ENVELOPE_FIXED: usize = 224;

/// Whether `c` may not stand in a NATS subject token.
fn bad_in_token(c: char) -> bool {
    c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control()
}

/// One subject token from `s`: NATS tokens may not be empty or hold `.`, `*`, `>` or
/// white space, and a sensor id or protocol name from a configuration might.
pub fn token(s: &str) -> String {
    let mut t = String::with_capacity(s.len().max(1));
    push_token(&mut t, s);
    t
}

/// Appends [`token`] of `s` to `out`, without a string of its own (subjects are made per
/// message).
fn push_token(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push('_');
    } else if !s.chars().any(bad_in_token) {
        out.push_str(s);
    } else {
        out.extend(s.chars().map(|c| if bad_in_token(c) { '_' } else { c }));
    }
}

/// The subject of a record: `<prefix>.<sensor>.<protocol>.<event_type>`, the dotted event
/// type kept as several tokens so consumers can filter on `conpot.*.modbus.modbus.>`.
pub fn subject(prefix: &str, r: &Record) -> String {
    let mut s = String::with_capacity(prefix.len() + r.sensor.len() + r.protocol.len() + r.event_type.len() + 4);
    s.push_str(prefix);
    s.push('.');
    push_token(&mut s, &r.sensor);
    s.push('.');
    push_token(&mut s, &r.protocol);
    for part in r.event_type.split('.') {
        s.push('.');
        push_token(&mut s, part);
    }
    s
}

/// Whether `s` is a SHA-256 in lower-case hex (a capture's file name), so nothing from an
/// event can name a path outside the capture folder.
fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Connects to the server of `spec` (without JetStream set-up).
pub async fn connect(spec: &NatsSpec, name: &str) -> io::Result<async_nats::Client> {
    let mut opts = async_nats::ConnectOptions::new().name(name).connection_timeout(CONNECT);
    if let (Some(u), Some(p)) = (&spec.user, &spec.password) {
        opts = opts.user_and_password(u.clone(), p.clone());
    }
    if let Some(t) = &spec.token {
        opts = opts.token(t.clone());
    }
    let client = tokio::time::timeout(CONNECT, opts.connect(spec.url.as_str()))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no NATS server answered in time"))?
        .map_err(io::Error::other)?;
    Ok(client)
}

/// The stream configuration of `spec`.
pub fn stream_config(spec: &NatsSpec) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: spec.stream.clone(),
        subjects: vec![format!("{}.>", spec.subject_prefix)],
        max_bytes: spec.limits.max_bytes,
        max_messages: spec.limits.max_messages,
        max_age: spec.limits.max_age,
        duplicate_window: spec.limits.duplicate_window,
        num_replicas: spec.limits.replicas,
        storage: if spec.limits.memory {
            jetstream::stream::StorageType::Memory
        } else {
            jetstream::stream::StorageType::File
        },
        ..Default::default()
    }
}

/// Creates the stream of `spec` unless it exists (an existing stream keeps its own limits).
pub async fn ensure_stream(js: &Context, spec: &NatsSpec) -> io::Result<jetstream::stream::Stream> {
    js.get_or_create_stream(stream_config(spec))
        .await
        .map_err(io::Error::other)
}

struct Conn {
    /// Largest message the server takes (its `max_payload`, headers included).
    max_payload: usize,
    js: Context,
    files: Option<ObjectStore>,
}

/// A NATS JetStream destination.
pub struct Nats {
    spec: NatsSpec,
    name: String,
    captures: PathBuf,
    /// A runtime with a worker thread of its own, so the client answers the server's pings
    /// and reconnects between batches too.
    rt: tokio::runtime::Runtime,
    conn: Option<Conn>,
    /// The tasks of the batches started and not settled, oldest first.
    in_flight: VecDeque<JoinHandle<io::Result<()>>>,
    /// Fired by the newest batch's task once its messages are all on the wire: the next
    /// batch waits for it, so batches reach the stream in order.
    last_sent: Option<oneshot::Receiver<()>>,
}

impl std::fmt::Debug for Nats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nats")
            .field("url", &self.spec.url)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl Nats {
    /// A sink publishing as `spec` says; captured files are read from `captures` (the
    /// sensor's capture folder). The connection is made on the first batch.
    pub fn new(spec: NatsSpec, name: &str, captures: &Path) -> io::Result<Nats> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("conpot-nats")
            .enable_all()
            .build()?;
        Ok(Nats {
            spec,
            name: name.to_owned(),
            captures: captures.to_owned(),
            rt,
            conn: None,
            in_flight: VecDeque::new(),
            last_sent: None,
        })
    }

    async fn open(spec: &NatsSpec, name: &str) -> io::Result<Conn> {
        let client = connect(spec, name).await?;
        let max_payload = client.server_info().max_payload;
        let js = jetstream::ContextBuilder::new()
            .timeout(spec.ack_timeout)
            .ack_timeout(spec.ack_timeout)
            .max_ack_inflight(MAX_ACKS)
            .build(client);
        ensure_stream(&js, spec).await?;
        let files = match &spec.files_bucket {
            None => None,
            Some(bucket) => Some(match js.get_object_store(bucket).await {
                Ok(s) => s,
                Err(_) => js
                    .create_object_store(jetstream::object_store::Config {
                        bucket: bucket.clone(),
                        description: Some("files captured by conpot-rs sensors, named by SHA-256".into()),
                        num_replicas: spec.limits.replicas,
                        ..Default::default()
                    })
                    .await
                    .map_err(io::Error::other)?,
            }),
        };
        Ok(Conn { max_payload, js, files })
    }

    /// The messages of `batch`: subject and message with its headers, built on the calling
    /// (runner) thread while the client's thread is busy with the previous ones.
    fn messages(max_payload: usize, prefix: &str, batch: &[Record]) -> io::Result<Vec<(String, PublishMessage)>> {
        let mut out = Vec::with_capacity(batch.len());
        for r in batch {
            let envelope = envelope_header(r).map_err(io::Error::other)?;
            // The server refuses a message over its limit, and would refuse it forever:
            // sending it would stall the spool behind it, so it is left out, said in the log.
            let size = r.body.len() + envelope.len() + r.id.len() + HEADER_OVERHEAD;
            if max_payload > 0 && size > max_payload {
                tracing::error!(
                    event_id = %r.id,
                    "event of {size} bytes not published: over the NATS server's max_payload of {max_payload}"
                );
                continue;
            }
            let msg = PublishMessage::build()
                .payload(bytes::Bytes::from(r.body.clone().into_bytes()))
                .message_id(r.id.as_str())
                .header(ENVELOPE_HEADER, envelope.as_str());
            out.push((subject(prefix, r), msg));
        }
        Ok(out)
    }

    /// Publishes `msgs` pipelined once the batch before is on the wire (`after`), says so
    /// (`sent`), awaits every acknowledgement, then uploads the batch's captured files.
    /// Runs as a task on the client's own thread, so handing each message to the
    /// connection wakes no other thread.
    async fn publish(
        js: Context,
        msgs: Vec<(String, PublishMessage)>,
        after: Option<oneshot::Receiver<()>>,
        sent: oneshot::Sender<()>,
        files: Option<(ObjectStore, PathBuf, Vec<FileRef>)>,
    ) -> io::Result<()> {
        if let Some(after) = after
            && after.await.is_err()
        {
            // The batch before failed to go out: this one would overtake it.
            return Err(io::Error::other("an earlier batch was not published"));
        }
        let mut acks = Vec::with_capacity(msgs.len());
        for (subject, msg) in msgs {
            let ack = js.send_publish(subject, msg).await.map_err(io::Error::other)?;
            acks.push(ack);
        }
        // Every publish is on the wire: the next batch may follow.
        let _ = sent.send(());
        // Now the acknowledgements, in any order.
        for ack in acks {
            ack.await.map_err(io::Error::other)?;
        }
        if let Some((store, captures, files)) = files {
            for f in &files {
                Self::upload(&store, &captures, f).await?;
            }
        }
        Ok(())
    }

    /// Forgets every batch in flight and the connection (after a failure): the runner
    /// sends those batches again, on a new connection.
    fn give_up(&mut self) {
        for task in self.in_flight.drain(..) {
            task.abort();
        }
        self.last_sent = None;
        // Start afresh at the next attempt: a new connection, and the stream made again
        // if it was deleted meanwhile (publishes to a missing stream fail forever).
        self.conn = None;
    }

    fn try_start(&mut self, batch: &[Record]) -> io::Result<()> {
        if self.conn.is_none() {
            let (spec, name) = (&self.spec, &self.name);
            let conn = self
                .rt
                .block_on(async { tokio::time::timeout(CONNECT * 2, Self::open(spec, name)).await })
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "NATS JetStream set-up timed out"))??;
            self.conn = Some(conn);
        }
        let Some(conn) = &self.conn else {
            return Err(io::Error::other("not connected"));
        };
        let msgs = Self::messages(conn.max_payload, &self.spec.subject_prefix, batch)?;
        let files = conn.files.as_ref().and_then(|store| {
            let files: Vec<FileRef> = batch.iter().filter_map(|r| r.file.clone()).collect();
            (!files.is_empty()).then(|| (store.clone(), self.captures.clone(), files))
        });
        let (sent, next) = oneshot::channel();
        let after = self.last_sent.replace(next);
        let task = self.rt.spawn(Self::publish(conn.js.clone(), msgs, after, sent, files));
        self.in_flight.push_back(task);
        Ok(())
    }

    /// Publishes the captured file of `f` to the bucket unless it is there already.
    async fn upload(store: &ObjectStore, captures: &Path, f: &FileRef) -> io::Result<()> {
        if !is_sha256(&f.sha256) || !matches!(f.status.as_deref(), Some("stored" | "duplicate")) {
            return Ok(());
        }
        if store.info(&f.sha256).await.is_ok() {
            return Ok(());
        }
        let path = captures.join(&f.sha256);
        let data = match tokio::fs::metadata(&path).await {
            Ok(m) if m.len() <= MAX_FILE => tokio::fs::read(&path).await,
            Ok(m) => {
                tracing::warn!(sha256 = %f.sha256, "captured file of {} bytes not published (too large)", m.len());
                return Ok(());
            }
            Err(e) => Err(e),
        };
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                // Removed from the capture folder since: nothing to publish, nothing to retry.
                tracing::warn!(sha256 = %f.sha256, error = %e, "captured file not found for publishing");
                return Ok(());
            }
        };
        let meta = jetstream::object_store::ObjectMetadata {
            name: f.sha256.clone(),
            description: f.name.clone(),
            ..Default::default()
        };
        store.put(meta, &mut data.as_slice()).await.map_err(io::Error::other)?;
        Ok(())
    }
}

impl crate::Deliver for Nats {
    /// Publishes `batch` and awaits it (the spool's drain uses this; nothing else is in
    /// flight then).
    fn deliver(&mut self, batch: &[Record]) -> io::Result<()> {
        crate::runner::start_and_settle(self, batch)
    }

    fn window(&self) -> Option<Window> {
        Some(WINDOW)
    }

    fn start(&mut self, batch: &[Record]) -> io::Result<()> {
        let started = self.try_start(batch);
        if started.is_err() {
            self.give_up();
        }
        started
    }

    fn settle(&mut self, wait: bool) -> Option<io::Result<()>> {
        let outcome = crate::runner::settle_oldest(&self.rt, &mut self.in_flight, wait)?.and_then(|r| r);
        if outcome.is_err() {
            self.give_up();
        }
        Some(outcome)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rec(sensor: &str, protocol: &str, t: &str) -> Record {
        Record {
            id: "0190-x".into(),
            time: "2026-01-01T00:00:00.000000Z".into(),
            time_us: 1,
            sensor: sensor.into(),
            session: "s".into(),
            protocol: protocol.into(),
            transport: "tcp".into(),
            event_type: t.into(),
            src_ip: Some("198.51.100.4".into()),
            src_port: Some(4000),
            dst_ip: None,
            dst_port: None,
            file: None,
            body: "{}".into(),
        }
    }

    #[test]
    fn subjects_are_prefix_sensor_protocol_type() {
        assert_eq!(
            subject("conpot", &rec("s1", "modbus", "modbus.request")),
            "conpot.s1.modbus.modbus.request"
        );
        // Dots, wildcards and blanks in a sensor id become `_`, never new tokens.
        assert_eq!(
            subject("conpot", &rec("plant.a *>", "s7", "session.new")),
            "conpot.plant_a___.s7.session.new"
        );
        assert_eq!(subject("c", &rec("", "", "a..b")), "c._._.a._.b");
    }

    #[test]
    fn the_envelope_round_trips_to_the_record() {
        let mut r = rec("s1", "modbus", "file.upload");
        r.file = Some(FileRef {
            sha256: "ab".repeat(32),
            name: Some("OB1".into()),
            size: Some(3),
            status: Some("stored".into()),
        });
        let json = serde_json::to_string(&Envelope::of(&r)).unwrap();
        assert_eq!(
            envelope_header(&r).unwrap(),
            json,
            "the borrowed header is the same JSON"
        );
        assert!(!json.contains('\n'));
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back.into_record(r.id.clone(), r.body.clone()), r);
    }

    fn parse(pairs: &[(&str, toml::Value)]) -> Result<crate::SinkSpec, Vec<conpot_core::template::TemplateError>> {
        let mut all: Vec<(&str, toml::Value)> = vec![("type", "nats".into())];
        all.extend(pairs.iter().cloned());
        crate::SinkSpec::parse(&conpot_core::config::SinkTable::from_pairs("t.toml", "sinks[0]", &all))
    }

    #[test]
    fn the_sink_table_has_defaults_and_limits() {
        let s = parse(&[]).unwrap();
        let crate::TransportSpec::Nats(n) = &s.transport else {
            panic!("not nats")
        };
        assert_eq!(n.url, "nats://127.0.0.1:4222");
        assert_eq!((n.stream.as_str(), n.subject_prefix.as_str()), ("CONPOT", "conpot"));
        assert_eq!(n.files_bucket.as_deref(), Some("conpot-files"));
        assert_eq!(n.limits, StreamLimits::default());
        // A network sink: batches of 500 and a spool.
        assert_eq!(s.delivery.batch, 500);
        assert_eq!(s.delivery.spool_bytes, 64 << 20);
        assert_eq!(s.name, "nats:nats://127.0.0.1:4222/CONPOT");
        let s = parse(&[
            ("max_bytes", 1000.into()),
            ("max_age_secs", 60.into()),
            ("storage", "memory".into()),
            ("files_bucket", "".into()),
            ("subject_prefix", "honey.net".into()),
        ])
        .unwrap();
        let crate::TransportSpec::Nats(n) = &s.transport else {
            panic!("not nats")
        };
        assert_eq!(n.limits.max_bytes, 1000);
        assert_eq!(n.limits.max_age, Duration::from_secs(60));
        assert!(n.limits.memory);
        assert_eq!(n.files_bucket, None);
        assert_eq!(n.subject_prefix, "honey.net");
    }

    #[test]
    fn bad_names_and_keys_are_errors_naming_the_key() {
        for (k, v) in [
            ("stream", toml::Value::from("A.B")),
            ("stream", "".into()),
            ("subject_prefix", "conpot.>".into()),
            ("subject_prefix", "a..b".into()),
            ("files_bucket", "x y".into()),
            ("storage", "tape".into()),
            ("replicas", 9.into()),
            ("ack_timeout_ms", 1.into()),
            ("colour", "red".into()),
        ] {
            let errs = parse(&[(k, v)]).unwrap_err();
            assert!(errs.iter().any(|e| e.to_string().contains(k)), "{k}: {errs:?}");
        }
    }

    #[test]
    fn only_hex_digests_name_capture_files() {
        assert!(is_sha256(&"0f".repeat(32)));
        assert!(!is_sha256(&"0F".repeat(32)));
        assert!(!is_sha256("../../etc/passwd"));
        assert!(!is_sha256(&"a".repeat(63)));
    }
}
