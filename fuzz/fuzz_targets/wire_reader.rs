//! The core's wire reader driven by arbitrary bytes: the first half of the input is a
//! script of reads, the rest the frame they read. No read may panic, hand out bytes the
//! frame does not hold, or consume anything when it fails; a failure is always a
//! truncation naming exactly what was missing.
#![no_main]

use conpot_core::wire::{Reader, WireError, Writer};
use libfuzzer_sys::fuzz_target;

/// Runs read `op` (sized by `n`); returns how many bytes it needs and whether it worked.
fn step(r: &mut Reader<'_>, op: u8, n: usize) -> (usize, Result<(), WireError>) {
    let ok = |v: Result<(), WireError>, size| (size, v);
    match op % 16 {
        0 => ok(r.u8().map(drop), 1),
        1 => ok(r.u16_be().map(drop), 2),
        2 => ok(r.u16_le().map(drop), 2),
        3 => ok(r.u24_be().map(drop), 3),
        4 => ok(r.u24_le().map(drop), 3),
        5 => ok(r.u32_be().map(drop), 4),
        6 => ok(r.u32_le().map(drop), 4),
        7 => ok(r.u64_be().map(drop), 8),
        8 => ok(r.u64_le().map(drop), 8),
        9 => ok(r.i16_be().map(drop), 2),
        10 => ok(r.i32_le().map(drop), 4),
        11 => ok(r.take(n).map(|b| assert_eq!(b.len(), n)), n),
        12 => ok(r.skip(n), n),
        13 => ok(r.peek(n).map(|b| assert_eq!(b.len(), n)), n),
        14 => ok(
            r.sub(n).map(|mut s| {
                // Reads inside a sub-reader stay inside it.
                assert_eq!(s.remaining(), n);
                while s.u16_be().is_ok() {}
                assert!(s.remaining() < 2);
            }),
            n,
        ),
        _ => ok(
            r.expect_u8(n as u8, "a byte").or_else(|e| match e {
                WireError::Invalid { .. } => Ok(()),
                other => Err(other),
            }),
            1,
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let (script, frame) = data.split_at(data.len() / 2);
    let mut r = Reader::new(frame);
    for pair in script.chunks(2) {
        let (op, n) = match pair {
            [op, n] => (*op, usize::from(*n) % 64),
            [op] => (*op, 0),
            _ => break,
        };
        let (pos, left, at) = (r.position(), r.remaining(), r.offset());
        let (size, result) = step(&mut r, op, n);
        match result {
            Ok(()) => assert!(size <= left),
            Err(e) => {
                assert_eq!(
                    e,
                    WireError::Truncated {
                        at,
                        need: size,
                        have: left
                    }
                );
                assert_eq!(r.position(), pos);
            }
        }
        assert_eq!(r.position() + r.remaining(), frame.len());
    }
    // What is left, written length-prefixed and read back, is the same bytes.
    let rest = r.take_rest();
    let mut out = Vec::new();
    let mut w = Writer::new(&mut out, 1 << 16);
    let written = w
        .reserve_u16_be()
        .and_then(|len| w.put_bytes(rest).and_then(|()| w.patch_len(len)));
    assert_eq!(written, Ok(rest.len()));
    let mut back = Reader::new(&out);
    let n = back.u16_be().map(usize::from);
    assert_eq!(n, Ok(rest.len()));
    assert_eq!(back.take(rest.len()), Ok(rest));
    assert!(back.is_empty());
});
