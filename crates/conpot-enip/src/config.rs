//! Building an [`EnipConfig`] from a template section: native TOML (values rendered from
//! the persona) or Conpot's `enip.xml`.

use std::net::Ipv4Addr;
use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::Value;
use conpot_core::template::nav::{Errors, Table as TomlTable};
use conpot_core::template::nav::{xml_child as child, xml_text};
use conpot_core::template::{ProtocolSection, TemplateError};

use crate::device::{EnipConfig, Identity, Network};
use crate::structs::{FIRST_UDT, MAX_STRUCTURES, STRING_HANDLE, Storage, Structure, member_key};
use crate::tags::{MAX_ELEMENTS, Tag, TagType};

/// Builds the configuration of `section` for `device`, creating the databus keys of
/// tags that have none yet.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<EnipConfig, Vec<TemplateError>> {
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

/// Parses a number written in decimal or `0x` hex.
fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A number field: an integer, or a string (rendered from the persona) in decimal or
/// hex; `hex` reads a string without prefix as hex (serial numbers print that way).
fn num(t: &TomlTable<'_>, key: &str, max: u64, hex: bool, device: &Device, errs: &mut Errors) -> Option<u64> {
    let v = match t.get(key)? {
        toml::Value::Integer(i) => u64::try_from(*i).ok(),
        toml::Value::String(s) => {
            let r = render(t.file, &t.key(key), s, device, errs);
            let r = r.trim();
            if hex && !r.starts_with("0x") {
                u64::from_str_radix(&r.replace([' ', '-', ':'], ""), 16).ok()
            } else {
                parse_num(r)
            }
        }
        _ => None,
    };
    match v.filter(|v| *v <= max) {
        Some(v) => Some(v),
        None => {
            errs.push(t.file, &t.key(key), format!("a number from 0 to {max}"));
            None
        }
    }
}

fn text(t: &TomlTable<'_>, key: &str, device: &Device, errs: &mut Errors) -> Option<String> {
    t.str(key, false, errs)
        .map(|s| render(t.file, &t.key(key), s, device, errs))
}

/// Parses a revision `major.minor` (leading `V` allowed, as personas write firmware).
pub fn parse_revision(s: &str) -> Option<(u8, u8)> {
    let s = s.trim().trim_start_matches(['V', 'v']);
    let (a, b) = s.split_once('.')?;
    let b = b.split('.').next()?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Parses a MAC address `aa:bb:cc:dd:ee:ff` (or with dashes).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split([':', '-'])
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<_>>()?;
    parts.try_into().ok()
}

fn default_network(device: &Device) -> Network {
    let p = &device.persona;
    Network {
        ip: p
            .get("ip_address")
            .and_then(|s| s.parse().ok())
            .unwrap_or(Ipv4Addr::new(192, 168, 1, 20)),
        netmask: Ipv4Addr::new(255, 255, 255, 0),
        gateway: Ipv4Addr::new(192, 168, 1, 1),
        hostname: p.get("hostname").unwrap_or_default().to_owned(),
        domain: String::new(),
        mac: p
            .get("mac")
            .and_then(parse_mac)
            .unwrap_or([0x00, 0x00, 0xBC, 0x3E, 0x51, 0x7A]),
        speed: 100,
    }
}

fn from_toml(file: &str, t: &toml::Table, device: &Device, errs: &mut Errors) -> Option<EnipConfig> {
    let root = TomlTable::new(file, "protocols.enip", t);
    root.deny_unknown(
        &[
            "identity",
            "network",
            "tags",
            "structures",
            "slot",
            "response_time_ms",
            "controller_name",
        ],
        errs,
    );
    let controller_name = text(&root, "controller_name", device, errs).unwrap_or_else(|| "PLC".to_owned());
    let slot = root.int("slot", 0, 16, false, errs).unwrap_or(0) as u8;
    let response_time_ms = root.millis_range("response_time_ms", errs);
    let id = root.table("identity", true, errs)?;
    let id = TomlTable::new(file, "protocols.enip.identity", id);
    id.deny_unknown(
        &[
            "vendor_id",
            "device_type",
            "product_code",
            "revision",
            "status",
            "serial",
            "product_name",
            "state",
        ],
        errs,
    );
    let revision = match text(&id, "revision", device, errs) {
        Some(r) => parse_revision(&r).or_else(|| {
            errs.push(
                file,
                &id.key("revision"),
                format!("a revision `major.minor`, found `{r}`"),
            );
            None
        }),
        None => {
            errs.push(file, &id.key("revision"), "a revision `major.minor`");
            None
        }
    };
    let product_name = text(&id, "product_name", device, errs).unwrap_or_default();
    if product_name.is_empty() || product_name.len() > 32 {
        errs.push(file, &id.key("product_name"), "a product name of 1 to 32 bytes");
    }
    let identity = Identity {
        vendor_id: num(&id, "vendor_id", 0xFFFF, false, device, errs).unwrap_or(1) as u16,
        device_type: num(&id, "device_type", 0xFFFF, false, device, errs).unwrap_or(14) as u16,
        product_code: num(&id, "product_code", 0xFFFF, false, device, errs).unwrap_or(0) as u16,
        revision: revision.unwrap_or((1, 1)),
        status: num(&id, "status", 0xFFFF, false, device, errs).unwrap_or(0x3060) as u16,
        serial: num(&id, "serial", 0xFFFF_FFFF, true, device, errs).unwrap_or(0) as u32,
        product_name,
        state: num(&id, "state", 0xFF, false, device, errs).unwrap_or(3) as u8,
    };
    let mut network = default_network(device);
    if let Some(n) = root.table("network", false, errs) {
        let n = TomlTable::new(file, "protocols.enip.network", n);
        n.deny_unknown(
            &["ip_address", "netmask", "gateway", "hostname", "domain", "mac", "speed"],
            errs,
        );
        for (key, slot) in [
            ("ip_address", &mut network.ip),
            ("netmask", &mut network.netmask),
            ("gateway", &mut network.gateway),
        ] {
            if let Some(v) = text(&n, key, device, errs) {
                match v.parse() {
                    Ok(ip) => *slot = ip,
                    Err(_) => errs.push(file, &n.key(key), format!("an IPv4 address, found `{v}`")),
                }
            }
        }
        if let Some(h) = text(&n, "hostname", device, errs) {
            network.hostname = h;
        }
        if let Some(d) = text(&n, "domain", device, errs) {
            network.domain = d;
        }
        if let Some(m) = text(&n, "mac", device, errs) {
            match parse_mac(&m) {
                Some(mac) => network.mac = mac,
                None => errs.push(file, &n.key("mac"), format!("a MAC address, found `{m}`")),
            }
        }
        if let Some(s) = n.int("speed", 10, 100_000, false, errs) {
            network.speed = s as u32;
        }
    }
    let structures = structures(file, &root, errs);
    let mut tags = Vec::new();
    for (path, tt) in root.tables("tags", false, errs) {
        let tt = TomlTable::new(file, &path, tt);
        tt.deny_unknown(&["name", "type", "elements", "key", "address"], errs);
        let (Some(name), Some(ty_name), Some(key)) = (
            tt.str("name", true, errs),
            tt.str("type", true, errs),
            tt.str("key", true, errs),
        ) else {
            continue;
        };
        // STRING is Logix's 88-byte structure here; SSTRING the one-byte-length string.
        if let Some(st) = structures.iter().find(|st| {
            st.name.eq_ignore_ascii_case(ty_name)
                || (st.instance == STRING_HANDLE && ty_name.eq_ignore_ascii_case("STRING"))
        }) {
            if tt.get("elements").is_some() || tt.get("address").is_some() {
                errs.push(
                    file,
                    &tt.key("type"),
                    "a structured tag without `elements` or `address`",
                );
                continue;
            }
            if st.storage == Storage::Text && !device.databus.contains(key) {
                errs.push(file, &tt.key("key"), format!("a databus key named `{key}`"));
                continue;
            }
            // A UDT's members live on `<key>.<member>`; missing ones start at zero.
            for m in st.members.iter().filter(|_| st.storage == Storage::Members) {
                let mk = member_key(key, &m.name);
                if !device.databus.contains(&mk) {
                    device.databus.set(&mk, Value::Int(0));
                }
            }
            tags.push(Tag {
                name: name.to_owned(),
                ty: TagType::Sint,
                elements: 1,
                key: key.to_owned(),
                address: None,
                structure: Some(st.instance),
            });
            continue;
        }
        let Some(ty) = TagType::from_name(ty_name) else {
            errs.push(
                file,
                &tt.key("type"),
                format!("BOOL, SINT, INT, DINT, REAL, SSTRING, STRING or a structure's name, found `{ty_name}`"),
            );
            continue;
        };
        let elements = tt.int("elements", 1, i64::from(MAX_ELEMENTS), false, errs).unwrap_or(1) as u16;
        let address = match tt.str("address", false, errs) {
            None => None,
            Some(a) => parse_address(a).or_else(|| {
                errs.push(
                    file,
                    &tt.key("address"),
                    format!("`class/instance/attribute`, found `{a}`"),
                );
                None
            }),
        };
        if !device.databus.contains(key) {
            errs.push(file, &tt.key("key"), format!("a databus key named `{key}`"));
            continue;
        }
        tags.push(Tag {
            name: name.to_owned(),
            ty,
            elements,
            key: key.to_owned(),
            address,
            structure: None,
        });
    }
    check_tags(file, &tags, errs);
    errs.is_empty().then_some(EnipConfig {
        identity,
        network,
        tags,
        structures,
        controller_name,
        slot,
        response_time_ms,
    })
}

/// The structure types: STRING, then the template's `[[structures]]` (`name`, `members`
/// of `{ name, type }` with atomic types), numbered from template instance 0x100.
fn structures(file: &str, root: &TomlTable<'_>, errs: &mut Errors) -> Vec<Structure> {
    let mut out = vec![Structure::string()];
    for (i, (path, st)) in root.tables("structures", false, errs).into_iter().enumerate() {
        let st = TomlTable::new(file, &path, st);
        st.deny_unknown(&["name", "members"], errs);
        let Some(name) = st.str("name", true, errs) else {
            continue;
        };
        if i >= MAX_STRUCTURES {
            errs.push(file, &path, format!("at most {MAX_STRUCTURES} structures"));
            break;
        }
        let valid = !name.is_empty()
            && name.len() <= 40
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && TagType::from_name(name).is_none()
            && !out
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(name) || name.eq_ignore_ascii_case("STRING"));
        if !valid {
            errs.push(
                file,
                &st.key("name"),
                format!("a new type name of 1 to 40 letters, digits or `_`, found `{name}`"),
            );
            continue;
        }
        let mut members = Vec::new();
        for (mpath, mt) in st.tables("members", true, errs) {
            let mt = TomlTable::new(file, &mpath, mt);
            mt.deny_unknown(&["name", "type"], errs);
            let (Some(m), Some(t)) = (mt.str("name", true, errs), mt.str("type", true, errs)) else {
                continue;
            };
            match TagType::from_name(t).filter(|t| *t != TagType::Sstring) {
                Some(ty)
                    if !m.is_empty()
                        && m.len() <= 40
                        && !members
                            .iter()
                            .any(|(o, _): &(String, TagType)| o.eq_ignore_ascii_case(m)) =>
                {
                    members.push((m.to_owned(), ty));
                }
                _ => errs.push(
                    file,
                    &mt.key("type"),
                    format!("a uniquely named member of BOOL, SINT, INT, DINT or REAL, found `{m}` of `{t}`"),
                ),
            }
        }
        match Structure::udt(name, FIRST_UDT + i as u16, &members) {
            Ok(s) => out.push(s),
            Err(e) => errs.push(file, &st.key("members"), e),
        }
    }
    out
}

fn check_tags(file: &str, tags: &[Tag], errs: &mut Errors) {
    for (i, t) in tags.iter().enumerate() {
        if t.name.is_empty() || t.name.len() > 40 {
            errs.push(file, &format!("tag `{}`", t.name), "a tag name of 1 to 40 bytes");
        }
        if tags.iter().take(i).any(|o| o.name.eq_ignore_ascii_case(&t.name)) {
            errs.push(file, &format!("tag `{}`", t.name), "tag names that differ");
        }
        if t.address.is_some() && tags.iter().take(i).any(|o| o.address == t.address) {
            errs.push(file, &format!("tag `{}`", t.name), "tag addresses that differ");
        }
    }
}

/// Parses Conpot's `class/instance/attribute` tag address.
pub fn parse_address(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.trim().split('/').map(|p| p.trim().parse::<u32>().ok());
    let r = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(r)
}

fn from_xml(file: &str, xml: &str, device: &Device, errs: &mut Errors) -> Option<EnipConfig> {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(d) => d,
        Err(e) => {
            errs.push(file, "", format!("well-formed XML: {e}"));
            return None;
        }
    };
    let root = doc.root_element();
    let info = child(root, "device_info");
    let field = |tag: &str, max: u64, default: u64, errs: &mut Errors| -> u64 {
        match info.and_then(|i| xml_text(i, tag)) {
            None => default,
            Some(t) => match parse_num(t).filter(|v| *v <= max) {
                Some(v) => v,
                None => {
                    errs.push(
                        file,
                        &format!("enip/device_info/{tag}"),
                        format!("a number from 0 to {max}, found `{t}`"),
                    );
                    default
                }
            },
        }
    };
    let revision = field("ProductRevision", 0xFFFF, 0x0B14, errs) as u16;
    let identity = Identity {
        vendor_id: field("VendorId", 0xFFFF, 1, errs) as u16,
        device_type: field("DeviceType", 0xFFFF, 14, errs) as u16,
        product_code: field("ProductCode", 0xFFFF, 54, errs) as u16,
        // Conpot writes the revision as the 16-bit word of the wire (major in the low byte).
        revision: ((revision & 0xFF) as u8, (revision >> 8) as u8),
        status: 0x3060,
        serial: field("SerialNumber", 0xFFFF_FFFF, 0, errs) as u32,
        product_name: info
            .and_then(|i| xml_text(i, "ProductName"))
            .unwrap_or("1756-L61/B LOGIX5561")
            .chars()
            .take(32)
            .collect(),
        state: 3,
    };
    if let Some(mode) = xml_text(root, "mode")
        && !matches!(mode, "tcp" | "udp")
    {
        errs.push(file, "enip/mode", format!("tcp or udp, found `{mode}`"));
    }
    let now = SystemTime::UNIX_EPOCH;
    let mut tags = Vec::new();
    for t in child(root, "tags")
        .into_iter()
        .flat_map(|n| n.children().filter(|c| c.has_tag_name("tag")))
    {
        let name = t.attribute("name").unwrap_or_default().to_owned();
        let path = format!("enip/tags/tag[@name='{name}']");
        let ty_text = xml_text(t, "type").unwrap_or_default();
        let Some(ty) = TagType::from_name(ty_text) else {
            errs.push(
                file,
                &format!("{path}/type"),
                format!("BOOL, SINT, INT, DINT, REAL, SSTRING or STRING, found `{ty_text}`"),
            );
            continue;
        };
        let size_text = xml_text(t, "size").unwrap_or("1");
        let Some(elements) = size_text.parse::<u16>().ok().filter(|n| (1..=MAX_ELEMENTS).contains(n)) else {
            errs.push(
                file,
                &format!("{path}/size"),
                format!("a size from 1 to {MAX_ELEMENTS}, found `{size_text}`"),
            );
            continue;
        };
        let raw = xml_text(t, "value").unwrap_or_default();
        let value = match ty {
            TagType::Sstring => Value::Str(raw.to_owned()),
            TagType::Real => Value::Float(raw.parse().unwrap_or(0.0)),
            TagType::Bool => Value::Bool(matches!(raw.to_ascii_lowercase().as_str(), "1" | "true")),
            _ => Value::Int(raw.parse().unwrap_or(0)),
        };
        let address = match xml_text(t, "addr") {
            None => None,
            Some(a) => parse_address(a).or_else(|| {
                errs.push(
                    file,
                    &format!("{path}/addr"),
                    format!("`class/instance/attribute`, found `{a}`"),
                );
                None
            }),
        };
        // The tag's value lives on the databus under its name, as Conpot's other
        // protocols name their keys.
        let key = name.clone();
        if !device.databus.contains(&key) {
            let v = if elements == 1 {
                value
            } else {
                Value::List(vec![value; usize::from(elements)])
            };
            device.databus.set(&key, v);
        }
        let _ = device.databus.get(&key, now);
        tags.push(Tag {
            name,
            ty,
            elements,
            key,
            address,
            structure: None,
        });
    }
    check_tags(file, &tags, errs);
    errs.is_empty().then_some(EnipConfig {
        identity,
        network: default_network(device),
        tags,
        structures: vec![Structure::string()],
        controller_name: "PLC".to_owned(),
        slot: 0,
        response_time_ms: (0, 0),
    })
}
