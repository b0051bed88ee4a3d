//! HTTP/1.1 and 1.0 for conpot-rs: the device's web interface.
//!
//! `request` parses requests from the connection's bytes (bounded, pipelining-aware),
//! `target` takes the request target apart (absolute form, percent-decoding, `..` kept
//! at the root), `site` holds the device's pages and answers a request, `page` fills
//! live values into pages, `response` writes the answer with a live `Date`, `session`
//! ties them to a connection with one event per request, and `config` builds a site from
//! a native or Conpot template. Nothing here does I/O.

pub mod basic;
pub mod config;
pub mod digest;
pub mod files;
pub mod login;
pub mod page;
pub mod request;
pub mod response;
pub mod session;
pub mod site;
pub mod target;

use std::sync::Arc;

use conpot_core::Device;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{FileSource, ProtocolSection, TemplateError};

pub use site::Site;

/// The HTTP service of one device.
#[derive(Debug, Clone)]
pub struct HttpService {
    site: Arc<Site>,
    device: Arc<Device>,
}

impl HttpService {
    /// Builds the service from a template section for `device`; page files are read from
    /// the template's `source`.
    pub fn build(section: &ProtocolSection, device: &Device, source: &FileSource) -> Result<Self, Vec<TemplateError>> {
        let site = config::build(section, device, source)?;
        Ok(HttpService {
            site: Arc::new(site),
            device: Arc::new(device.clone()),
        })
    }

    /// The site served.
    pub fn site(&self) -> &Arc<Site> {
        &self.site
    }
}

impl Service for HttpService {
    fn protocol(&self) -> &'static str {
        "http"
    }

    fn response_time(&self) -> (u32, u32) {
        self.site.response_time_ms
    }

    fn new_session(&self, ctx: &SessionCtx) -> Box<dyn Session> {
        Box::new(session::HttpSession::new(
            Arc::clone(&self.site),
            Arc::clone(&self.device),
            ctx.peer.ip(),
        ))
    }
}
