//! The one place that knows every protocol: from a template section to a service.

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::protocol::StreamService;
use conpot_core::template::{ProtocolSection, TemplateError};

/// A built protocol service.
pub enum Service {
    /// Served over TCP.
    Stream(Arc<dyn StreamService>),
    /// Served over UDP.
    Datagram(Arc<dyn conpot_core::udp::DatagramService>),
}

/// Builds the service of `section`; `None` if the protocol is not implemented.
pub fn build(section: &ProtocolSection, device: &Device) -> Option<Result<Service, Vec<TemplateError>>> {
    match section.name.as_str() {
        "modbus" => Some(conpot_modbus::ModbusService::build(section, device).map(|s| Service::Stream(Arc::new(s)))),
        "s7comm" => Some(conpot_s7::S7Service::build(section, device).map(|s| Service::Stream(Arc::new(s)))),
        "snmp" => Some(conpot_snmp::SnmpService::build(section, device).map(|s| Service::Datagram(Arc::new(s)))),
        _ => None,
    }
}
