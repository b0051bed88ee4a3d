//! The agent through its sans-IO entry point: messages built byte by byte, answers
//! decoded and checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::{Device, Value};
use conpot_snmp::SnmpService;
use conpot_snmp::message::{self, Message, Pdu, Scoped, SnmpValue, Usm, VarBind, pdu_tag};
use conpot_snmp::usm::{AuthProto, PrivProto};

const DEFAULT: &str = include_str!("../../../templates/default/template.toml");

fn build(text: &str) -> (Device, SnmpService) {
    let t = conpot_core::template::Template::from_toml("default", text).unwrap();
    let p = t.persona.generate("default", 4);
    let d = Device::build(&t, p, SystemTime::now(), &mut conpot_core::rng::Rng::from_seed(4)).unwrap();
    let s = SnmpService::build(&t.protocols["snmp"], &d).unwrap();
    (d, s)
}

fn oid(s: &str) -> Vec<u32> {
    message::parse_oid(s).unwrap()
}

fn req(kind: u8, a: i64, b: i64, oids: &[&str]) -> Pdu {
    Pdu {
        kind,
        request_id: 77,
        error_status: a,
        error_index: b,
        varbinds: oids
            .iter()
            .map(|o| VarBind {
                oid: oid(o),
                value: SnmpValue::Null,
            })
            .collect(),
        dropped_varbinds: 0,
    }
}

fn ask(svc: &SnmpService, version: i64, community: &str, pdu: &Pdu) -> Option<Pdu> {
    let bytes = message::encode_community(version, community.as_bytes(), pdu);
    let (reply, _) = svc.agent().handle(&bytes, SystemTime::now(), 65_000);
    match Message::decode(&reply?).unwrap() {
        Message::Community { pdu, .. } => Some(pdu),
        _ => panic!(),
    }
}

#[test]
fn get_next_bulk_and_exceptions() {
    let (dev, svc) = build(DEFAULT);
    let r = ask(
        &svc,
        1,
        "public",
        &req(
            pdu_tag::GET,
            0,
            0,
            &["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.4.1.1.0"],
        ),
    )
    .unwrap();
    assert_eq!(r.kind, pdu_tag::RESPONSE);
    assert_eq!(r.request_id, 77);
    assert_eq!(r.varbinds.len(), 3, "every varbind answered");
    let SnmpValue::Octets(d) = &r.varbinds[0].value else {
        panic!()
    };
    assert!(String::from_utf8_lossy(d).contains(dev.persona.get("order_code").unwrap()));
    assert_eq!(
        r.varbinds[1].value,
        SnmpValue::Octets(dev.persona.get("system_name").unwrap().as_bytes().to_vec())
    );
    assert_eq!(r.varbinds[2].value, SnmpValue::NoSuchObject);
    // v1: noSuchName with the index of the missing object.
    let r = ask(
        &svc,
        0,
        "public",
        &req(pdu_tag::GET, 0, 0, &["1.3.6.1.2.1.1.1.0", "1.3.6.1.4.1.1.0"]),
    )
    .unwrap();
    assert_eq!((r.error_status, r.error_index), (2, 2));
    // GETNEXT walks in order; past the end: endOfMibView.
    let r = ask(
        &svc,
        1,
        "public",
        &req(pdu_tag::GET_NEXT, 0, 0, &["1.3.6.1.2.1.1", "1.3.6.1.9"]),
    )
    .unwrap();
    assert_eq!(r.varbinds[0].oid, oid("1.3.6.1.2.1.1.1.0"));
    assert_eq!(r.varbinds[1].value, SnmpValue::EndOfMibView);
    // GETBULK: one non-repeater, then repetitions.
    let r = ask(
        &svc,
        1,
        "public",
        &req(pdu_tag::GET_BULK, 1, 3, &["1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.2.2.1.1"]),
    )
    .unwrap();
    assert_eq!(r.varbinds.len(), 4);
    assert_eq!(r.varbinds[0].oid, oid("1.3.6.1.2.1.1.3.0"));
    assert_eq!(r.varbinds[1].oid, oid("1.3.6.1.2.1.2.2.1.1.1"));
    assert_eq!(r.varbinds[2].oid, oid("1.3.6.1.2.1.2.2.1.2.1"));
    // Uptime in hundredths.
    let r = ask(&svc, 1, "public", &req(pdu_tag::GET, 0, 0, &["1.3.6.1.2.1.1.3.0"])).unwrap();
    assert!(matches!(r.varbinds[0].value, SnmpValue::TimeTicks(_)));
    // GETBULK in v1 does not exist: dropped.
    assert!(ask(&svc, 0, "public", &req(pdu_tag::GET_BULK, 0, 5, &["1.3"])).is_none());
}

#[test]
fn communities_and_set() {
    let (dev, svc) = build(DEFAULT);
    let mut set = req(pdu_tag::SET, 0, 0, &["1.3.6.1.2.1.1.6.0"]);
    set.varbinds[0].value = SnmpValue::Octets(b"Hall 9".to_vec());
    let before = dev.databus.get("sysLocation", SystemTime::now());
    let r = ask(&svc, 1, "public", &set).unwrap();
    assert_eq!(r.error_status, 6, "read-only community: noAccess");
    assert_eq!(dev.databus.get("sysLocation", SystemTime::now()), before);
    let r = ask(&svc, 1, "private", &set).unwrap();
    assert_eq!(r.error_status, 0);
    assert_eq!(
        dev.databus.get("sysLocation", SystemTime::now()),
        Some(Value::Str("Hall 9".into()))
    );
    let mut bad = req(pdu_tag::SET, 0, 0, &["1.3.6.1.2.1.1.6.0"]);
    bad.varbinds[0].value = SnmpValue::Integer(3);
    assert_eq!(ask(&svc, 1, "private", &bad).unwrap().error_status, 7, "wrongType");
    let mut ro = req(pdu_tag::SET, 0, 0, &["1.3.6.1.2.1.1.1.0"]);
    ro.varbinds[0].value = SnmpValue::Octets(b"x".to_vec());
    assert_eq!(ask(&svc, 1, "private", &ro).unwrap().error_status, 17, "notWritable");
    let mut admin = req(pdu_tag::SET, 0, 0, &["1.3.6.1.2.1.2.2.1.7.1"]);
    admin.varbinds[0].value = SnmpValue::Integer(9);
    assert_eq!(ask(&svc, 1, "private", &admin).unwrap().error_status, 10, "wrongValue");
    admin.varbinds[0].value = SnmpValue::Integer(2);
    assert_eq!(ask(&svc, 1, "private", &admin).unwrap().error_status, 0);
    assert_eq!(dev.databus.get("ifAdminStatus", SystemTime::now()), Some(Value::Int(2)));
    // Unknown community: silence, counted.
    assert!(ask(&svc, 1, "guess", &req(pdu_tag::GET, 0, 0, &["1.3.6.1.2.1.1.1.0"])).is_none());
    assert_eq!(svc.agent().stat("snmpInBadCommunityNames"), 1);
}

#[test]
fn answers_stay_within_the_size_limit() {
    let (_dev, svc) = build(DEFAULT);
    let pdu = req(pdu_tag::GET_BULK, 0, 1000, &["1.3"]);
    let bytes = message::encode_community(1, b"public", &pdu);
    let (reply, _) = svc.agent().handle(&bytes, SystemTime::now(), bytes.len() * 8);
    let reply = reply.unwrap();
    assert!(reply.len() <= bytes.len() * 8);
    let Message::Community { pdu, .. } = Message::decode(&reply).unwrap() else {
        panic!()
    };
    assert!(!pdu.varbinds.is_empty());
    // A GET whose answer cannot fit: tooBig with no bindings.
    let pdu = req(pdu_tag::GET, 0, 0, &["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.2.2.1.2.1"]);
    let bytes = message::encode_community(1, b"public", &pdu);
    let (reply, _) = svc.agent().handle(&bytes, SystemTime::now(), 80);
    let Message::Community { pdu, .. } = Message::decode(&reply.unwrap()).unwrap() else {
        panic!()
    };
    assert_eq!(pdu.error_status, 1);
    assert!(pdu.varbinds.is_empty());
}

fn v3_request(
    user: &str,
    engine: &[u8],
    boots: i64,
    time: i64,
    flags: u8,
    auth: Option<(AuthProto, &str)>,
    privacy: Option<(PrivProto, &str)>,
) -> Vec<u8> {
    let pdu = req(pdu_tag::GET, 0, 0, &["1.3.6.1.2.1.1.5.0"]);
    let scoped = message::encode_scoped(engine, b"", &pdu);
    let salt = [9u8; 8];
    let (body, priv_params) = match (&privacy, &auth) {
        (Some((p, pw)), Some((a, _))) => {
            let key = a.localized_key(pw.as_bytes(), engine);
            (
                p.encrypt(&key, boots as u32, time as u32, &salt, &scoped).unwrap(),
                salt.to_vec(),
            )
        }
        _ => (scoped, Vec::new()),
    };
    let usm = Usm {
        engine_id: engine.to_vec(),
        boots,
        time,
        user: user.as_bytes().to_vec(),
        auth: auth.map_or_else(Vec::new, |(a, _)| vec![0; a.mac_len()]),
        privacy: priv_params,
    };
    let (mut bytes, off) = message::encode_v3(1001, 65507, flags, &usm, &body);
    if let Some((a, pw)) = auth {
        let mac = a.mac(&a.localized_key(pw.as_bytes(), engine), &bytes);
        bytes[off..off + mac.len()].copy_from_slice(&mac);
    }
    bytes
}

#[test]
fn v3_discovery_auth_and_privacy() {
    let text = format!(
        "{DEFAULT}\n[[protocols.snmp.users]]\nname = \"ops\"\nauth = \"sha256\"\nauth_password = \"operator-pass\"\npriv = \"aes\"\npriv_password = \"privacy-pass\"\n"
    );
    let (dev, svc) = build(&text);
    let agent = svc.agent();
    let now = SystemTime::now() + Duration::from_secs(3);
    // Discovery: empty engine id gets a Report with our engine id and usmStatsUnknownEngineIDs.
    let (reply, _) = agent.handle(&v3_request("", b"", 0, 0, 4, None, None), now, 65_000);
    let Message::V3 {
        usm,
        scoped: Scoped::Plain { pdu, .. },
        ..
    } = Message::decode(&reply.unwrap()).unwrap()
    else {
        panic!()
    };
    assert_eq!(pdu.kind, pdu_tag::REPORT);
    assert_eq!(pdu.varbinds[0].oid, oid("1.3.6.1.6.3.15.1.1.4.0"));
    let engine = usm.engine_id.clone();
    assert_eq!(
        &engine[..5],
        &[0x80, 0x00, 0x10, 0xE9, 0x03],
        "Siemens enterprise, MAC format"
    );
    let mac: Vec<u8> = dev
        .persona
        .get("mac")
        .unwrap()
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).unwrap())
        .collect();
    assert_eq!(&engine[5..], &mac[..]);
    assert!(usm.time >= 3);
    // authPriv GET with the right keys.
    let req = v3_request(
        "ops",
        &engine,
        usm.boots,
        usm.time,
        7,
        Some((AuthProto::Sha256, "operator-pass")),
        Some((PrivProto::Aes128, "privacy-pass")),
    );
    let (reply, events) = agent.handle(&req, now, 65_000);
    let reply = reply.unwrap();
    let Message::V3 {
        usm: rusm,
        scoped: Scoped::Encrypted(ct),
        auth_offset,
        ..
    } = Message::decode(&reply).unwrap()
    else {
        panic!()
    };
    let akey = AuthProto::Sha256.localized_key(b"operator-pass", &engine);
    let mut zeroed = reply.clone();
    zeroed[auth_offset..auth_offset + 24].fill(0);
    assert_eq!(
        AuthProto::Sha256.mac(&akey, &zeroed),
        rusm.auth,
        "the answer is authenticated"
    );
    let pkey = AuthProto::Sha256.localized_key(b"privacy-pass", &engine);
    let plain = PrivProto::Aes128
        .decrypt(&pkey, rusm.boots as u32, rusm.time as u32, &rusm.privacy, &ct)
        .unwrap();
    let Scoped::Plain { pdu, .. } = message::decode_scoped(&plain).unwrap() else {
        panic!()
    };
    assert_eq!(
        pdu.varbinds[0].value,
        SnmpValue::Octets(dev.persona.get("system_name").unwrap().as_bytes().to_vec())
    );
    assert!(events.iter().any(|e| e.event_type == "snmp.request"));
    // Wrong password: a wrongDigests report and a failed attempt.
    let bad = v3_request(
        "ops",
        &engine,
        usm.boots,
        usm.time,
        7,
        Some((AuthProto::Sha256, "guessing!!")),
        Some((PrivProto::Aes128, "privacy-pass")),
    );
    let (reply, events) = agent.handle(&bad, now, 65_000);
    let Message::V3 {
        scoped: Scoped::Plain { pdu, .. },
        ..
    } = Message::decode(&reply.unwrap()).unwrap()
    else {
        panic!()
    };
    assert_eq!(pdu.varbinds[0].oid, oid("1.3.6.1.6.3.15.1.1.5.0"));
    assert!(
        events
            .iter()
            .any(|e| e.event_type == "auth.attempt" && e.body.data["reason"] == "bad_password")
    );
    // Unknown user.
    let (reply, _) = agent.handle(
        &v3_request("root", &engine, usm.boots, usm.time, 4, None, None),
        now,
        65_000,
    );
    let Message::V3 {
        scoped: Scoped::Plain { pdu, .. },
        ..
    } = Message::decode(&reply.unwrap()).unwrap()
    else {
        panic!()
    };
    assert_eq!(pdu.varbinds[0].oid, oid("1.3.6.1.6.3.15.1.1.3.0"));
    // Outside the time window.
    let late = v3_request(
        "ops",
        &engine,
        usm.boots,
        usm.time + 1000,
        7,
        Some((AuthProto::Sha256, "operator-pass")),
        Some((PrivProto::Aes128, "privacy-pass")),
    );
    let (reply, _) = agent.handle(&late, now, 65_000);
    let Message::V3 {
        scoped: Scoped::Plain { pdu, .. },
        ..
    } = Message::decode(&reply.unwrap()).unwrap()
    else {
        panic!()
    };
    assert_eq!(pdu.varbinds[0].oid, oid("1.3.6.1.6.3.15.1.1.2.0"));
}

#[test]
fn conpot_snmp_templates_import() {
    let templates = conpot_testkit::conpot_templates();
    for (name, descr, extra) in [
        ("default", "Siemens, SIMATIC, S7-200", "1.3.6.1.2.1.1.6.0"),
        ("IEC104", "Siemens, SIMATIC, S7-300", "1.3.6.1.2.1.2.2.1.2.1"),
        ("snmp", "Siemens, SIMATIC, S7-300", "1.3.6.1.2.1.25.1.1.0"),
    ] {
        let dir = templates.join(name);
        if !dir.is_dir() {
            // Conpot 0.6.0 from PyPI has no `snmp` template (its later sources do).
            eprintln!("no Conpot template `{name}` in {}; skipped", templates.display());
            continue;
        }
        let t = conpot_core::template::Template::load_dir(&dir).unwrap();
        let p = t.persona.generate(name, 1);
        let d = Device::build(&t, p, SystemTime::now(), &mut conpot_core::rng::Rng::from_seed(1)).unwrap();
        let svc = SnmpService::build(&t.protocols["snmp"], &d).unwrap();
        if name == "default" {
            // (IEC104's port is 161 in Conpot 0.6.0 and 16100 in its later sources.)
            assert_eq!(t.protocols["snmp"].port, 16100);
        }
        let r = ask(
            &svc,
            1,
            "public",
            &req(pdu_tag::GET, 0, 0, &["1.3.6.1.2.1.1.1.0", extra]),
        )
        .unwrap();
        assert_eq!(
            r.varbinds[0].value,
            SnmpValue::Octets(descr.as_bytes().to_vec()),
            "{name}"
        );
        assert!(
            !matches!(r.varbinds[1].value, SnmpValue::NoSuchObject | SnmpValue::NoSuchInstance),
            "{name}: {:?}",
            r.varbinds[1]
        );
    }
}

#[test]
fn response_time_profile_delays_answers() {
    let (_d, svc) = build(&DEFAULT.replace(
        "[protocols.snmp.system]",
        "response_time_ms = [7, 9]\n\n[protocols.snmp.system]",
    ));
    let bytes = message::encode_community(1, b"public", &req(pdu_tag::GET, 0, 0, &["1.3.6.1.2.1.1.1.0"]));
    let (mut d, _) = conpot_core::drive::Driver::udp(&svc, 161, SystemTime::now());
    let step = d.input(&bytes, SystemTime::now());
    assert!(!step.bytes.is_empty());
    assert!((7..=9).contains(&step.delay.as_millis()), "{:?}", step.delay);
}

/// The `auth.attempt` events of `events`.
fn attempts(events: &[conpot_core::event::EventDraft]) -> Vec<&conpot_core::fields::Fields> {
    events
        .iter()
        .filter(|e| e.event_type == "auth.attempt")
        .map(|e| &e.body.data)
        .collect()
}

#[test]
fn v3_logins_are_checked_by_the_device_and_each_is_one_attempt() {
    let text = format!(
        "{DEFAULT}\n[[users]]\nname = \"retired\"\npassword = \"long-enough-1\"\nenabled = false\nscope = [\"snmp\"]\n"
    );
    let (dev, svc) = build(&text);
    let agent = svc.agent();
    let now = SystemTime::now() + Duration::from_secs(3);
    let (reply, events) = agent.handle(&v3_request("", b"", 0, 0, 4, None, None), now, 65_000);
    assert!(attempts(&events).is_empty(), "discovery is not a login");
    let Message::V3 { usm, .. } = Message::decode(&reply.unwrap()).unwrap() else {
        panic!()
    };
    let engine = usm.engine_id.clone();
    // The template's admin account (device-wide, from [[credentials]]) with SHA and AES.
    let host = dev.persona.get("hostname").unwrap();
    let (apw, ppw) = (format!("Siemens-{host}"), format!("Simatic-{host}"));
    let good = v3_request(
        "admin",
        &engine,
        usm.boots,
        usm.time,
        7,
        Some((AuthProto::Sha1, &apw)),
        Some((PrivProto::Aes128, &ppw)),
    );
    let src: std::net::IpAddr = "198.51.100.7".parse().unwrap();
    let (reply, events) = agent.handle_from(&good, src, now, 65_000);
    assert!(matches!(
        Message::decode(&reply.unwrap()).unwrap(),
        Message::V3 {
            scoped: Scoped::Encrypted(_),
            ..
        }
    ));
    let a = attempts(&events);
    assert_eq!(a.len(), 1, "one attempt per message");
    assert_eq!(a[0]["success"], true);
    assert_eq!(a[0]["username"], "admin");
    assert_eq!(a[0]["method"], "snmp-usm-sha1");
    assert_eq!(a[0]["hash_alg"], "hmac-sha1-96");
    assert_eq!(a[0]["salt"], conpot_core::hex::encode(&engine));
    assert_eq!(a[0]["hash"].as_str().unwrap().len(), 24, "the 12-byte MAC sent");
    assert_eq!(a[0]["password"], serde_json::Value::Null);
    assert_eq!(a[0]["attempts"], 1);
    // Wrong privacy password: authenticated, but the one attempt fails.
    let bad_priv = v3_request(
        "admin",
        &engine,
        usm.boots,
        usm.time,
        7,
        Some((AuthProto::Sha1, &apw)),
        Some((PrivProto::Aes128, "not-the-privacy-pw")),
    );
    let (reply, events) = agent.handle_from(&bad_priv, src, now, 65_000);
    let a = attempts(&events);
    assert_eq!((a.len(), &a[0]["reason"]), (1, &"decryption_error".into()));
    assert_eq!(a[0]["attempts"], 2, "counted per source");
    let Message::V3 {
        scoped: Scoped::Plain { pdu, .. },
        ..
    } = Message::decode(&reply.unwrap()).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        pdu.varbinds[0].oid,
        oid("1.3.6.1.6.3.15.1.1.6.0"),
        "usmStatsDecryptionErrors"
    );
    // Unknown and disabled users: both look unknown on the wire, the reasons differ.
    for (user, reason) in [("root", "unknown_user"), ("retired", "disabled")] {
        let (reply, events) = agent.handle_from(
            &v3_request(
                user,
                &engine,
                usm.boots,
                usm.time,
                5,
                Some((AuthProto::Sha1, "long-enough-1")),
                None,
            ),
            src,
            now,
            65_000,
        );
        let a = attempts(&events);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0]["reason"], reason);
        assert_eq!(a[0]["username"], user);
        let Message::V3 {
            scoped: Scoped::Plain { pdu, .. },
            ..
        } = Message::decode(&reply.unwrap()).unwrap()
        else {
            panic!()
        };
        assert_eq!(pdu.varbinds[0].oid, oid("1.3.6.1.6.3.15.1.1.3.0"));
    }
    // Asking for less security than the account has.
    let (_, events) = agent.handle_from(
        &v3_request("admin", &engine, usm.boots, usm.time, 4, None, None),
        src,
        now,
        65_000,
    );
    assert_eq!(attempts(&events)[0]["reason"], "unsupported_security_level");
    assert_eq!(attempts(&events)[0]["method"], "snmp-usm-sha1");
}

#[test]
fn a_wrong_community_is_an_attempt_of_the_same_schema() {
    let (_dev, svc) = build(DEFAULT);
    let bytes = message::encode_community(1, b"priv\xffate", &req(pdu_tag::GET, 0, 0, &["1.3.6.1.2.1.1.5.0"]));
    let (reply, events) = svc.agent().handle(&bytes, SystemTime::now(), 65_000);
    assert!(reply.is_none());
    let a = attempts(&events);
    assert_eq!(a.len(), 1);
    let keys: Vec<_> = a[0].iter().map(|(k, _)| k).collect();
    assert_eq!(keys, conpot_core::auth::attempt::FIELDS);
    assert_eq!(a[0]["method"], "snmp-community");
    assert_eq!(a[0]["password"], "priv\\xffate");
    assert_eq!(a[0]["username"], serde_json::Value::Null);
    assert_eq!(a[0]["reason"], "bad_password");
}

#[test]
fn a_source_session_records_a_login_once_and_every_failure() {
    use conpot_core::drive::Driver;
    let (dev, svc) = build(DEFAULT);
    let now = SystemTime::now() + Duration::from_secs(3);
    let (mut d, _) = Driver::udp(&svc, 161, now);
    let discovery = d.input(&v3_request("", b"", 0, 0, 4, None, None), now);
    let Message::V3 { usm, .. } = Message::decode(&discovery.bytes).unwrap() else {
        panic!()
    };
    let host = dev.persona.get("hostname").unwrap();
    let (apw, ppw) = (format!("Siemens-{host}"), format!("Simatic-{host}"));
    let login = |pw: &str| {
        v3_request(
            "admin",
            &usm.engine_id,
            usm.boots,
            usm.time,
            7,
            Some((AuthProto::Sha1, &apw)),
            Some((PrivProto::Aes128, pw)),
        )
    };
    let mut successes = 0;
    let mut failures = 0;
    for pw in [ppw.as_str(), &ppw, &ppw, "wrong-privacy-pw", "wrong-privacy-pw", &ppw] {
        let step = d.input(&login(pw), now);
        assert!(!step.bytes.is_empty(), "every message is answered");
        for a in attempts(&step.events) {
            if a["success"] == true {
                successes += 1;
            } else {
                failures += 1;
            }
        }
    }
    assert_eq!(successes, 1, "a walk's login is recorded once per source session");
    assert_eq!(failures, 2, "every failed attempt is recorded");
}

#[test]
fn a_get_with_1000_varbinds_is_answered_too_big() {
    let (_dev, svc) = build(DEFAULT);
    let oids: Vec<String> = (0..1000).map(|i| format!("1.3.6.1.2.1.1.{}.0", i % 7 + 1)).collect();
    let refs: Vec<&str> = oids.iter().map(String::as_str).collect();
    let bytes = message::encode_community(1, b"public", &req(pdu_tag::GET, 0, 0, &refs));
    let (reply, events) = svc.agent().handle(&bytes, SystemTime::now(), 65_000);
    let Message::Community { pdu: r, .. } = Message::decode(&reply.expect("answered")).unwrap() else {
        panic!()
    };
    assert_eq!((r.kind, r.request_id), (pdu_tag::RESPONSE, 77));
    assert_eq!((r.error_status, r.error_index), (1, 0), "tooBig");
    assert!(r.varbinds.is_empty());
    let ev = events.iter().find(|e| e.event_type == "snmp.request").unwrap();
    assert_eq!(ev.body.data["varbinds_total"], 1000);
    assert!(events.iter().all(|e| e.event_type != "snmp.malformed"));
}

#[test]
fn a_set_value_that_is_not_text_is_logged_as_hex() {
    let (_dev, svc) = build(DEFAULT);
    let mut set = req(pdu_tag::SET, 0, 0, &["1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.1.6.0"]);
    set.varbinds[0].value = SnmpValue::Octets(vec![0xff, 0xfe, 0x00]);
    // A string that merely reads like hex stays a string.
    set.varbinds[1].value = SnmpValue::Octets(b"0xfffe00".to_vec());
    let bytes = message::encode_community(1, b"private", &set);
    let (_, events) = svc.agent().handle(&bytes, SystemTime::now(), 65_000);
    let ev = events.iter().find(|e| e.event_type == "snmp.request").unwrap();
    let vbs = &ev.body.request.as_ref().unwrap()["varbinds"];
    assert_eq!(vbs[0]["value"], serde_json::json!({"hex": "fffe00"}));
    assert_eq!(vbs[1]["value"], serde_json::json!("0xfffe00"));
}
