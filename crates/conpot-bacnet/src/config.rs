//! Building the device from a template section: native TOML (`[protocols.bacnet]`) or
//! Conpot's `bacnet.xml` (device info and object list).

use conpot_core::Device;
use conpot_core::Value as BusValue;
use conpot_core::databus::Entry;
use conpot_core::template::nav::{Errors, Table};
use conpot_core::template::{ProtocolSection, TemplateError};

use crate::objects::{DeviceSpec, ObjectSpec, ty};

/// Vendor identifiers and names of the ASHRAE list that templates name most.
pub const VENDORS: &[(u32, &str)] = &[
    (2, "The Trane Company"),
    (5, "Johnson Controls Inc."),
    (7, "Siemens Schweiz AG"),
    (8, "Delta Controls"),
    (10, "Schneider Electric"),
    (18, "Alerton / Honeywell"),
    (24, "Automated Logic Corporation"),
];

/// Most objects a template may declare.
pub const MAX_OBJECTS: usize = 1000;

/// Builds the device spec of `section` for `device`.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<DeviceSpec, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(file, t, device, errs),
        |file, x, errs| from_xml(file, x, device, errs),
    )
}

/// An object type's name, as templates write it (`analog-input`, Conpot's `Analog Input`).
pub fn object_type(name: &str) -> Option<u16> {
    let n = name.to_ascii_lowercase().replace([' ', '_'], "-");
    Some(match n.as_str() {
        "analog-input" => ty::ANALOG_INPUT,
        "analog-output" => ty::ANALOG_OUTPUT,
        "analog-value" => ty::ANALOG_VALUE,
        "binary-input" => ty::BINARY_INPUT,
        "binary-output" => ty::BINARY_OUTPUT,
        "binary-value" => ty::BINARY_VALUE,
        "multi-state-input" => ty::MULTI_STATE_INPUT,
        "multi-state-output" => ty::MULTI_STATE_OUTPUT,
        "multi-state-value" => ty::MULTI_STATE_VALUE,
        _ => return None,
    })
}

fn defaults(device: &Device) -> DeviceSpec {
    let p = |k: &str, d: &str| device.persona.get(k).unwrap_or(d).to_owned();
    DeviceSpec {
        instance: 36113,
        name: p("hostname", "BACnet Device"),
        vendor_id: 18,
        vendor_name: "Alerton / Honeywell".into(),
        model: "VAV-DD Controller".into(),
        firmware: p("firmware", "2.03"),
        application: "1.4.0".into(),
        location: p("location", ""),
        description: String::new(),
        max_apdu: 1476,
        protocol_revision: 14,
        objects: Vec::new(),
        response_time_ms: (0, 0),
    }
}

/// Puts an object's initial value on the databus unless the key is already there.
fn bind(device: &Device, key: &str, value: BusValue) {
    if !device.databus.contains(key) {
        device.databus.insert(key, Entry::Value(value));
    }
}

fn from_xml(file: &str, xml: &str, device: &Device, errs: &mut Errors) -> Option<DeviceSpec> {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(d) => d,
        Err(e) => {
            errs.push(file, "", format!("well-formed XML: {e}"));
            return None;
        }
    };
    let mut spec = defaults(device);
    let child = |n: roxmltree::Node<'_, '_>, tag: &str| -> Option<String> {
        n.children()
            .find(|c| c.has_tag_name(tag))
            .and_then(|c| c.text())
            .map(|t| t.trim().to_owned())
    };
    if let Some(info) = doc.descendants().find(|n| n.has_tag_name("device_info")) {
        if let Some(name) = child(info, "device_name") {
            // Conpot serves the text literally; it names a databus key in its templates.
            spec.name = device
                .databus
                .get(&name, std::time::SystemTime::now())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or(name);
        }
        if let Some(id) = child(info, "device_identifier").and_then(|v| v.parse().ok()) {
            spec.instance = id;
        }
        if let Some(v) = child(info, "vendor_name") {
            // Conpot pairs id 15 (Cornell University) with Alerton: the name decides.
            let known = VENDORS.iter().find(|(_, n)| {
                let first = n.split([' ', '/']).next().unwrap_or(n).to_ascii_lowercase();
                v.to_ascii_lowercase().contains(&first)
            });
            match known {
                Some((id, name)) => {
                    spec.vendor_id = *id;
                    spec.vendor_name = (*name).to_owned();
                }
                None => {
                    spec.vendor_name = v;
                    if let Some(id) = child(info, "vendor_identifier").and_then(|v| v.parse().ok()) {
                        spec.vendor_id = id;
                    }
                }
            }
        }
        if let Some(v) = child(info, "model_name") {
            spec.model = v;
        }
        if let Some(v) = child(info, "max_apdu_length_accepted").and_then(|v| v.parse::<usize>().ok()) {
            spec.max_apdu = v.clamp(50, 1476);
        }
    }
    for (i, o) in doc
        .descendants()
        .filter(|n| n.has_tag_name("object"))
        .take(MAX_OBJECTS)
        .enumerate()
    {
        let Some(props) = o.children().find(|c| c.has_tag_name("properties")) else {
            continue;
        };
        let path = format!("object_list/object[{}]", i + 1);
        let Some(ty) = child(props, "object_type").as_deref().and_then(object_type) else {
            // Conpot's access door and other classes this device does not model.
            continue;
        };
        let Some(instance) = child(props, "object_identifier").and_then(|v| v.parse::<u32>().ok()) else {
            errs.push(file, &format!("{path}/object_identifier"), "an instance number");
            continue;
        };
        let name = child(props, "object_name").unwrap_or_else(|| format!("OBJ {instance}"));
        let key = format!("bacnet_{ty}_{instance}");
        let value = child(props, "present_value")
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        bind(device, &key, BusValue::Float(value));
        spec.objects.push(ObjectSpec {
            ty,
            instance,
            name,
            description: String::new(),
            key,
            units: 95,
            states: if matches!(
                ty,
                ty::MULTI_STATE_INPUT | ty::MULTI_STATE_OUTPUT | ty::MULTI_STATE_VALUE
            ) {
                vec!["Off".into(), "On".into()]
            } else {
                Vec::new()
            },
            out_of_service: child(props, "out_of_service").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        });
    }
    Some(spec)
}

fn from_toml(file: &str, table: &toml::Table, device: &Device, errs: &mut Errors) -> Option<DeviceSpec> {
    let t = Table::new(file, "protocols.bacnet", table);
    t.deny_unknown(
        &[
            "device_instance",
            "device_name",
            "vendor_id",
            "vendor_name",
            "model",
            "firmware",
            "application",
            "location",
            "description",
            "max_apdu",
            "response_time_ms",
            "objects",
        ],
        errs,
    );
    let mut spec = defaults(device);
    let text = |t: &Table<'_>, key: &str, errs: &mut Errors| -> Option<String> {
        let v = t.str(key, false, errs)?;
        match device.persona.render(v) {
            Ok(s) => Some(s),
            Err(e) => {
                errs.push(file, &t.key(key), format!("known persona fields only: {e}"));
                None
            }
        }
    };
    if let Some(v) = t.int("device_instance", 0, 4_194_302, false, errs) {
        spec.instance = v as u32;
    }
    if let Some(v) = t.int("vendor_id", 0, 65_535, false, errs) {
        spec.vendor_id = v as u32;
    }
    if let Some(v) = t.int("max_apdu", 50, 1476, false, errs) {
        spec.max_apdu = v as usize;
    }
    for (key, field) in [
        ("device_name", &mut spec.name),
        ("vendor_name", &mut spec.vendor_name),
        ("model", &mut spec.model),
        ("firmware", &mut spec.firmware),
        ("application", &mut spec.application),
        ("location", &mut spec.location),
        ("description", &mut spec.description),
    ] {
        if let Some(v) = text(&t, key, errs) {
            *field = v;
        }
    }
    if let Some((_, name)) = VENDORS.iter().find(|(id, _)| *id == spec.vendor_id)
        && t.get("vendor_name").is_none()
    {
        spec.vendor_name = (*name).to_owned();
    }
    spec.response_time_ms = t.millis_range("response_time_ms", errs);
    let objects = t.tables("objects", false, errs);
    if objects.len() > MAX_OBJECTS {
        errs.push(file, &t.key("objects"), format!("at most {MAX_OBJECTS} objects"));
    }
    for (path, ot) in objects.into_iter().take(MAX_OBJECTS) {
        let o = Table::new(file, &path, ot);
        o.deny_unknown(
            &[
                "type",
                "instance",
                "name",
                "description",
                "key",
                "units",
                "states",
                "out_of_service",
                "value",
            ],
            errs,
        );
        let ty = o.str("type", true, errs).and_then(|s| {
            let t = object_type(s);
            if t.is_none() {
                errs.push(
                    file,
                    &o.key("type"),
                    "an analog, binary or multi-state input, output or value",
                );
            }
            t
        });
        let instance = o.int("instance", 0, 4_194_302, true, errs);
        let name = text(&o, "name", errs);
        let (Some(ty), Some(instance), Some(name)) = (ty, instance, name) else {
            continue;
        };
        let instance = instance as u32;
        if spec
            .objects
            .iter()
            .any(|x| (x.ty == ty && x.instance == instance) || x.name == name)
        {
            errs.push(
                file,
                &path,
                "an object whose type and instance, and name, no other object has",
            );
            continue;
        }
        let key = o
            .str("key", false, errs)
            .map_or_else(|| format!("bacnet_{ty}_{instance}"), str::to_owned);
        if let Some(v) = o.float("value", errs) {
            bind(device, &key, BusValue::Float(v));
        }
        let states = o
            .array("states", false, errs)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .take(64)
                    .collect()
            })
            .unwrap_or_default();
        spec.objects.push(ObjectSpec {
            ty,
            instance,
            name,
            description: text(&o, "description", errs).unwrap_or_default(),
            key,
            units: o.int("units", 0, 65_535, false, errs).map_or(95, |u| u as u32),
            states,
            out_of_service: o.bool("out_of_service", errs).unwrap_or(false),
        });
    }
    Some(spec)
}
