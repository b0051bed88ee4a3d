//! TFTP for conpot-rs (RFC 1350 with option negotiation, RFC 2347; block size, 2348;
//! timeout and transfer size, 2349; window size, 7440), served on the device's virtual
//! filesystem.
//!
//! `wire` parses and builds packets, `config` reads the template, `session` runs the
//! transfers of one client address, each from its own port
//! ([`IoRequest::NewUdpPort`](conpot_core::protocol::IoRequest)), with retransmission
//! on the session's deadline. Nothing here does I/O.

pub mod config;
pub mod session;
pub mod wire;

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::event::Transport;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use config::TftpConfig;
pub use session::TftpSession;

/// What every session of one device's TFTP server shares.
pub type Shared = conpot_core::vfs::Served<TftpConfig>;

impl conpot_core::vfs::Rooted for TftpConfig {
    fn root(&self) -> &str {
        &self.root
    }
}

/// The TFTP service of one device.
#[derive(Debug, Clone)]
pub struct TftpService {
    shared: Arc<Shared>,
}

impl TftpService {
    /// Builds the service from a template section for `device`; the configured root must
    /// be a directory of the device's filesystem.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let config = config::build(section, device)?;
        let shared = Arc::new(Shared::from_section(config, section, device)?);
        Ok(TftpService { shared })
    }

    /// The service with `config` for `device`.
    pub fn with_config(config: TftpConfig, device: &Device) -> Result<Self, conpot_core::vfs::VfsError> {
        let shared = Arc::new(Shared::at_root(config, device)?);
        Ok(TftpService { shared })
    }

    /// The shared state.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Service for TftpService {
    fn protocol(&self) -> &'static str {
        "tftp"
    }

    fn transports(&self) -> &'static [Transport] {
        &[Transport::Udp]
    }

    fn new_session(&self, ctx: &SessionCtx) -> Box<dyn Session> {
        Box::new(TftpSession::new(Arc::clone(&self.shared), *ctx))
    }
}
