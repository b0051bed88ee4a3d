//! Arbitrary bytes through a Modbus/TCP session (framing, routing, every function).
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::protocol::{Output, StreamService};
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
        let t = conpot_core::template::Template::from_toml("fuzz", TEMPLATE).unwrap();
        let p = t.persona.generate("fuzz", 0);
        let d = conpot_core::Device::build(&t, p, SystemTime::UNIX_EPOCH, &mut conpot_core::rng::Rng::from_seed(0)).unwrap();
        ModbusService::build(&t.protocols["modbus"], &d).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let a = "127.0.0.1:1".parse().unwrap();
    let mut s = service().new_session(a, a);
    let mut out = Output::default();
    let mut used = 0;
    while used < data.len() {
        let n = s.on_data(&data[used..], SystemTime::UNIX_EPOCH, &mut out);
        assert!(n <= data.len() - used);
        used += n;
        if n == 0 || out.close {
            break;
        }
    }
    s.on_eof(&data[used..], SystemTime::UNIX_EPOCH, &mut out);
});
