//! Hostile datagrams: whatever arrives, the BMC neither panics nor answers beyond the
//! amplification cap, and a datagram outside a session is never answered with more than
//! a few times its size (the reflection bound).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::SystemTime;

use conpot_core::drive::{Driver, device_and_section};
use conpot_ipmi::IpmiService;
use proptest::prelude::*;

const TEMPLATE: &str = include_str!("../../../templates/ipmi/template.toml");

fn service() -> IpmiService {
    let (device, section) = device_and_section(TEMPLATE, "ipmi").unwrap();
    IpmiService::build(&section, &device).unwrap()
}

/// Prefixes that reach each decoder: ASF, IPMI 1.5, RMCP+ payload types.
fn prefixes() -> Vec<Vec<u8>> {
    vec![
        vec![0x06, 0x00, 0x00, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80],
        vec![0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![0x06, 0x00, 0xff, 0x07, 0x02],
        vec![0x06, 0x00, 0xff, 0x07, 0x06, 0x10, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![0x06, 0x00, 0xff, 0x07, 0x06, 0x12],
        vec![0x06, 0x00, 0xff, 0x07, 0x06, 0x14],
        vec![0x06, 0x00, 0xff, 0x07, 0x06, 0x00, 0, 0, 0, 0],
        vec![0x06, 0x00, 0xff, 0x07, 0x06, 0xc0, 1, 2, 3, 4],
        vec![],
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_datagrams_are_safe_and_small(which in 0usize..9, tail in proptest::collection::vec(any::<u8>(), 0..120), cap in 4usize..200) {
        let svc = service();
        let now = SystemTime::UNIX_EPOCH;
        let (mut d, _) = Driver::udp(&svc, 623, now);
        let mut datagram = prefixes()[which].clone();
        datagram.extend(&tail);
        d.reply_limit = cap;
        let s = d.input(&datagram, now);
        prop_assert!(s.bytes.len() <= cap);
        d.reply_limit = 65_507;
        let s = d.input(&datagram, now);
        prop_assert!(s.bytes.len() <= (datagram.len() * 4).max(64), "{} -> {}", datagram.len(), s.bytes.len());
    }

    #[test]
    fn a_valid_request_with_noise_never_panics(byte in any::<u8>(), at in 0usize..23) {
        let svc = service();
        let now = SystemTime::UNIX_EPOCH;
        let (mut d, _) = Driver::udp(&svc, 623, now);
        let mut g = conpot_core::hex::decode("0600ff07000000000000000000092018c88100388e04b5").unwrap();
        g[at] = byte;
        let _ = d.input(&g, now);
        // The source is still answered afterwards.
        let ok = conpot_core::hex::decode("0600ff07000000000000000000092018c88100388e04b5").unwrap();
        prop_assert_eq!(d.input(&ok, now).datagrams.len(), 1);
    }
}
