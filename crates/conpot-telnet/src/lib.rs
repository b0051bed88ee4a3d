//! Telnet for conpot-rs: the consoles of devices that real attackers brute-force first.
//!
//! `codec` reads the Telnet stream (RFC 854/855) and writes data, verbs and
//! subnegotiations; `options` negotiates by RFC 1143's Q method; `text` holds console
//! texts with their placeholders; `console` the model of a console and its command
//! matching; `config` builds one from a template (embedded consoles in `consoles/`);
//! `session` runs a connection. Nothing here does I/O.

pub mod codec;
pub mod config;
pub mod console;
pub mod options;
pub mod session;
pub mod text;

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use console::Console;
pub use session::TelnetSession;

/// The Telnet console service of one device.
#[derive(Debug, Clone)]
pub struct TelnetService {
    shared: Arc<session::Shared>,
}

impl TelnetService {
    /// Builds the service from a template section for `device`.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let console = config::build(section, device)?;
        Ok(TelnetService {
            shared: Arc::new(session::shared(console, device.clone())),
        })
    }

    /// A service serving `console` for `device` (a console built elsewhere, e.g. with
    /// [`config::from_table`]).
    pub fn from_console(console: Console, device: &Device) -> Self {
        TelnetService {
            shared: Arc::new(session::shared(console, device.clone())),
        }
    }

    /// The console served.
    pub fn console(&self) -> &Console {
        &self.shared.console
    }
}

impl Service for TelnetService {
    fn protocol(&self) -> &'static str {
        "telnet"
    }

    fn new_session(&self, ctx: &SessionCtx) -> Box<dyn Session> {
        Box::new(TelnetSession::new(Arc::clone(&self.shared), ctx))
    }
}
