//! SNMP v1, v2c and v3 for conpot-rs: an agent as a sans-IO core.
//!
//! `ber` reads and writes BER; `message` decodes and encodes messages and PDUs; `usm` is
//! the User-based Security Model (keys, HMAC, DES and AES); `mib` is the ordered MIB view
//! and where values come from; `symbols` names the MIB objects Conpot templates use;
//! `agent` answers requests; `config` builds an agent from a native or Conpot template.

pub mod agent;
pub mod ber;
pub mod config;
pub mod message;
pub mod mib;
pub mod symbols;
pub mod usm;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::template::{ProtocolSection, TemplateError};
use conpot_core::udp::{DatagramOutput, DatagramService};

pub use agent::{Agent, SnmpConfig};

/// The SNMP service of one device.
#[derive(Debug)]
pub struct SnmpService {
    agent: Arc<Agent>,
}

impl SnmpService {
    /// Builds the service from a template section for `device`.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let config = config::build(section, device)?;
        Ok(SnmpService {
            agent: Arc::new(Agent::new(
                config,
                Arc::clone(&device.databus),
                device.boot,
                &device.auth,
            )),
        })
    }

    /// The agent behind the service.
    pub fn agent(&self) -> &Arc<Agent> {
        &self.agent
    }
}

impl DatagramService for SnmpService {
    fn protocol(&self) -> &'static str {
        "snmp"
    }

    fn handle(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
        _local: SocketAddr,
        now: SystemTime,
        max_reply: usize,
    ) -> DatagramOutput {
        let (reply, events) = self.agent.handle_from(datagram, peer.ip(), now, max_reply);
        let delay = conpot_core::protocol::response_delay(self.agent.config.response_time_ms);
        DatagramOutput { reply, events, delay }
    }
}
