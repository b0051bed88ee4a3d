//! Building the serial device server from `[protocols.serial]`: its mode, the line
//! settings, the upstream of a bridge, and for the emulated slave the Modbus server (the
//! keys of `[protocols.modbus]`, read by `conpot-modbus` itself).

use std::net::SocketAddr;
use std::time::Duration;

use conpot_core::Device;
use conpot_core::template::nav::{Errors, Table};
use conpot_core::template::{ProtocolSection, SectionBody, TemplateError};
use conpot_modbus::ModbusConfig;

use crate::rtu;

/// The serial line's settings (what RFC 2217 clients would set; the silence follows them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Baud rate.
    pub baud: u32,
    /// Data bits (5-8).
    pub data_bits: u8,
    /// `none`, `even`, `odd`, `mark`, `space`.
    pub parity: String,
    /// Stop bits (1 or 2).
    pub stop_bits: u8,
    /// `none`, `rtscts`, `xonxoff`.
    pub flow: String,
}

impl Line {
    /// Bits per character on the wire: start, data, parity, stop.
    pub fn char_bits(&self) -> u32 {
        1 + u32::from(self.data_bits) + u32::from(self.parity != "none") + u32::from(self.stop_bits)
    }
}

/// What the TCP port does.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Serve Modbus RTU over TCP from the device's slaves.
    Emulate(Box<ModbusConfig>),
    /// Carry the bytes to the serial server at this address and back.
    Bridge(SocketAddr),
    /// Share the real serial line [`SerialConfig::device`] among the TCP clients (the
    /// serial device server bridged to the device it opened).
    Device,
}

/// The longest serial device path a template may give.
pub const MAX_DEVICE_PATH: usize = 256;

/// The serial device server's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SerialConfig {
    /// Emulated slave or bridge.
    pub mode: Mode,
    /// The line's settings.
    pub line: Line,
    /// Silence after which an unfinished frame is dropped.
    pub silence: Duration,
    /// Decode frames as Modbus RTU (`modbus-rtu`) or log raw chunks (`raw`).
    pub decode: bool,
    /// The TCP stream is Telnet with RFC 2217 COM-PORT-OPTION (`rfc2217 = true`).
    pub rfc2217: bool,
    /// The serial device the sensor opens (`device = "/dev/ttyUSB0"`): shared by the TCP
    /// clients in bridge mode, served by the emulated slaves in emulate mode. Only the
    /// template names it.
    pub device: Option<String>,
    /// How long a request on a shared line waits for its answer before the next one goes.
    pub response_timeout: Duration,
}

/// Builds the configuration of `section` for `device`.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<SerialConfig, Vec<TemplateError>> {
    let mut modbus_errors = Vec::new();
    let built = conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(section, file, t, device, errs, &mut modbus_errors),
        |file, _x, errs| {
            errs.push(
                file,
                "serial",
                "a native TOML [protocols.serial] section (Conpot never shipped one)",
            );
            None
        },
    );
    match built {
        Ok(c) if modbus_errors.is_empty() => Ok(c),
        Ok(_) => Err(modbus_errors),
        Err(mut e) => {
            e.extend(modbus_errors);
            Err(e)
        }
    }
}

fn from_toml(
    section: &ProtocolSection,
    file: &str,
    t: &toml::Table,
    device: &Device,
    errs: &mut Errors,
    modbus_errors: &mut Vec<TemplateError>,
) -> Option<SerialConfig> {
    let root = Table::new(file, "protocols.serial", t);
    root.deny_unknown(
        &[
            "mode",
            "line",
            "upstream",
            "decoder",
            "silence_ms",
            "modbus",
            "rfc2217",
            "device",
            "response_timeout_ms",
        ],
        errs,
    );
    let mut line = Line {
        baud: 9600,
        data_bits: 8,
        parity: "none".into(),
        stop_bits: 1,
        flow: "none".into(),
    };
    if let Some(lt) = root.table("line", false, errs) {
        let lt = Table::new(file, "protocols.serial.line", lt);
        lt.deny_unknown(&["baud", "data_bits", "parity", "stop_bits", "flow"], errs);
        if let Some(b) = lt.int("baud", 50, 4_000_000, false, errs) {
            line.baud = b as u32;
        }
        if let Some(b) = lt.int("data_bits", 5, 8, false, errs) {
            line.data_bits = b as u8;
        }
        if let Some(b) = lt.int("stop_bits", 1, 2, false, errs) {
            line.stop_bits = b as u8;
        }
        if let Some(p) = lt.str("parity", false, errs) {
            if ["none", "even", "odd", "mark", "space"].contains(&p) {
                line.parity = p.to_owned();
            } else {
                errs.push(file, &lt.key("parity"), "none, even, odd, mark or space");
            }
        }
        if let Some(f) = lt.str("flow", false, errs) {
            if ["none", "rtscts", "xonxoff"].contains(&f) {
                line.flow = f.to_owned();
            } else {
                errs.push(file, &lt.key("flow"), "none, rtscts or xonxoff");
            }
        }
    }
    // Inside TCP the line's silence is lost to segmenting: wait longer than a character
    // gap before dropping an unfinished frame (50 ms unless set).
    let silence = match root.int("silence_ms", 1, 10_000, false, errs) {
        Some(ms) => Duration::from_millis(ms as u64),
        None => rtu::silence(line.baud, line.char_bits()).max(Duration::from_millis(50)),
    };
    let decode = match root.str("decoder", false, errs).unwrap_or("modbus-rtu") {
        "modbus-rtu" => true,
        "raw" => false,
        other => {
            errs.push(
                file,
                &root.key("decoder"),
                format!("modbus-rtu or raw, found \"{other}\""),
            );
            true
        }
    };
    let device_path = match root.str("device", false, errs) {
        Some(d) if d.starts_with('/') && d.len() <= MAX_DEVICE_PATH && !d.contains('\0') => Some(d.to_owned()),
        Some(d) => {
            errs.push(
                file,
                &root.key("device"),
                format!("an absolute device path of at most {MAX_DEVICE_PATH} bytes, found \"{d}\""),
            );
            return None;
        }
        None => None,
    };
    let response_timeout =
        Duration::from_millis(root.int("response_timeout_ms", 10, 60_000, false, errs).unwrap_or(1000) as u64);
    let mode = match root.str("mode", false, errs).unwrap_or("emulate") {
        "emulate" => {
            let mut mt = match root.table("modbus", true, errs) {
                Some(m) => m.clone(),
                None => return None,
            };
            // Behind a serial line every slave answers its own address only.
            mt.entry("mode")
                .or_insert_with(|| toml::Value::String("gateway".into()));
            let modbus_section = ProtocolSection {
                name: "modbus".into(),
                enabled: true,
                host: section.host.clone(),
                port: section.port,
                file: section.file.clone(),
                body: SectionBody::Toml(mt),
            };
            match conpot_modbus::config::build(&modbus_section, device) {
                Ok(c) => Mode::Emulate(Box::new(c)),
                Err(e) => {
                    modbus_errors.extend(e.into_iter().map(|mut e| {
                        e.key = format!("protocols.serial.modbus: {}", e.key);
                        e
                    }));
                    return None;
                }
            }
        }
        "bridge" if device_path.is_some() => {
            if root.str("upstream", false, errs).is_some() {
                errs.push(file, &root.key("upstream"), "either upstream or device, not both");
                return None;
            }
            Mode::Device
        }
        "bridge" => {
            let up = root.str("upstream", true, errs)?;
            match up.parse::<SocketAddr>() {
                Ok(a) => Mode::Bridge(a),
                Err(_) => {
                    errs.push(
                        file,
                        &root.key("upstream"),
                        format!("an address like 127.0.0.1:7001, found \"{up}\""),
                    );
                    return None;
                }
            }
        }
        other => {
            errs.push(file, &root.key("mode"), format!("emulate or bridge, found \"{other}\""));
            return None;
        }
    };
    Some(SerialConfig {
        mode,
        line,
        silence,
        decode,
        rfc2217: root.bool("rfc2217", errs).unwrap_or(false),
        device: device_path,
        response_timeout,
    })
}
