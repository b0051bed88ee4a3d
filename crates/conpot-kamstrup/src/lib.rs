//! Kamstrup 382 for conpot-rs: the smart electricity meter Conpot's `kamstrup_382`
//! template imitates, on its two TCP ports.
//!
//! `kmp` is the KMP wire format (framing, stuffing, CRC, the commands and their replies)
//! and the decode API a proxy shares; `meter` the simulated meter (registers, consumption
//! profile, clock, logs); `session` one KMP connection; `config` builds the meter from a
//! native or Conpot template; `console` the management console on port 50100, written in
//! conpot-telnet's console language. Nothing here does I/O or reads a clock.

pub mod config;
pub mod console;
pub mod kmp;
pub mod meter;
pub mod session;

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use console::ManagementService;
pub use meter::{Meter, MeterConfig};

/// The KMP meter service (`kamstrup_meter`, TCP 1025) of one device.
#[derive(Debug, Clone)]
pub struct MeterService {
    meter: Arc<Meter>,
}

impl MeterService {
    /// Builds the service from a template section for `device`.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let config = config::build(section, device)?;
        Ok(MeterService {
            meter: Arc::new(Meter::new(config, Arc::clone(&device.databus), device.boot)),
        })
    }

    /// The meter behind the service.
    pub fn meter(&self) -> &Arc<Meter> {
        &self.meter
    }
}

impl Service for MeterService {
    fn protocol(&self) -> &'static str {
        "kamstrup_meter"
    }

    fn response_time(&self) -> (u32, u32) {
        self.meter.config.response_time_ms
    }

    fn new_session(&self, _ctx: &SessionCtx) -> Box<dyn Session> {
        Box::new(session::KmpSession::new(Arc::clone(&self.meter)))
    }
}
