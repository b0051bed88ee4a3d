//! Building a [`MeterConfig`] from a template section: native TOML (`[protocols.kamstrup_meter]`)
//! or Conpot's `kamstrup_meter/kamstrup_meter.xml`.

use conpot_core::Device;
use conpot_core::template::nav::{Errors, Table as TomlTable};
use conpot_core::template::{ProtocolSection, TemplateError};

use crate::kmp::MAX_VALUE_LEN;
use crate::meter::{MeterConfig, Quantity, Register};

/// Most registers a meter may have.
pub const MAX_REGISTERS: usize = 4096;
/// The real meter's response delay (measured around a quarter of a second).
pub const DEFAULT_RESPONSE_MS: (u32, u32) = (240, 340);
/// GetType's meter type of a 382 (as this implementation answers it).
pub const DEFAULT_METER_TYPE: u16 = 0x0382;

/// Builds the meter of `section` for `device`.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<MeterConfig, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(file, t, device, errs),
        |file, x, errs| from_xml(file, x, device, errs),
    )
}

/// An integer that may be written as a number or as text with persona references.
fn int_or_persona(root: &TomlTable<'_>, key: &str, max: u64, device: &Device, errs: &mut Errors) -> Option<u64> {
    match root.get(key)? {
        toml::Value::String(s) => {
            let r = device.persona.render(s).unwrap_or_default();
            let t = r.trim();
            let parsed = match t.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => t.parse::<u64>().ok(),
            };
            parsed.filter(|v| *v <= max).or_else(|| {
                errs.push(
                    root.file,
                    &root.key(key),
                    format!("an integer up to {max}, found `{r}`"),
                );
                None
            })
        }
        _ => root.int(key, 0, max as i64, false, errs).map(|v| v as u64),
    }
}

fn defaults() -> MeterConfig {
    MeterConfig {
        address: 0x3F,
        meter_type: DEFAULT_METER_TYPE,
        revision: 0x0505,
        serial: 0,
        mean_kw: 1.2,
        registers: Vec::new(),
        response_time_ms: DEFAULT_RESPONSE_MS,
    }
}

fn from_toml(file: &str, t: &toml::Table, device: &Device, errs: &mut Errors) -> Option<MeterConfig> {
    let root = TomlTable::new(file, "protocols.kamstrup_meter", t);
    root.deny_unknown(
        &[
            "address",
            "meter_type",
            "revision",
            "serial",
            "mean_kw",
            "registers",
            "response_time_ms",
        ],
        errs,
    );
    let mut c = defaults();
    if let Some(a) = int_or_persona(&root, "address", 255, device, errs) {
        c.address = a as u8;
    }
    if let Some(v) = int_or_persona(&root, "meter_type", 0xFFFF, device, errs) {
        c.meter_type = v as u16;
    }
    if let Some(v) = int_or_persona(&root, "revision", 0xFFFF, device, errs) {
        c.revision = v as u16;
    }
    if let Some(v) = int_or_persona(&root, "serial", u64::from(u32::MAX), device, errs) {
        c.serial = v as u32;
    }
    if root.get("mean_kw").is_some() {
        match root.float("mean_kw", errs) {
            Some(v) if (0.0..=10_000.0).contains(&v) => c.mean_kw = v,
            Some(_) => errs.push(file, &root.key("mean_kw"), "a mean power from 0 to 10000 kW"),
            None => {}
        }
    }
    if root.get("response_time_ms").is_some() {
        c.response_time_ms = root.millis_range("response_time_ms", errs);
    }
    for (path, rt) in root.tables("registers", true, errs) {
        let rt = TomlTable::new(file, &path, rt);
        rt.deny_unknown(&["id", "units", "length", "sign_exp", "key", "sim"], errs);
        let (Some(id), Some(length), Some(key)) = (
            rt.int("id", 0, 0xFFFF, true, errs),
            rt.int("length", 1, MAX_VALUE_LEN as i64, true, errs),
            rt.str("key", true, errs),
        ) else {
            continue;
        };
        let unit = rt.int("units", 0, 255, false, errs).unwrap_or(0) as u8;
        let sign_exp = rt.int("sign_exp", 0, 255, false, errs).unwrap_or(0) as u8;
        let sim = match rt.str("sim", false, errs) {
            Some(s) => match Quantity::from_name(s) {
                Some(q) => Some(q),
                None => {
                    errs.push(
                        file,
                        &rt.key("sim"),
                        format!("energy_in, power, power_lN, voltage_lN, current_lN or clock, found `{s}`"),
                    );
                    continue;
                }
            },
            None => None,
        };
        if sim != Some(Quantity::Clock) && !device.databus.contains(key) {
            errs.push(file, &rt.key("key"), format!("a databus key named `{key}`"));
            continue;
        }
        c.registers.push(Register {
            id: id as u16,
            unit,
            length: length as u8,
            sign_exp,
            key: key.to_owned(),
            sim,
        });
    }
    check(file, &mut c, errs);
    errs.is_empty().then_some(c)
}

fn check(file: &str, c: &mut MeterConfig, errs: &mut Errors) {
    if c.registers.len() > MAX_REGISTERS {
        errs.push(file, "registers", format!("at most {MAX_REGISTERS} registers"));
    }
    c.registers.sort_by_key(|r| r.id);
    for w in c.registers.windows(2) {
        if let [a, b] = w
            && a.id == b.id
        {
            errs.push(file, &format!("registers id {}", a.id), "register ids that differ");
        }
    }
}

/// What Conpot's usage simulator moved, by register id of the 382 template.
fn conpot_sim(id: u16, unit: u8) -> Option<Quantity> {
    Some(match id {
        1 | 13 => Quantity::EnergyIn,
        1033 => Quantity::Power,
        1054..=1056 => Quantity::Voltage((id - 1053) as u8),
        1076..=1078 => Quantity::Current((id - 1075) as u8),
        1080..=1082 => Quantity::PowerPhase((id - 1079) as u8),
        _ if unit == 53 => Quantity::Clock,
        _ => return None,
    })
}

fn from_xml(file: &str, xml: &str, device: &Device, errs: &mut Errors) -> Option<MeterConfig> {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(d) => d,
        Err(e) => {
            errs.push(file, "", format!("well-formed XML: {e}"));
            return None;
        }
    };
    let mut c = defaults();
    let root = doc.root_element();
    if let Some(a) = root
        .descendants()
        .find(|n| n.has_tag_name("communication_address"))
        .and_then(|n| n.text())
    {
        match a.trim().parse::<u8>() {
            Ok(v) => c.address = v,
            Err(_) => errs.push(file, "config/communication_address", "an address from 0 to 255"),
        }
    }
    // Conpot's simulator key drives the energy and power registers when present.
    let simulated = device.databus.contains("power_simulator");
    for reg in root.descendants().filter(|n| n.has_tag_name("register")) {
        let name = reg.attribute("name").unwrap_or_default();
        let path = format!("registers/register[@name='{name}']");
        let attr = |a: &str, max: u32| {
            reg.attribute(a)
                .and_then(|v| v.trim().parse::<u32>().ok())
                .filter(|v| *v <= max)
        };
        let (Ok(id), Some(length), Some(unit), Some(sign_exp)) = (
            name.trim().parse::<u16>(),
            attr("length", MAX_VALUE_LEN as u32).filter(|l| *l > 0),
            attr("units", 255),
            attr("unknown", 255),
        ) else {
            errs.push(
                file,
                &path,
                format!("a register id, units, unknown (0-255) and length (1-{MAX_VALUE_LEN})"),
            );
            continue;
        };
        let key = conpot_core::template::nav::xml_text(reg, "value")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let sim = if simulated { conpot_sim(id, unit as u8) } else { None };
        if sim != Some(Quantity::Clock) && !device.databus.contains(&key) {
            errs.push(file, &format!("{path}/value"), format!("a databus key named `{key}`"));
            continue;
        }
        c.registers.push(Register {
            id,
            unit: unit as u8,
            length: length as u8,
            sign_exp: sign_exp as u8,
            key,
            sim,
        });
    }
    // Identity from the persona when it has one, else Conpot's register 1001.
    c.serial = device
        .persona
        .get("meter_serial")
        .and_then(|s| s.trim().parse().ok())
        .or_else(|| {
            device
                .databus
                .get("register_1001", std::time::SystemTime::UNIX_EPOCH)
                .map(|v| crate::meter::mantissa_of(&v).min(u128::from(u32::MAX)) as u32)
        })
        .unwrap_or(0);
    check(file, &mut c, errs);
    errs.is_empty().then_some(c)
}
