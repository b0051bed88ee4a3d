//! Guardian AST / Veeder-Root TLS-350 automatic tank gauge for conpot-rs: the console's
//! command port (TCP 10001) with its tanks.
//!
//! `command` decodes commands (`SOH`, a six-character code, data) and `reply` the
//! console's answers: both are public so the proxy decodes relayed gauge traffic with
//! the same parser; `events` builds the events of both, and `relay` pairs a relayed
//! client's commands with a real gauge's answers into those events. `tanks` models the
//! tanks (levels, deliveries, temperatures as functions of time), `console` holds the
//! settings commands change and answers each command, `display` and `computer` write the
//! two answer formats, `session` is one connection and `config` reads the template.
//! Nothing here does I/O or reads a clock.

pub mod command;
pub mod computer;
pub mod config;
pub mod console;
pub mod display;
pub mod events;
pub mod relay;
pub mod reply;
pub mod session;
pub mod tanks;

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use console::{Console, ConsoleConfig};

/// The tank gauge service of one device.
#[derive(Debug, Clone)]
pub struct GuardianService {
    console: Arc<Console>,
}

impl GuardianService {
    /// Builds the service from a template section for `device`.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let config = config::build(section, device)?;
        Ok(GuardianService {
            console: Arc::new(Console::new(config, Arc::clone(&device.databus))),
        })
    }

    /// The console behind the service.
    pub fn console(&self) -> &Arc<Console> {
        &self.console
    }
}

impl Service for GuardianService {
    fn protocol(&self) -> &'static str {
        "guardian_ast"
    }

    fn response_time(&self) -> (u32, u32) {
        self.console.config.response_time_ms
    }

    fn new_session(&self, _ctx: &SessionCtx) -> Box<dyn Session> {
        Box::new(session::GuardianSession::new(Arc::clone(&self.console)))
    }
}
