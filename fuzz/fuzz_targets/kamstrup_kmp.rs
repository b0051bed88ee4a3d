//! Decodes arbitrary bytes as a KMP frame and as every command's request and response
//! payload, re-encoding what decodes: nothing may panic, and a decoded frame round-trips.
#![no_main]

use conpot_kamstrup::kmp::{self, Request, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = kmp::decode_frame(data) {
        let _ = kmp::describe(&f);
        if kmp::decode_frame(&kmp::encode_frame(&f)).ok().as_ref() != Some(&f) {
            std::process::abort();
        }
    }
    let _ = kmp::scan(data, kmp::Direction::Request);
    let (command, payload) = data.split_first().map_or((0, data), |(c, p)| (*c, p));
    if let Ok(r) = Request::parse(command, payload) {
        let _ = Request::parse(r.command(), &r.payload());
    }
    if let Ok(r) = Response::parse(command, payload) {
        let _ = Response::parse(command, &r.payload(4096));
    }
});
