//! Arbitrary and mutated datagrams never panic the agent, and no answer exceeds the size
//! the listener allows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::Device;
use conpot_snmp::SnmpService;
use proptest::prelude::*;

const DEFAULT: &str = include_str!("../../../templates/default/template.toml");

fn service() -> &'static SnmpService {
    static S: OnceLock<SnmpService> = OnceLock::new();
    S.get_or_init(|| {
        let t = conpot_core::template::Template::from_toml("default", DEFAULT).unwrap();
        let p = t.persona.generate("default", 2);
        let d = Device::build(&t, p, SystemTime::now(), &mut conpot_core::rng::Rng::from_seed(2)).unwrap();
        SnmpService::build(&t.protocols["snmp"], &d).unwrap()
    })
}

fn known() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = KNOWN
        .iter()
        .map(|k| conpot_core::hex::decode(&k.replace(' ', "")).unwrap())
        .collect();
    use conpot_snmp::message::{Pdu, SnmpValue, VarBind, encode_community, parse_oid, pdu_tag};
    let set = Pdu {
        kind: pdu_tag::SET,
        request_id: 9,
        error_status: 0,
        error_index: 0,
        varbinds: vec![VarBind {
            oid: parse_oid("1.3.6.1.2.1.1.6.0").unwrap(),
            value: SnmpValue::Octets(b"Hall 9".to_vec()),
        }],
        dropped_varbinds: 0,
    };
    v.push(encode_community(1, b"private", &set));
    let discovery = Pdu {
        kind: pdu_tag::GET,
        request_id: 11304,
        error_status: 0,
        error_index: 0,
        varbinds: vec![],
        dropped_varbinds: 0,
    };
    let scoped = conpot_snmp::message::encode_scoped(b"", b"", &discovery);
    v.push(conpot_snmp::message::encode_v3(230_661_430, 65507, 4, &Default::default(), &scoped).0);
    v
}

fn check(datagram: &[u8]) {
    let limit = datagram.len() * 8 + 64;
    let (reply, _) = service().agent().handle(datagram, SystemTime::now(), limit);
    if let Some(r) = reply {
        assert!(r.len() <= limit, "{} > {limit}", r.len());
        conpot_snmp::message::Message::decode(&r).expect("answers decode");
    }
}

const KNOWN: &[&str] = &[
    // v2c GET sysDescr, v1 GETNEXT, v2c GETBULK (a SET and a v3 discovery are built below).
    "302702010104067075626c6963a01a020204d2020100020100300e300c06082b060102010101000500",
    "302602010004067075626c6963a1190202162e020100020100300d300b06072b0601020101010500",
    "302602010104067075626c6963a519020101020100020203e8300d300b06072b0601020101010500",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_datagrams(d in prop::collection::vec(any::<u8>(), 0..600)) {
        check(&d);
    }

    #[test]
    fn mutated_known_datagrams(which in 0usize..5, flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut d = known()[which].clone();
        for (i, b) in flips {
            let n = d.len();
            d[i % n] ^= b;
        }
        check(&d);
    }
}

#[test]
fn known_datagrams_are_answered() {
    for (i, d) in known().into_iter().enumerate() {
        let (reply, _) = service().agent().handle(&d, SystemTime::now(), 65_000);
        assert!(reply.is_some(), "datagram {i} answered");
    }
}
