//! The CIP codec alone: request parsing, EPATH segments and reply encoding.
#![no_main]

use conpot_core::wire::Reader;
use conpot_enip::cip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = cip::read_request(data) {
        let _ = cip::logical(&req.path);
        let reply = cip::Reply::ok(req.service, req.data.to_vec());
        let _ = reply.to_bytes(512);
    }
    let _ = cip::read_segments(&mut Reader::new(data), false);
    let _ = conpot_enip::wire::frame(data);
    let _ = conpot_enip::wire::read_items(&mut Reader::new(data));
});
