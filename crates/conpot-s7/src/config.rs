//! Building a CPU from a template section: native TOML or Conpot's `s7comm.xml`.

use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::Value;
use conpot_core::databus::Entry;
use conpot_core::template::nav::{Errors, Table};
use conpot_core::template::{ProtocolSection, TemplateError};

use crate::blocks::{self, Block};
use crate::device::S7Config;
use crate::memory::{Area, Backing, Layout, Memory};
use crate::szl::{Family, Identity};

/// Builds the CPU configuration of `section` for `device`, creating databus keys for
/// memory areas that have none.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<S7Config, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(file, t, device, errs),
        |file, x, errs| from_xml(file, x, device, errs),
    )
}

/// Parses `V3.2.8` / `3.2.8` into its three numbers.
fn version(s: &str) -> Option<(u8, u8, u8)> {
    let mut it = s
        .trim()
        .trim_start_matches(['V', 'v'])
        .split('.')
        .map(|p| p.trim().parse::<u8>());
    let a = it.next()?.ok()?;
    let b = it.next().unwrap_or(Ok(0)).ok()?;
    let c = it.next().unwrap_or(Ok(0)).ok()?;
    Some((a, b, c))
}

fn persona_or(device: &Device, field: &str, default: &str) -> String {
    device.persona.get(field).unwrap_or(default).to_owned()
}

fn default_identity(device: &Device, family: Family) -> Identity {
    Identity {
        family,
        order_code: persona_or(device, "order_code", ""),
        system_name: persona_or(device, "system_name", "SIMATIC 300(1)"),
        module_name: persona_or(device, "module_type", ""),
        plant: persona_or(device, "plant", ""),
        copyright: persona_or(device, "copyright", "Original Siemens Equipment"),
        serial: persona_or(device, "serial", ""),
        module_type: persona_or(device, "module_type", ""),
        memory_card: persona_or(device, "memory_card", ""),
        oem_id: String::new(),
        location: persona_or(device, "location", ""),
        hardware: device
            .persona
            .get("hardware")
            .and_then(|h| h.trim().parse().ok())
            .unwrap_or(1),
        firmware: device.persona.get("firmware").and_then(version).unwrap_or((0, 0, 0)),
    }
}

/// Backs `area` with databus `key`, creating the key (zeros) if it does not exist.
fn back(
    device: &Device,
    mem: &mut Memory,
    area: Area,
    key: &str,
    layout: Layout,
    size: Option<usize>,
) -> Result<(), String> {
    let now = SystemTime::now();
    let len = device.databus.with(key, now, |v| match v {
        Value::Bytes(b) => Some(b.len()),
        Value::List(l) => Some(match layout {
            Layout::Bytes => l.len(),
            Layout::Bits => l.len().div_ceil(8),
            Layout::Words => l.len() * 2,
        }),
        _ => None,
    });
    let size = match (len, size) {
        (None, Some(size)) => {
            device.databus.insert(key, Entry::Value(Value::Bytes(vec![0; size])));
            size
        }
        (None, None) => return Err(format!("a size, or a databus key `{key}` holding a list")),
        (Some(None), _) => return Err(format!("databus key `{key}` to hold a list or bytes")),
        (Some(Some(n)), size) => size.unwrap_or(n),
    };
    if size > 1 << 20 {
        return Err("an area of at most 1 MiB".into());
    }
    mem.areas.insert(
        area,
        Backing {
            key: key.to_owned(),
            layout,
            size,
        },
    );
    Ok(())
}

fn from_toml(file: &str, t: &toml::Table, device: &Device, errs: &mut Errors) -> Option<S7Config> {
    let root = Table::new(file, "protocols.s7comm", t);
    root.deny_unknown(
        &[
            "family",
            "identity",
            "protection",
            "memory",
            "db",
            "blocks",
            "max_block",
            "max_blocks",
            "response_time_ms",
        ],
        errs,
    );
    let f = root.str("family", false, errs).unwrap_or("s7-300");
    let family = Family::parse(f).unwrap_or_else(|| {
        errs.push(
            file,
            &root.key("family"),
            format!("s7-300, s7-400, s7-1200 or s7-1500, found \"{f}\""),
        );
        Family::S7300
    });
    let mut identity = default_identity(device, family);
    if let Some(it) = root.table("identity", false, errs) {
        let it = Table::new(file, "protocols.s7comm.identity", it);
        let fields = [
            "order_code",
            "system_name",
            "module_name",
            "plant",
            "copyright",
            "serial",
            "module_type",
            "memory_card",
            "oem_id",
            "location",
            "firmware",
            "hardware",
        ];
        it.deny_unknown(&fields, errs);
        for f in fields {
            let Some(text) = it.str(f, false, errs) else {
                continue;
            };
            let v = match device.persona.render(text) {
                Ok(v) => v,
                Err(e) => {
                    errs.push(file, &it.key(f), format!("known persona fields only: {e}"));
                    continue;
                }
            };
            match f {
                "order_code" => identity.order_code = v,
                "system_name" => identity.system_name = v,
                "module_name" => identity.module_name = v,
                "plant" => identity.plant = v,
                "copyright" => identity.copyright = v,
                "serial" => identity.serial = v,
                "module_type" => identity.module_type = v,
                "memory_card" => identity.memory_card = v,
                "oem_id" => identity.oem_id = v,
                "location" => identity.location = v,
                "firmware" => match version(&v) {
                    Some(fw) => identity.firmware = fw,
                    None => errs.push(file, &it.key(f), format!("a version like V3.2.8, found \"{v}\"")),
                },
                _ => match v.trim().parse::<u8>() {
                    Ok(h) => identity.hardware = h,
                    Err(_) => errs.push(file, &it.key(f), format!("a hardware version 0..255, found \"{v}\"")),
                },
            }
        }
    }
    let (mut protection, mut password) = (1u8, None);
    if let Some(pt) = root.table("protection", false, errs) {
        let pt = Table::new(file, "protocols.s7comm.protection", pt);
        pt.deny_unknown(&["level", "password"], errs);
        protection = pt.int("level", 1, 3, false, errs).unwrap_or(1) as u8;
        password = pt.str("password", false, errs).map(|p| p.chars().take(8).collect());
    }
    let mut memory = Memory::default();
    if let Some(mt) = root.table("memory", false, errs) {
        let mt = Table::new(file, "protocols.s7comm.memory", mt);
        mt.deny_unknown(&["I", "Q", "M", "C", "T"], errs);
        for (name, area) in [
            ("I", Area::Inputs),
            ("Q", Area::Outputs),
            ("M", Area::Flags),
            ("C", Area::Counters),
            ("T", Area::Timers),
        ] {
            if let Some(at) = mt.table(name, false, errs) {
                area_spec(
                    file,
                    &format!("protocols.s7comm.memory.{name}"),
                    at,
                    area,
                    device,
                    &mut memory,
                    errs,
                );
            }
        }
    }
    let mut blocks_list = Vec::new();
    let seed = device.persona.seed;
    for (path, dt) in root.tables("db", false, errs) {
        let Some(number) = Table::new(file, &path, dt).int("number", 1, 65535, true, errs) else {
            continue;
        };
        let mut tt = dt.clone();
        tt.remove("number");
        let area = Area::Db(number as u16);
        area_spec(file, &path, &tt, area, device, &mut memory, errs);
        blocks_list.push(Block {
            kind: 0x41,
            number: number as u16,
            lang: 5,
            author: String::new(),
            family: String::new(),
            name: format!("DB{number}"),
            version: 0x01,
            code: Vec::new(),
            modified: (14_900 + (seed % 400) as u16, (seed % 86_400_000) as u32),
        });
    }
    for (path, bt) in root.tables("blocks", false, errs) {
        let b = Table::new(file, &path, bt);
        b.deny_unknown(
            &["type", "number", "size", "lang", "author", "family", "name", "version"],
            errs,
        );
        let kind = match b.str("type", true, errs) {
            Some(t) => match blocks::type_code(t) {
                Some(k) if k != 0x41 => k,
                _ => {
                    errs.push(
                        file,
                        &b.key("type"),
                        format!("OB, FB, FC, SDB, SFC or SFB (DBs go in [[db]]), found \"{t}\""),
                    );
                    continue;
                }
            },
            None => continue,
        };
        let Some(number) = b.int("number", 0, 65535, true, errs) else {
            continue;
        };
        let size = b.int("size", 2, 65534, false, errs).unwrap_or(64) as usize;
        let lang = match b.str("lang", false, errs).unwrap_or("STL") {
            "STL" | "AWL" => 1,
            "LAD" | "KOP" => 2,
            "FBD" | "FUP" => 3,
            "SCL" => 4,
            "GRAPH" => 6,
            other => {
                errs.push(
                    file,
                    &b.key("lang"),
                    format!("STL, LAD, FBD, SCL or GRAPH, found \"{other}\""),
                );
                1
            }
        };
        let text = |k: &str, errs: &mut Errors| -> String {
            b.str(k, false, errs)
                .map(|t| device.persona.render(t).unwrap_or_else(|_| t.to_owned()))
                .unwrap_or_default()
        };
        let version = b
            .str("version", false, errs)
            .and_then(version)
            .map_or(0x10, |(a, c, _)| (a << 4) | (c & 0x0F));
        let block_seed = seed ^ (u64::from(kind) << 32) ^ number as u64;
        blocks_list.push(Block {
            kind,
            number: number as u16,
            lang,
            author: text("author", errs),
            family: text("family", errs),
            name: text("name", errs),
            version,
            code: blocks::synth_code(block_seed, size),
            modified: (14_600 + (block_seed % 700) as u16, (block_seed % 86_400_000) as u32),
        });
    }
    let max_block = root.int("max_block", 1, 64 << 20, false, errs).unwrap_or(1 << 20) as usize;
    let max_blocks = root.int("max_blocks", 1, 65_535, false, errs).unwrap_or(1024) as usize;
    let response_time_ms = root.millis_range("response_time_ms", errs);
    Some(S7Config {
        identity,
        memory,
        blocks: blocks_list,
        protection,
        password,
        max_block,
        max_blocks,
        response_time_ms,
    })
}

fn area_spec(
    file: &str,
    path: &str,
    t: &toml::Table,
    area: Area,
    device: &Device,
    mem: &mut Memory,
    errs: &mut Errors,
) {
    let at = Table::new(file, path, t);
    at.deny_unknown(&["key", "layout", "size"], errs);
    let default_key = format!("s7_{}", area.name());
    let key = at.str("key", false, errs).unwrap_or(&default_key).to_owned();
    let l = at.str("layout", false, errs).unwrap_or("bytes");
    let layout = Layout::parse(l).unwrap_or_else(|| {
        errs.push(file, &at.key("layout"), format!("bytes, bits or words, found \"{l}\""));
        Layout::Bytes
    });
    let size = at.int("size", 1, 1 << 20, false, errs).map(|s| s as usize);
    if let Err(e) = back(device, mem, area, &key, layout, size) {
        errs.push(file, path, e);
    }
}

fn from_xml(file: &str, xml: &str, device: &Device, errs: &mut Errors) -> Option<S7Config> {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(d) => d,
        Err(e) => {
            errs.push(file, "", format!("well-formed XML: {e}"));
            return None;
        }
    };
    let now = SystemTime::now();
    let mut identity = default_identity(device, Family::S7300);
    let value_of = |key: &str| device.databus.get(key, now).map(|v| v.to_string());
    for ssl in doc.descendants().filter(|n| n.has_tag_name("ssl")) {
        let list = ssl.attribute("id").unwrap_or_default().to_ascii_lowercase();
        for item in ssl.children().filter(roxmltree::Node::is_element) {
            let id = item.attribute("id").unwrap_or_default().trim_start_matches("W#16#");
            let Ok(id) = u16::from_str_radix(id, 16) else {
                errs.push(
                    file,
                    &format!("ssl/{}/@id", item.tag_name().name()),
                    format!("W#16#xxxx, found {:?}", item.attribute("id")),
                );
                continue;
            };
            let key = item.text().unwrap_or_default().trim();
            let Some(v) = value_of(key) else {
                errs.push(
                    file,
                    &format!("ssl/{}", item.tag_name().name()),
                    format!("a databus key named `{key}`"),
                );
                continue;
            };
            match (list.ends_with("1c"), id, item.tag_name().name()) {
                (true, 1, _) => identity.system_name = v,
                (true, 2, _) => identity.module_name = v,
                (true, 3, _) => identity.plant = v,
                (true, 4, _) => identity.copyright = v,
                (true, 5, _) => identity.serial = v,
                (true, 7, _) => identity.module_type = v,
                (true, 8, _) => identity.memory_card = v,
                (true, 0x0A, _) => identity.oem_id = v,
                (true, 0x0B, _) => identity.location = v,
                (false, 1, _) => identity.order_code = v,
                // An empty (or unreadable) version keeps the persona's: a CPU never
                // reports firmware 0.0.0.
                (false, _, "firmware_identification") => {
                    if let Some(fw) = version(&v) {
                        identity.firmware = fw;
                    }
                }
                (false, 6, _) => {
                    if let Ok(hw) = v.trim().parse() {
                        identity.hardware = hw;
                    }
                }
                _ => {}
            }
        }
    }
    let mut memory = Memory::default();
    for (area, size) in [
        (Area::Inputs, 128),
        (Area::Outputs, 128),
        (Area::Flags, 256),
        (Area::Counters, 512),
        (Area::Timers, 512),
        (Area::Db(1), 256),
    ] {
        let key = format!("s7_{}", area.name());
        if let Err(e) = back(device, &mut memory, area, &key, Layout::Bytes, Some(size)) {
            errs.push(file, "s7comm", e);
        }
    }
    let db1 = Block {
        kind: 0x41,
        number: 1,
        lang: 5,
        author: String::new(),
        family: String::new(),
        name: "DB1".into(),
        version: 0x01,
        code: Vec::new(),
        modified: (14_900, 0),
    };
    let ob1 = Block {
        kind: 0x38,
        number: 1,
        lang: 1,
        name: "OB1".into(),
        code: blocks::synth_code(1, 128),
        ..db1.clone()
    };
    Some(S7Config {
        identity,
        memory,
        blocks: vec![ob1, db1],
        protection: 1,
        password: None,
        max_block: 1 << 20,
        max_blocks: 1024,
        response_time_ms: (0, 0),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions() {
        assert_eq!(super::version("V3.2.8"), Some((3, 2, 8)));
        assert_eq!(super::version("4.1"), Some((4, 1, 0)));
        assert_eq!(super::version("x"), None);
    }
}
