//! Arbitrary bytes through an S7 session, raw and after a valid COTP connect and setup.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::drive::Driver;
use conpot_s7::S7Service;
use libfuzzer_sys::fuzz_target;

const DEFAULT: &str = include_str!("../../templates/default/template.toml");
const HANDSHAKE: &str = "0300001611e00000001400c1020100c2020102c0010a0300001902f08032010000000000080000f0000001000101e0";

fn service() -> &'static S7Service {
    static SVC: OnceLock<S7Service> = OnceLock::new();
    SVC.get_or_init(|| {
        let (d, section) = conpot_core::drive::device_and_section(DEFAULT, "s7comm").unwrap();
        S7Service::build(&section, &d).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::UNIX_EPOCH;
    let pre = conpot_core::hex::decode(HANDSHAKE).unwrap();
    let with_handshake = data.first().is_some_and(|b| b & 1 == 1);
    let (mut d, _) = Driver::tcp(service(), 102, now);
    if with_handshake {
        d.input(&pre, now);
    }
    d.input(data, now);
    assert!(d.buffered().len() <= data.len());
    d.eof(now);
});
