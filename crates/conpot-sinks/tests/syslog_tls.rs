//! Syslog over TLS (RFC 5425) against an rsyslog receiving with gnutls (tests/servers/start,
//! its certificate signed by a test CA): the messages rsyslog parsed are read back field by
//! field from its file; a sink that does not trust the CA delivers nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::sync::atomic::Ordering;

use common::*;

fn tls_spec(addr: &str, ca: &str, extra: &[(&str, toml::Value)]) -> conpot_sinks::SinkSpec {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let mut pairs: Vec<(&str, toml::Value)> = vec![
        ("type", "syslog".into()),
        ("protocol", "tls".into()),
        ("host", host.into()),
        ("port", port.parse::<i64>().unwrap().into()),
        ("ca_file", ca.into()),
        ("facility", "local3".into()),
    ];
    pairs.extend(extra.iter().cloned());
    spec(&pairs)
}

#[test]
fn rfc5425_messages_arrive_framed_and_parsed() {
    let (Some(addr), Some(ca)) = (server("CONPOT_TEST_SYSLOG_TLS"), server("CONPOT_TEST_SYSLOG_TLS_CA")) else {
        return;
    };
    let sensor = unique("tls");
    let o = origin(&sensor);
    let run = Running::start(&tls_spec(&addr, &ca, &[]), o.clone(), &tmp("syslog-tls"), 1000);
    let s = session(49000);
    let events: Vec<_> = (0..200).map(|n| request(&o, &s, n)).collect();
    for e in &events {
        run.publish(e.clone());
    }
    let m = run.finish();
    assert_eq!(m.events_failed.load(Ordering::Relaxed), 0);
    let dir = std::env::var("CONPOT_TEST_SYSLOG_DIR").expect("CONPOT_TEST_SYSLOG_DIR");
    let path = std::path::Path::new(&dir).join("tls.log");
    let got: Vec<Vec<String>> = wait_for(10, || {
        let text = std::fs::read_to_string(&path).ok()?;
        let mine: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect::<Vec<_>>())
            .filter(|f| f.get(3).is_some_and(|h| *h == sensor))
            .collect();
        (mine.len() >= 200).then_some(mine)
    })
    .expect("rsyslog wrote every message to tls.log");
    assert_eq!(got.len(), 200, "every message once, framed apart");
    for (f, e) in got.iter().zip(&events) {
        assert_eq!(f[0], "158", "local3.info");
        assert_eq!(f[1], "1", "RFC 5424 inside the TLS stream");
        assert_eq!(f[4], "conpot");
        assert_eq!(f[6], "modbus.request");
        assert!(
            f[7].contains(&format!("event_id=\"{}\"", e.event_id.hyphenated())),
            "{}",
            f[7]
        );
        let body: serde_json::Value = serde_json::from_str(f[8].trim()).unwrap();
        assert_eq!(body["data"]["n"], e.data.get("n").cloned().unwrap());
    }
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let Some(addr) = server("CONPOT_TEST_SYSLOG_TLS") else {
        return;
    };
    // A CA file holding a certificate other than the server's issuer: the server's own
    // certificate is not a CA, so the chain cannot be built.
    let ca = std::env::var("CONPOT_TEST_SYSLOG_TLS_CA")
        .unwrap()
        .replace("ca.pem", "server.pem");
    let sensor = unique("tls-bad");
    let o = origin(&sensor);
    let run = Running::start(
        &tls_spec(&addr, &ca, &[("spool_bytes", 0.into())]),
        o.clone(),
        &tmp("syslog-tls-bad"),
        10,
    );
    run.publish(request(&o, &session(49100), 0));
    let m = run.finish();
    assert_eq!(
        m.events_failed.load(Ordering::Relaxed),
        1,
        "nothing sent to an unverified receiver"
    );
}
