//! Arbitrary datagrams through the TFTP packet parser, and netascii both ways.
#![no_main]

use conpot_tftp::wire::{MAX_OPTIONS, Packet, from_netascii, parse, to_netascii};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Packet::Rrq(r) | Packet::Wrq(r)) = parse(data) {
        assert!(r.options.len() <= MAX_OPTIONS);
    }
    assert_eq!(from_netascii(&to_netascii(data)), data);
    let _ = from_netascii(data);
});
