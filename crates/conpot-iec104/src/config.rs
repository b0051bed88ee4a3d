//! Building a [`StationConfig`] from a template section: native TOML or Conpot's
//! `IEC104/IEC104.xml` (IOAs named `high_low`: the upper 16 bits, then the low 8).

use std::time::Duration;

use conpot_core::Device;
use conpot_core::Value;
use conpot_core::template::nav::{Errors, Table as TomlTable};
use conpot_core::template::{ProtocolSection, TemplateError};

use crate::asdu::ty;
use crate::station::{Command, Kind, Point, StationConfig};

/// Largest number of points or commands.
pub const MAX_OBJECTS: usize = 10_000;

/// Builds the station of `section` for `device`.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<StationConfig, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(file, t, device, errs),
        |file, x, errs| from_xml(file, x, device, errs),
    )
}

fn defaults(common_address: u16) -> StationConfig {
    StationConfig {
        common_address,
        points: Vec::new(),
        commands: Vec::new(),
        k: 12,
        w: 8,
        t1: Duration::from_secs(15),
        t2: Duration::from_secs(10),
        t3: Duration::from_secs(20),
        scan: Duration::from_secs(1),
        time_tag: true,
        response_time_ms: (0, 0),
    }
}

fn command_type(name: &str) -> Option<u8> {
    Some(match name {
        "single" => ty::C_SC_NA_1,
        "double" => ty::C_DC_NA_1,
        "regulating" => ty::C_RC_NA_1,
        "normalized" => ty::C_SE_NA_1,
        "scaled" => ty::C_SE_NB_1,
        "float" => ty::C_SE_NC_1,
        _ => return None,
    })
}

fn from_toml(file: &str, t: &toml::Table, device: &Device, errs: &mut Errors) -> Option<StationConfig> {
    let root = TomlTable::new(file, "protocols.IEC104", t);
    root.deny_unknown(
        &[
            "common_address",
            "k",
            "w",
            "t1",
            "t2",
            "t3",
            "points",
            "commands",
            "response_time_ms",
            "time_tag",
        ],
        errs,
    );
    let ca = match root.get("common_address") {
        Some(toml::Value::String(s)) => {
            let r = device.persona.render(s).unwrap_or_default();
            r.trim()
                .parse::<u16>()
                .ok()
                .filter(|v| (1..=65534).contains(v))
                .or_else(|| {
                    errs.push(
                        file,
                        &root.key("common_address"),
                        format!("a common address from 1 to 65534, found `{r}`"),
                    );
                    None
                })
        }
        _ => root.int("common_address", 1, 65534, true, errs).map(|v| v as u16),
    };
    let mut c = defaults(ca.unwrap_or(1));
    c.response_time_ms = root.millis_range("response_time_ms", errs);
    c.time_tag = root.bool("time_tag", errs).unwrap_or(true);
    c.k = root.int("k", 1, 32767, false, errs).unwrap_or(12) as u16;
    c.w = root.int("w", 1, 32767, false, errs).unwrap_or(8) as u16;
    if c.w > c.k {
        errs.push(file, &root.key("w"), "w at most k");
    }
    for (key, slot) in [("t1", &mut c.t1), ("t2", &mut c.t2), ("t3", &mut c.t3)] {
        if let Some(s) = root.int(key, 1, 255, false, errs) {
            *slot = Duration::from_secs(s as u64);
        }
    }
    for (list, is_cmd) in [("points", false), ("commands", true)] {
        for (path, pt) in root.tables(list, false, errs) {
            let pt = TomlTable::new(file, &path, pt);
            if is_cmd {
                pt.deny_unknown(&["ioa", "type", "key"], errs);
            } else {
                pt.deny_unknown(POINT_KEYS, errs);
            }
            let (Some(ioa), Some(kind), Some(key)) = (
                pt.int("ioa", 1, 0xFF_FFFF, true, errs),
                pt.str("type", true, errs),
                pt.str("key", true, errs),
            ) else {
                continue;
            };
            if !device.databus.contains(key) {
                errs.push(file, &pt.key("key"), format!("a databus key named `{key}`"));
                continue;
            }
            let ioa = ioa as u32;
            if is_cmd {
                match command_type(kind) {
                    Some(type_id) => c.commands.push(Command {
                        ioa,
                        type_id,
                        key: key.to_owned(),
                    }),
                    None => errs.push(
                        file,
                        &pt.key("type"),
                        format!("single, double, regulating, normalized, scaled or float, found `{kind}`"),
                    ),
                }
            } else {
                match Kind::from_name(kind) {
                    Some(kind) => c.points.push(point_options(Point::new(ioa, kind, key), &pt, errs)),
                    None => errs.push(
                        file,
                        &pt.key("type"),
                        format!("single, double, normalized, scaled, float or counter, found `{kind}`"),
                    ),
                }
            }
        }
    }
    check(file, &c, errs);
    errs.is_empty().then_some(c)
}

/// The keys of a monitored point.
const POINT_KEYS: &[&str] = &[
    "ioa",
    "type",
    "key",
    "group",
    "time_tag",
    "spontaneous",
    "deadband",
    "deadband_percent",
];

/// A point's optional keys: its interrogation group, time tagging, whether it is sent
/// spontaneously and the deadbands of a measured value.
fn point_options(mut p: Point, pt: &TomlTable<'_>, errs: &mut Errors) -> Point {
    p.group = pt.int("group", 1, 16, false, errs).map(|g| g as u8);
    p.time_tag = pt.bool("time_tag", errs);
    if let Some(s) = pt.bool("spontaneous", errs) {
        p.spontaneous = s;
    }
    for (key, slot) in [
        ("deadband", &mut p.deadband),
        ("deadband_percent", &mut p.deadband_percent),
    ] {
        if let Some(d) = pt.float(key, errs) {
            if !d.is_finite() || d < 0.0 || (key == "deadband_percent" && d > 100.0) {
                errs.push(
                    pt.file,
                    &pt.key(key),
                    "a deadband of 0 or more (a percentage at most 100)",
                );
            } else if !p.kind.is_analog() {
                errs.push(
                    pt.file,
                    &pt.key(key),
                    "a deadband on a measured value (normalized, scaled or float)",
                );
            } else {
                *slot = Some(d);
            }
        }
    }
    p
}

fn check(file: &str, c: &StationConfig, errs: &mut Errors) {
    if c.points.len() > MAX_OBJECTS || c.commands.len() > MAX_OBJECTS {
        errs.push(file, "points", format!("at most {MAX_OBJECTS} points and commands"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for ioa in c.points.iter().map(|p| p.ioa).chain(c.commands.iter().map(|c| c.ioa)) {
        if !seen.insert(ioa) {
            errs.push(file, &format!("ioa {ioa}"), "information object addresses that differ");
        }
    }
}

/// Conpot's `high_low` IOA name.
pub fn parse_ioa_name(s: &str) -> Option<u32> {
    let (hi, lo) = s.trim().split_once('_')?;
    let hi: u32 = hi.parse().ok().filter(|v| *v <= 0xFFFF)?;
    let lo: u32 = lo.parse().ok().filter(|v| *v <= 0xFF)?;
    Some((hi << 8) | lo)
}

fn from_xml(file: &str, xml: &str, device: &Device, errs: &mut Errors) -> Option<StationConfig> {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(d) => d,
        Err(e) => {
            errs.push(file, "", format!("well-formed XML: {e}"));
            return None;
        }
    };
    // Conpot's station always had common address 7720; a persona may give another.
    let ca = device
        .persona
        .get("common_address")
        .and_then(|s| s.parse().ok())
        .unwrap_or(7720);
    let mut c = defaults(ca);
    for cat in doc.descendants().filter(|n| n.has_tag_name("category")) {
        let id = cat.attribute("id").and_then(|i| i.parse::<u8>().ok()).unwrap_or(0);
        for reg in cat.children().filter(|n| n.has_tag_name("register")) {
            let name = reg.attribute("name").unwrap_or_default();
            let path = format!("IEC104/categories/category[@id='{id}']/register[@name='{name}']");
            let Some(ioa) = parse_ioa_name(name) else {
                errs.push(file, &path, format!("an IOA named `high_low`, found `{name}`"));
                continue;
            };
            let own = reg
                .children()
                .find(|n| n.has_tag_name("value"))
                .and_then(|n| n.text())
                .unwrap_or(name)
                .trim()
                .to_owned();
            // A command acts on the point it is related to (`rel`), else on its own key.
            let key = reg.attribute("rel").map(str::to_owned).unwrap_or(own);
            if !device.databus.contains(&key) {
                device.databus.set(&key, Value::Int(0));
            }
            let kind = match id {
                1 => Some(Kind::Single),
                3 => Some(Kind::Double),
                9 => Some(Kind::Normalized),
                11 => Some(Kind::Scaled),
                13 => Some(Kind::Float),
                15 => Some(Kind::Counter),
                _ => None,
            };
            match (kind, id) {
                (Some(kind), _) => c.points.push(Point::new(ioa, kind, key)),
                (None, 45..=50) => c.commands.push(Command { ioa, type_id: id, key }),
                _ => errs.push(
                    file,
                    &path,
                    format!("a category id Conpot knows (1, 3, 11, 13, 45, 46, 49, 50), found {id}"),
                ),
            }
        }
    }
    check(file, &c, errs);
    errs.is_empty().then_some(c)
}
