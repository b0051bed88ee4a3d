//! Property tests: arbitrary and mutated bytes never panic, every reply is a whole
//! encapsulation message of a command that was sent, and replies stay bounded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::*;
use conpot_core::drive::Driver;
use conpot_enip::EnipService;
use proptest::prelude::*;

/// Checks that `bytes` is a sequence of whole encapsulation messages; returns them.
fn messages(mut bytes: &[u8]) -> Vec<(u16, u32)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 24, "short reply {bytes:?}");
        let (cmd, len, _, status) = header(bytes);
        assert!(bytes.len() >= 24 + usize::from(len));
        out.push((cmd, status));
        bytes = &bytes[24 + usize::from(len)..];
    }
    out
}

fn run_tcp(svc: &EnipService, chunks: &[Vec<u8>]) {
    let (mut d, _) = Driver::tcp(svc, 44818, now());
    let mut sent = 0;
    let mut reply = Vec::new();
    for c in chunks {
        sent += c.len();
        reply.extend(d.input(c, now()).bytes);
    }
    reply.extend(d.eof(now()).bytes);
    let msgs = messages(&reply);
    assert!(msgs.len() <= sent / 24 + 1, "at most one reply per message");
    assert!(reply.len() <= (sent / 24 + 1) * 4100);
}

/// Valid requests of every kind, to be mutated.
fn seeds(handle: u32) -> Vec<Vec<u8>> {
    let id = [0x20, 0x01, 0x24, 0x01];
    vec![
        encap(0x63, 0, &[]),
        encap(0x04, 0, &[]),
        encap(0x65, 0, &[1, 0, 0, 0]),
        rr(handle, &request(0x01, &id, &[])),
        rr(handle, &request(0x0e, &[0x20, 0x01, 0x24, 0x01, 0x30, 0x07], &[])),
        rr(handle, &request(0x4c, &symbol("Setpoints"), &[8, 0])),
        rr(handle, &request(0x4d, &symbol("Setpoints"), &[0xc3, 0, 1, 0, 5, 0])),
        rr(handle, &request(0x52, &symbol("Setpoints"), &[8, 0, 2, 0, 0, 0])),
        rr(
            handle,
            &request(
                0x0a,
                &[0x20, 0x02, 0x24, 0x01],
                &[
                    2, 0, 6, 0, 10, 0, 0x01, 0x02, 0x20, 0x01, 0x24, 0x01, 0x01, 0x02, 0x20, 0xf5, 0x24, 0x01,
                ],
            ),
        ),
        rr(handle, &request(0x55, &[0x20, 0x6b, 0x24, 0x00], &[2, 0, 1, 0, 2, 0])),
        rr(
            handle,
            &request(
                0x52,
                &[0x20, 0x06, 0x24, 0x01],
                &[0x0a, 0xf0, 6, 0, 0x01, 0x02, 0x20, 0x01, 0x24, 0x01, 1, 0, 1, 0],
            ),
        ),
        unit(handle, 1, 1, &request(0x01, &id, &[])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_tcp_bytes_never_panic(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..6)) {
        let (svc, _) = logix();
        run_tcp(&svc, &chunks);
    }

    #[test]
    fn mutated_requests_get_whole_replies(which in 0usize..12, flips in prop::collection::vec((any::<u16>(), any::<u8>()), 1..6), cut in any::<u16>()) {
        let (svc, _) = logix();
        let (mut d, handle) = registered(&svc);
        let mut m = seeds(handle)[which].clone();
        for (at, v) in flips {
            let i = usize::from(at) % m.len();
            // Keep the session handle most of the time so CIP is reached.
            if !(4..8).contains(&i) || v % 4 == 0 {
                m[i] = v;
            }
        }
        if cut % 5 == 0 {
            m.truncate(usize::from(cut) % m.len());
        }
        let mut reply = d.input(&m, now()).bytes;
        reply.extend(d.eof(now()).bytes);
        messages(&reply);
    }

    #[test]
    fn arbitrary_datagrams_get_at_most_one_reply(dgram in prop::collection::vec(any::<u8>(), 0..600)) {
        let (svc, _) = logix();
        let (mut d, _) = Driver::udp(&svc, 44818, now());
        let step = d.input(&dgram, now());
        prop_assert!(step.datagrams.len() <= 1);
        for g in &step.datagrams {
            prop_assert_eq!(messages(g).len(), 1);
            // Only the List commands and refusals are answered over UDP: never CIP data.
            let (cmd, status) = messages(g)[0];
            prop_assert!(matches!(cmd, 0x04 | 0x63 | 0x64) || status != 0);
        }
    }

    #[test]
    fn any_cip_request_gets_one_reply_of_its_service(cip_req in prop::collection::vec(any::<u8>(), 1..200)) {
        let (svc, _) = logix();
        let (mut d, handle) = registered(&svc);
        let r = d.input(&rr(handle, &cip_req), now()).bytes;
        let (service, _, _, _) = cip(&r);
        prop_assert_eq!(service, cip_req[0] | 0x80);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any Write Tag to the STRING, the UDT or one of its members is answered, never
    /// panics, and the structure still reads back whole (0x02A0, handle, its size).
    #[test]
    fn structure_writes_of_any_bytes_keep_the_structure_whole(
        target in 0usize..3,
        head in proptest::collection::vec(any::<u8>(), 0..8),
        body in proptest::collection::vec(any::<u8>(), 0..120),
        fragmented in any::<bool>(),
    ) {
        let (svc, _) = logix();
        let (mut d, handle) = registered(&svc);
        let mut path = symbol(["Recipe_Name", "Pump_1", "Pump_1"][target]);
        if target == 2 {
            path.extend_from_slice(&symbol("Flow"));
        }
        let mut data = head.clone();
        data.extend_from_slice(&body);
        let service = if fragmented { 0x53 } else { 0x4d };
        let (s, _, _, _) = cip(&d.input(&rr(handle, &request(service, &path, &data)), now()).bytes);
        prop_assert_eq!(s, service | 0x80);
        let whole = symbol(["Recipe_Name", "Pump_1", "Pump_1"][target]);
        let (_, status, _, back) = cip(&d.input(&rr(handle, &request(0x4c, &whole, &[1, 0])), now()).bytes);
        prop_assert_eq!(status, 0);
        prop_assert_eq!(&back[..2], &[0xa0, 0x02]);
        prop_assert_eq!(back.len(), 4 + if target == 0 { 88 } else { 20 });
    }

    /// A STRING written with any text of up to 82 bytes reads back the same text.
    #[test]
    fn string_text_round_trips(text in "[ -~]{0,82}") {
        let (svc, device) = logix();
        let (mut d, handle) = registered(&svc);
        let mut w = vec![0xa0, 0x02, 0xce, 0x0f, 1, 0];
        w.extend_from_slice(&(text.len() as i32).to_le_bytes());
        w.extend_from_slice(text.as_bytes());
        w.resize(6 + 88, 0);
        let (_, status, _, _) = cip(&d.input(&rr(handle, &request(0x4d, &symbol("Recipe_Name"), &w)), now()).bytes);
        prop_assert_eq!(status, 0);
        prop_assert_eq!(device.databus.get("RecipeName", now()), Some(conpot_core::Value::Str(text.clone())));
        let (_, _, _, back) = cip(&d.input(&rr(handle, &request(0x4c, &symbol("Recipe_Name"), &[1, 0])), now()).bytes);
        prop_assert_eq!(&back[8..8 + text.len()], text.as_bytes());
    }
}
