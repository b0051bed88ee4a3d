//! Feeds arbitrary bytes to an EtherNet/IP session over TCP (registered first, so the
//! CIP objects are reached) and over UDP: nothing may panic.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::drive::{Driver, device_and_section};
use conpot_enip::EnipService;
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = include_str!("../../templates/logix/template.toml");

fn service() -> &'static EnipService {
    static SVC: OnceLock<EnipService> = OnceLock::new();
    SVC.get_or_init(|| {
        let (device, section) = device_and_section(TEMPLATE, "enip").unwrap_or_else(|_| std::process::abort());
        EnipService::build(&section, &device).unwrap_or_else(|_| std::process::abort())
    })
}

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::UNIX_EPOCH;
    let svc = service();
    let (mut tcp, _) = Driver::tcp(svc, 44818, now);
    let register = [0x65, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
    let reply = tcp.input(&register, now).bytes;
    // Put the registered handle into the fuzzed message, so SendRRData reaches CIP.
    let mut input = data.to_vec();
    if input.len() >= 8 && reply.len() >= 8 {
        input[4..8].copy_from_slice(&reply[4..8]);
    }
    tcp.input(&input, now);
    tcp.eof(now);
    let (mut udp, _) = Driver::udp(svc, 44818, now);
    udp.input(data, now);
});
