//! The encoders field by field (ecs, conpot-v1) and the sink configuration's checks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use conpot_core::config::SinkTable;
use conpot_sinks::{Encoder, SinkSpec, TransportSpec};
use serde_json::Value;

fn encode(enc: Encoder, e: &conpot_core::event::Event) -> Value {
    let mut out = Vec::new();
    enc.encode(e, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn ecs_field_names() {
    let o = origin("sensor-ecs");
    let s = session(40011);
    let e = request(&o, &s, 3);
    let v = encode(Encoder::Ecs, &e);
    assert!(v["@timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["ecs"]["version"], "8.11.0");
    assert_eq!(v["event"]["id"], e.event_id.hyphenated().to_string());
    assert_eq!(v["event"]["action"], "modbus.request");
    assert_eq!(v["event"]["kind"], "event");
    assert_eq!(v["event"]["dataset"], "conpot.modbus");
    assert_eq!(
        v["event"]["category"],
        serde_json::json!(["network", "intrusion_detection"])
    );
    assert_eq!(v["source"]["ip"], "198.51.100.4");
    assert_eq!(v["source"]["port"], 40011);
    assert_eq!(v["destination"]["ip"], "10.0.0.5");
    assert_eq!(v["destination"]["port"], 502);
    assert_eq!(v["network"]["protocol"], "modbus");
    assert_eq!(v["network"]["transport"], "tcp");
    assert_eq!(v["observer"]["name"], "sensor-ecs");
    assert_eq!(v["observer"]["type"], "honeypot");
    assert_eq!(v["observer"]["ip"], serde_json::json!(["203.0.113.9"]));
    assert_eq!(v["conpot"]["session_id"], s.id.hyphenated().to_string());
    assert_eq!(v["conpot"]["request"]["function"], "read_coils");
    assert_eq!(v["conpot"]["raw"]["hex"], "0001000000060101");
    assert_eq!(v["conpot"]["raw"]["bytes"], 8);
    assert_eq!(v["conpot"]["data"]["n"], 3);
}

#[test]
fn conpot_v1_is_conpots_whole_record() {
    let o = origin("sensor-v1");
    let s = session(40012);
    let open = conpot_core::event::Event::stamp(
        &o,
        &s,
        conpot_core::event::EventDraft::new("session.open"),
        std::time::SystemTime::now(),
    );
    let v = encode(Encoder::ConpotV1, &open);
    assert_eq!(v["data"]["type"], "NEW_CONNECTION");
    assert_eq!(v["remote"], serde_json::json!(["198.51.100.4", 40012]));
    assert_eq!(v["local"], serde_json::json!(["10.0.0.5", 502]));
    let e = request(&o, &s, 5);
    let v = encode(Encoder::ConpotV1, &e);
    assert_eq!(v["id"], s.id.hyphenated().to_string());
    assert_eq!(v["event_id"], e.event_id.hyphenated().to_string());
    assert_eq!(v["sensorid"], "sensor-v1");
    assert_eq!(v["data_type"], "modbus");
    assert_eq!(v["src_ip"], "198.51.100.4");
    assert_eq!(v["dst_port"], 502);
    assert_eq!(v["public_ip"], "203.0.113.9");
    assert_eq!(v["data"]["request"], "b'0001000000060101'");
    assert_eq!(v["data"]["unit_id"], 1);
    assert_eq!(v["data"]["n"], 5);
    assert!(v["data"].get("type").is_none(), "a request has no Conpot type");
    assert!(
        !v["timestamp"].as_str().unwrap().ends_with('Z'),
        "Conpot's zone-less ISO time"
    );
}

#[test]
fn every_encoder_name_round_trips() {
    for e in Encoder::ALL {
        assert_eq!(Encoder::parse(e.name()), Some(e));
    }
    assert_eq!(Encoder::parse("conpot"), Some(Encoder::ConpotLegacy));
}

fn parse(pairs: &[(&str, toml::Value)]) -> Result<SinkSpec, Vec<String>> {
    SinkSpec::parse(&SinkTable::from_pairs("c.toml", "sinks[2]", pairs))
        .map_err(|e| e.into_iter().map(|e| e.key).collect())
}

#[test]
fn sink_tables_are_checked_with_their_keys() {
    let pg = parse(&[
        ("type", "postgresql".into()),
        ("url", "postgres://u:secret@db:5432/x".into()),
        ("format", "ecs".into()),
    ])
    .unwrap();
    assert!(matches!(pg.transport, TransportSpec::Postgres { .. }));
    assert_eq!(pg.delivery.spool_bytes, 64 << 20, "network sinks spool by default");
    assert!(!pg.destination().contains("secret"), "{}", pg.destination());
    assert_eq!(parse(&[("type", "kafka".into())]).unwrap_err(), ["sinks[2].type"]);
    assert_eq!(
        parse(&[("type", "jsonl".into()), ("path", "x".into()), ("bogus", 1.into())]).unwrap_err(),
        ["sinks[2].bogus"]
    );
    assert_eq!(
        parse(&[
            ("type", "sqlite".into()),
            ("path", "x".into()),
            ("format", "text".into())
        ])
        .unwrap_err(),
        ["sinks[2].format"]
    );
    assert_eq!(
        parse(&[("type", "syslog".into()), ("facility", "local9".into())]).unwrap_err(),
        ["sinks[2].facility"]
    );
    assert_eq!(
        parse(&[("type", "jsonl".into()), ("format", "xml".into()), ("path", "x".into())]).unwrap_err(),
        ["sinks[2].format"]
    );
    let sl = parse(&[
        ("type", "syslog".into()),
        ("protocol", "tcp".into()),
        ("port", 6514.into()),
    ])
    .unwrap();
    assert_eq!(sl.destination(), "syslog tcp localhost:6514");
}

#[test]
fn every_json_encoder_escapes_what_could_disguise_a_line() {
    let o = origin("sensor-safe");
    let s = session(40013);
    // In the decoded request, which every JSON encoding carries.
    let mut d = conpot_core::event::EventDraft::new("modbus.request");
    d.body.request = Some(serde_json::json!({"name": "evil\u{202e}txt.exe\u{85}"}));
    let e = conpot_core::event::Event::stamp(&o, &s, d, std::time::SystemTime::now());
    // STIX carries no decoded request: a captured file's name is its attacker-given text.
    let f = conpot_core::event::EventDraft::new("file.upload")
        .with("name", "evil\u{202e}txt.exe\u{85}")
        .with("sha256", "ab".repeat(32));
    let upload = conpot_core::event::Event::stamp(&o, &s, f, std::time::SystemTime::now());
    for enc in Encoder::ALL.into_iter().filter(|e| e.is_json()) {
        let mut out = Vec::new();
        let ev = if enc == Encoder::Stix { &upload } else { &e };
        enc.encode(ev, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\u{202e}') && !text.contains('\u{85}'), "{enc}: {text}");
        assert!(text.contains(r"evil\u202etxt.exe\u0085"), "{enc}: {text}");
        assert!(serde_json::from_str::<Value>(&text).is_ok(), "{enc}: still JSON");
    }
}
