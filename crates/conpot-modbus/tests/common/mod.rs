//! Helpers shared by the Modbus tests: a device from a small template.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![allow(dead_code)]

use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::persona::Persona;
use conpot_core::rng::Rng;
use conpot_core::template::Template;
use conpot_modbus::ModbusService;

/// A template with one device-mode slave, or a gateway with slaves 1 and 2.
pub fn template(mode: &str) -> String {
    format!(
        r#"
[template]
unit = "S7-300"
vendor = "Siemens"
[persona]
vendor = "Siemens"
order_code = "6ES7 315-2EH14-0AB0"
firmware = "V3.2.8"
info = "SIMATIC S7-300"
[databus]
coils = [0, 1, 0, 1, 1, 0, 0, 0, 1, 1]
inputs = {{ expr = "[1 for b in range(16)]" }}
holding = [10, 20, 30, 40, 65535, 7]
analog = {{ emulator = "drift", len = 4, min = 100, max = 200, period = 60 }}
gw_holding = [1, 2, 3]
[protocols.modbus]
port = 0
mode = "{mode}"
[protocols.modbus.identification]
vendor_name = "{{persona.vendor}}"
product_code = "{{persona.order_code}}"
revision = "{{persona.firmware}}"
[protocols.modbus.server_id]
id = "{{persona.info}}"
[[protocols.modbus.slaves]]
id = {first}
blocks = [
  {{ table = "coils", start = 0, size = 10, key = "coils" }},
  {{ table = "discrete_inputs", start = 100, size = 16, key = "inputs" }},
  {{ table = "holding_registers", start = 0, size = 8, key = "holding" }},
  {{ table = "input_registers", start = 0, size = 4, key = "analog" }},
]
[[protocols.modbus.slaves]]
id = 2
blocks = [{{ table = "holding_registers", start = 0, size = 3, key = "gw_holding" }}]
"#,
        first = if mode == "gateway" { 1 } else { 255 }
    )
}

/// Where the in-memory test sessions run.
#[allow(dead_code)]
pub fn ctx() -> conpot_core::protocol::SessionCtx {
    conpot_core::protocol::SessionCtx {
        transport: conpot_core::event::Transport::Tcp,
        peer: "127.0.0.1:1".parse().unwrap(),
        local: "127.0.0.1:2".parse().unwrap(),
    }
}

/// A device and its Modbus service built from `text`.
pub fn service_from(text: &str) -> (Device, ModbusService) {
    let t = Template::from_toml("test", text).expect("template loads");
    let persona: Persona = t.persona.generate("test", 1);
    let device = Device::build(&t, persona, SystemTime::now(), &mut Rng::from_seed(1)).expect("device builds");
    let svc = ModbusService::build(&t.protocols["modbus"], &device).expect("modbus builds");
    (device, svc)
}

/// The default-mode test service.
pub fn service(mode: &str) -> (Device, ModbusService) {
    service_from(&template(mode))
}

pub fn device_of(svc: &ModbusService) -> Arc<conpot_modbus::ModbusDevice> {
    Arc::clone(svc.device())
}
