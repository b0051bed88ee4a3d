//! EtherNet/IP and CIP for conpot-rs, one service on TCP and UDP 44818.
//!
//! `wire` frames encapsulation messages and CPF items, `cip` reads Message Router
//! requests and writes replies, `device` holds the objects (Identity, Message Router,
//! TCP/IP Interface, Ethernet Link), `connection` the Connection Manager's connections,
//! `tags` and `logix` the tags and their services, `structs` the STRING and user-defined
//! structure types the Template object describes, `session` turns bytes into replies and
//! events, and `config` builds a device from a native or Conpot template. Nothing here
//! does I/O.

pub mod cip;
pub mod config;
pub mod connection;
pub mod device;
pub mod logix;
pub mod session;
pub mod structs;
pub mod tags;
pub mod wire;

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::event::Transport;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use device::{EnipConfig, EnipDevice, Identity, Network};

/// The EtherNet/IP service of one device.
#[derive(Debug, Clone)]
pub struct EnipService {
    device: Arc<EnipDevice>,
}

impl EnipService {
    /// Builds the service from a template section for `device`.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let config = config::build(section, device)?;
        Ok(EnipService {
            device: Arc::new(EnipDevice::new(config, Arc::clone(&device.databus))),
        })
    }

    /// The device behind the service.
    pub fn device(&self) -> &Arc<EnipDevice> {
        &self.device
    }
}

impl Service for EnipService {
    fn protocol(&self) -> &'static str {
        "enip"
    }

    fn transports(&self) -> &'static [Transport] {
        &[Transport::Tcp, Transport::Udp]
    }

    fn response_time(&self) -> (u32, u32) {
        self.device.config.response_time_ms
    }

    fn new_session(&self, ctx: &SessionCtx) -> Box<dyn Session> {
        let seed = conpot_core::rng::with_thread_rng(|r| r.next_u64()) as u32;
        Box::new(session::EnipSession::new(Arc::clone(&self.device), ctx, seed))
    }
}
