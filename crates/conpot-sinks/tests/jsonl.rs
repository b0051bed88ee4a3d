//! The JSON-lines sink end to end: both encodings, hostile bytes, drop reporting, flush
//! on close.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use conpot_core::bus::EventBus;
use conpot_core::config::SinkTable;
use conpot_core::event::{EventDraft, Origin, SessionInfo, Transport};
use conpot_core::metrics::Metrics;
use conpot_sinks::{Encoder as EventFormat, SinkSpec};
use serde_json::Value;

fn origin() -> Origin {
    Origin {
        sensor_id: "sensor-7".into(),
        persona: "default-1".into(),
        public_ip: Some("203.0.113.9".into()),
        raw_limit: 8,
    }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("conpot-sinks-{}-{}", std::process::id(), name));
    let _ = std::fs::remove_dir_all(&d);
    d.join("sub/events.jsonl")
}

fn spec(path: &std::path::Path, format: EventFormat) -> SinkSpec {
    let t = SinkTable::from_pairs(
        "t.toml",
        "sinks[0]",
        &[
            ("type", "jsonl".into()),
            ("path", path.display().to_string().into()),
            ("format", format.name().into()),
        ],
    );
    SinkSpec::parse(&t).unwrap()
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn session() -> SessionInfo {
    SessionInfo::new(
        "modbus".into(),
        Transport::Tcp,
        Some("198.51.100.4:40001".parse().unwrap()),
        Some("10.0.0.5:502".parse().unwrap()),
    )
}

fn request_event(s: &SessionInfo) -> conpot_core::event::Event {
    let mut d = EventDraft::new("modbus.request").with("unit_id", 1);
    d.body.request = Some(serde_json::json!({"function": "read_coils", "note": "bytes \u{fffd}\u{0}"}));
    d.body.raw = Some(vec![0x00, 0x01, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x06, 0x01, 0x01]);
    d.body.raw_response = Some(vec![0x01, 0x01, 0x63]);
    conpot_core::event::Event::stamp(
        &origin(),
        s,
        d,
        UNIX_EPOCH + Duration::from_micros(1_795_611_702_444_137),
    )
}

async fn write_all(format: EventFormat, name: &str, events: Vec<conpot_core::event::Event>) -> Vec<Value> {
    let path = tmp(name);
    let mut bus = EventBus::new(Arc::new(Metrics::default()));
    let cfg = spec(&path, format);
    let (_, task) = conpot_sinks::attach(&cfg, &mut bus, 100, origin(), Default::default(), &path).unwrap();
    let h = tokio::task::spawn_blocking(task);
    for e in events {
        bus.publish(e);
    }
    drop(bus);
    tokio::time::timeout(Duration::from_secs(5), h).await.unwrap().unwrap();
    lines(&path)
}

#[tokio::test]
async fn conpot_legacy_fields_exactly() {
    let s = session();
    let open = conpot_core::event::Event::stamp(&origin(), &s, EventDraft::new("session.open"), SystemTime::now());
    let close = conpot_core::event::Event::stamp(
        &origin(),
        &s,
        EventDraft::new("session.close").with("reason", "peer"),
        SystemTime::now(),
    );
    let out = write_all(
        EventFormat::ConpotLegacy,
        "legacy",
        vec![open, request_event(&s), close],
    )
    .await;
    assert_eq!(out.len(), 3);
    let keys: Vec<&str> = out[1].as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec![
        "timestamp",
        "sensorid",
        "id",
        "src_ip",
        "src_port",
        "dst_ip",
        "dst_port",
        "public_ip",
        "data_type",
        "request",
        "response",
        "event_type",
    ];
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
    assert_eq!(out[0]["event_type"], "NEW_CONNECTION");
    assert_eq!(out[2]["event_type"], "CONNECTION_LOST");
    let r = &out[1];
    assert_eq!(r["timestamp"], "2026-11-25T13:01:42.444137");
    assert_eq!(r["sensorid"], "sensor-7");
    assert_eq!(r["id"], s.id.to_string());
    assert_eq!(r["src_ip"], "198.51.100.4");
    assert_eq!(r["src_port"], 40001);
    assert_eq!(r["dst_ip"], "10.0.0.5");
    assert_eq!(r["dst_port"], 502);
    assert_eq!(r["public_ip"], "203.0.113.9");
    assert_eq!(r["data_type"], "modbus");
    assert_eq!(
        r["request"], "b'0001fffe80000006'",
        "raw capped at 8 bytes, Python bytes repr of hex"
    );
    assert_eq!(r["response"], "b'010163'");
    assert_eq!(r["event_type"], Value::Null);
}

#[tokio::test]
async fn native_fields_and_hostile_bytes() {
    let s = session();
    let out = write_all(EventFormat::Native, "native", vec![request_event(&s)]).await;
    let r = &out[0];
    assert_eq!(r["event_type"], "modbus.request");
    assert_eq!(r["timestamp"], "2026-11-25T13:01:42.444137Z");
    assert_eq!(r["sensor_id"], "sensor-7");
    assert_eq!(r["persona"], "default-1");
    assert_eq!(r["protocol"], "modbus");
    assert_eq!(r["transport"], "tcp");
    assert_eq!(r["src_ip"], "198.51.100.4");
    assert_eq!(r["src_port"], 40001);
    assert_eq!(r["raw"], "0001fffe80000006");
    assert_eq!(r["raw_len"], 10);
    assert_eq!(r["raw_truncated"], true);
    assert_eq!(r["raw_response"], "010163");
    assert_eq!(r["data"]["unit_id"], 1);
    assert_eq!(r["request"]["note"], "bytes \u{fffd}\u{0}");
    assert!(
        uuid::Uuid::parse_str(r["event_id"].as_str().unwrap())
            .unwrap()
            .get_version_num()
            == 7
    );
}

#[tokio::test]
async fn drops_are_counted_and_reported() {
    let path = tmp("drops");
    let metrics = Arc::new(Metrics::default());
    let mut bus = EventBus::new(Arc::clone(&metrics));
    // One source may fill the whole queue here (its share is tested in the bus).
    bus.set_queue_limits(conpot_core::bus::QueueLimits {
        source_share: 100,
        ..Default::default()
    });
    let cfg = spec(&path, EventFormat::Native);
    let (_, task) = conpot_sinks::attach(&cfg, &mut bus, 4, origin(), Default::default(), &path).unwrap();
    let s = session();
    // The sink task is not running yet: the queue holds 4, the other 6 are dropped.
    for _ in 0..10 {
        bus.publish(request_event(&s));
    }
    assert_eq!(metrics.events_dropped.load(std::sync::atomic::Ordering::Relaxed), 6);
    let h = tokio::task::spawn_blocking(task);
    drop(bus);
    h.await.unwrap();
    let out = lines(&path);
    assert_eq!(out.len(), 5, "4 events and one drop report");
    assert_eq!(out[0]["event_type"], "events.dropped");
    assert_eq!(out[0]["data"]["dropped"], 6);
    // The bus's account (by class and source) beside the runner's (queue, spool, delivery).
    assert_eq!(out[0]["data"]["queue_full"], 6);
    assert_eq!(out[0]["data"]["spool_full"], 0);
    assert_eq!(out[0]["data"]["essential"], 0);
    assert_eq!(out[0]["data"]["sources"]["198.51.100.4"], 6);
    assert_eq!(out[0]["data"]["failed"], 0);
    assert_eq!(out[0]["data"]["dropped_total"], 6);
    assert_eq!(out.iter().filter(|e| e["event_type"] == "modbus.request").count(), 4);
}

#[tokio::test]
async fn reopens_after_rotation() {
    let path = tmp("rotate");
    let mut bus = EventBus::new(Arc::new(Metrics::default()));
    let cfg = spec(&path, EventFormat::Native);
    let reopen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (_, task) = conpot_sinks::attach(&cfg, &mut bus, 100, origin(), Arc::clone(&reopen), &path).unwrap();
    let h = tokio::task::spawn_blocking(task);
    let s = session();
    bus.publish(request_event(&s));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // logrotate moves the file away, then asks for a reopen (SIGHUP).
    let rotated = path.with_extension("jsonl.1");
    std::fs::rename(&path, &rotated).unwrap();
    reopen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    bus.publish(request_event(&s));
    drop(bus);
    h.await.unwrap();
    assert_eq!(lines(&rotated).len(), 1);
    assert_eq!(
        lines(&path).len(),
        1,
        "the next event goes to a new file at the old path"
    );
}

#[tokio::test]
async fn rotates_by_size_keeping_the_newest_files() {
    let path = tmp("size-rotate");
    let t = SinkTable::from_pairs(
        "t.toml",
        "sinks[0]",
        &[
            ("type", "jsonl".into()),
            ("path", path.display().to_string().into()),
            ("rotate_bytes", 2000.into()),
            ("keep", 2.into()),
        ],
    );
    let cfg = SinkSpec::parse(&t).unwrap();
    let mut bus = EventBus::new(Arc::new(Metrics::default()));
    let (_, task) = conpot_sinks::attach(&cfg, &mut bus, 1000, origin(), Default::default(), &path).unwrap();
    let h = tokio::task::spawn_blocking(task);
    let s = session();
    for _ in 0..40 {
        bus.publish(request_event(&s));
    }
    drop(bus);
    h.await.unwrap();
    let one = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let rotated = |n: u32| std::path::PathBuf::from(format!("{}.{n}", path.display()));
    assert!(one(&path) > 0);
    for n in [1, 2] {
        let len = one(&rotated(n));
        assert!((2000..3000).contains(&len), ".{n} holds {len} bytes");
    }
    assert!(!rotated(3).exists(), "only `keep` rotated files are kept");
    let total = lines(&path).len() + lines(&rotated(1)).len() + lines(&rotated(2)).len();
    assert!(total < 40, "the oldest lines went with the dropped file ({total})");
    assert_eq!(lines(&rotated(1))[0]["event_type"], "modbus.request");
}

#[tokio::test]
async fn rotates_by_age() {
    let path = tmp("age-rotate");
    let t = SinkTable::from_pairs(
        "t.toml",
        "sinks[0]",
        &[
            ("type", "jsonl".into()),
            ("path", path.display().to_string().into()),
            ("rotate_secs", 1.into()),
        ],
    );
    let cfg = SinkSpec::parse(&t).unwrap();
    let mut bus = EventBus::new(Arc::new(Metrics::default()));
    let (_, task) = conpot_sinks::attach(&cfg, &mut bus, 1000, origin(), Default::default(), &path).unwrap();
    let h = tokio::task::spawn_blocking(task);
    let s = session();
    bus.publish(request_event(&s));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    bus.publish(request_event(&s));
    drop(bus);
    h.await.unwrap();
    assert_eq!(
        lines(&std::path::PathBuf::from(format!("{}.1", path.display()))).len(),
        1
    );
    assert_eq!(lines(&path).len(), 1, "the file older than rotate_secs was rotated");
}

#[tokio::test]
async fn a_deleted_log_is_reopened_and_losses_are_counted_exactly() {
    let path = tmp("deleted");
    let metrics = Arc::new(Metrics::default());
    let mut bus = EventBus::new(Arc::clone(&metrics));
    let cfg = spec(&path, EventFormat::Native);
    let (_, task) = conpot_sinks::attach(&cfg, &mut bus, 1000, origin(), Default::default(), &path).unwrap();
    let h = tokio::task::spawn_blocking(task);
    let s = session();
    for _ in 0..5 {
        bus.publish(request_event(&s));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lines(&path).len(), 5);
    // Deleted under the sensor, no reopen signal: the next events must not go to the
    // deleted inode.
    std::fs::remove_file(&path).unwrap();
    for _ in 0..13 {
        bus.publish(request_event(&s));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lines(&path).len(), 13, "a new file at the path has every later event");
    assert_eq!(metrics.events_failed.load(std::sync::atomic::Ordering::Relaxed), 0);
    drop(bus);
    h.await.unwrap();
}

#[tokio::test]
async fn a_failed_write_counts_every_event_it_loses() {
    // /dev/full accepts the open and fails every write.
    let path = std::path::Path::new("/dev/full");
    if !path.exists() {
        eprintln!("no /dev/full here");
        return;
    }
    let metrics = Arc::new(Metrics::default());
    let mut bus = EventBus::new(Arc::clone(&metrics));
    // Room for every event in the queue (the default 8 MiB holds fewer of them).
    bus.set_queue_limits(conpot_core::bus::QueueLimits {
        source_share: 100,
        bytes: 64 << 20,
        ..Default::default()
    });
    let cfg = spec(path, EventFormat::Native);
    let state = tmp("full");
    let (_, task) = conpot_sinks::attach(&cfg, &mut bus, 30_000, origin(), Default::default(), &state).unwrap();
    let s = session();
    // Many more than one batch's (and one buffer's) worth: each failed write counts the
    // events it held.
    for _ in 0..20_003 {
        bus.publish(request_event(&s));
    }
    assert_eq!(metrics.events_dropped.load(std::sync::atomic::Ordering::Relaxed), 0);
    let h = tokio::task::spawn_blocking(task);
    drop(bus);
    h.await.unwrap();
    assert_eq!(
        metrics.events_failed.load(std::sync::atomic::Ordering::Relaxed),
        20_003,
        "every event of the failed writes counted, once"
    );
}

#[test]
fn a_batch_cut_by_a_failed_rotation_says_what_reached_the_file() {
    use conpot_sinks::Deliver;
    use conpot_sinks::jsonl::JsonLines;
    let path = tmp("partial");
    let rotate = conpot_sinks::spec::Rotation {
        bytes: 1,
        every: None,
        keep: 1,
    };
    let mut j = JsonLines::open(&path).unwrap().rotating(rotate);
    // `<path>.1` is a folder that is not empty: the rename of the rotation fails.
    let blocker = std::path::PathBuf::from(format!("{}.1", path.display()));
    std::fs::create_dir_all(blocker.join("x")).unwrap();
    let s = session();
    let recs: Vec<_> = (0..3)
        .map(|_| conpot_sinks::record::Record::body_only(EventFormat::Native, &request_event(&s)).unwrap())
        .collect();
    assert!(j.deliver(&recs).is_err());
    assert_eq!(
        j.delivered_before_error(),
        1,
        "the first record was written before the rotation"
    );
    assert_eq!(lines(&path).len(), 1);
    // The way cleared, the rest goes out, and the file rotates as configured.
    std::fs::remove_dir_all(&blocker).unwrap();
    j.deliver(&recs[1..]).unwrap();
    assert_eq!(lines(&blocker).len(), 1);
    assert_eq!(lines(&path).len(), 1);
}

#[tokio::test]
async fn lost_events_are_reported_once_writing_works_again() {
    let path = tmp("lost");
    let dir = path.parent().unwrap().to_owned();
    let metrics = Arc::new(Metrics::default());
    let mut bus = EventBus::new(Arc::clone(&metrics));
    let cfg = spec(&path, EventFormat::Native);
    let (_, task) = conpot_sinks::attach(&cfg, &mut bus, 1000, origin(), Default::default(), &path).unwrap();
    let h = tokio::task::spawn_blocking(task);
    let s = session();
    bus.publish(request_event(&s));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The log's folder is replaced by a plain file: the log cannot be opened again.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"in the way").unwrap();
    for _ in 0..7 {
        bus.publish(request_event(&s));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(metrics.events_failed.load(std::sync::atomic::Ordering::Relaxed), 7);
    // Fixed: the next write that succeeds is followed at once by a report of the seven.
    std::fs::remove_file(&dir).unwrap();
    bus.publish(request_event(&s));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = lines(&path);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0]["event_type"], "modbus.request");
    assert_eq!(out[1]["event_type"], "events.dropped");
    assert_eq!(out[1]["data"]["failed"], 7);
    assert_eq!(out[1]["data"]["failed_total"], 7);
    assert_eq!(out[1]["data"]["dropped"], 0);
    drop(bus);
    h.await.unwrap();
    assert_eq!(lines(&path).len(), 2, "reported once");
}
