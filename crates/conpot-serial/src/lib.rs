//! The serial device server of conpot-rs (Conpot's alpha planned it and never shipped it):
//! a TCP port in front of a serial line, as an NPort or a Modbus gateway has.
//!
//! `rtu` frames Modbus RTU (CRC-16, lengths by function code, the 3.5-character
//! silence); `session` holds the emulated slave (RTU over TCP answered by the device's
//! Modbus slaves, through `conpot-modbus`'s PDU and device code) and the bridge (the
//! bytes carried to a configured upstream serial server, every frame decoded); `config`
//! reads `[protocols.serial]`. Nothing here does I/O.

pub mod config;
pub mod line;
pub mod rfc2217;
pub mod rtu;
pub mod session;

use std::net::SocketAddr;
use std::sync::Arc;

use conpot_core::Device;
use conpot_core::protocol::{Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};
use conpot_modbus::ModbusDevice;

pub use config::SerialConfig;

/// The serial device server of one device.
#[derive(Debug, Clone)]
pub struct SerialService {
    config: Arc<SerialConfig>,
    device: Option<Arc<ModbusDevice>>,
    upstream: Vec<SocketAddr>,
}

impl SerialService {
    /// Builds the service from a template section for `device`.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let config = config::build(section, device)?;
        let (modbus, upstream) = match &config.mode {
            config::Mode::Emulate(c) => (
                Some(Arc::new(ModbusDevice::new((**c).clone(), Arc::clone(&device.databus)))),
                Vec::new(),
            ),
            config::Mode::Bridge(a) => (None, vec![*a]),
            config::Mode::Device => (None, Vec::new()),
        };
        Ok(SerialService {
            config: Arc::new(config),
            device: modbus,
            upstream,
        })
    }

    /// The configuration served.
    pub fn config(&self) -> &SerialConfig {
        &self.config
    }

    /// The serial device the sensor opens for this service, if the template names one.
    pub fn device_path(&self) -> Option<&str> {
        self.config.device.as_deref()
    }

    /// Serial line mode (emulate with a `device`): the session that serves the device's
    /// slaves on the line itself, a master on the RS-485 line answered as over TCP.
    pub fn line_session(&self) -> Option<Box<dyn Session>> {
        self.config.device.as_ref()?;
        let d = self.device.as_ref()?;
        Some(Box::new(session::EmulatedSession::new(
            Arc::clone(d),
            self.config.silence,
        )))
    }

    /// Bridge to a device: the arbiter of the shared line.
    pub fn arbiter(&self) -> Option<line::Arbiter> {
        (self.config.mode == config::Mode::Device)
            .then(|| line::Arbiter::new(self.config.decode, self.config.silence, self.config.response_timeout))
    }
}

impl Service for SerialService {
    fn protocol(&self) -> &'static str {
        "serial"
    }

    fn new_session(&self, _ctx: &SessionCtx) -> Box<dyn Session> {
        let c = &self.config;
        if let (config::Mode::Device, Some(path)) = (&c.mode, &c.device) {
            let bridge = session::BridgeSession::to(session::Target::Line(path.clone()), c.silence, c.decode);
            return if c.rfc2217 {
                Box::new(rfc2217::ComPort::new(bridge).applying(session::UPSTREAM))
            } else {
                Box::new(bridge)
            };
        }
        match (&self.device, c.rfc2217) {
            (Some(d), false) => Box::new(session::EmulatedSession::new(Arc::clone(d), c.silence)),
            (Some(d), true) => Box::new(rfc2217::ComPort::new(session::EmulatedSession::new(
                Arc::clone(d),
                c.silence,
            ))),
            (None, rfc) => {
                // Build gives a bridge its upstream.
                let up = self
                    .upstream
                    .first()
                    .copied()
                    .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
                let bridge = session::BridgeSession::new(up, c.silence, c.decode);
                if rfc {
                    Box::new(rfc2217::ComPort::new(bridge))
                } else {
                    Box::new(bridge)
                }
            }
        }
    }

    fn upstream_targets(&self) -> &[SocketAddr] {
        &self.upstream
    }

    fn serial_line(&self) -> Option<&str> {
        match self.config.mode {
            config::Mode::Device => self.config.device.as_deref(),
            _ => None,
        }
    }
}
