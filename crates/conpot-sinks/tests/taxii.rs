//! The TAXII sink with the `stix` encoder against medallion (PyPI, started by
//! tests/servers/start with the SQLite storage backend of tests/servers/conpot_taxii_backend.py):
//! the collection's objects are read back a page at a time and checked with the OASIS
//! stix2 library (tests/servers/taxii-read: each object parses as STIX 2.1, each
//! observable has the id stix2 derives), then field by field here; envelopes kept within
//! the API root's `max_content_length`; and the outage of the server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use conpot_core::event::{Event, EventDraft};
use serde_json::Value as Json;

/// The outage tests stop and start the same server: one at a time.
static OUTAGE_SERVER: Mutex<()> = Mutex::new(());

/// The collection's objects, checked by stix2 (`args`: taxii-read's filters).
fn read_with(url: &str, args: &[&str]) -> Vec<Json> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/servers/taxii-read"))
        .args([url, "conpot", "conpot"])
        .args(args)
        .output()
        .expect("taxii-read (tests/setup-deps)");
    assert!(
        out.status.success(),
        "stix2 refused the collection: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every object of the collection, checked by stix2.
fn read(url: &str) -> Vec<Json> {
    read_with(url, &[])
}

/// Stops, starts or resets (empties) the outage server.
fn ctl(action: &str) {
    let ctl = std::env::var("CONPOT_TEST_SERVERS_CTL").expect("CONPOT_TEST_SERVERS_CTL");
    let st = Command::new(ctl).args([action, "taxii-outage"]).status().unwrap();
    assert!(st.success(), "ctl {action} taxii-outage");
}

fn taxii_spec(url: &str, extra: &[(&str, toml::Value)]) -> conpot_sinks::SinkSpec {
    let mut pairs: Vec<(&str, toml::Value)> = vec![
        ("type", "taxii".into()),
        ("url", url.into()),
        ("username", "conpot".into()),
        ("password", "conpot".into()),
        ("retry_min_ms", 50.into()),
        ("retry_max_ms", 300.into()),
    ];
    pairs.extend(extra.iter().cloned());
    spec(&pairs)
}

fn by_id<'a>(objs: &'a [Json], id: &str) -> Option<&'a Json> {
    objs.iter().find(|o| o["id"] == id)
}

#[test]
fn events_become_stix_objects_in_the_collection() {
    let Some(url) = server("CONPOT_TEST_TAXII") else {
        return;
    };
    let sensor = unique("taxii");
    let o = origin(&sensor);
    let s = session(48000);
    let open = Event::stamp(&o, &s, EventDraft::new("session.open"), SystemTime::now());
    let req = request(&o, &s, 1);
    let up = upload(&o, &s);
    let run = Running::start(&taxii_spec(&url, &[]), o.clone(), &tmp("taxii"), 100);
    for e in [&open, &req, &up] {
        run.publish(e.clone());
    }
    let m = run.finish();
    assert_eq!(m.events_failed.load(Ordering::Relaxed), 0);
    let objs = read(&url);
    for e in [&open, &req, &up] {
        let od = by_id(&objs, &format!("observed-data--{}", e.event_id.hyphenated()))
            .unwrap_or_else(|| panic!("observed-data of {}", e.event_type));
        assert_eq!(od["spec_version"], "2.1");
        assert_eq!(od["number_observed"], 1);
        assert_eq!(od["x_conpot_event_type"], *e.event_type);
        assert_eq!(od["x_conpot_sensor_id"], sensor);
        assert_eq!(od["x_conpot_session_id"], e.session_id.hyphenated().to_string());
        let refs: Vec<&str> = od["object_refs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        let addr = by_id(&objs, refs[0]).unwrap();
        assert_eq!(
            (addr["type"].as_str(), addr["value"].as_str()),
            (Some("ipv4-addr"), Some("198.51.100.4"))
        );
        let traffic = by_id(&objs, refs[1]).unwrap();
        assert_eq!(traffic["type"], "network-traffic");
        assert_eq!(traffic["src_ref"], addr["id"]);
        assert_eq!(traffic["src_port"], 48000);
        assert_eq!(traffic["dst_port"], 502);
        assert_eq!(traffic["protocols"], serde_json::json!(["tcp", "modbus"]));
    }
    let od = by_id(&objs, &format!("observed-data--{}", up.event_id.hyphenated())).unwrap();
    let file = by_id(&objs, od["object_refs"][2].as_str().unwrap()).unwrap();
    assert_eq!(file["hashes"]["SHA-256"], "ab".repeat(32));
    assert_eq!(file["name"], "OB1");
    let patterns: Vec<&str> = objs
        .iter()
        .filter(|o| o["type"] == "indicator" && o["description"].as_str().is_some_and(|d| d.contains(&sensor)))
        .map(|o| o["pattern"].as_str().unwrap())
        .collect();
    assert!(patterns.contains(&"[ipv4-addr:value = '198.51.100.4']"), "{patterns:?}");
    assert!(
        patterns.contains(&format!("[file:hashes.'SHA-256' = '{}']", "ab".repeat(32)).as_str()),
        "{patterns:?}"
    );
    assert_eq!(patterns.len(), 2, "one for the new source, one for the file");
}

#[test]
fn taxii_sinks_take_only_the_stix_encoder() {
    let raw = conpot_core::config::SinkTable::from_pairs(
        "t.toml",
        "sinks[0]",
        &[
            ("type", "taxii".into()),
            ("url", "http://127.0.0.1:1/c/".into()),
            ("format", "ecs".into()),
        ],
    );
    let errs = conpot_sinks::SinkSpec::parse(&raw).unwrap_err();
    assert!(errs.iter().any(|e| e.key.ends_with("format")), "{errs:?}");
    let ok = taxii_spec("http://127.0.0.1:1/api1/collections/x", &[]);
    assert_eq!(ok.encoder, conpot_sinks::Encoder::Stix, "stix is the default");
    match ok.transport {
        conpot_sinks::TransportSpec::Taxii(t) => assert_eq!(t.url, "http://127.0.0.1:1/api1/collections/x/objects/"),
        other => panic!("{other:?}"),
    }
}

/// The API root of CONPOT_TEST_TAXII_SMALL takes requests of 4 KiB at most (its
/// `max_content_length`): the sink reads that and posts its batch in envelopes that fit,
/// where one envelope would be refused (413) and its events lost.
#[test]
fn envelopes_fit_the_api_roots_max_content_length() {
    let Some(url) = server("CONPOT_TEST_TAXII_SMALL") else {
        return;
    };
    let sensor = unique("taxii-small");
    let o = origin(&sensor);
    let s = session(48200);
    let run = Running::start(&taxii_spec(&url, &[]), o.clone(), &tmp("taxii-small"), 1000);
    let events: Vec<Event> = (0..60).map(|n| request(&o, &s, n)).collect();
    for e in &events {
        run.publish(e.clone());
    }
    let m = run.finish();
    assert_eq!(m.events_failed.load(Ordering::Relaxed), 0);
    let got: HashSet<String> = read_with(&url, &["--type", "observed-data", "--sensor", &sensor])
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    for e in &events {
        assert!(
            got.contains(&format!("observed-data--{}", e.event_id.hyphenated())),
            "event {} missing: {} of {} arrived",
            e.data["n"],
            got.len(),
            events.len()
        );
    }
}

/// The observed-data objects of `sensor`, counted by id.
fn observed(url: &str, sensor: &str) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for o in read_with(url, &["--type", "observed-data", "--sensor", sensor, "--page", "10000"]) {
        *seen.entry(o["id"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    seen
}

/// The outage form: the server is stopped for 60 s (`CONPOT_TEST_OUTAGE_SECS`)
/// while 1,000 events/s flow, then started again. The server keeps its objects across
/// the restart (SQLite), so the collection is read once at the end, a page at a time:
/// every event's observed-data is there exactly once, none lost, the spool drained.
#[test]
fn server_outage_of_a_minute_under_load_loses_nothing() {
    let Some(url) = server("CONPOT_TEST_TAXII_OUTAGE") else {
        return;
    };
    let _turn = OUTAGE_SERVER.lock().unwrap_or_else(|e| e.into_inner());
    let secs: u64 = std::env::var("CONPOT_TEST_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let began = Instant::now();
    ctl("reset");
    let sensor = unique("taxii-outage");
    let name = format!("taxii-{sensor}");
    let o = origin(&sensor);
    let s = session(48100);
    let d = tmp("taxii-outage");
    let spec = taxii_spec(
        &url,
        &[
            ("name", name.clone().into()),
            ("retry_min_ms", 200.into()),
            ("retry_max_ms", 1000.into()),
            ("spool_bytes", (512i64 << 20).into()),
        ],
    );
    let run = Running::start(&spec, o.clone(), &d, 200_000);
    let mut ids = HashSet::new();
    let mut n = 0u64;
    // 1,000 events a second, in 10 ms steps of 10.
    let mut load = |run: &Running, dur: Duration| {
        let start = Instant::now();
        let mut step = 0u32;
        while start.elapsed() < dur {
            for _ in 0..10 {
                let e = request(&o, &s, n);
                n += 1;
                ids.insert(format!("observed-data--{}", e.event_id.hyphenated()));
                run.publish(e);
            }
            step += 1;
            let next = start + Duration::from_millis(10) * step;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    };
    load(&run, Duration::from_secs(3));
    ctl("stop");
    load(&run, Duration::from_secs(secs));
    ctl("start");
    let restarted = Instant::now();
    load(&run, Duration::from_secs(3));
    let spool = d
        .join("spool")
        .join(format!("{}.spool", conpot_sinks::spool::file_stem(&name)));
    let spool_len = || std::fs::metadata(&spool).map(|m| m.len()).unwrap_or(0);
    assert!(
        wait_for(120, || (spool_len() == 0).then_some(())).is_some(),
        "the spool did not drain: {} bytes left",
        spool_len()
    );
    let m = run.finish();
    let drained = restarted.elapsed();
    let read_start = Instant::now();
    let seen = observed(&url, &sensor);
    let total = ids.len();
    eprintln!(
        "taxii outage: {total} events ({secs} s outage), drained {:.1} s after the restart, read back in {:.1} s, {:.1} s in all",
        drained.as_secs_f64(),
        read_start.elapsed().as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    assert_eq!(m.events_dropped.load(Ordering::Relaxed), 0);
    assert_eq!(m.events_failed.load(Ordering::Relaxed), 0);
    let missing = ids.iter().filter(|id| !seen.contains_key(*id)).count();
    assert_eq!(missing, 0, "{missing} of {total} events missing");
    let twice: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "objects read more than once: {twice:?}");
    assert_eq!(seen.len(), total, "no object the test did not send");
    assert_eq!(spool_len(), 0, "the spool drained");
}

/// With the spool made tiny, what an outage cannot keep is counted and, once the server
/// is back, posted to the collection as the `note` of an `events.dropped` report with the
/// exact count.
#[test]
fn a_tiny_spool_counts_and_reports_the_loss() {
    let Some(url) = server("CONPOT_TEST_TAXII_OUTAGE") else {
        return;
    };
    let _turn = OUTAGE_SERVER.lock().unwrap_or_else(|e| e.into_inner());
    ctl("start");
    let sensor = unique("taxii-tiny");
    let spec = taxii_spec(
        &url,
        &[
            ("spool_bytes", 16_384.into()),
            ("name", format!("tiny-{sensor}").into()),
        ],
    );
    let o = origin(&sensor);
    let run = Running::start(&spec, o.clone(), &tmp("taxii-tiny"), 10_000);
    let s = session(48300);
    let mut sent = Vec::new();
    let mut publish = |run: &Running, n: u64| {
        let e = request(&o, &s, n);
        sent.push(format!("observed-data--{}", e.event_id.hyphenated()));
        run.publish(e);
    };
    publish(&run, 0);
    assert!(
        wait_for(15, || (!read_with(
            &url,
            &["--type", "observed-data", "--sensor", &sensor]
        )
        .is_empty())
        .then_some(()))
        .is_some(),
        "the first event arrives"
    );
    ctl("stop");
    for n in 1..=300 {
        publish(&run, n);
    }
    std::thread::sleep(Duration::from_millis(500));
    ctl("start");
    std::thread::sleep(Duration::from_millis(500));
    publish(&run, 301);
    let note = wait_for(30, || {
        read_with(&url, &["--type", "note", "--sensor", &sensor])
            .into_iter()
            .find(|n| n["x_conpot_event_type"] == "events.dropped")
    })
    .expect("an events.dropped note reached the collection");
    let m = run.finish();
    let dropped = m.events_dropped.load(Ordering::Relaxed);
    assert!(
        dropped > 0 && dropped < 300,
        "some events fit the spool, the rest were dropped: {dropped}"
    );
    assert_eq!(note["x_conpot_data"]["spool_full"], dropped, "{note}");
    assert_eq!(note["x_conpot_data"]["dropped"], dropped, "{note}");
    let got = read_with(&url, &["--type", "observed-data", "--sensor", &sensor]);
    let arrived = got.len() as u64;
    assert_eq!(m.events_failed.load(Ordering::Relaxed), 0);
    let ids: HashSet<&str> = got.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let lost: Vec<usize> = (0..sent.len()).filter(|&i| !ids.contains(sent[i].as_str())).collect();
    assert_eq!(
        arrived + dropped,
        sent.len() as u64,
        "every event either arrived or was counted dropped; not arrived: {lost:?}"
    );
    let identity = &note["object_refs"][0];
    assert!(
        read_with(&url, &["--type", "identity"])
            .iter()
            .any(|i| i["id"] == *identity && i["name"] == sensor.as_str()),
        "the note is on the sensor's identity"
    );
}
