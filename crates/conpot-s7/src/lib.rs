//! S7comm over ISO-on-TCP for conpot-rs: the stack of a Siemens S7 CPU as a sans-IO core.
//!
//! `wire` frames TPKT, COTP and S7 PDUs; `szl` builds the system status lists from the
//! persona; `memory` maps the CPU's areas onto the databus; `blocks` holds the program
//! blocks; `device` is the CPU every connection shares (mode, clock, protection);
//! `session` is one connection's COTP state machine and dispatch, handing each request
//! with its `context` to the `job` and `userdata` handlers (one file per function
//! group); `plus` answers S7CommPlus session setup; `observe` logs relayed
//! traffic (a proxy in front of a real CPU) in the emulated CPU's event schemas; `config` builds a CPU from a native
//! or Conpot template.

pub mod blocks;
pub mod config;
mod context;
pub mod device;
mod job;
pub mod memory;
pub mod observe;
pub mod plus;
pub mod session;
pub mod szl;
mod userdata;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use conpot_core::Device;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use device::{S7Config, S7Device};

/// The S7comm service of one device.
#[derive(Debug)]
pub struct S7Service {
    device: Arc<S7Device>,
    next_ref: AtomicU16,
}

impl S7Service {
    /// Builds the service from a template section for `device`.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let config = config::build(section, device)?;
        let start = (device.persona.seed as u16) | 0x0040;
        Ok(S7Service {
            device: Arc::new(S7Device::new(config, Arc::clone(&device.databus), &device.auth)),
            next_ref: AtomicU16::new(start),
        })
    }

    /// The CPU behind the service.
    pub fn device(&self) -> &Arc<S7Device> {
        &self.device
    }
}

impl Service for S7Service {
    fn protocol(&self) -> &'static str {
        "s7comm"
    }

    fn response_time(&self) -> (u32, u32) {
        self.device.config.response_time_ms
    }

    fn new_session(&self, ctx: &SessionCtx) -> Box<dyn Session> {
        let r = self.next_ref.fetch_add(1, Ordering::Relaxed);
        Box::new(session::S7Session::new(Arc::clone(&self.device), r).with_peer(ctx.peer.ip()))
    }
}

/// Decodes hex text in tests.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    conpot_core::hex::decode(s).unwrap_or_default()
}
