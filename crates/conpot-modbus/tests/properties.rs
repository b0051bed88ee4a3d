//! Property tests: arbitrary and mutated bytes never panic, and every outcome is a valid
//! reply, an exception, silence, or a close.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::SystemTime;

use conpot_core::drive::Driver;
use proptest::prelude::*;

fn check_replies(mut reply: &[u8]) {
    while !reply.is_empty() {
        assert!(reply.len() >= 9, "reply too short: {reply:?}");
        let len = usize::from(u16::from_be_bytes([reply[4], reply[5]]));
        assert!((2..=254).contains(&len));
        assert!(reply.len() >= 6 + len);
        reply = &reply[6 + len..];
    }
}

fn run(svc: &conpot_modbus::ModbusService, input: &[u8]) {
    let (mut d, _) = Driver::tcp(svc, 502, SystemTime::now());
    let mut bytes = d.input(input, SystemTime::now()).bytes;
    assert!(d.buffered().len() <= input.len());
    bytes.extend(d.eof(SystemTime::now()).bytes);
    check_replies(&bytes);
    assert!(
        bytes.len() <= (input.len() / 8 + 1) * 260,
        "reply bounded by request count"
    );
}

fn valid_adu() -> impl Strategy<Value = Vec<u8>> {
    (any::<u16>(), any::<u8>(), prop::collection::vec(any::<u8>(), 1..253)).prop_map(|(tid, unit, pdu)| {
        let mut v = tid.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
        v.push(unit);
        v.extend(pdu);
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..600)) {
        let (_d, svc) = common::service("device");
        run(&svc, &input);
    }

    #[test]
    fn well_framed_arbitrary_pdus_always_get_an_answer(adu in valid_adu(), mode in prop::sample::select(vec!["device", "gateway"])) {
        let (_d, svc) = common::service(mode);
        let (mut d, _) = Driver::tcp(&svc, 502, SystemTime::now());
        let out = d.input(&adu, SystemTime::now());
        prop_assert!(d.buffered().is_empty());
        prop_assert!(!out.close);
        check_replies(&out.bytes);
        if mode == "device" || adu[6] != 0 {
            prop_assert!(!out.bytes.is_empty(), "every unicast request gets a reply or an exception");
            prop_assert_eq!(&out.bytes[..2], &adu[..2]);
        }
        prop_assert_eq!(out.events.len(), 1);
    }

    #[test]
    fn mutated_valid_requests(adu in valid_adu(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let (_d, svc) = common::service("device");
        let mut m = adu.clone();
        for (i, b) in flips {
            let len = m.len();
            m[i % len] ^= b;
        }
        run(&svc, &m);
    }
}
