//! Building the BMC from a template section: native TOML (`[protocols.ipmi]`) or Conpot's
//! `ipmi.xml`, whose users central authentication has already imported (scope `ipmi`,
//! their ids and fixed flags as `ipmi_user_id` and `ipmi_fixed`).

use std::time::Duration;

use conpot_core::Device;
use conpot_core::Value;
use conpot_core::databus::Entry;
use conpot_core::template::nav::{Errors, Table};
use conpot_core::template::{ProtocolSection, TemplateError};

use crate::bmc::BmcConfig;
use crate::sensors::{Kind, Sensor, default_sensors};

/// Supermicro's IANA enterprise number: the default BMC is one of its X11 boards.
pub const SUPERMICRO: u32 = 10876;

/// Builds the BMC configuration of `section` for `device`.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<BmcConfig, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(file, t, device, errs),
        |file, x, errs| from_xml(file, x, device, errs),
    )
}

/// The BMC a template gets without saying more: a Supermicro X11SPi-TF board's BMC, its GUID
/// drawn from the persona so every deployment differs.
pub fn defaults(device: &Device) -> BmcConfig {
    let mut rng = conpot_core::rng::Rng::from_seed(device.persona.seed ^ 0x1b31_a5e7);
    let mut guid = [0u8; 16];
    for chunk in guid.chunks_mut(8) {
        let v = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(v.get(..chunk.len()).unwrap_or_default());
    }
    // RFC 4122 version 4 layout, as BMCs generate them.
    if let Some(b) = guid.get_mut(7) {
        *b = (*b & 0x0F) | 0x40;
    }
    if let Some(b) = guid.get_mut(8) {
        *b = (*b & 0x3F) | 0x80;
    }
    BmcConfig {
        device_id: 0x20,
        device_revision: 0x01,
        firmware: (1, 73),
        aux_firmware: [0; 4],
        manufacturer_id: SUPERMICRO,
        product_id: 0x0941,
        guid,
        power_on: true,
        auth_types: 0x02 | 0x04 | 0x10,
        max_users: 10,
        sessions_per_source: 4,
        max_sessions: 64,
        session_timeout: Duration::from_secs(60),
        response_time_ms: (0, 0),
        sensors: default_sensors(),
    }
}

/// Puts each sensor's nominal value on the databus unless the template set the key.
fn bind_sensors(device: &Device, sensors: &[Sensor]) {
    for s in sensors {
        if !device.databus.contains(&s.key) {
            device.databus.insert(&s.key, Entry::Value(Value::Float(s.nominal)));
        }
    }
}

fn from_xml(file: &str, xml: &str, device: &Device, errs: &mut Errors) -> Option<BmcConfig> {
    if let Err(e) = roxmltree::Document::parse(xml) {
        errs.push(file, "", format!("well-formed XML: {e}"));
        return None;
    }
    let config = defaults(device);
    bind_sensors(device, &config.sensors);
    Some(config)
}

/// An integer given as a number or as a text (which may name persona fields).
fn int(t: &Table<'_>, device: &Device, key: &str, min: i64, max: i64, errs: &mut Errors) -> Option<i64> {
    let text = match t.get(key)? {
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::String(s) => match device.persona.render(s) {
            Ok(s) => s,
            Err(e) => {
                errs.push(t.file, &t.key(key), format!("known persona fields only: {e}"));
                return None;
            }
        },
        _ => String::new(),
    };
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => text.parse::<i64>().ok(),
    };
    match parsed.filter(|v| (min..=max).contains(v)) {
        Some(v) => Some(v),
        None => {
            errs.push(t.file, &t.key(key), format!("an integer from {min} to {max}"));
            None
        }
    }
}

fn from_toml(file: &str, table: &toml::Table, device: &Device, errs: &mut Errors) -> Option<BmcConfig> {
    let t = Table::new(file, "protocols.ipmi", table);
    t.deny_unknown(
        &[
            "device_id",
            "device_revision",
            "firmware",
            "manufacturer_id",
            "product_id",
            "guid",
            "power",
            "auth_types",
            "max_users",
            "sessions_per_source",
            "max_sessions",
            "session_timeout",
            "response_time_ms",
            "sensors",
        ],
        errs,
    );
    let mut c = defaults(device);
    let num = |key, min, max, errs: &mut Errors| int(&t, device, key, min, max, errs);
    if let Some(v) = num("device_id", 0, 255, errs) {
        c.device_id = v as u8;
    }
    if let Some(v) = num("device_revision", 0, 15, errs) {
        c.device_revision = v as u8;
    }
    if let Some(v) = num("manufacturer_id", 0, 0x0F_FFFF, errs) {
        c.manufacturer_id = v as u32;
    }
    if let Some(v) = num("product_id", 0, 0xFFFF, errs) {
        c.product_id = v as u16;
    }
    if let Some(v) = num("max_users", 2, 63, errs) {
        c.max_users = v as u8;
    }
    if let Some(v) = num("sessions_per_source", 1, 64, errs) {
        c.sessions_per_source = v as usize;
    }
    if let Some(v) = num("max_sessions", 1, 100_000, errs) {
        c.max_sessions = v as usize;
    }
    if let Some(v) = num("session_timeout", 1, 3600, errs) {
        c.session_timeout = Duration::from_secs(v as u64);
    }
    let text = |key: &str, errs: &mut Errors| -> Option<String> {
        let v = t.str(key, false, errs)?;
        match device.persona.render(v) {
            Ok(s) => Some(s),
            Err(e) => {
                errs.push(file, &t.key(key), format!("known persona fields only: {e}"));
                None
            }
        }
    };
    if let Some(fw) = text("firmware", errs) {
        let parts: Vec<Option<u8>> = fw
            .trim_start_matches(['v', 'V'])
            .split('.')
            .map(|p| p.parse().ok())
            .collect();
        match parts.as_slice() {
            [Some(major), Some(minor)] if *major < 128 && *minor < 100 => c.firmware = (*major, *minor),
            _ => errs.push(
                file,
                &t.key("firmware"),
                "MAJOR.MINOR, major below 128, minor below 100",
            ),
        }
    }
    if let Some(g) = text("guid", errs) {
        match conpot_core::hex::decode(&g.replace('-', "")).and_then(|b| <[u8; 16]>::try_from(b).ok()) {
            Some(b) => c.guid = b,
            None => errs.push(file, &t.key("guid"), "a GUID of 16 bytes in hex"),
        }
    }
    if let Some(p) = text("power", errs) {
        match p.as_str() {
            "on" => c.power_on = true,
            "off" => c.power_on = false,
            _ => errs.push(file, &t.key("power"), "\"on\" or \"off\""),
        }
    }
    if let Some(list) = t.array("auth_types", false, errs) {
        c.auth_types = 0;
        for v in list {
            match v.as_str() {
                Some("none") => c.auth_types |= 0x01,
                Some("md2") => c.auth_types |= 0x02,
                Some("md5") => c.auth_types |= 0x04,
                Some("password") => c.auth_types |= 0x10,
                _ => errs.push(
                    file,
                    &t.key("auth_types"),
                    "a list of \"none\", \"md2\", \"md5\", \"password\"",
                ),
            }
        }
    }
    c.response_time_ms = t.millis_range("response_time_ms", errs);
    if t.get("sensors").is_some() {
        c.sensors.clear();
        for (path, st) in t.tables("sensors", false, errs) {
            let st = Table::new(file, &path, st);
            st.deny_unknown(&["number", "name", "kind", "key", "nominal"], errs);
            let number = st.int("number", 0, 254, true, errs);
            let name = st.str("name", true, errs);
            let kind = st.str("kind", true, errs).and_then(|k| {
                let kind = Kind::parse(k);
                if kind.is_none() {
                    errs.push(file, &st.key("kind"), "\"temperature\", \"fan\" or \"voltage\"");
                }
                kind
            });
            let key = st.str("key", true, errs);
            let nominal = st.float("nominal", errs);
            if let (Some(number), Some(name), Some(kind), Some(key), Some(nominal)) = (number, name, kind, key, nominal)
            {
                if c.sensors.iter().any(|s| i64::from(s.number) == number) {
                    errs.push(file, &st.key("number"), "a number no other sensor has");
                    continue;
                }
                c.sensors.push(Sensor {
                    number: number as u8,
                    name: name.to_owned(),
                    kind,
                    key: key.to_owned(),
                    nominal,
                });
            }
        }
    }
    bind_sensors(device, &c.sensors);
    Some(c)
}
