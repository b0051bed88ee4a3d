//! Building a [`ModbusConfig`] from a template section: native TOML or Conpot's
//! `modbus.xml`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::Value;
use conpot_core::template::nav::{Errors, Table as TomlTable};
use conpot_core::template::nav::{xml_child as child, xml_text as text};
use conpot_core::template::{ProtocolSection, TemplateError};

use crate::device::{Block, ModbusConfig, Mode, Slave};
use crate::pdu::Table;

const OBJECT_NAMES: &[(&str, u8)] = &[
    ("vendor_name", 0x00),
    ("product_code", 0x01),
    ("revision", 0x02),
    ("vendor_url", 0x03),
    ("product_name", 0x04),
    ("model_name", 0x05),
    ("user_application_name", 0x06),
];

/// Builds the Modbus configuration of `section` for `device`, preparing the databus
/// lists its blocks use.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<ModbusConfig, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(file, t, device, errs),
        |file, x, errs| from_xml(file, x, device, errs),
    )
}

fn render(file: &str, key: &str, text: &str, device: &Device, errs: &mut Errors) -> String {
    device.persona.render(text).unwrap_or_else(|e| {
        errs.push(file, key, format!("known persona fields only: {e}"));
        String::new()
    })
}

fn from_toml(file: &str, t: &toml::Table, device: &Device, errs: &mut Errors) -> Option<ModbusConfig> {
    let root = TomlTable::new(file, "protocols.modbus", t);
    root.deny_unknown(
        &[
            "mode",
            "identification",
            "server_id",
            "slaves",
            "functions",
            "response_time_ms",
        ],
        errs,
    );
    let mode = match root.str("mode", false, errs).unwrap_or("device") {
        "device" | "tcp" => Mode::Device,
        "gateway" | "serial" => Mode::Gateway,
        other => {
            errs.push(
                file,
                &root.key("mode"),
                format!("\"device\" or \"gateway\", found \"{other}\""),
            );
            Mode::Device
        }
    };
    let mut identification = BTreeMap::new();
    if let Some(it) = root.table("identification", false, errs) {
        let it = TomlTable::new(file, "protocols.modbus.identification", it);
        let names: Vec<&str> = OBJECT_NAMES.iter().map(|(n, _)| *n).collect();
        it.deny_unknown(&names, errs);
        for (name, id) in OBJECT_NAMES {
            if let Some(v) = it.str(name, false, errs) {
                identification.insert(*id, render(file, &it.key(name), v, device, errs).into_bytes());
            }
        }
    }
    let (mut server_id, mut server_id_data) = (vec![0x01], Vec::new());
    if let Some(st) = root.table("server_id", false, errs) {
        let st = TomlTable::new(file, "protocols.modbus.server_id", st);
        st.deny_unknown(&["id", "data"], errs);
        match st.get("id") {
            Some(toml::Value::String(s)) => server_id = render(file, &st.key("id"), s, device, errs).into_bytes(),
            Some(_) => {
                if let Some(id) = st.int("id", 0, 255, false, errs) {
                    server_id = vec![id as u8];
                }
            }
            None => {}
        }
        if let Some(d) = st.str("data", false, errs) {
            server_id_data = render(file, &st.key("data"), d, device, errs).into_bytes();
        }
    }
    let functions = root.array("functions", false, errs).map(|a| {
        a.iter()
            .filter_map(|v| match v.as_integer().and_then(|i| u8::try_from(i).ok()) {
                Some(fc) => Some(fc),
                None => {
                    errs.push(file, &root.key("functions"), "function codes from 0 to 255");
                    None
                }
            })
            .collect()
    });
    let response_time_ms = root.millis_range("response_time_ms", errs);
    let mut slaves = Vec::new();
    for (path, st) in root.tables("slaves", true, errs) {
        let st = TomlTable::new(file, &path, st);
        st.deny_unknown(&["id", "blocks"], errs);
        let id = st.int("id", 0, 255, true, errs).unwrap_or(0) as u8;
        let mut blocks = Vec::new();
        for (j, b) in st.array("blocks", true, errs).into_iter().flatten().enumerate() {
            let bpath = format!("{path}.blocks[{j}]");
            let Some(bt) = b.as_table() else {
                errs.push(file, &bpath, "a table");
                continue;
            };
            let bt = TomlTable::new(file, &bpath, bt);
            bt.deny_unknown(&["table", "start", "size", "key"], errs);
            let table = match bt.str("table", true, errs) {
                Some("coils") => Table::Coils,
                Some("discrete_inputs") => Table::DiscreteInputs,
                Some("holding_registers") => Table::HoldingRegisters,
                Some("input_registers") => Table::InputRegisters,
                Some(other) => {
                    errs.push(
                        file,
                        &bt.key("table"),
                        format!("coils, discrete_inputs, holding_registers or input_registers, found \"{other}\""),
                    );
                    continue;
                }
                None => continue,
            };
            let (Some(start), Some(size), Some(key)) = (
                bt.int("start", 0, 65535, true, errs),
                bt.int("size", 1, 65536, true, errs),
                bt.str("key", true, errs),
            ) else {
                continue;
            };
            if start + size > 65536 {
                errs.push(
                    file,
                    &bt.key("size"),
                    format!("a block that ends by address 65535 (start {start} + size {size})"),
                );
                continue;
            }
            blocks.push(Block {
                table,
                start: start as u16,
                size: size.min(65535) as u16,
                key: key.to_owned(),
            });
        }
        slaves.push(Slave { id, blocks });
    }
    let config = ModbusConfig {
        mode,
        slaves,
        identification,
        server_id,
        server_id_data,
        functions,
        response_time_ms,
    };
    prepare(file, &config, device, errs).map(|sizes| with_sizes(config, sizes))
}

fn from_xml(file: &str, xml: &str, device: &Device, errs: &mut Errors) -> Option<ModbusConfig> {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(d) => d,
        Err(e) => {
            errs.push(file, "", format!("well-formed XML: {e}"));
            return None;
        }
    };
    let root = doc.root_element();
    let mut identification = BTreeMap::new();
    if let Some(di) = child(root, "device_info") {
        for (tag, id) in [("VendorName", 0u8), ("ProductCode", 1), ("MajorMinorRevision", 2)] {
            if let Some(v) = text(di, tag) {
                identification.insert(id, v.as_bytes().to_vec());
            }
        }
    }
    let mode = match text(root, "mode").map(str::to_ascii_lowercase).as_deref() {
        Some("tcp") | None => Mode::Device,
        Some("serial") => Mode::Gateway,
        Some(other) => {
            errs.push(file, "modbus/mode", format!("tcp or serial, found `{other}`"));
            Mode::Device
        }
    };
    if let Some(d) = text(root, "delay")
        && d.parse::<u32>().is_err()
    {
        errs.push(file, "modbus/delay", format!("whole milliseconds, found `{d}`"));
    }
    let mut slaves = Vec::new();
    for s in child(root, "slaves")
        .into_iter()
        .flat_map(|n| n.children().filter(|c| c.has_tag_name("slave")))
    {
        let id_text = s.attribute("id").unwrap_or_default();
        let Ok(id) = id_text.trim().parse::<u8>() else {
            errs.push(
                file,
                "modbus/slaves/slave/@id",
                format!("a unit id from 0 to 255, found `{id_text}`"),
            );
            continue;
        };
        let mut blocks = Vec::new();
        for b in child(s, "blocks")
            .into_iter()
            .flat_map(|n| n.children().filter(|c| c.has_tag_name("block")))
        {
            let name = b.attribute("name").unwrap_or_default().to_owned();
            let path = format!("modbus/slaves/slave[@id='{id}']/blocks/block[@name='{name}']");
            let table = match text(b, "type") {
                Some("COILS") => Table::Coils,
                Some("DISCRETE_INPUTS") => Table::DiscreteInputs,
                Some("HOLDING_REGISTERS") => Table::HoldingRegisters,
                Some("ANALOG_INPUTS") => Table::InputRegisters,
                other => {
                    errs.push(
                        file,
                        &format!("{path}/type"),
                        format!("COILS, DISCRETE_INPUTS, HOLDING_REGISTERS or ANALOG_INPUTS, found {other:?}"),
                    );
                    continue;
                }
            };
            let start = text(b, "starting_address").unwrap_or_default();
            let Ok(start) = start.parse::<u16>() else {
                errs.push(
                    file,
                    &format!("{path}/starting_address"),
                    format!("an address from 0 to 65535, found `{start}`"),
                );
                continue;
            };
            // The block's values are the databus list named after the block (as in Conpot,
            // `<content>` is not read). It serves the `<size>` it declares, where Conpot
            // served the list's length (32 holding registers for slave 2 of its default
            // template, which declares 8); without a `<size>`, the list's length.
            let size = match text(b, "size") {
                None => 0,
                Some(t) => match t.parse::<u32>() {
                    Ok(n) if n >= 1 && u32::from(start) + n <= 65536 => n.min(65535) as u16,
                    _ => {
                        errs.push(
                            file,
                            &format!("{path}/size"),
                            format!(
                                "a size from 1 that ends the block by address 65535 (it starts at {start}), found `{t}`"
                            ),
                        );
                        continue;
                    }
                },
            };
            blocks.push(Block {
                table,
                start,
                size,
                key: name,
            });
        }
        slaves.push(Slave { id, blocks });
    }
    let config = ModbusConfig {
        mode,
        slaves,
        identification,
        server_id: vec![0x01],
        server_id_data: Vec::new(),
        functions: None,
        response_time_ms: (0, 0),
    };
    prepare(file, &config, device, errs).map(|sizes| with_sizes(config, sizes))
}

/// Checks each block's databus key and overlap, pads lists to the declared size, and
/// returns each block's effective size (slave index, block index) in order: the declared
/// size, or the list's length for a block that declares none (size 0, Conpot XML only).
fn prepare(file: &str, config: &ModbusConfig, device: &Device, errs: &mut Errors) -> Option<Vec<u16>> {
    let now = SystemTime::now();
    let mut sizes = Vec::new();
    for s in &config.slaves {
        let first = sizes.len();
        for (i, b) in s.blocks.iter().enumerate() {
            let key = format!("slave {} block `{}`", s.id, b.key);
            let len = device.databus.with(&b.key, now, |v| match v {
                Value::List(l) => Some(l.len()),
                _ => None,
            });
            let size = match len {
                None => {
                    errs.push(file, &key, format!("a databus key named `{}`", b.key));
                    0
                }
                Some(None) => {
                    errs.push(file, &key, format!("databus key `{}` to hold a list", b.key));
                    0
                }
                Some(Some(n)) if b.size == 0 => n.min(65536 - usize::from(b.start)).min(65535) as u16,
                Some(Some(n)) => {
                    if n < usize::from(b.size) && !device.databus.is_emulated(&b.key) {
                        let _ = device.databus.update(&b.key, now, |v| {
                            if let Value::List(l) = v {
                                l.resize(usize::from(b.size), Value::Int(0));
                            }
                        });
                    }
                    b.size
                }
            };
            let end = u32::from(b.start) + u32::from(size);
            for (other, other_size) in s.blocks.iter().take(i).zip(sizes.iter().skip(first)) {
                if other.table == b.table
                    && u32::from(other.start) < end
                    && u32::from(b.start) < u32::from(other.start) + u32::from(*other_size)
                {
                    errs.push(
                        file,
                        &key,
                        format!("no overlap with block `{}` of the same table", other.key),
                    );
                }
            }
            sizes.push(size);
        }
    }
    errs.is_empty().then_some(sizes)
}

fn with_sizes(mut config: ModbusConfig, sizes: Vec<u16>) -> ModbusConfig {
    let mut it = sizes.into_iter();
    for s in &mut config.slaves {
        for b in &mut s.blocks {
            if let Some(n) = it.next() {
                b.size = n;
            }
        }
    }
    config
}
