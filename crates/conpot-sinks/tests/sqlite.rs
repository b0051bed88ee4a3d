//! The SQLite sink against a real database file: schema, WAL, batched rows, duplicates
//! ignored by event id, sessions and captured files, Conpot's `[sqlite]` section.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use conpot_core::config::Config;

#[test]
fn sqlite_stores_events_sessions_and_files_once() {
    let d = tmp("sqlite");
    let db = d.join("logs/events.db");
    let spec = spec(&[("type", "sqlite".into()), ("path", db.display().to_string().into())]);
    let o = origin("sensor-sq");
    let run = Running::start(&spec, o.clone(), &d, 10_000);
    let s = session(40001);
    let first = request(&o, &s, 0);
    run.publish(first.clone());
    for n in 1..500 {
        run.publish(request(&o, &s, n));
    }
    run.publish(upload(&o, &s));
    // The same event again (a retried batch): stored once.
    run.publish(first.clone());
    let metrics = run.finish();
    assert_eq!(metrics.events_failed.load(std::sync::atomic::Ordering::Relaxed), 0);

    let c = rusqlite::Connection::open(&db).unwrap();
    let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let n: i64 = c.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 501);
    let (time, sensor, proto, ty, ip, port, dport, body): (String, String, String, String, String, u16, u16, String) = c
        .query_row(
            "SELECT time, sensor_id, protocol, event_type, src_ip, src_port, dst_port, body FROM events WHERE event_id = ?1",
            [first.event_id.hyphenated().to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)),
        )
        .unwrap();
    assert!(time.ends_with('Z') && time.len() == 27, "{time}");
    assert_eq!(
        (sensor.as_str(), proto.as_str(), ty.as_str()),
        ("sensor-sq", "modbus", "modbus.request")
    );
    assert_eq!((ip.as_str(), port, dport), ("198.51.100.4", 40001, 502));
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["event_id"], first.event_id.hyphenated().to_string());
    assert_eq!(body["request"]["note"], "x\u{0}y");
    assert_eq!(body["raw"], "0001000000060101");
    let (sid, first_seen, last_seen): (String, String, String) = c
        .query_row("SELECT session_id, first_seen, last_seen FROM sessions", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(sid, s.id.hyphenated().to_string());
    assert!(first_seen <= last_seen);
    let (sha, name, size): (String, String, i64) = c
        .query_row("SELECT sha256, name, size FROM files", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!((sha, name.as_str(), size), ("ab".repeat(32), "OB1", 12));
    let indexes: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .filter(|n: &String| !n.starts_with("sqlite_"))
        .collect();
    assert_eq!(
        indexes,
        ["events_protocol", "events_session", "events_src_ip", "events_time"]
    );
}

#[test]
fn conpot_sqlite_section_writes_conpot_legacy_rows() {
    let d = tmp("sqlite-ini");
    let db = d.join("conpot.db");
    let ini = format!("[sqlite]\nenabled = True\nfilename = {}\n", db.display());
    let config = Config::from_conpot_ini("testing.cfg", &ini).unwrap();
    let specs = conpot_sinks::parse_all(&config.sinks).unwrap();
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].encoder, conpot_sinks::Encoder::ConpotLegacy);
    let o = origin("sensor-ini");
    let run = Running::start(&specs[0], o.clone(), &d, 100);
    run.publish(request(&o, &session(40002), 1));
    run.finish();
    let c = rusqlite::Connection::open(&db).unwrap();
    let body: String = c.query_row("SELECT body FROM events", [], |r| r.get(0)).unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["sensorid"], "sensor-ini");
    assert_eq!(body["data_type"], "modbus");
    assert_eq!(body["request"], "b'0001000000060101'");
}

#[test]
fn a_database_of_another_shape_is_refused_plainly() {
    let d = tmp("sqlite-conpot");
    let db = d.join("conpot.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute_batch("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, session TEXT, remote TEXT)")
        .unwrap();
    drop(c);
    let e = conpot_sinks::sqlite::Sqlite::open(&db).unwrap_err();
    assert!(e.to_string().contains("not ours"), "{e}");
}
