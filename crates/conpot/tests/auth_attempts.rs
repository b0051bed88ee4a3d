//! One `auth.attempt` schema from two protocols: an S7 password and an SNMPv3 login to one
//! device, from one source, checked by the device's central authentication and counted
//! together.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::SystemTime;

use conpot_core::drive::{Driver, device_of};
use conpot_core::event::EventDraft;
use conpot_core::template::Template;
use conpot_s7::S7Service;
use conpot_snmp::SnmpService;
use conpot_snmp::message::{self, Pdu, SnmpValue, Usm, VarBind, pdu_tag};
use conpot_snmp::usm::AuthProto;

const DEFAULT: &str = include_str!("../../../templates/default/template.toml");

fn hex(s: &str) -> Vec<u8> {
    conpot_core::hex::decode(&s.replace(' ', "")).unwrap()
}

/// An S7 userdata PDU in a TPKT/COTP DT frame.
fn s7_frame(s7: &[u8]) -> Vec<u8> {
    let mut f = vec![3, 0, 0, 0, 2, 0xF0, 0x80];
    f.extend_from_slice(s7);
    let len = f.len() as u16;
    f[2..4].copy_from_slice(&len.to_be_bytes());
    f
}

/// The S7 security PDU with `password` scrambled as clients send it.
fn s7_password(password: &[u8; 8]) -> Vec<u8> {
    let mut enc = [0u8; 8];
    for (i, &b) in password.iter().enumerate() {
        enc[i] = b ^ 0x55 ^ if i >= 2 { enc[i - 2] } else { 0 };
    }
    let mut p = hex("320700001200000800 0c 0001120411450100 ff090008");
    p.extend(enc);
    s7_frame(&p)
}

/// An authNoPriv SNMPv3 GET of sysName, authenticated with `password`.
fn snmp_v3(user: &str, password: &str, engine: &[u8]) -> Vec<u8> {
    let pdu = Pdu {
        kind: pdu_tag::GET,
        request_id: 1,
        error_status: 0,
        error_index: 0,
        varbinds: vec![VarBind {
            oid: message::parse_oid("1.3.6.1.2.1.1.5.0").unwrap(),
            value: SnmpValue::Null,
        }],
        dropped_varbinds: 0,
    };
    let scoped = message::encode_scoped(engine, b"", &pdu);
    let usm = Usm {
        engine_id: engine.to_vec(),
        boots: 1,
        time: 0,
        user: user.as_bytes().to_vec(),
        auth: vec![0; 12],
        privacy: Vec::new(),
    };
    let (mut bytes, off) = message::encode_v3(7, 65507, 5, &usm, &scoped);
    let mac = AuthProto::Sha1.mac(&AuthProto::Sha1.localized_key(password.as_bytes(), engine), &bytes);
    bytes[off..off + 12].copy_from_slice(&mac);
    bytes
}

fn attempts(events: &[EventDraft]) -> Vec<&EventDraft> {
    events.iter().filter(|e| e.event_type == "auth.attempt").collect()
}

fn keys(e: &EventDraft) -> Vec<&str> {
    e.body.data.iter().map(|(k, _)| k).collect()
}

#[test]
fn s7_and_snmp_attempts_share_one_schema_and_one_counter() {
    let t = Template::from_toml("default", DEFAULT).unwrap();
    let dev = device_of(&t).unwrap();
    let s7 = S7Service::build(&t.protocols["s7comm"], &dev).unwrap();
    let snmp = SnmpService::build(&t.protocols["snmp"], &dev).unwrap();
    let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);

    let (mut c, _) = Driver::tcp(&s7, 102, now);
    c.input(&hex("0300001611e00000001400c1020100c2020102c0010a"), now);
    c.input(&s7_frame(&hex("32010000000000080000f0000001000101e0")), now);
    let s7_events = c.input(&s7_password(b"guess1  "), now).events;
    let s7_attempts = attempts(&s7_events);
    assert_eq!(s7_attempts.len(), 1);

    let engine = snmp.agent().config.engine_id.clone();
    let (mut u, _) = Driver::udp(&snmp, 161, now);
    let snmp_events = u.input(&snmp_v3("admin", "not-the-password", &engine), now).events;
    let snmp_attempts = attempts(&snmp_events);
    assert_eq!(snmp_attempts.len(), 1);

    let (a, b) = (&s7_attempts[0].body.data, &snmp_attempts[0].body.data);
    assert_eq!(keys(s7_attempts[0]), keys(snmp_attempts[0]), "one schema");
    assert_eq!(keys(s7_attempts[0]), conpot_core::auth::attempt::FIELDS);
    assert_eq!((&a["protocol"], &b["protocol"]), (&"s7comm".into(), &"snmp".into()));
    assert_eq!(
        (&a["method"], &b["method"]),
        (&"password".into(), &"snmp-usm-sha1".into())
    );
    assert_eq!(a["password"], "guess1");
    assert_eq!(b["username"], "admin");
    assert_eq!(b["hash"].as_str().unwrap().len(), 24);
    assert_eq!(
        (&a["reason"], &b["reason"]),
        (&"bad_password".into(), &"bad_password".into())
    );
    assert_eq!(
        (&a["attempts"], &b["attempts"]),
        (&1.into(), &2.into()),
        "one device, one source: counted together"
    );
    assert_eq!(dev.auth.attempts().len(), 1);
}
