//! IPMI over LAN for conpot-rs: a BMC as a sans-IO core.
//!
//! `rmcp` is the wire (RMCP, ASF, the IPMI 1.5 and RMCP+ session wrappers, IPMI
//! messages); `crypto` the RMCP+ algorithms and cipher suites; `session` the sessions of
//! one source (IPMI 1.5 activation, Open Session and RAKP 1-4, integrity and AES);
//! `commands` the commands a BMC answers; `bmc` the state all sources share (power, boot
//! device, user slots, SEL, the session bound); `sensors` sensor records and readings;
//! `config` builds the BMC from a native or Conpot template.

pub mod bmc;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod rmcp;
pub mod sensors;
pub mod session;

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::event::Transport;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use bmc::{Bmc, BmcConfig};
pub use session::IpmiSession;

/// The IPMI service of one device.
#[derive(Debug)]
pub struct IpmiService {
    bmc: Arc<Bmc>,
}

impl IpmiService {
    /// Builds the service from a template section for `device`.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let config = config::build(section, device)?;
        Ok(IpmiService {
            bmc: Arc::new(Bmc::new(config, Arc::clone(&device.databus), &device.auth, device.boot)),
        })
    }

    /// The BMC behind the service.
    pub fn bmc(&self) -> &Arc<Bmc> {
        &self.bmc
    }
}

impl Service for IpmiService {
    fn protocol(&self) -> &'static str {
        bmc::PROTOCOL
    }

    fn transports(&self) -> &'static [Transport] {
        &[Transport::Udp]
    }

    fn new_session(&self, ctx: &SessionCtx) -> Box<dyn Session> {
        Box::new(IpmiSession::new(Arc::clone(&self.bmc), ctx.peer.ip()))
    }
}
