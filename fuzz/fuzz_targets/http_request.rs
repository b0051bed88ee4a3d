//! Arbitrary bytes through the HTTP request parser and target normalisation: never a
//! panic, never more consumed than given, a body never over the limit, and a decoded path
//! never climbs above the root.
#![no_main]

use conpot_http::request::{Limits, Parsed, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Parsed::Complete { request, used } = parse(data, &limits) {
        assert!(used <= data.len());
        assert!(request.body.len() <= limits.max_body);
        if let Ok(t) = conpot_http::target::parse(&request.target) {
            assert!(t.path.starts_with('/'));
            assert!(!t.path.split('/').any(|s| s == ".." || s == "."));
        }
    }
});
