//! The hpfeeds sink against the reference broker (PyPI `hpfeeds`, started by
//! tests/servers/start), read back with the reference client (tests/servers/hpfeeds-subscribe):
//! every record on every channel, field by field; a wrong secret refused; and the outage
//! form of the issue (broker stopped 60 s under 1,000 events/s, then started: every event
//! arrives, the spool drains).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// The tests that stop and start the outage broker take turns.
static OUTAGE_BROKER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The reference subscriber, its lines (`channel`, `ident`, `payload`) on a channel.
struct Subscriber {
    child: Child,
    lines: mpsc::Receiver<(String, String, String)>,
}

impl Subscriber {
    fn start(addr: &str, channels: &[&str]) -> Subscriber {
        let (host, port) = addr.rsplit_once(':').unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut child = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("tests/servers/hpfeeds-subscribe"))
            .args([host, port, "reader", "reader-secret"])
            .args(channels)
            .stdout(Stdio::piped())
            .spawn()
            .expect("hpfeeds-subscribe (tests/setup-deps)");
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                let mut f = line.splitn(3, '\t');
                if let (Some(c), Some(i), Some(p)) = (f.next(), f.next(), f.next()) {
                    let _ = tx.send((c.to_owned(), i.to_owned(), p.to_owned()));
                }
            }
        });
        // The client subscribes once it runs: give it a moment after `ready`.
        std::thread::sleep(Duration::from_millis(1500));
        Subscriber { child, lines: rx }
    }

    /// Messages until `done` (shown each new one) says enough, or `secs` pass.
    fn collect(
        &self,
        secs: u64,
        mut done: impl FnMut(&(String, String, String)) -> bool,
    ) -> Vec<(String, String, String)> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut got: Vec<(String, String, String)> = Vec::new();
        while got.last().is_none_or(|l| !done(l)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(l) => got.push(l),
                Err(_) if Instant::now() >= deadline => break,
                Err(_) => {}
            }
        }
        got
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hpfeeds_spec(addr: &str, secret: &str, extra: &[(&str, toml::Value)]) -> conpot_sinks::SinkSpec {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let mut pairs: Vec<(&str, toml::Value)> = vec![
        ("type", "hpfeeds".into()),
        ("host", host.into()),
        ("port", port.parse::<i64>().unwrap().into()),
        ("ident", "conpot".into()),
        ("secret", secret.into()),
        ("retry_min_ms", 50.into()),
        ("retry_max_ms", 300.into()),
    ];
    pairs.extend(extra.iter().cloned());
    spec(&pairs)
}

fn mine<'a>(got: &'a [(String, String, String)], sensor: &str) -> Vec<&'a (String, String, String)> {
    got.iter().filter(|(_, _, p)| p.contains(sensor)).collect()
}

#[test]
fn every_record_reaches_every_channel_as_conpot_publishes_it() {
    let Some(addr) = server("CONPOT_TEST_HPFEEDS") else {
        return;
    };
    let sub = Subscriber::start(&addr, &["conpot.events", "conpot.copy"]);
    let sensor = unique("hpf");
    let spec = hpfeeds_spec(
        &addr,
        "conpot-secret",
        &[
            ("format", "conpot-v1".into()),
            (
                "channels",
                toml::Value::Array(vec!["conpot.events".into(), "conpot.copy".into()]),
            ),
        ],
    );
    let o = origin(&sensor);
    let d = tmp("hpfeeds-basic");
    let run = Running::start(&spec, o.clone(), &d, 10_000);
    let s = session(47000);
    let events: Vec<_> = (0..50).map(|n| request(&o, &s, n)).collect();
    for e in &events {
        run.publish(e.clone());
    }
    let m = run.finish();
    assert_eq!(m.events_failed.load(Ordering::Relaxed), 0);
    let mut count = 0;
    let got = sub.collect(15, |(_, _, p)| {
        count += usize::from(p.contains(&sensor));
        count >= 100
    });
    let got = mine(&got, &sensor);
    assert_eq!(got.len(), 100, "50 records on each of two channels");
    for chan in ["conpot.events", "conpot.copy"] {
        let on: Vec<_> = got.iter().filter(|(c, _, _)| c == chan).collect();
        assert_eq!(on.len(), 50, "{chan}");
        for ((_, ident, payload), e) in on.iter().zip(&events) {
            assert_eq!(ident, "conpot");
            let v: serde_json::Value = serde_json::from_str(payload).unwrap();
            // Conpot's record: the legacy fields, remote/local pairs, the event under data.
            assert_eq!(v["sensorid"], sensor);
            assert_eq!(v["id"], e.session_id.hyphenated().to_string());
            assert_eq!(v["src_ip"], "198.51.100.4");
            assert_eq!(v["src_port"], 47000);
            assert_eq!(v["dst_port"], 502);
            assert_eq!(v["remote"], serde_json::json!(["198.51.100.4", 47000]));
            assert_eq!(v["data_type"], "modbus");
            assert_eq!(v["data"]["n"], e.data.get("n").cloned().unwrap());
        }
    }
}

#[test]
fn a_wrong_secret_is_refused_and_nothing_is_counted_delivered() {
    let Some(addr) = server("CONPOT_TEST_HPFEEDS") else {
        return;
    };
    let sensor = unique("hpf-bad");
    // No spool: what cannot be delivered is counted as failed.
    let spec = hpfeeds_spec(&addr, "not-the-secret", &[("spool_bytes", 0.into())]);
    let o = origin(&sensor);
    let d = tmp("hpfeeds-bad");
    let run = Running::start(&spec, o.clone(), &d, 100);
    run.publish(request(&o, &session(47100), 0));
    let m = run.finish();
    assert_eq!(m.events_failed.load(Ordering::Relaxed), 1, "the event is reported lost");
}

/// The outage form: the broker is stopped for 60 s while 1,000 events/s flow, then
/// started again. With `confirm`, every event reaches the subscriber (at least once), and
/// the spool is empty at the end.
#[test]
fn broker_outage_of_a_minute_under_load_loses_nothing() {
    let Some(addr) = server("CONPOT_TEST_HPFEEDS_OUTAGE") else {
        return;
    };
    let ctl = |action: &str| {
        let ctl = std::env::var("CONPOT_TEST_SERVERS_CTL").expect("CONPOT_TEST_SERVERS_CTL");
        let st = Command::new(ctl).args([action, "hpfeeds-outage"]).status().unwrap();
        assert!(st.success(), "ctl {action} hpfeeds-outage");
    };
    let _turn = OUTAGE_BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let secs: u64 = std::env::var("CONPOT_TEST_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    ctl("start");
    let sub = Subscriber::start(&addr, &["conpot.events"]);
    let sensor = unique("hpf-outage");
    let name = format!("hpf-{sensor}");
    let spec = hpfeeds_spec(
        &addr,
        "conpot-secret",
        &[
            ("confirm", true.into()),
            ("name", name.clone().into()),
            ("retry_min_ms", 200.into()),
            ("retry_max_ms", 1000.into()),
            ("spool_bytes", (512i64 << 20).into()),
        ],
    );
    let o = origin(&sensor);
    let d = tmp("hpfeeds-outage");
    let run = Running::start(&spec, o.clone(), &d, 200_000);
    let s = session(47200);
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
                ids.insert(e.event_id.hyphenated().to_string());
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
    load(&run, Duration::from_secs(3));
    let total = ids.len();
    let mut seen_so_far = HashSet::new();
    let got = sub.collect(120, |(_, _, p)| {
        if p.contains(&sensor)
            && let Some(id) = p.split("\"event_id\":\"").nth(1).and_then(|r| r.get(..36))
        {
            seen_so_far.insert(id.to_owned());
        }
        seen_so_far.len() >= total
    });
    let m = run.finish();
    let seen: HashSet<String> = mine(&got, &sensor)
        .iter()
        .map(|(_, _, p)| {
            let v: serde_json::Value = serde_json::from_str(p).unwrap();
            v["event_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(m.events_dropped.load(Ordering::Relaxed), 0);
    assert_eq!(m.events_failed.load(Ordering::Relaxed), 0);
    let missing = ids.difference(&seen).count();
    assert_eq!(missing, 0, "{missing} of {total} events never reached the subscriber");
    let spool = d
        .join("spool")
        .join(format!("{}.spool", conpot_sinks::spool::file_stem(&name)));
    assert_eq!(
        std::fs::metadata(&spool).map(|m| m.len()).unwrap_or(0),
        0,
        "the spool drained"
    );
}

/// Conpot's `[hpfriends]` section, keys as Conpot writes them (channels as a Python list),
/// enables the sink: Conpot's whole record reaches the subscriber.
#[test]
fn conpot_hpfriends_section_publishes_conpot_records() {
    let Some(addr) = server("CONPOT_TEST_HPFEEDS") else {
        return;
    };
    let (host, port) = addr.rsplit_once(':').unwrap();
    let ini = format!(
        "[hpfriends]\nenabled = True\nhost = {host}\nport = {port}\nident = conpot\nsecret = conpot-secret\nchannels = [\"conpot.events\", ]\n"
    );
    let config = conpot_core::config::Config::from_conpot_ini("testing.cfg", &ini).unwrap();
    let specs = conpot_sinks::parse_all(&config.sinks).unwrap();
    assert_eq!(specs[0].encoder, conpot_sinks::Encoder::ConpotV1);
    let sub = Subscriber::start(&addr, &["conpot.events"]);
    let sensor = unique("hpf-ini");
    let o = origin(&sensor);
    let run = Running::start(&specs[0], o.clone(), &tmp("hpfeeds-ini"), 100);
    let e = request(&o, &session(47300), 7);
    run.publish(e.clone());
    let m = run.finish();
    assert_eq!(m.events_failed.load(Ordering::Relaxed), 0);
    let got = sub.collect(15, |(_, _, p)| p.contains(&sensor));
    let (chan, ident, payload) = got.iter().find(|(_, _, p)| p.contains(&sensor)).expect("the record");
    assert_eq!((chan.as_str(), ident.as_str()), ("conpot.events", "conpot"));
    let v: serde_json::Value = serde_json::from_str(payload).unwrap();
    assert_eq!(v["data"]["n"], 7);
    assert_eq!(v["sensorid"], sensor);
}

/// With the spool made tiny, what an outage cannot keep is counted and, once the broker is
/// back, reported to it as an `events.dropped` event with the exact count.
#[test]
fn a_tiny_spool_counts_and_reports_the_loss() {
    let Some(addr) = server("CONPOT_TEST_HPFEEDS_OUTAGE") else {
        return;
    };
    let ctl = |action: &str| {
        let ctl = std::env::var("CONPOT_TEST_SERVERS_CTL").expect("CONPOT_TEST_SERVERS_CTL");
        let st = Command::new(ctl).args([action, "hpfeeds-outage"]).status().unwrap();
        assert!(st.success(), "ctl {action} hpfeeds-outage");
    };
    let _turn = OUTAGE_BROKER.lock().unwrap_or_else(|e| e.into_inner());
    ctl("start");
    let sub = Subscriber::start(&addr, &["conpot.events"]);
    let sensor = unique("hpf-tiny");
    let spec = hpfeeds_spec(
        &addr,
        "conpot-secret",
        &[
            ("confirm", true.into()),
            ("spool_bytes", 16_384.into()),
            ("name", format!("tiny-{sensor}").into()),
        ],
    );
    let o = origin(&sensor);
    let run = Running::start(&spec, o.clone(), &tmp("hpfeeds-tiny"), 10_000);
    let s = session(47400);
    run.publish(request(&o, &s, 0));
    assert!(
        !sub.collect(15, |(_, _, p)| p.contains(&sensor)).is_empty(),
        "the first event arrives"
    );
    ctl("stop");
    for n in 1..=300 {
        run.publish(request(&o, &s, n));
    }
    std::thread::sleep(Duration::from_millis(500));
    ctl("start");
    std::thread::sleep(Duration::from_millis(500));
    run.publish(request(&o, &s, 301));
    let got = sub.collect(30, |(_, _, p)| p.contains(&sensor) && p.contains("events.dropped"));
    let m = run.finish();
    let dropped = m.events_dropped.load(Ordering::Relaxed);
    assert!(
        dropped > 0 && dropped < 300,
        "some events fit the spool, the rest were dropped: {dropped}"
    );
    let report = got
        .iter()
        .find(|(_, _, p)| p.contains(&sensor) && p.contains("events.dropped"))
        .expect("an events.dropped event reached the broker");
    let v: serde_json::Value = serde_json::from_str(&report.2).unwrap();
    assert_eq!(v["data"]["spool_full"], dropped, "{v}");
}
