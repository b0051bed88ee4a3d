//! Property tests: arbitrary bytes never panic, every reply is a whole APDU, and the
//! station's N(S) counts without gaps whatever the peer sends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::drive::{Driver, device_and_section};
use conpot_iec104::Iec104Service;
use proptest::prelude::*;

const TEMPLATE: &str = include_str!("../../../templates/IEC104/template.toml");

fn service() -> Iec104Service {
    let (device, section) = device_and_section(TEMPLATE, "IEC104").unwrap();
    Iec104Service::build(&section, &device).unwrap()
}

/// N(S) of each I frame in `b`, checking every APDU is whole.
fn i_numbers(mut b: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    while !b.is_empty() {
        assert_eq!(b[0], 0x68);
        let len = usize::from(b[1]);
        assert!((4..=253).contains(&len) && b.len() >= 2 + len);
        if b[2] & 1 == 0 {
            out.push(u16::from_le_bytes([b[2], b[3]]) >> 1);
        }
        b = &b[2 + len..];
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_input_after_startdt(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..5)) {
        let svc = service();
        let t = SystemTime::UNIX_EPOCH;
        let (mut d, _) = Driver::tcp(&svc, 2404, t);
        let mut out = d.input(&[0x68, 4, 0x07, 0, 0, 0], t).bytes;
        for c in &chunks {
            out.extend(d.input(c, t).bytes);
        }
        out.extend(d.advance(t + Duration::from_secs(12)).bytes);
        let ns = i_numbers(&out);
        for (i, n) in ns.iter().enumerate() {
            prop_assert_eq!(usize::from(*n), i);
        }
    }

    #[test]
    fn wellformed_requests_are_answered_in_sequence(reqs in prop::collection::vec((prop::sample::select(vec![45u8, 46, 47, 48, 49, 50, 100, 101, 102, 103, 107, 58]), any::<u8>(), 0u32..6000, prop::collection::vec(any::<u8>(), 0..12)), 1..20)) {
        let svc = service();
        let t = SystemTime::UNIX_EPOCH;
        let ca = svc.station().config.common_address;
        let (mut d, _) = Driver::tcp(&svc, 2404, t);
        let mut out = d.input(&[0x68, 4, 0x07, 0, 0, 0], t).bytes;
        for (n, (ty, cot, ioa, element)) in reqs.iter().enumerate() {
            let mut a = vec![*ty, 1, *cot % 64, 0];
            a.extend_from_slice(&ca.to_le_bytes());
            a.extend_from_slice(&ioa.to_le_bytes()[..3]);
            a.extend_from_slice(element);
            let mut f = vec![0x68, (4 + a.len()) as u8];
            f.extend_from_slice(&((n as u16) << 1).to_le_bytes());
            f.extend_from_slice(&[0, 0]);
            f.extend(a);
            let step = d.input(&f, t);
            prop_assert!(!step.close, "a well-framed request in sequence never closes");
            out.extend(step.bytes);
        }
        let ns = i_numbers(&out);
        prop_assert!(ns.len() <= 12, "the k window holds unacknowledged answers");
        for (i, n) in ns.iter().enumerate() {
            prop_assert_eq!(usize::from(*n), i);
        }
    }
}

/// The type identification of each I frame's ASDU in `b`.
fn type_ids(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while b.len() >= 2 && b.len() >= 2 + usize::from(b[1]) {
        if b[2] & 1 == 0 && b.len() > 6 {
            out.push(b[6]);
        }
        b = &b[2 + usize::from(b[1])..];
    }
    out
}

const BANDED: &str = r#"
[template]
unit = "RTU"
vendor = "Siemens"
[databus]
v = 100.0
[protocols.IEC104]
port = 2404
common_address = 5
points = [{ ioa = 1, type = "float", key = "v", deadband = 1.5 }]
"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the values, a measured value is reported spontaneously exactly when it
    /// moved more than its deadband from what was last reported, and then with a time tag.
    #[test]
    fn a_measured_value_is_reported_exactly_past_its_deadband(values in proptest::collection::vec(90.0f32..110.0, 1..30)) {
        let (device, section) = device_and_section(BANDED, "IEC104").unwrap();
        let svc = Iec104Service::build(&section, &device).unwrap();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (mut d, _) = Driver::tcp(&svc, 2404, t0);
        d.input(&[0x68, 4, 0x07, 0, 0, 0], t0);
        let mut last = 100.0f64;
        for (i, v) in values.iter().enumerate() {
            let v = f64::from(*v);
            device.databus.set("v", conpot_core::Value::Float(v));
            // Acknowledge everything so the k window never holds a report back.
            let t = t0 + Duration::from_secs(i as u64 + 1);
            let out = d.advance(t).bytes;
            let reported = type_ids(&out).contains(&36);
            prop_assert_eq!(reported, (v - last).abs() > 1.5, "value {} after {}", v, last);
            if reported {
                last = v;
            }
            let n = i_numbers(&out).last().map_or(0, |n| n + 1);
            if n > 0 {
                let mut s = vec![0x68, 4, 0x01, 0];
                s.extend_from_slice(&(n << 1).to_le_bytes());
                d.input(&s, t);
            }
        }
    }
}
