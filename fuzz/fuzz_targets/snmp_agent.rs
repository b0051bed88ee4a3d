//! Arbitrary datagrams through the SNMP agent (community, USM, every PDU type).
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::drive::Driver;
use conpot_snmp::SnmpService;
use libfuzzer_sys::fuzz_target;

const DEFAULT: &str = include_str!("../../templates/default/template.toml");

fn service() -> &'static SnmpService {
    static S: OnceLock<SnmpService> = OnceLock::new();
    S.get_or_init(|| {
        let (d, section) = conpot_core::drive::device_and_section(DEFAULT, "snmp").unwrap();
        SnmpService::build(&section, &d).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::UNIX_EPOCH;
    let (mut d, _) = Driver::udp(service(), 161, now);
    d.reply_limit = data.len() * 8 + 64;
    let step = d.input(data, now);
    assert!(step.bytes.len() <= d.reply_limit);
});
