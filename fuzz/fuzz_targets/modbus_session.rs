//! Arbitrary bytes through a Modbus/TCP session (framing, routing, every function).
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::drive::Driver;
use conpot_modbus::ModbusService;
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = r#"
[template]
unit = "fuzz"
vendor = "fuzz"
[databus]
coils = { expr = "[0 for b in range(64)]" }
holding = { expr = "[0 for b in range(64)]" }
[protocols.modbus]
port = 0
mode = "gateway"
[protocols.modbus.identification]
vendor_name = "V"
product_code = "P"
revision = "R"
product_name = "N"
[[protocols.modbus.slaves]]
id = 1
blocks = [
  { table = "coils", start = 0, size = 64, key = "coils" },
  { table = "holding_registers", start = 0, size = 64, key = "holding" },
]
"#;

fn service() -> &'static ModbusService {
    static SVC: OnceLock<ModbusService> = OnceLock::new();
    SVC.get_or_init(|| {
        let (d, section) = conpot_core::drive::device_and_section(TEMPLATE, "modbus").unwrap();
        ModbusService::build(&section, &d).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::UNIX_EPOCH;
    let (mut d, _) = Driver::tcp(service(), 502, now);
    d.input(data, now);
    assert!(d.buffered().len() <= data.len());
    d.eof(now);
});
