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

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::event::Transport;
use conpot_core::protocol::{Output, Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

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

impl Service for SnmpService {
    fn protocol(&self) -> &'static str {
        "snmp"
    }

    fn transports(&self) -> &'static [Transport] {
        &[Transport::Udp]
    }

    fn response_time(&self) -> (u32, u32) {
        self.agent.config.response_time_ms
    }

    fn new_session(&self, ctx: &SessionCtx) -> Box<dyn Session> {
        Box::new(SnmpSession {
            agent: Arc::clone(&self.agent),
            source: ctx.peer.ip(),
            logged_in: Vec::new(),
        })
    }
}

/// The datagrams of one source, handed to the shared agent (USM's engine state is the
/// agent's). The session remembers which users this source has logged in as, so an
/// SNMPv3 walk records its successful login once rather than once per message; every
/// failed attempt is recorded.
#[derive(Debug)]
pub struct SnmpSession {
    agent: Arc<Agent>,
    /// The source address, whose login attempts are counted.
    source: IpAddr,
    /// Users (name, method) whose successful login this session has recorded.
    logged_in: Vec<(serde_json::Value, serde_json::Value)>,
}

/// Users remembered per session; beyond, successes are recorded again.
const MAX_LOGGED_IN: usize = 16;

impl SnmpSession {
    /// Whether `event` repeats a successful login already recorded for this source.
    fn repeats_login(&mut self, event: &conpot_core::event::EventDraft) -> bool {
        if event.event_type != conpot_core::auth::attempt::EVENT_TYPE
            || event.body.data.get("success") != Some(&serde_json::Value::Bool(true))
        {
            return false;
        }
        let field = |k| event.body.data.get(k).cloned().unwrap_or(serde_json::Value::Null);
        let key = (field("username"), field("method"));
        if self.logged_in.contains(&key) {
            return true;
        }
        if self.logged_in.len() < MAX_LOGGED_IN {
            self.logged_in.push(key);
        }
        false
    }
}

impl Session for SnmpSession {
    fn on_input(&mut self, datagram: &[u8], now: SystemTime, out: &mut Output) -> usize {
        let max_reply = out.reply_limit.unwrap_or(MAX_REPLY);
        let (reply, events) = self.agent.handle_from(datagram, self.source, now, max_reply);
        for event in events {
            if !self.repeats_login(&event) {
                out.events.push(event);
            }
        }
        if let Some(reply) = reply {
            out.bytes.extend_from_slice(&reply);
        }
        datagram.len()
    }
}

/// The largest reply when the listener sets no limit (the largest UDP payload).
const MAX_REPLY: usize = 65_507;
