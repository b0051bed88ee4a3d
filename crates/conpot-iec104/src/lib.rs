//! IEC 60870-5-104 for conpot-rs: a controlled station (substation RTU) on TCP 2404.
//!
//! `apci` frames I, S and U frames with their sequence numbers, `asdu` the data unit
//! identifier and time tags, `station` the points and commands and the answers to each
//! request, `session` the connection's state machine with its timers, and `config` builds
//! a station from a native or Conpot template. Nothing here does I/O or reads a clock.

pub mod apci;
pub mod asdu;
pub mod config;
pub mod session;
pub mod station;

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use station::{Station, StationConfig};

/// The IEC 104 service of one device.
#[derive(Debug, Clone)]
pub struct Iec104Service {
    station: Arc<Station>,
}

impl Iec104Service {
    /// Builds the service from a template section for `device`.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let config = config::build(section, device)?;
        Ok(Iec104Service {
            station: Arc::new(Station {
                config,
                databus: Arc::clone(&device.databus),
            }),
        })
    }

    /// The station behind the service.
    pub fn station(&self) -> &Arc<Station> {
        &self.station
    }
}

impl Service for Iec104Service {
    fn protocol(&self) -> &'static str {
        "IEC104"
    }

    fn response_time(&self) -> (u32, u32) {
        self.station.config.response_time_ms
    }

    fn new_session(&self, _ctx: &SessionCtx) -> Box<dyn Session> {
        Box::new(session::Iec104Session::new(Arc::clone(&self.station)))
    }
}
