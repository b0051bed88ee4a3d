//! Arbitrary bytes through the Modbus RTU framer (both directions) and the emulated serial
//! slave, plain and behind RFC 2217, exactly as the listener drives a session.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::drive::Driver;
use conpot_serial::SerialService;
use conpot_serial::rtu::{Direction, Framed, MAX_FRAME, frame};
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = r#"
[template]
unit = "fuzz"
vendor = "fuzz"
[databus]
holding = [0, 0, 0, 0, 0, 0, 0, 0]
coils = [0, 0, 0, 0, 0, 0, 0, 0]
[protocols.serial]
port = 0
[[protocols.serial.modbus.slaves]]
id = 1
blocks = [
  { table = "holding_registers", start = 0, size = 8, key = "holding" },
  { table = "coils", start = 0, size = 8, key = "coils" },
]
"#;

fn services() -> &'static [SerialService; 2] {
    static SVC: OnceLock<[SerialService; 2]> = OnceLock::new();
    SVC.get_or_init(|| {
        let build = |t: &str| {
            let (d, section) = conpot_core::drive::device_and_section(t, "serial").unwrap();
            SerialService::build(&section, &d).unwrap()
        };
        [build(TEMPLATE), build(&TEMPLATE.replace("port = 0", "port = 0\nrfc2217 = true"))]
    })
}

fuzz_target!(|data: &[u8]| {
    for dir in [Direction::Request, Direction::Response] {
        if let Framed::Frame { size, .. } | Framed::BadCrc { size } = frame(data, dir) {
            assert!(size <= data.len() && size <= MAX_FRAME);
        }
    }
    let now = SystemTime::UNIX_EPOCH;
    for svc in services() {
        let (mut d, _) = Driver::tcp(svc, 4001, now);
        d.input(data, now);
        assert!(d.buffered().is_empty());
        d.advance(now + std::time::Duration::from_secs(1));
        d.eof(now);
    }
});
