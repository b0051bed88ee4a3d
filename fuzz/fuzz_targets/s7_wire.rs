//! Arbitrary bytes through the TPKT, COTP and S7 header decoders.
#![no_main]

use conpot_s7::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let wire::Tpkt::Packet { payload, size } = wire::tpkt(data) {
        assert!(size <= data.len());
        if let Ok(wire::Cotp::Data { payload, .. }) = wire::cotp(payload) {
            let _ = wire::s7(payload);
        }
    }
    let _ = wire::cotp(data);
    if let Ok(p) = wire::s7(data) {
        assert!(p.param.len() + p.data.len() <= data.len());
    }
});
