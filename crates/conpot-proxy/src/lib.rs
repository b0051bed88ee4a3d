//! Proxy mode for conpot-rs: a listener that relays each connection to an upstream device
//! configured in the template (never an address the attacker names) and logs what passes.
//!
//! `config` reads a native `[protocols.proxy]` table or one `<proxy>` of Conpot's
//! `proxy/proxy.xml`; `session` is one relayed connection (upstream connect through the
//! listener's `IoRequest::Upstream`, bounded holding, timeouts); `decode` turns the bytes
//! of both directions into events with the protocol crates' own parsers (Modbus through
//! `conpot-modbus`, S7comm through `conpot-s7`), raw bytes where nothing decodes. Nothing
//! here does I/O.
//!
//! TLS on either side is the listener's (conpot-net): a `tls` table on the section
//! terminates the client's TLS (conpot's TLS listeners, as for HTTPS), `upstream_tls`
//! makes the listener open the upstream channel through a TLS client
//! ([`Service::upstream_tls`]). The session sees plaintext either way, so the decoders
//! log what TLS hides on the wire.

pub mod config;
pub mod decode;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use conpot_core::Device;
use conpot_core::protocol::{Service, Session, SessionCtx, UpstreamTls};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use config::ProxyConfig;
pub use decode::{Decoder, DecoderKind, Direction};
pub use session::ProxySession;

/// One proxy: a listener's connections relayed to one upstream.
#[derive(Debug)]
pub struct ProxyService {
    config: Arc<ProxyConfig>,
    targets: [SocketAddr; 1],
    active: Arc<AtomicUsize>,
}

impl ProxyService {
    /// Builds the proxy of a template section (the device is not used: a proxy answers
    /// nothing itself).
    pub fn build(section: &ProtocolSection, _device: &Device) -> Result<Self, Vec<TemplateError>> {
        config::build(section).map(Self::new)
    }

    /// The proxy of `config`.
    pub fn new(config: ProxyConfig) -> Self {
        ProxyService {
            targets: [config.upstream],
            config: Arc::new(config),
            active: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The configuration served.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }
}

impl Service for ProxyService {
    fn protocol(&self) -> &'static str {
        "proxy"
    }

    fn new_session(&self, _ctx: &SessionCtx) -> Box<dyn Session> {
        let slot = session::Slot::take(&self.active, self.config.max_connections);
        Box::new(ProxySession::new(Arc::clone(&self.config), slot))
    }

    fn upstream_targets(&self) -> &[SocketAddr] {
        &self.targets
    }

    fn upstream_tls(&self) -> Option<&UpstreamTls> {
        self.config.upstream_tls.as_ref()
    }
}
