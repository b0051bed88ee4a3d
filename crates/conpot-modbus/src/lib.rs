//! Modbus/TCP for conpot-rs.
//!
//! `wire` frames ADUs, `pdu` parses requests and holds the responses (which encode and
//! describe themselves), `device` executes requests over the persona's databus,
//! `session` turns bytes into replies and events, and `config` builds a server from a
//! native or Conpot template. Nothing here does I/O.

pub mod config;
pub mod device;
pub mod pdu;
pub mod session;
pub mod wire;

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use device::{ModbusConfig, ModbusDevice, Mode};

/// The Modbus/TCP service of one device.
#[derive(Debug, Clone)]
pub struct ModbusService {
    device: Arc<ModbusDevice>,
}

impl ModbusService {
    /// Builds the service from a template section for `device`.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let config = config::build(section, device)?;
        Ok(ModbusService {
            device: Arc::new(ModbusDevice::new(config, Arc::clone(&device.databus))),
        })
    }

    /// The server behind the service.
    pub fn device(&self) -> &Arc<ModbusDevice> {
        &self.device
    }
}

impl Service for ModbusService {
    fn protocol(&self) -> &'static str {
        "modbus"
    }

    fn response_time(&self) -> (u32, u32) {
        self.device.config.response_time_ms
    }

    fn new_session(&self, _ctx: &SessionCtx) -> Box<dyn Session> {
        Box::new(session::ModbusSession::new(Arc::clone(&self.device)))
    }
}
