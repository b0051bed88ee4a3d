//! The proxy's session driven as the listener drives it, its configuration from both
//! template forms, and the decoders' reassembly as properties.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use conpot_core::event::{EventDraft, Transport};
use conpot_core::protocol::{Deadline, IoEvent, IoRequest, Output, Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, SectionBody};
use conpot_proxy::config::{self, ProxyConfig};
use conpot_proxy::decode::{DecoderKind, Direction, MAX_RAW};
use conpot_proxy::session::{Link, MAX_HELD, UPSTREAM};
use conpot_proxy::{ProxyService, ProxySession};
use proptest::prelude::*;
use serde_json::json;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn up() -> SocketAddr {
    "192.0.2.10:502".parse().unwrap()
}

fn cfg(decoder: DecoderKind, max: usize) -> ProxyConfig {
    ProxyConfig {
        name: "plc".into(),
        upstream: up(),
        decoder,
        max_connections: max,
        connect_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(30),
        upstream_tls: None,
    }
}

fn ctx() -> SessionCtx {
    SessionCtx {
        transport: Transport::Tcp,
        peer: "198.51.100.7:40000".parse().unwrap(),
        local: "127.0.0.1:5020".parse().unwrap(),
    }
}

fn hex(s: &str) -> Vec<u8> {
    conpot_core::hex::decode(s).unwrap()
}

fn types(out: &Output) -> Vec<&str> {
    out.events.iter().map(|e| e.event_type.as_ref()).collect()
}

fn session(decoder: DecoderKind) -> (ProxyService, Box<dyn Session>) {
    let svc = ProxyService::new(cfg(decoder, 4));
    let s = svc.new_session(&ctx());
    (svc, s)
}

#[test]
fn relays_both_ways_holding_early_bytes() {
    let (svc, mut s) = session(DecoderKind::Modbus);
    assert_eq!(svc.upstream_targets(), [up()]);
    let mut out = Output::default();
    s.on_open(t0(), &mut out);
    assert_eq!(
        out.requests,
        [IoRequest::Upstream {
            channel: UPSTREAM,
            addr: up()
        }]
    );
    assert_eq!(out.deadline, Deadline::At(t0() + Duration::from_secs(2)));
    out.clear();
    // The client speaks before the upstream is up: held, not lost.
    let req = hex("000100000006ff0300070001");
    assert_eq!(s.on_input(&req, t0(), &mut out), req.len());
    assert!(out.requests.is_empty());
    out.clear();
    s.on_io(
        IoEvent::Connected {
            channel: UPSTREAM,
            peer: up(),
        },
        t0(),
        &mut out,
    );
    assert_eq!(
        out.requests,
        [IoRequest::Send {
            channel: UPSTREAM,
            bytes: req.clone()
        }]
    );
    assert_eq!(types(&out), ["proxy.upstream"]);
    assert_eq!(out.events[0].body.data.get("state"), Some(&json!("connected")));
    out.clear();
    let resp = hex("000100000005ff0302beef");
    s.on_io(
        IoEvent::Data {
            channel: UPSTREAM,
            bytes: resp.clone(),
        },
        t0(),
        &mut out,
    );
    assert_eq!(out.bytes, resp, "the answer goes to the client unchanged");
    assert_eq!(types(&out), ["modbus.request"]);
    let e = &out.events[0];
    assert_eq!(e.body.response, Some(json!({"values": [0xBEEF]})));
    assert_eq!(e.body.data.get("proxy"), Some(&json!("plc")));
    out.clear();
    // Once up, client bytes are sent at once.
    assert_eq!(s.on_input(b"\x00\x02", t0(), &mut out), 2);
    assert_eq!(
        out.requests,
        [IoRequest::Send {
            channel: UPSTREAM,
            bytes: b"\x00\x02".to_vec()
        }]
    );
    out.clear();
    // The client leaves: the upstream is closed, the partial frame logged.
    s.on_eof(&[], t0(), &mut out);
    assert_eq!(out.requests, [IoRequest::Close { channel: UPSTREAM }]);
    assert_eq!(types(&out), ["proxy.data"]);
}

#[test]
fn upstream_failure_closes_the_client_with_an_event() {
    let (_svc, mut s) = session(DecoderKind::Raw);
    let mut out = Output::default();
    s.on_open(t0(), &mut out);
    out.clear();
    s.on_io(
        IoEvent::Failed {
            channel: UPSTREAM,
            reason: "connect",
        },
        t0(),
        &mut out,
    );
    assert!(out.close);
    assert_eq!(types(&out), ["proxy.upstream"]);
    let d = &out.events[0].body.data;
    assert_eq!(d.get("state"), Some(&json!("failed")));
    assert_eq!(d.get("reason"), Some(&json!("connect")));
    assert_eq!(d.get("upstream"), Some(&json!("192.0.2.10:502")));
    // Later input is swallowed, nothing is sent.
    out.clear();
    assert_eq!(s.on_input(b"abc", t0(), &mut out), 3);
    assert!(out.requests.is_empty() && out.events.is_empty());
}

#[test]
fn a_request_held_when_the_upstream_fails_is_logged_unanswered() {
    let (_svc, mut s) = session(DecoderKind::Modbus);
    let mut out = Output::default();
    s.on_open(t0(), &mut out);
    s.on_input(&hex("000100000006ff0100000001"), t0(), &mut out);
    out.clear();
    s.on_io(
        IoEvent::Failed {
            channel: UPSTREAM,
            reason: "connect",
        },
        t0(),
        &mut out,
    );
    assert_eq!(types(&out), ["proxy.upstream", "modbus.request"]);
    assert_eq!(out.events[1].body.response, Some(json!({"reply": "none"})));
    assert_eq!(out.events[1].body.data.get("function_code"), Some(&json!(1)));
}

#[test]
fn connect_and_idle_timeouts() {
    let (_svc, mut s) = session(DecoderKind::Raw);
    let mut out = Output::default();
    s.on_open(t0(), &mut out);
    out.clear();
    s.on_timeout(t0() + Duration::from_secs(1), &mut out);
    assert!(!out.close, "too early");
    s.on_timeout(t0() + Duration::from_secs(2), &mut out);
    assert!(out.close);
    assert_eq!(out.events[0].body.data.get("reason"), Some(&json!("connect_timeout")));
    assert!(out.requests.contains(&IoRequest::Close { channel: UPSTREAM }));

    let (_svc, mut s) = session(DecoderKind::Raw);
    let mut out = Output::default();
    s.on_open(t0(), &mut out);
    s.on_io(
        IoEvent::Connected {
            channel: UPSTREAM,
            peer: up(),
        },
        t0(),
        &mut out,
    );
    out.clear();
    let later = t0() + Duration::from_secs(20);
    s.on_input(b"x", later, &mut out);
    assert_eq!(out.deadline, Deadline::At(later + Duration::from_secs(30)));
    out.clear();
    s.on_timeout(t0() + Duration::from_secs(31), &mut out);
    assert!(!out.close, "activity moved the idle deadline");
    s.on_timeout(later + Duration::from_secs(30), &mut out);
    assert!(out.close);
    assert_eq!(
        out.events.last().unwrap().body.data.get("reason"),
        Some(&json!("idle_timeout"))
    );
}

#[test]
fn held_bytes_are_bounded_and_the_rest_waits_in_the_listener() {
    let (_svc, mut s) = session(DecoderKind::Raw);
    let mut out = Output::default();
    s.on_open(t0(), &mut out);
    let big = vec![0u8; MAX_HELD + 100];
    assert_eq!(s.on_input(&big, t0(), &mut out), MAX_HELD);
    assert_eq!(s.on_input(&big[MAX_HELD..], t0(), &mut out), 0);
    out.clear();
    s.on_io(
        IoEvent::Connected {
            channel: UPSTREAM,
            peer: up(),
        },
        t0(),
        &mut out,
    );
    match &out.requests[..] {
        [IoRequest::Send { bytes, .. }] => assert_eq!(bytes.len(), MAX_HELD),
        other => panic!("{other:?}"),
    }
}

#[test]
fn connections_over_the_limit_are_refused_and_slots_come_back() {
    let svc = ProxyService::new(cfg(DecoderKind::Raw, 2));
    let mut out = Output::default();
    let mut a = svc.new_session(&ctx());
    let mut b = svc.new_session(&ctx());
    let mut c = svc.new_session(&ctx());
    a.on_open(t0(), &mut out);
    b.on_open(t0(), &mut out);
    out.clear();
    c.on_open(t0(), &mut out);
    assert!(
        out.close && out.requests.is_empty(),
        "no upstream for a refused connection"
    );
    assert_eq!(types(&out), ["proxy.refused"]);
    drop(a);
    drop(c);
    let mut d = svc.new_session(&ctx());
    out.clear();
    d.on_open(t0(), &mut out);
    assert!(!out.close);
    assert!(matches!(out.requests[..], [IoRequest::Upstream { .. }]));
}

#[test]
fn the_session_reports_its_link() {
    let config = Arc::new(cfg(DecoderKind::Raw, 1));
    let mut s = ProxySession::new(Arc::clone(&config), None);
    let mut out = Output::default();
    s.on_open(t0(), &mut out);
    assert_eq!(s.link(), Link::Down);
}

fn toml_section(name: &str, body: &str) -> ProtocolSection {
    ProtocolSection {
        name: name.into(),
        enabled: true,
        host: "127.0.0.1".into(),
        port: 0,
        file: "template.toml".into(),
        body: SectionBody::Toml(body.parse().unwrap()),
    }
}

#[test]
fn native_configuration() {
    let c = config::build(&toml_section(
        "proxy.plc",
        "upstream = \"10.0.0.5:102\"\ndecoder = \"s7comm\"\nmax_connections = 3\nconnect_timeout_ms = 250\n",
    ))
    .unwrap();
    assert_eq!(c.name, "proxy.plc");
    assert_eq!(c.upstream, "10.0.0.5:102".parse().unwrap());
    assert_eq!(c.decoder, DecoderKind::S7);
    assert_eq!(c.max_connections, 3);
    assert_eq!(c.connect_timeout, Duration::from_millis(250));
    for (body, key) in [
        ("decoder = \"raw\"\n", "upstream"),
        ("upstream = \"plc.example:502\"\n", "upstream"),
        ("upstream = \"10.0.0.5:502\"\ndecoder = \"dnp3\"\n", "decoder"),
        ("upstream = \"10.0.0.5:502\"\nmax_connections = 0\n", "max_connections"),
        (
            "upstream = \"10.0.0.5:502\"\nupstream_from_client = true\n",
            "upstream_from_client",
        ),
    ] {
        let errs = config::build(&toml_section("proxy", body)).unwrap_err();
        assert!(errs.iter().any(|e| e.key.contains(key)), "{body}: {errs:?}");
    }
}

#[test]
fn upstream_tls_configuration() {
    let c = config::build(&toml_section("proxy.web", "upstream = \"10.0.0.5:443\"\n")).unwrap();
    assert_eq!(c.upstream_tls, None);
    let c = config::build(&toml_section(
        "proxy.web",
        "upstream = \"10.0.0.5:443\"\nupstream_tls = true\nupstream_verify = false\nupstream_sni = \"plc.local\"\n",
    ))
    .unwrap();
    let tls = c.upstream_tls.unwrap();
    assert!(!tls.verify);
    assert_eq!(tls.server_name.as_deref(), Some("plc.local"));
    assert_eq!(tls.ca_file, None);
    let c = config::build(&toml_section(
        "proxy.web",
        "upstream = \"10.0.0.5:443\"\nupstream_tls = true\nupstream_ca = \"/etc/ca.pem\"\n",
    ))
    .unwrap();
    let tls = c.upstream_tls.unwrap();
    assert!(tls.verify);
    assert_eq!(tls.ca_file.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
    // TLS settings without TLS are a mistake, said so.
    let errs = config::build(&toml_section(
        "proxy",
        "upstream = \"10.0.0.5:443\"\nupstream_verify = false\n",
    ))
    .unwrap_err();
    assert!(errs.iter().any(|e| e.key.contains("upstream_verify")), "{errs:?}");
    let errs = config::build(&toml_section(
        "proxy",
        "upstream = \"10.0.0.5:443\"\nupstream_tls = true\nupstream_sni = \"\"\n",
    ))
    .unwrap_err();
    assert!(errs.iter().any(|e| e.key.contains("upstream_sni")), "{errs:?}");
}

#[test]
fn conpot_proxy_element() {
    let xml = |host: &str, port: &str, decoder: &str| ProtocolSection {
        name: "proxy.kamstrup_telnet".into(),
        enabled: true,
        host: "0.0.0.0".into(),
        port: 50100,
        file: "proxy/proxy.xml".into(),
        body: SectionBody::ConpotXml(format!(
            "<proxy name=\"Kamstrup telnet\" host=\"0.0.0.0\" port=\"50100\"><proxy_host>{host}</proxy_host>\
             <proxy_port>{port}</proxy_port><decoder>{decoder}</decoder></proxy>"
        )),
    };
    let c = config::build(&xml(
        "192.168.0.10",
        "50100",
        "conpot.protocols.proxy.ascii_decoder.AsciiDecoder",
    ))
    .unwrap();
    assert_eq!(c.name, "Kamstrup telnet");
    assert_eq!(c.upstream, "192.168.0.10:50100".parse().unwrap());
    assert_eq!(c.decoder, DecoderKind::Ascii);
    assert!(config::build(&xml("device.example", "1", "")).is_err());
    assert!(config::build(&xml("192.168.0.10", "70000", "")).is_err());
    assert!(config::build(&xml("192.168.0.10", "1", "evil.Module")).is_err());
}

/// The Modbus conversation of a few requests and their answers.
fn modbus_exchange() -> (Vec<u8>, Vec<u8>) {
    let reqs = hex("000100000006ff0100000010000200000006ff0300070002000300000006ff0600070001");
    let resps = hex("000100000005ff01020f00000200000007ff030400010002000300000006ff0600070001");
    (reqs, resps)
}

/// The S7 conversation of a connect, a setup and a write with its answers.
fn s7_exchange() -> (Vec<u8>, Vec<u8>) {
    let reqs = hex("0300001611e00000000100c0010ac1020100c2020102\
         0300001902f08032010000000000080000f0000001000101e0\
         0300002502f080320100000007000e00060501120a1002000200018400002000040010abcd");
    let resps = hex("0300001611d00000000100c0010ac1020100c2020102\
         0300001b02f080320300000000000800000000f0000001000100f0\
         0300001602f0803203000000070002000100000501ff");
    (reqs, resps)
}

fn decode_in(kind: DecoderKind, reqs: &[u8], resps: &[u8], cuts: &[usize]) -> Vec<EventDraft> {
    let mut d = kind.build();
    let mut out = Vec::new();
    // Requests first in pieces, then the answers in pieces, as a pipelining client sees.
    for (dir, bytes) in [(Direction::ToUpstream, reqs), (Direction::FromUpstream, resps)] {
        let mut at = 0;
        for &c in cuts {
            let end = (at + c).min(bytes.len());
            d.feed(dir, &bytes[at..end], &mut out);
            at = end;
        }
        d.feed(dir, &bytes[at..], &mut out);
    }
    d.finish(&mut out);
    out
}

fn summary(events: &[EventDraft]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {:?} {:?} {:?}",
                e.event_type, e.body.request, e.body.response, e.body.raw
            )
        })
        .collect()
}

#[test]
fn whole_exchanges_decode_to_paired_events() {
    let (q, r) = modbus_exchange();
    let ev = decode_in(DecoderKind::Modbus, &q, &r, &[]);
    assert_eq!(ev.len(), 3);
    assert!(
        ev.iter()
            .all(|e| e.event_type == "modbus.request" && e.body.raw_response.is_some())
    );
    assert_eq!(ev[1].body.response, Some(json!({"values": [1, 2]})));
    let (q, r) = s7_exchange();
    let ev = decode_in(DecoderKind::S7, &q, &r, &[]);
    let kinds: Vec<&str> = ev.iter().map(|e| e.event_type.as_ref()).collect();
    assert_eq!(kinds, ["s7.cotp_connect", "s7.setup", "s7.write_var"]);
}

proptest! {
    #[test]
    fn any_segmentation_decodes_the_same(cuts in proptest::collection::vec(0usize..40, 0..12), s7 in any::<bool>()) {
        let (kind, (q, r)) = if s7 { (DecoderKind::S7, s7_exchange()) } else { (DecoderKind::Modbus, modbus_exchange()) };
        let whole = summary(&decode_in(kind, &q, &r, &[]));
        prop_assert_eq!(summary(&decode_in(kind, &q, &r, &cuts)), whole);
    }

    #[test]
    fn hostile_bytes_give_bounded_events(
        kind in prop_oneof![Just(DecoderKind::Raw), Just(DecoderKind::Ascii), Just(DecoderKind::Modbus), Just(DecoderKind::S7), Just(DecoderKind::Kamstrup), Just(DecoderKind::Guardian)],
        chunks in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..9000)), 0..6),
    ) {
        let mut d = kind.build();
        let mut out = Vec::new();
        for (up, bytes) in &chunks {
            let dir = if *up { Direction::ToUpstream } else { Direction::FromUpstream };
            d.feed(dir, bytes, &mut out);
        }
        d.finish(&mut out);
        for e in &out {
            let raw = e.body.raw.as_ref().map_or(0, Vec::len) + e.body.raw_response.as_ref().map_or(0, Vec::len);
            prop_assert!(raw <= 70_000, "{} carries {raw} bytes", e.event_type);
            if e.event_type == "proxy.data" {
                prop_assert!(raw <= MAX_RAW);
            }
        }
    }
}
