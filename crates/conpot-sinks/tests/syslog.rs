//! The syslog sink against rsyslog on loopback (tests/servers/start): RFC 5424 over UDP
//! and over TCP with octet counting, and the RFC 3164 form; the lines rsyslog wrote are
//! read back field by field as rsyslog parsed them (PRI, version, time, host, app, procid,
//! msgid, structured data, message).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;

/// rsyslog's lines for `host`, split on the tabs of the test template, once `n` are there.
fn lines(file: &str, host: &str, n: usize) -> Vec<Vec<String>> {
    let dir = std::env::var("CONPOT_TEST_SYSLOG_DIR").expect("CONPOT_TEST_SYSLOG_DIR");
    let path = std::path::Path::new(&dir).join(file);
    let got = wait_for(10, || {
        let text = std::fs::read_to_string(&path).ok()?;
        let mine: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
            .filter(|f| f.get(3).is_some_and(|h| h == host))
            .collect();
        (mine.len() >= n).then_some(mine)
    });
    got.unwrap_or_else(|| panic!("rsyslog did not write {n} lines for {host} to {}", path.display()))
}

fn send(
    protocol: &str,
    addr: &str,
    framing: &str,
    format: &str,
    sensor: &str,
    n: u64,
) -> Vec<conpot_core::event::Event> {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let spec = spec(&[
        ("type", "syslog".into()),
        ("protocol", protocol.into()),
        ("host", host.into()),
        ("port", port.parse::<i64>().unwrap().into()),
        ("framing", framing.into()),
        ("format", format.into()),
        ("facility", "local3".into()),
    ]);
    let d = tmp(&format!("syslog-{protocol}-{framing}"));
    let o = origin(sensor);
    let run = Running::start(&spec, o.clone(), &d, 10_000);
    let s = session(43000);
    let events: Vec<_> = (0..n).map(|i| request(&o, &s, i)).collect();
    for e in &events {
        run.publish(e.clone());
    }
    let m = run.finish();
    assert_eq!(m.events_failed.load(std::sync::atomic::Ordering::Relaxed), 0);
    events
}

fn check_5424(fields: &[String], e: &conpot_core::event::Event, sensor: &str) {
    assert_eq!(fields[0], "158", "local3.info");
    assert_eq!(fields[1], "1");
    assert!(
        fields[2].starts_with(&e.timestamp_rfc3339_prefix()),
        "{} vs {:?}",
        fields[2],
        e.timestamp
    );
    assert_eq!(fields[3], sensor);
    assert_eq!(fields[4], "conpot");
    assert_eq!(fields[5], std::process::id().to_string());
    assert_eq!(fields[6], "modbus.request");
    let sd = &fields[7];
    assert!(sd.starts_with("[conpot@32473 "), "{sd}");
    assert!(
        sd.contains(&format!("event_id=\"{}\"", e.event_id.hyphenated())),
        "{sd}"
    );
    assert!(
        sd.contains(&format!("session_id=\"{}\"", e.session_id.hyphenated())),
        "{sd}"
    );
    assert!(sd.contains("src_ip=\"198.51.100.4\" src_port=\"43000\""), "{sd}");
    assert!(sd.contains("dst_ip=\"10.0.0.5\" dst_port=\"502\""), "{sd}");
    let body: serde_json::Value = serde_json::from_str(fields[8].trim()).unwrap();
    assert_eq!(body["event_id"], e.event_id.hyphenated().to_string());
}

trait Prefix {
    fn timestamp_rfc3339_prefix(&self) -> String;
}

impl Prefix for conpot_core::event::Event {
    /// `YYYY-MM-DDTHH:MM:SS` of the event (rsyslog prints the time it parsed with its zone).
    fn timestamp_rfc3339_prefix(&self) -> String {
        conpot_core::time::Iso8601 {
            time: self.timestamp,
            zone: false,
        }
        .to_string()
        .chars()
        .take(19)
        .collect()
    }
}

#[test]
fn syslog_rfc5424_over_udp() {
    let Some(addr) = server("CONPOT_TEST_SYSLOG_UDP") else {
        return;
    };
    let sensor = unique("udp");
    let events = send("udp", &addr, "rfc5424", "native", &sensor, 20);
    let got = lines("udp.log", &sensor, 20);
    assert_eq!(got.len(), 20);
    for (f, e) in got.iter().zip(&events) {
        check_5424(f, e, &sensor);
    }
}

#[test]
fn syslog_rfc5424_over_tcp_with_octet_counting() {
    let Some(addr) = server("CONPOT_TEST_SYSLOG_TCP") else {
        return;
    };
    let sensor = unique("tcp");
    let events = send("tcp", &addr, "rfc5424", "native", &sensor, 300);
    let got = lines("tcp.log", &sensor, 300);
    assert_eq!(got.len(), 300, "every message once, framed apart");
    for (f, e) in got.iter().zip(&events) {
        check_5424(f, e, &sensor);
    }
}

#[test]
fn syslog_rfc3164_as_conpot_sends_it() {
    let Some(addr) = server("CONPOT_TEST_SYSLOG_UDP") else {
        return;
    };
    let sensor = unique("bsd");
    let events = send("udp", &addr, "rfc3164", "text", &sensor, 3);
    let got = lines("udp.log", &sensor, 3);
    for (f, e) in got.iter().zip(&events) {
        assert_eq!(f[0], "158");
        assert_eq!(f[1], "0", "rsyslog saw the legacy form");
        assert_eq!(f[4], "conpot", "TAG");
        assert_eq!(f[5], std::process::id().to_string());
        let msg = f[8].trim();
        assert!(
            msg.starts_with("modbus.request from 198.51.100.4:43000: request="),
            "{msg}"
        );
        assert!(msg.contains(&e.session_id.hyphenated().to_string()), "{msg}");
    }
}

/// The outage rsyslog is stopped while events flow over TCP; they wait in the spool and
/// arrive once each after it is started again. (Seconds, not the 60 s.)
#[test]
fn syslog_tcp_outage_spools_and_delivers_every_event_once() {
    let Some(addr) = server("CONPOT_TEST_SYSLOG_OUTAGE") else {
        return;
    };
    let ctl = |action: &str| {
        let ctl = std::env::var("CONPOT_TEST_SERVERS_CTL").expect("CONPOT_TEST_SERVERS_CTL");
        let st = std::process::Command::new(ctl)
            .args([action, "rsyslog-outage"])
            .status()
            .unwrap();
        assert!(st.success(), "ctl {action} rsyslog-outage");
    };
    ctl("start");
    let (host, port) = addr.rsplit_once(':').unwrap();
    let spec = spec(&[
        ("type", "syslog".into()),
        ("protocol", "tcp".into()),
        ("host", host.into()),
        ("port", port.parse::<i64>().unwrap().into()),
        ("retry_min_ms", 50.into()),
        ("retry_max_ms", 300.into()),
    ]);
    let sensor = unique("outage");
    let d = tmp("syslog-outage");
    let o = origin(&sensor);
    let run = Running::start(&spec, o.clone(), &d, 100_000);
    let s = session(44000);
    let mut ids = Vec::new();
    let mut publish = |n: u64| {
        let e = request(&o, &s, n);
        ids.push(e.event_id.hyphenated().to_string());
        run.publish(e);
    };
    for n in 0..300 {
        publish(n);
    }
    lines("outage.log", &sensor, 300);
    ctl("stop");
    for n in 300..1300 {
        publish(n);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    ctl("start");
    for n in 1300..1500 {
        publish(n);
    }
    let got = lines("outage.log", &sensor, 1500);
    let m = run.finish();
    let mut seen: Vec<String> = got
        .iter()
        .map(|f| {
            let body: serde_json::Value = serde_json::from_str(f[8].trim()).unwrap();
            body["event_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(m.events_dropped.load(std::sync::atomic::Ordering::Relaxed), 0);
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "every event once, none lost");
}

/// Events spooled when the sensor stops during an outage are delivered, first and in
/// order, by the next start of the same sink.
#[test]
fn a_spool_left_at_stop_is_delivered_after_the_next_start() {
    let Some(addr) = server("CONPOT_TEST_SYSLOG_TCP") else {
        return;
    };
    let (host, port) = addr.rsplit_once(':').unwrap();
    let d = tmp("syslog-restart");
    let sensor = unique("restart");
    let name = format!("restart-{sensor}");
    let sink = |host: &str, port: i64| {
        spec(&[
            ("type", "syslog".into()),
            ("protocol", "tcp".into()),
            ("host", host.into()),
            ("port", port.into()),
            ("name", name.clone().into()),
            ("retry_min_ms", 50.into()),
        ])
    };
    let o = origin(&sensor);
    let s = session(45000);
    let events: Vec<_> = (0..51).map(|n| request(&o, &s, n)).collect();
    // Nothing listens on port 9 of loopback: every attempt is refused.
    let run = Running::start(&sink("127.0.0.1", 9), o.clone(), &d, 1000);
    for e in &events[..50] {
        run.publish(e.clone());
    }
    run.finish();
    let spool = d
        .join("spool")
        .join(format!("{}.spool", conpot_sinks::spool::file_stem(&name)));
    assert!(
        std::fs::metadata(&spool).unwrap().len() > 0,
        "the events stay in the spool"
    );
    let run = Running::start(&sink(host, port.parse().unwrap()), o.clone(), &d, 1000);
    run.publish(events[50].clone());
    run.finish();
    let got = lines("tcp.log", &sensor, 51);
    let order: Vec<u64> = got
        .iter()
        .map(|f| {
            let body: serde_json::Value = serde_json::from_str(f[8].trim()).unwrap();
            body["data"]["n"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(order, (0..51).collect::<Vec<_>>(), "spooled first, in order, once");
    assert_eq!(std::fs::metadata(&spool).unwrap().len(), 0, "the spool is emptied");
}

/// Conpot's `[syslog]` with `socket = dev`: the text lines go to the local socket (here
/// rsyslog's, standing in for /dev/log) in the RFC 3164 form, facility from the section.
#[test]
fn conpot_syslog_section_sends_text_lines_to_the_local_socket() {
    let Some(sock) = server("CONPOT_TEST_SYSLOG_UNIX") else {
        return;
    };
    let ini = format!(
        "[syslog]\nenabled = True\ndevice = {sock}\nfacility = local5\nsocket = dev        ; udp (sends to host:port), dev (sends to device)\n"
    );
    let config = conpot_core::config::Config::from_conpot_ini("testing.cfg", &ini).unwrap();
    let specs = conpot_sinks::parse_all(&config.sinks).unwrap();
    let sensor = unique("dev");
    let o = origin(&sensor);
    let d = tmp("syslog-dev");
    let run = Running::start(&specs[0], o.clone(), &d, 100);
    let s = session(46000);
    let e = request(&o, &s, 1);
    run.publish(e.clone());
    let m = run.finish();
    assert_eq!(m.events_failed.load(std::sync::atomic::Ordering::Relaxed), 0);
    // The daemon names the host itself for local messages: find the line by session.
    let dir = std::env::var("CONPOT_TEST_SYSLOG_DIR").expect("CONPOT_TEST_SYSLOG_DIR");
    let sid = e.session_id.hyphenated().to_string();
    let f: Vec<String> = wait_for(10, || {
        let text = std::fs::read_to_string(std::path::Path::new(&dir).join("unix.log")).ok()?;
        text.lines()
            .find(|l| l.contains(&sid))
            .map(|l| l.split('\t').map(str::to_owned).collect())
    })
    .expect("rsyslog wrote the line");
    assert_eq!(f[0], "174", "local5.info");
    assert_eq!(f[4], "conpot");
    let msg = f[8].trim();
    assert!(
        msg.starts_with("modbus.request from 198.51.100.4:46000: request="),
        "{msg}"
    );
    assert!(msg.contains(&e.session_id.hyphenated().to_string()), "{msg}");
}
