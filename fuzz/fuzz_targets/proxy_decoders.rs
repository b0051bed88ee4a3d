//! The proxy's decoders on hostile traffic: the input is split into chunks, each sent one
//! way or the other (the first byte of a chunk picks the direction and the decoder), and
//! every decoder must take any bytes in any split without panicking, with every raw event
//! bounded.
#![no_main]

use conpot_proxy::decode::{DecoderKind, Direction, MAX_RAW};
use libfuzzer_sys::fuzz_target;

const KINDS: [DecoderKind; 6] = [
    DecoderKind::Raw,
    DecoderKind::Ascii,
    DecoderKind::Modbus,
    DecoderKind::S7,
    DecoderKind::Kamstrup,
    DecoderKind::Guardian,
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let mut d = KINDS[usize::from(first) % KINDS.len()].build();
    let mut out = Vec::new();
    let mut rest = rest;
    while let Some((&head, tail)) = rest.split_first() {
        let len = usize::from(head >> 1).min(tail.len());
        let dir = if head & 1 == 0 { Direction::ToUpstream } else { Direction::FromUpstream };
        let (chunk, next) = tail.split_at(len);
        d.feed(dir, chunk, &mut out);
        rest = next;
    }
    d.finish(&mut out);
    for e in &out {
        if e.event_type == "proxy.data" {
            let n = e.body.raw.as_ref().map_or(0, Vec::len) + e.body.raw_response.as_ref().map_or(0, Vec::len);
            assert!(n <= MAX_RAW);
        }
    }
});
