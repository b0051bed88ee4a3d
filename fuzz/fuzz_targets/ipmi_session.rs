//! Arbitrary datagrams through one source's IPMI sessions (RMCP, ASF, IPMI 1.5, RMCP+),
//! split at 0xFE bytes into a sequence so handshakes can progress.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use conpot_core::drive::Driver;
use conpot_ipmi::IpmiService;
use libfuzzer_sys::fuzz_target;

const IPMI: &str = include_str!("../../templates/ipmi/template.toml");

fn service() -> &'static IpmiService {
    static S: OnceLock<IpmiService> = OnceLock::new();
    S.get_or_init(|| {
        let (d, section) = conpot_core::drive::device_and_section(IPMI, "ipmi").unwrap();
        IpmiService::build(&section, &d).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut now = SystemTime::UNIX_EPOCH;
    let (mut d, _) = Driver::udp(service(), 623, now);
    for datagram in data.split(|b| *b == 0xFE).take(16) {
        d.reply_limit = datagram.len() * 8 + 64;
        let step = d.input(datagram, now);
        assert!(step.bytes.len() <= d.reply_limit);
        now += Duration::from_millis(700);
        d.advance(now);
    }
});
