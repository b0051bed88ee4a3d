//! Feeds arbitrary bytes to an IEC 104 session, started or not, and fires its timers:
//! nothing may panic.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use conpot_core::drive::{Driver, device_and_section};
use conpot_iec104::Iec104Service;
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = include_str!("../../templates/IEC104/template.toml");

fn service() -> &'static Iec104Service {
    static SVC: OnceLock<Iec104Service> = OnceLock::new();
    SVC.get_or_init(|| {
        let (device, section) = device_and_section(TEMPLATE, "IEC104").unwrap_or_else(|_| std::process::abort());
        Iec104Service::build(&section, &device).unwrap_or_else(|_| std::process::abort())
    })
}

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::UNIX_EPOCH;
    let (mut d, _) = Driver::tcp(service(), 2404, now);
    if data.first().is_some_and(|b| b & 1 == 1) {
        d.input(&[0x68, 4, 0x07, 0, 0, 0], now);
    }
    d.input(data.get(1..).unwrap_or_default(), now);
    d.advance(now + Duration::from_secs(11));
    d.advance(now + Duration::from_secs(40));
    d.eof(now);
});
