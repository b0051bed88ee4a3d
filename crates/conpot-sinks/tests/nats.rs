//! The NATS JetStream sink against Debian's nats-server on loopback (tests/servers/start):
//! events read back with a JetStream consumer, subject, headers and body field by field in
//! every JSON encoder; captured files read back from the object store; and an outage: the
//! server stopped under 1,000 events/s, events spooled, the server started again, every
//! event on the stream once (repeats dropped by `Nats-Msg-Id`), the spool drained; with a
//! tiny spool the loss is counted and reported as `events.dropped`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use common::*;
use conpot_sinks::Encoder;
use futures_util::StreamExt;

/// One message read back: subject, headers we set, body.
struct Got {
    subject: String,
    msg_id: String,
    envelope: serde_json::Value,
    body: serde_json::Value,
    /// When the server stored it, nanoseconds since the epoch.
    stored_ns: i128,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// Every message of `stream` under `filter`, through an ephemeral pull consumer.
fn read_all(url: &str, stream: &str, filter: &str) -> Vec<Got> {
    rt().block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = jetstream::new(client);
        let Ok(stream) = js.get_stream(stream).await else {
            return Vec::new();
        };
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::Config {
                filter_subject: filter.to_owned(),
                ack_policy: jetstream::consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut out = Vec::new();
        loop {
            let mut batch = consumer
                .fetch()
                .max_messages(5000)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .unwrap();
            let before = out.len();
            while let Some(m) = batch.next().await {
                let m = m.unwrap();
                let h = m.headers.as_ref().expect("headers");
                out.push(Got {
                    subject: m.subject.to_string(),
                    msg_id: h.get("Nats-Msg-Id").unwrap().as_str().to_owned(),
                    envelope: serde_json::from_str(h.get("Conpot-Envelope").unwrap().as_str()).unwrap(),
                    body: serde_json::from_slice(&m.payload).unwrap(),
                    stored_ns: m.info().unwrap().published.unix_timestamp_nanos(),
                });
            }
            if out.len() == before {
                return out;
            }
        }
    })
}

fn nats_spec(url: &str, stream: &str, prefix: &str, extra: &[(&str, toml::Value)]) -> conpot_sinks::SinkSpec {
    let mut pairs: Vec<(&str, toml::Value)> = vec![
        ("type", "nats".into()),
        ("url", url.into()),
        ("stream", stream.into()),
        ("subject_prefix", prefix.into()),
        ("files_bucket", format!("{stream}-files").into()),
    ];
    pairs.extend(extra.iter().cloned());
    spec(&pairs)
}

#[test]
fn nats_publishes_every_encoder_field_by_field_with_msg_id_and_files() {
    let Some(url) = server("CONPOT_TEST_NATS") else { return };
    for encoder in [Encoder::Native, Encoder::ConpotLegacy, Encoder::ConpotV1, Encoder::Ecs] {
        let format = encoder.name();
        let stream = unique("T").replace('-', "_");
        let prefix = stream.to_lowercase();
        let d = tmp(&format!("nats-{format}"));
        let sensor = unique(&format!("nats-{format}"));
        let spec = nats_spec(
            &url,
            &stream,
            &prefix,
            &[("format", format.into()), ("batch", 100.into())],
        );
        let o = origin(&sensor);
        // A captured file where the sensor keeps them, named by its digest.
        let content = format!("captured by {sensor}").into_bytes();
        let sha = {
            use std::fmt::Write;
            let digest = <sha2::Sha256 as sha2::Digest>::digest(&content);
            digest.iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
        };
        std::fs::create_dir_all(d.join("captures")).unwrap();
        std::fs::write(d.join("captures").join(&sha), &content).unwrap();
        let run = Running::start(&spec, o.clone(), &d, 10_000);
        let s = session(41000);
        let first = request(&o, &s, 0);
        run.publish(first.clone());
        for n in 1..300 {
            run.publish(request(&o, &s, n));
        }
        let up = {
            let d = conpot_core::event::EventDraft::new("file.upload")
                .with("name", "OB1")
                .with("sha256", sha.as_str())
                .with("size", content.len())
                .with("status", "stored");
            conpot_core::event::Event::stamp(&o, &s, d, std::time::SystemTime::now())
        };
        run.publish(up.clone());
        // An event over the server's max_payload (1 MiB) is left out, not retried forever.
        let mut big = conpot_core::event::EventDraft::new("modbus.request");
        big.body.request = Some(serde_json::json!({"blob": "x".repeat(1_100_000)}));
        run.publish(conpot_core::event::Event::stamp(
            &o,
            &s,
            big,
            std::time::SystemTime::now(),
        ));
        run.publish(request(&o, &s, 1_000));
        // A repeat of the first event (a retried batch): JetStream drops it by its msg id.
        run.publish(first.clone());
        let metrics = run.finish();
        assert_eq!(metrics.events_failed.load(Ordering::Relaxed), 0);
        let got = read_all(&url, &stream, &format!("{prefix}.>"));
        assert_eq!(got.len(), 302, "{format}: every event once, the one too large left out");
        let id = first.event_id.hyphenated().to_string();
        let m = got.iter().find(|g| g.msg_id == id).expect("the first event");
        let token = sensor.replace('.', "_");
        assert_eq!(m.subject, format!("{prefix}.{token}.modbus.modbus.request"));
        let e = &m.envelope;
        assert_eq!(e["sensor"], sensor.as_str());
        assert_eq!(e["session"], s.id.hyphenated().to_string());
        assert_eq!(e["protocol"], "modbus");
        assert_eq!(e["transport"], "tcp");
        assert_eq!(e["event_type"], "modbus.request");
        assert_eq!(e["src_ip"], "198.51.100.4");
        assert_eq!(e["src_port"], 41000);
        assert_eq!(e["dst_ip"], "10.0.0.5");
        assert_eq!(e["dst_port"], 502);
        // The body is exactly what the encoder writes for the event.
        let mut want = Vec::new();
        encoder.encode(&first, &mut want).unwrap();
        let want: serde_json::Value = serde_json::from_slice(&want).unwrap();
        assert_eq!(m.body, want, "{format}: the body is the encoder's");
        match encoder {
            Encoder::Native => {
                assert_eq!(m.body["event_id"], id);
                assert_eq!(m.body["src_ip"], "198.51.100.4");
                assert_eq!(m.body["request"]["note"], "x\u{0}y");
                assert_eq!(m.body["raw"], "0001000000060101");
            }
            Encoder::Ecs => {
                assert_eq!(m.body["event"]["id"], id);
                assert_eq!(m.body["source"]["ip"], "198.51.100.4");
                assert_eq!(m.body["destination"]["port"], 502);
                assert_eq!(m.body["network"]["protocol"], "modbus");
                assert_eq!(m.body["observer"]["name"], sensor.as_str());
            }
            _ => {
                assert_eq!(m.body["src_ip"], "198.51.100.4");
                assert_eq!(m.body["src_port"], 41000);
            }
        }
        let ns: HashSet<String> = got
            .iter()
            .filter(|g| g.envelope["event_type"] == "modbus.request")
            .map(|g| g.msg_id.clone())
            .collect();
        assert_eq!(ns.len(), 301);
        // The upload's envelope names the file, and the file is in the bucket by its hash.
        let f = got
            .iter()
            .find(|g| g.msg_id == up.event_id.hyphenated().to_string())
            .unwrap();
        assert_eq!(f.subject, format!("{prefix}.{token}.modbus.file.upload"));
        assert_eq!(f.envelope["file"]["sha256"], sha.as_str());
        let stored = rt().block_on(async {
            use tokio::io::AsyncReadExt;
            let js = jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
            let store = js.get_object_store(format!("{stream}-files")).await.unwrap();
            let mut obj = store.get(&sha).await.unwrap();
            let mut buf = Vec::new();
            obj.read_to_end(&mut buf).await.unwrap();
            buf
        });
        assert_eq!(stored, content);
    }
}

#[test]
fn nats_creates_the_stream_with_the_configured_limits() {
    let Some(url) = server("CONPOT_TEST_NATS") else { return };
    let stream = unique("L").replace('-', "_");
    let prefix = stream.to_lowercase();
    let d = tmp("nats-limits");
    let spec = nats_spec(
        &url,
        &stream,
        &prefix,
        &[
            ("max_bytes", 50_000_000.into()),
            ("max_messages", 123_456.into()),
            ("max_age_secs", 86_400.into()),
            ("duplicate_window_secs", 300.into()),
            ("files_bucket", "".into()),
        ],
    );
    let o = origin(&unique("nats-limits"));
    let run = Running::start(&spec, o.clone(), &d, 1000);
    run.publish(request(&o, &session(1), 0));
    run.finish();
    let info = rt().block_on(async {
        let js = jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
        let mut s = js.get_stream(&stream).await.unwrap();
        s.info().await.unwrap().clone()
    });
    assert_eq!(info.config.subjects, vec![format!("{prefix}.>")]);
    assert_eq!(info.config.max_bytes, 50_000_000);
    assert_eq!(info.config.max_messages, 123_456);
    assert_eq!(info.config.max_age, Duration::from_secs(86_400));
    assert_eq!(info.config.duplicate_window, Duration::from_secs(300));
    assert_eq!(info.state.messages, 1);
}

fn ctl(action: &str) {
    let ctl = std::env::var("CONPOT_TEST_SERVERS_CTL").expect("CONPOT_TEST_SERVERS_CTL");
    let st = std::process::Command::new(ctl)
        .args([action, "nats-outage"])
        .status()
        .unwrap();
    assert!(st.success(), "ctl {action} nats-outage");
}

/// Publishes `count` requests at `rate` per second, numbered from `*n`.
fn paced(
    run: &Running,
    o: &conpot_core::event::Origin,
    s: &conpot_core::event::SessionInfo,
    n: &mut u64,
    count: u64,
    rate: u64,
) {
    let start = Instant::now();
    for i in 0..count {
        run.publish(request(o, s, *n));
        *n += 1;
        if i % 50 == 49 {
            let due = start + Duration::from_secs_f64((i + 1) as f64 / rate as f64);
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
        }
    }
}

/// The outage server is stopped for 60 s (`CONPOT_TEST_OUTAGE_SECS` to change it) while
/// 1,000 events/s flow; they wait in the spool and are all on the stream, once each, after
/// it is started again.
#[test]
fn nats_outage_spools_and_every_event_arrives_once() {
    let secs: u64 = std::env::var("CONPOT_TEST_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let Some(t) = outage_sink(
        "nats-outage",
        &[
            ("batch", 500.into()),
            ("retry_min_ms", 100.into()),
            ("retry_max_ms", 2000.into()),
            ("ack_timeout_ms", 2000.into()),
            ("spool_bytes", (512i64 << 20).into()),
        ],
    ) else {
        return;
    };
    let OutageSink {
        _guard,
        url,
        dir: d,
        origin: o,
        stream,
        prefix,
        spec,
    } = t;
    let run = Running::start(&spec, o.clone(), &d, 100_000);
    let s = session(42000);
    let mut n = 0;
    paced(&run, &o, &s, &mut n, 2000, 1000);
    ctl("stop");
    paced(&run, &o, &s, &mut n, secs * 1000, 1000);
    let spool = d.join("spool");
    let spooled: u64 = std::fs::read_dir(&spool)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|f| f.path().extension().is_some_and(|x| x == "spool"))
        .map(|f| f.metadata().map_or(0, |m| m.len()))
        .sum();
    assert!(spooled > 0, "events are spooled during the outage");
    ctl("start");
    paced(&run, &o, &s, &mut n, 2000, 1000);
    let total = n;
    // The spool drains: its read offset reaches its end.
    let drained = wait_for(120, || {
        let got = read_all(&url, &stream, &format!("{prefix}.>"));
        (got.len() as u64 >= total).then_some(got)
    });
    let metrics = run.finish();
    let got = drained.unwrap_or_else(|| read_all(&url, &stream, &format!("{prefix}.>")));
    let ids: HashSet<&str> = got.iter().map(|g| g.msg_id.as_str()).collect();
    let numbers: HashSet<u64> = got.iter().filter_map(|g| g.body["data"]["n"].as_u64()).collect();
    assert_eq!(numbers.len() as u64, total, "every event arrived");
    assert_eq!(
        got.len() as u64,
        total,
        "each once on the stream (repeats dropped by msg id)"
    );
    assert_eq!(ids.len() as u64, total);
    assert_eq!(metrics.events_dropped.load(Ordering::Relaxed), 0);
    assert_eq!(metrics.events_failed.load(Ordering::Relaxed), 0);
}

#[test]
fn nats_tiny_spool_counts_the_loss_as_events_dropped() {
    let Some(t) = outage_sink(
        "nats-tiny",
        &[
            ("retry_min_ms", 50.into()),
            ("retry_max_ms", 300.into()),
            ("ack_timeout_ms", 1000.into()),
            ("spool_bytes", 20_000.into()),
        ],
    ) else {
        return;
    };
    let OutageSink {
        _guard,
        url,
        dir: d,
        origin: o,
        stream,
        prefix,
        spec,
    } = t;
    let run = Running::start(&spec, o.clone(), &d, 100_000);
    let s = session(43000);
    // Connected first, so the outage is one of a running sink.
    run.publish(request(&o, &s, 0));
    wait_for(20, || {
        (read_all(&url, &stream, &format!("{prefix}.>")).len() == 1).then_some(())
    })
    .expect("first event on the stream");
    ctl("stop");
    for n in 1..200 {
        run.publish(request(&o, &s, n));
    }
    std::thread::sleep(Duration::from_secs(3));
    ctl("start");
    let reported = wait_for(30, || {
        run.publish(request(&o, &s, 10_000));
        read_all(&url, &stream, &format!("{prefix}.>"))
            .iter()
            .filter(|g| g.envelope["event_type"] == "events.dropped")
            .filter_map(|g| g.body["data"]["dropped_total"].as_u64())
            .max()
    });
    let metrics = run.finish();
    let dropped = metrics.events_dropped.load(Ordering::Relaxed);
    assert!(dropped > 0, "a tiny spool loses events");
    assert!(reported.expect("an events.dropped event reached the stream") > 0);
    let got = read_all(&url, &stream, &format!("{prefix}.>"));
    let requests: HashSet<u64> = got
        .iter()
        .filter(|g| g.envelope["event_type"] == "modbus.request")
        .filter_map(|g| g.body["data"]["n"].as_u64())
        .filter(|n| *n < 200)
        .collect();
    // Stored requests plus dropped ones account for every request of the outage.
    assert!(
        requests.len() as u64 + dropped >= 200,
        "stored {}, dropped {dropped}",
        requests.len()
    );
}

/// The outage server is stopped while a burst is being published, so batches are in flight
/// (published, acknowledgements outstanding) when it goes: the sink's `delivered` counter
/// never exceeds what the server had stored by then, and once it is back every event is on
/// the stream once, none failed, the spool drained.
#[test]
fn nats_batches_in_flight_when_the_server_stops_are_counted_only_once_stored() {
    let Some(t) = outage_sink(
        "nats-in-flight",
        &[
            ("batch", 500.into()),
            ("retry_min_ms", 100.into()),
            ("retry_max_ms", 1000.into()),
            ("ack_timeout_ms", 1000.into()),
            ("spool_bytes", (512i64 << 20).into()),
        ],
    ) else {
        return;
    };
    let OutageSink {
        _guard,
        url,
        dir: d,
        origin: o,
        stream,
        prefix,
        spec,
    } = t;
    let metrics = std::sync::Arc::new(conpot_core::metrics::Metrics::default());
    let mut bus = conpot_core::bus::EventBus::new(std::sync::Arc::clone(&metrics));
    bus.set_queue_limits(conpot_core::bus::QueueLimits {
        events: 200_000,
        bytes: 256 << 20,
        source_share: 100,
    });
    let (_, task, stats) =
        conpot_sinks::attach_counted(&spec, &mut bus, 200_000, o.clone(), Default::default(), &d).unwrap();
    let task = std::thread::spawn(task);
    let s = session(44000);
    // Connected first, so the burst is published by a running sink.
    bus.publish(request(&o, &s, 0));
    wait_for(20, || (stats.delivered.load(Ordering::Relaxed) == 1).then_some(())).expect("first event delivered");
    let total = 40_000u64;
    for n in 1..total {
        bus.publish(request(&o, &s, n));
    }
    // Stopped while the burst is on its way (the sink takes some tenths of a second for it).
    std::thread::sleep(Duration::from_millis(100));
    ctl("stop");
    // Longer than the acknowledgement timeout: every batch in flight has failed by now.
    std::thread::sleep(Duration::from_secs(3));
    let counted = stats.delivered.load(Ordering::Relaxed);
    let restart_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128;
    ctl("start");
    let got = wait_for(120, || {
        let got = read_all(&url, &stream, &format!("{prefix}.>"));
        (got.len() as u64 >= total).then_some(got)
    })
    .unwrap_or_else(|| read_all(&url, &stream, &format!("{prefix}.>")));
    drop(bus);
    task.join().unwrap();
    let stored_before = got.iter().filter(|g| g.stored_ns < restart_ns).count() as u64;
    assert!(
        counted < total,
        "the server stopped before the burst was delivered ({counted})"
    );
    assert!(
        counted <= stored_before,
        "counted delivered {counted}, but the server had stored only {stored_before}"
    );
    let numbers: HashSet<u64> = got.iter().filter_map(|g| g.body["data"]["n"].as_u64()).collect();
    assert_eq!(numbers.len() as u64, total, "every event arrived");
    assert_eq!(got.len() as u64, total, "each once on the stream");
    assert!(stats.delivered.load(Ordering::Relaxed) >= total);
    assert_eq!(metrics.events_failed.load(Ordering::Relaxed), 0);
    assert_eq!(metrics.events_dropped.load(Ordering::Relaxed), 0);
    let spool = conpot_sinks::spool::Spool::open(&d.join(conpot_sinks::SPOOL_DIR), &spec.name, 512 << 20).unwrap();
    assert!(spool.is_empty(), "the spool drained");
}

/// The two outage tests take turns with the outage server.
static OUTAGE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A sink of an outage test, on the outage server (started, and held by this test alone
/// while it lives): its state folder, sensor, stream and subject prefix, and its spec
/// with the `extra` settings.
struct OutageSink {
    _guard: std::sync::MutexGuard<'static, ()>,
    url: String,
    dir: std::path::PathBuf,
    origin: conpot_core::event::Origin,
    stream: String,
    prefix: String,
    spec: conpot_sinks::SinkSpec,
}

fn outage_sink(name: &str, extra: &[(&str, toml::Value)]) -> Option<OutageSink> {
    let url = server("CONPOT_TEST_NATS_OUTAGE")?;
    let guard = OUTAGE.lock().unwrap_or_else(|e| e.into_inner());
    ctl("start");
    let stream = unique("S").replace('-', "_");
    let prefix = stream.to_lowercase();
    let spec = nats_spec(&url, &stream, &prefix, extra);
    Some(OutageSink {
        _guard: guard,
        dir: tmp(name),
        origin: origin(&unique(name)),
        url,
        stream,
        prefix,
        spec,
    })
}

/// `collect::run` with a JSON-lines output: what sensors published comes out as the
/// encoder's bodies, every event once (one collector, nothing redelivered), and a message no
/// sensor published is terminated rather than written.
#[test]
fn the_collector_writes_the_stream_to_json_lines() {
    let Some(url) = server("CONPOT_TEST_NATS") else { return };
    let stream = unique("C").replace('-', "_");
    let prefix = stream.to_lowercase();
    let d = tmp("nats-collect");
    let spec = nats_spec(
        &url,
        &stream,
        &prefix,
        &[("format", "ecs".into()), ("files_bucket", "".into())],
    );
    let mut sent = Vec::new();
    for sensor in ["a", "b"] {
        let o = origin(&unique(sensor));
        let run = Running::start(&spec, o.clone(), &d, 10_000);
        for n in 0..150 {
            let e = request(&o, &session(44000), n);
            sent.push(e.event_id.hyphenated().to_string());
            run.publish(e);
        }
        run.finish();
    }
    rt().block_on(async {
        let client = async_nats::connect(url.as_str()).await.unwrap();
        jetstream::new(client)
            .publish(format!("{prefix}.stray"), "not an event".into())
            .await
            .unwrap()
            .await
            .unwrap();
    });
    let conpot_sinks::TransportSpec::Nats(nats) = spec.transport.clone() else {
        unreachable!()
    };
    let out = d.join("collected.jsonl");
    let cspec = conpot_sinks::collect::CollectSpec {
        nats,
        consumer: "collect".into(),
        batch: 100,
        ack_wait: Duration::from_secs(5),
        output: conpot_sinks::collect::Output::JsonLines(out.clone()),
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let stats = conpot_sinks::collect::Stats::default();
    std::thread::scope(|s| {
        let worker = s.spawn(|| conpot_sinks::collect::run(&cspec, &stop, &stats));
        let done = wait_for(30, || (stats.written.load(Ordering::Relaxed) >= 300).then_some(()));
        // A moment more: nothing else may arrive.
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, Ordering::Relaxed);
        worker.join().unwrap().unwrap();
        done.expect("300 events collected");
    });
    assert_eq!(stats.written.load(Ordering::Relaxed), 300);
    assert_eq!(stats.rejected.load(Ordering::Relaxed), 1);
    let text = std::fs::read_to_string(&out).unwrap();
    let ids: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["network"]["protocol"], "modbus");
            v["event"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 300);
    let got: HashSet<&String> = ids.iter().collect();
    let want: HashSet<&String> = sent.iter().collect();
    assert_eq!(got, want, "every published event, once");
    // All acknowledged: the durable consumer has nothing left for the next collector.
    let pending = rt().block_on(async {
        let js = jetstream::new(async_nats::connect(url.as_str()).await.unwrap());
        let stream = js.get_stream(&stream).await.unwrap();
        let mut c: jetstream::consumer::PullConsumer = stream.get_consumer("collect").await.unwrap();
        let info = c.info().await.unwrap();
        (info.num_pending, info.num_ack_pending)
    });
    assert_eq!(pending, (0, 0));
}
