//! Arbitrary and mutated bytes never panic the S7 session, and what it sends is always
//! well-formed TPKT.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::drive::Driver;
use conpot_s7::S7Service;
use proptest::prelude::*;

const DEFAULT: &str = include_str!("../../../templates/default/template.toml");

fn service() -> S7Service {
    let t = conpot_core::template::Template::from_toml("default", DEFAULT).unwrap();
    let p = t.persona.generate("default", 1);
    let d = Device::build(&t, p, SystemTime::now(), &mut conpot_core::rng::Rng::from_seed(1)).unwrap();
    S7Service::build(&t.protocols["s7comm"], &d).unwrap()
}

fn run(svc: &S7Service, prefix: &[u8], input: &[u8]) {
    let now = SystemTime::now();
    let (mut d, _) = Driver::tcp(svc, 102, now);
    let mut bytes = d.input(prefix, now).bytes;
    bytes.extend(d.input(input, now).bytes);
    assert!(d.buffered().len() <= prefix.len() + input.len());
    bytes.extend(d.eof(now).bytes);
    let mut b = &bytes[..];
    while !b.is_empty() {
        assert_eq!(b[0], 3, "TPKT version");
        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        assert!(len >= 7 && len <= b.len());
        b = &b[len..];
    }
    // Every answer is bounded: at most a few PDUs per request.
    assert!(bytes.len() <= 4096 + 16 * input.len());
}

fn handshake() -> Vec<u8> {
    conpot_core::hex::decode(
        "0300001611e00000001400c1020100c2020102c0010a0300001902f08032010000000000080000f0000001000101e0",
    )
    .unwrap()
}

fn framed(s7: Vec<u8>) -> Vec<u8> {
    let mut f = vec![3, 0, 0, 0, 2, 0xF0, 0x80];
    f.extend(s7);
    let len = f.len().min(65535) as u16;
    f[2..4].copy_from_slice(&len.to_be_bytes());
    f
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..700)) {
        run(&service(), &[], &input);
    }

    #[test]
    fn arbitrary_s7_pdus_after_setup(rosctr in prop::sample::select(vec![1u8, 2, 3, 7, 8]), body in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut s7 = vec![0x32, rosctr, 0, 0, 0, 1];
        s7.extend(body);
        run(&service(), &handshake(), &framed(s7));
    }

    #[test]
    fn mutated_known_requests(which in 0usize..4, flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let known = [
            "32070000050000080008000112041144010000ff09000400110001",
            "320100000500001a00000402120a10020003000184000020120a10010001000083000001",
            "320100000400000e00060501120a100200020001840000200004001012 34",
            "3201000008000010000029000000000009505f50524f4752414d",
        ];
        let mut s7 = conpot_core::hex::decode(&known[which].replace(' ', "")).unwrap();
        for (i, b) in flips {
            let n = s7.len();
            s7[i % n] ^= b;
        }
        run(&service(), &handshake(), &framed(s7));
    }
}
