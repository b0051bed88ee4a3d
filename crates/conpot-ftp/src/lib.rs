//! FTP for conpot-rs (RFC 959 with 2228's AUTH refused, 2389 FEAT, 2428 EPSV/EPRT, 3659
//! SIZE/MDTM/MLSD/MLST and 2640 UTF8), served on the device's virtual filesystem with
//! its central authentication.
//!
//! `command` cuts and parses the control connection's lines, `reply` formats replies,
//! `listing` renders listings and times, `config` reads the template, `session` is the
//! state machine, and `transfer` moves file bytes over data channels the listener opens
//! on the session's behalf ([`IoRequest`](conpot_core::protocol::IoRequest)s). Nothing
//! here does I/O.

pub mod command;
pub mod config;
pub mod listing;
pub mod reply;
pub mod session;
pub mod transfer;

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use config::FtpConfig;
pub use session::FtpSession;

/// What every session of one device's FTP server shares.
pub type Shared = conpot_core::vfs::Served<FtpConfig>;

impl conpot_core::vfs::Rooted for FtpConfig {
    fn root(&self) -> &str {
        &self.root
    }
}

/// The FTP service of one device.
#[derive(Debug, Clone)]
pub struct FtpService {
    shared: Arc<Shared>,
}

impl FtpService {
    /// Builds the service from a template section for `device`; the configured root must
    /// be a directory of the device's filesystem.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let config = config::build(section, device)?;
        let shared = Arc::new(Shared::from_section(config, section, device)?);
        Ok(FtpService { shared })
    }

    /// The service with `config` for `device`.
    pub fn with_config(config: FtpConfig, device: &Device) -> Result<Self, conpot_core::vfs::VfsError> {
        let shared = Arc::new(Shared::at_root(config, device)?);
        Ok(FtpService { shared })
    }

    /// The shared state (tests and benchmarks look at the configuration).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Service for FtpService {
    fn protocol(&self) -> &'static str {
        "ftp"
    }

    fn new_session(&self, ctx: &SessionCtx) -> Box<dyn Session> {
        Box::new(FtpSession::new(Arc::clone(&self.shared), *ctx))
    }
}
