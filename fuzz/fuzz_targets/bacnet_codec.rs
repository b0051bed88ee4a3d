//! The BVLC/NPDU decoder and the tag codec alone: any bytes decode or fail cleanly, and a
//! decoded value encodes back to something that decodes to it.
#![no_main]

use conpot_bacnet::{frame, tag};
use conpot_core::wire::Reader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = frame::decode(data);
    let mut r = Reader::new(data);
    let _ = frame::confirmed(&mut Reader::new(data));
    while let Ok(v) = tag::read_app_value(&mut r) {
        let mut b = Vec::new();
        tag::put_value(&mut b, &v);
        let back = tag::read_app_value(&mut Reader::new(&b)).unwrap();
        if !matches!(v, tag::Value::Real(f) if f.is_nan()) && !matches!(v, tag::Value::Double(f) if f.is_nan()) {
            assert_eq!(back, v);
        }
    }
});
