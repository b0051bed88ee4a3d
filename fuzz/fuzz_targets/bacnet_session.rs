//! Arbitrary datagrams through one source's BACnet session (BVLC, NPDU, every APDU type
//! and service), split at 0xFE bytes so segmented answers and Segment-ACKs interleave.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_bacnet::BacnetService;
use conpot_core::drive::Driver;
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = r#"
[template]
unit = "VAV"
vendor = "Fuzz"
[persona]
hostname = "vav-1"
[protocols.bacnet]
port = 47808
[[protocols.bacnet.objects]]
type = "analog-input"
instance = 1
name = "AI 1"
value = 20.5
[[protocols.bacnet.objects]]
type = "analog-output"
instance = 2
name = "AO 2"
[[protocols.bacnet.objects]]
type = "multi-state-value"
instance = 3
name = "MSV 3"
states = ["a", "b"]
"#;

fn service() -> &'static BacnetService {
    static S: OnceLock<BacnetService> = OnceLock::new();
    S.get_or_init(|| {
        let (d, section) = conpot_core::drive::device_and_section(TEMPLATE, "bacnet").unwrap();
        BacnetService::build(&section, &d).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::UNIX_EPOCH;
    let (mut d, _) = Driver::udp(service(), 47808, now);
    for datagram in data.split(|b| *b == 0xFE).take(16) {
        d.reply_limit = (datagram.len() * 8).max(64);
        let step = d.input(datagram, now);
        assert!(step.bytes.len() <= d.reply_limit);
    }
});
