//! The native TOML template format (see docs/templates.md).

use std::collections::BTreeMap;

use super::nav::{Errors, Table};
use super::{DatabusSpec, EmulatorSpec, FileSource, Meta, ProtocolSection, SectionBody, Template, TemplateError};
use crate::emulators::UptimeUnit;
use crate::expr::Expr;
use crate::persona::{FieldSpec, PersonaSpec};
use crate::value::Value;

pub(super) fn load(name: &str, source: FileSource, text: &str) -> Result<Template, Vec<TemplateError>> {
    let file = source.label("template.toml");
    let root: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        vec![TemplateError {
            file: file.clone(),
            key: String::new(),
            expected: format!("valid TOML: {}", e.to_string().trim()),
        }]
    })?;
    let mut errs = Errors::default();
    let top = Table::new(&file, "", &root);
    top.deny_unknown(
        &[
            "template",
            "persona",
            "databus",
            "protocols",
            "users",
            "groups",
            "auth",
            "credentials",
            "filesystem",
            "network",
        ],
        &mut errs,
    );

    let mut meta = Meta::default();
    if let Some(t) = top.table("template", true, &mut errs) {
        let t = Table::new(&file, "template", t);
        t.deny_unknown(&["unit", "vendor", "description", "protocols", "creator"], &mut errs);
        meta.unit = t.str("unit", true, &mut errs).unwrap_or_default().to_owned();
        meta.vendor = t.str("vendor", true, &mut errs).unwrap_or_default().to_owned();
        meta.description = t.str("description", false, &mut errs).unwrap_or_default().to_owned();
        meta.protocols = t.str("protocols", false, &mut errs).unwrap_or_default().to_owned();
        meta.creator = t.str("creator", false, &mut errs).unwrap_or_default().to_owned();
    }

    let persona = top
        .table("persona", false, &mut errs)
        .map(|t| persona_spec(&file, t, &mut errs))
        .unwrap_or_default();
    let known_fields = persona.field_names();

    let mut databus = Vec::new();
    if let Some(t) = top.table("databus", false, &mut errs) {
        for (key, v) in t {
            let path = format!("databus.{key}");
            if let Some(spec) = databus_spec(&file, &path, v, &known_fields, &mut errs) {
                databus.push((key.clone(), spec));
            }
        }
    }

    let mut protocols = BTreeMap::new();
    if let Some(t) = top.table("protocols", false, &mut errs) {
        for (pname, v) in t {
            let path = format!("protocols.{pname}");
            let Some(body) = v.as_table() else {
                errs.push(&file, &path, "a table");
                continue;
            };
            let sec = Table::new(&file, &path, body);
            let enabled = sec.bool("enabled", &mut errs).unwrap_or(true);
            let host = sec.str("host", false, &mut errs).unwrap_or("0.0.0.0").to_owned();
            if host.parse::<std::net::IpAddr>().is_err() {
                errs.push(
                    &file,
                    &sec.key("host"),
                    format!("an IPv4 or IPv6 address, found `{host}`"),
                );
            }
            let port = sec.int("port", 0, 65535, true, &mut errs).unwrap_or(0) as u16;
            let mut rest = body.clone();
            for k in ["enabled", "host", "port"] {
                rest.remove(k);
            }
            // `conpot_xml = "FILE"`: the section's body is a Conpot protocol XML file of the
            // template folder, read by the protocol's own Conpot reader (what `conpot
            // template import` writes for a Conpot template).
            let (sec_file, body) = match rest.get("conpot_xml") {
                Some(v) => {
                    sec.deny_unknown(&["enabled", "host", "port", "conpot_xml"], &mut errs);
                    match conpot_xml_body(&source, &file, &sec.key("conpot_xml"), v, &mut errs) {
                        Some(found) => found,
                        None => continue,
                    }
                }
                None => (file.clone(), SectionBody::Toml(rest)),
            };
            protocols.insert(
                pname.clone(),
                ProtocolSection {
                    name: pname.clone(),
                    enabled,
                    host,
                    port,
                    file: sec_file,
                    body,
                },
            );
        }
    }

    let mut auth = super::users::read(&file, &top, &known_fields, &mut errs);
    let keys: Vec<&str> = databus.iter().map(|(k, _): &(String, _)| k.as_str()).collect();
    let mut filesystem = super::filesystem::from_toml(&file, &top, &source, &known_fields, &keys, &mut errs);
    let network = super::network::NetworkPersonality::from_toml(&file, &top, &mut errs);
    let mut warnings = Vec::new();
    if protocols.values().any(|p| matches!(p.body, SectionBody::ConpotXml(_))) {
        // Conpot XML sections bring their accounts (FTP, IPMI users) and files (FTP and
        // TFTP folders) as they do in a Conpot template: the accounts are added to the
        // template's own; the files are the device's unless `[filesystem]` declares entries.
        let imported = super::conpot_users::import(&protocols, &mut errs);
        auth.store.extend(imported.store);
        let files = super::filesystem::from_conpot(&protocols, &mut errs, &mut warnings);
        if filesystem.entries.is_empty() {
            filesystem = files;
        } else if !files.entries.is_empty() {
            warnings.push(format!(
                "{file}: [filesystem] declares entries, so the files of the conpot_xml sections (FTP/TFTP folders) are not used"
            ));
        }
    }

    if !errs.is_empty() {
        return Err(errs.0);
    }
    Ok(Template {
        name: name.to_owned(),
        meta,
        source,
        persona,
        databus,
        protocols,
        conpot_xml: false,
        warnings,
        auth,
        filesystem,
        network,
    })
}

/// Largest Conpot XML file a `conpot_xml` key may name.
const MAX_SECTION_XML: usize = 8 << 20;

/// Reads the Conpot XML file a `conpot_xml` key names: a relative path inside the template
/// folder (no `..`), at most 8 MiB of UTF-8. Returns the file's label and the body.
fn conpot_xml_body(
    source: &FileSource,
    file: &str,
    key: &str,
    v: &toml::Value,
    errs: &mut Errors,
) -> Option<(String, SectionBody)> {
    let Some(rel) = v.as_str() else {
        errs.push(file, key, "a file name (string)");
        return None;
    };
    let inside = !rel.is_empty()
        && !rel.starts_with('/')
        && !rel.contains('\\')
        && rel
            .split('/')
            .all(|part| !part.is_empty() && part != ".." && part != ".");
    if !inside {
        errs.push(
            file,
            key,
            format!("a relative path inside the template folder, found `{rel}`"),
        );
        return None;
    }
    let Some(bytes) = source.read(rel) else {
        errs.push(
            file,
            key,
            format!("an existing file, `{}` is missing", source.label(rel)),
        );
        return None;
    };
    if bytes.len() > MAX_SECTION_XML {
        errs.push(file, key, format!("a file under 8 MiB, `{rel}` is larger"));
        return None;
    }
    match String::from_utf8(bytes) {
        Ok(text) => Some((source.label(rel), SectionBody::ConpotXml(text))),
        Err(_) => {
            errs.push(file, key, format!("UTF-8 XML in `{rel}`"));
            None
        }
    }
}

fn field_spec(file: &str, path: &str, v: &toml::Value, errs: &mut Errors) -> Option<FieldSpec> {
    match v {
        toml::Value::String(s) => Some(FieldSpec::Fixed(s.clone())),
        toml::Value::Array(a) => {
            let items: Option<Vec<String>> = a.iter().map(|x| x.as_str().map(str::to_owned)).collect();
            match items {
                Some(items) if !items.is_empty() => Some(FieldSpec::Choice(items)),
                _ => {
                    errs.push(file, path, "a non-empty array of strings");
                    None
                }
            }
        }
        toml::Value::Table(t) => match t.get("pattern").and_then(toml::Value::as_str) {
            Some(p) if t.len() == 1 => Some(FieldSpec::Pattern(p.to_owned())),
            _ => {
                errs.push(file, path, "{ pattern = \"...\" }");
                None
            }
        },
        other => {
            errs.push(
                file,
                path,
                format!(
                    "a string, an array of strings or {{ pattern = \"...\" }}, found {}",
                    other.type_str()
                ),
            );
            None
        }
    }
}

fn persona_spec(file: &str, t: &toml::Table, errs: &mut Errors) -> PersonaSpec {
    let mut spec = PersonaSpec::default();
    for (k, v) in t {
        if k == "variants" {
            let Some(list) = v.as_array() else {
                errs.push(file, "persona.variants", "an array of tables");
                continue;
            };
            for (i, item) in list.iter().enumerate() {
                let Some(vt) = item.as_table() else {
                    errs.push(file, &format!("persona.variants[{i}]"), "a table");
                    continue;
                };
                let mut fields = BTreeMap::new();
                for (fk, fv) in vt {
                    if let Some(f) = field_spec(file, &format!("persona.variants[{i}].{fk}"), fv, errs) {
                        fields.insert(fk.clone(), f);
                    }
                }
                spec.variants.push(fields);
            }
        } else if let Some(f) = field_spec(file, &format!("persona.{k}"), v, errs) {
            spec.fields.insert(k.clone(), f);
        }
    }
    spec
}

/// Checks that every `{persona.NAME}` in `text` names a field of the persona.
pub(super) fn check_refs(file: &str, path: &str, text: &str, known: &[String], errs: &mut Errors) {
    let mut rest = text;
    while let Some(i) = rest.find("{persona.") {
        let after = rest.get(i + 9..).unwrap_or_default();
        let Some(end) = after.find('}') else { break };
        let name = after.get(..end).unwrap_or_default();
        if !known.iter().any(|k| k == name) {
            errs.push(
                file,
                path,
                format!(
                    "a persona field in `{{persona.{name}}}` (the persona has: {})",
                    known.join(", ")
                ),
            );
        }
        rest = after.get(end..).unwrap_or_default();
    }
}

fn literal(v: &toml::Value) -> Option<Value> {
    Some(match v {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Integer(i) => Value::Int(i128::from(*i)),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Array(a) => Value::List(a.iter().map(literal).collect::<Option<Vec<_>>>()?),
        _ => return None,
    })
}

fn databus_spec(file: &str, path: &str, v: &toml::Value, known: &[String], errs: &mut Errors) -> Option<DatabusSpec> {
    match v {
        toml::Value::String(s) => {
            check_refs(file, path, s, known, errs);
            Some(if s.contains("{persona.") {
                DatabusSpec::Text(s.clone())
            } else {
                DatabusSpec::Value(Value::Str(s.clone()))
            })
        }
        toml::Value::Table(t) => {
            let tv = Table::new(file, path, t);
            if let Some(e) = t.get("expr") {
                tv.deny_unknown(&["expr"], errs);
                let Some(text) = e.as_str() else {
                    errs.push(file, &format!("{path}.expr"), "a string");
                    return None;
                };
                return match Expr::parse(text) {
                    Ok(e) => Some(DatabusSpec::Expr(e)),
                    Err(e) => {
                        errs.push(file, &format!("{path}.expr"), format!("a template expression: {e}"));
                        None
                    }
                };
            }
            let Some(kind) = tv.str("emulator", false, errs) else {
                errs.push(file, path, "a value, { expr = \"...\" } or { emulator = \"...\" }");
                return None;
            };
            let spec = match kind {
                "uptime" => {
                    tv.deny_unknown(&["emulator", "unit"], errs);
                    match tv.str("unit", false, errs).unwrap_or("seconds") {
                        "seconds" => EmulatorSpec::Uptime(UptimeUnit::Seconds),
                        "hundredths" => EmulatorSpec::Uptime(UptimeUnit::Hundredths),
                        other => {
                            errs.push(
                                file,
                                &tv.key("unit"),
                                format!("\"seconds\" or \"hundredths\", found \"{other}\""),
                            );
                            return None;
                        }
                    }
                }
                "random_int" => {
                    tv.deny_unknown(&["emulator", "min", "max"], errs);
                    EmulatorSpec::RandomInt(
                        tv.int("min", i64::MIN, i64::MAX, true, errs)?,
                        tv.int("max", i64::MIN, i64::MAX, true, errs)?,
                    )
                }
                "random_float" => {
                    tv.deny_unknown(&["emulator", "min", "max", "digits"], errs);
                    EmulatorSpec::RandomFloat(
                        tv.float("min", errs)?,
                        tv.float("max", errs)?,
                        tv.int("digits", 0, 15, false, errs).unwrap_or(2) as i32,
                    )
                }
                "random_bits" => {
                    tv.deny_unknown(&["emulator", "len"], errs);
                    EmulatorSpec::RandomBits(tv.int("len", 1, 65536, true, errs)? as usize)
                }
                "counter" => {
                    tv.deny_unknown(&["emulator", "base", "rate", "modulus"], errs);
                    EmulatorSpec::Counter(
                        tv.int("base", 0, i64::MAX, false, errs).unwrap_or(0),
                        tv.float("rate", errs).unwrap_or(1.0),
                        tv.int("modulus", 0, i64::MAX, false, errs).unwrap_or(0) as u64,
                    )
                }
                "drift" => {
                    tv.deny_unknown(&["emulator", "len", "min", "max", "period"], errs);
                    EmulatorSpec::Drift {
                        len: tv.int("len", 1, 65536, true, errs)? as usize,
                        min: tv.float("min", errs).unwrap_or(0.0),
                        max: tv.float("max", errs).unwrap_or(1000.0),
                        period: tv.float("period", errs).unwrap_or(600.0).max(1.0),
                    }
                }
                "datetime" => {
                    tv.deny_unknown(&["emulator"], errs);
                    EmulatorSpec::Datetime
                }
                other => {
                    errs.push(
                        file,
                        &tv.key("emulator"),
                        format!("one of uptime, random_int, random_float, random_bits, counter, drift, datetime; found \"{other}\""),
                    );
                    return None;
                }
            };
            Some(DatabusSpec::Emulator(spec))
        }
        other => match literal(other) {
            Some(v) => Some(DatabusSpec::Value(v)),
            None => {
                errs.push(file, path, "a value of a basic type");
                None
            }
        },
    }
}
