//! Arbitrary bytes through the Modbus PDU parser and MBAP framer.
#![no_main]

use conpot_modbus::{pdu::Request, wire};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Request::parse(data) {
        let _ = r.to_json();
        assert_eq!(Some(&r.function()), data.first());
    }
    let _ = wire::frame(data);
});
