//! Import of Conpot's XML template folders.

use std::collections::BTreeMap;

use super::nav::Errors;
use super::{DatabusSpec, FileSource, Meta, ProtocolSection, SectionBody, Template, TemplateError, conpot_emulator};
use crate::expr::Expr;
use crate::persona::{FieldSpec, PersonaSpec};

/// Conpot's protocol folders, in its start order.
pub const CONPOT_PROTOCOLS: &[&str] = &[
    "bacnet",
    "enip",
    "ftp",
    "guardian_ast",
    "http",
    "IEC104",
    "ipmi",
    "kamstrup_management",
    "kamstrup_meter",
    "modbus",
    "s7comm",
    "snmp",
    "tftp",
];

/// Largest XML file read.
pub(super) const MAX_XML: usize = 8 << 20;

pub(super) fn load(name: &str, source: FileSource) -> Result<Template, Vec<TemplateError>> {
    let file = source.label("template.xml");
    let text = source.read_text("template.xml").ok_or_else(|| {
        vec![TemplateError {
            file: file.clone(),
            key: String::new(),
            expected: "readable UTF-8 XML".into(),
        }]
    })?;
    if text.len() > MAX_XML {
        return Err(vec![TemplateError {
            file,
            key: String::new(),
            expected: "a file under 8 MiB".into(),
        }]);
    }
    let doc = roxmltree::Document::parse(&text).map_err(|e| {
        vec![TemplateError {
            file: file.clone(),
            key: String::new(),
            expected: format!("well-formed XML: {e}"),
        }]
    })?;
    let mut errs = Errors::default();
    let root = doc.root_element();
    if root.tag_name().name() != "core" {
        errs.push(&file, root.tag_name().name(), "the root element <core>");
    }

    let mut meta = Meta::default();
    for ent in root
        .descendants()
        .filter(|n| n.has_tag_name("entity") && n.parent().is_some_and(|p| p.has_tag_name("template")))
    {
        let v = ent.text().unwrap_or_default().trim().to_owned();
        match ent.attribute("name") {
            Some("unit") => meta.unit = v,
            Some("vendor") => meta.vendor = v,
            Some("description") => meta.description = v,
            Some("protocols") => meta.protocols = v,
            Some("creator") => meta.creator = v,
            _ => {}
        }
    }

    let mut databus = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for key in root.descendants().filter(|n| n.has_tag_name("key")) {
        let Some(kname) = key.attribute("name") else {
            errs.push(&file, "databus/key_value_mappings/key", "a `name` attribute");
            continue;
        };
        let path = format!("key[@name='{kname}']");
        if !seen.insert(kname.to_owned()) {
            errs.push(&file, &path, "a unique key name (duplicate)");
            continue;
        }
        let Some(value) = key.children().find(|n| n.has_tag_name("value")) else {
            errs.push(&file, &path, "a <value> element");
            continue;
        };
        let text = value.text().unwrap_or_default().trim();
        match value.attribute("type") {
            Some("value") => match Expr::parse(text) {
                Ok(e) => databus.push((kname.to_owned(), DatabusSpec::Expr(e))),
                Err(e) => errs.push(&file, &format!("{path}/value"), format!("a template expression: {e}")),
            },
            Some("function") => match conpot_emulator(text) {
                Some(spec) => databus.push((kname.to_owned(), spec)),
                None => {
                    warnings.push(format!(
                        "{file}: {path}: emulator `{text}` is not supported yet; the key reads as empty"
                    ));
                    databus.push((kname.to_owned(), DatabusSpec::Value(crate::value::Value::Null)));
                }
            },
            other => errs.push(
                &file,
                &format!("{path}/value"),
                format!("type=\"value\" or type=\"function\", found {other:?}"),
            ),
        }
    }

    let mut protocols = BTreeMap::new();
    for pname in CONPOT_PROTOCOLS {
        let rel = format!("{pname}/{pname}.xml");
        let Some(bytes) = source.read(&rel) else {
            continue;
        };
        let pfile = source.label(&rel);
        let Ok(ptext) = String::from_utf8(bytes) else {
            errs.push(&pfile, "", "UTF-8 XML");
            continue;
        };
        match section(pname, &pfile, ptext) {
            Ok(sec) => {
                protocols.insert((*pname).to_owned(), sec);
            }
            Err(e) => errs.0.push(e),
        }
    }

    super::conpot_proxy::import(&source, &mut protocols, &mut errs, &mut warnings);

    let auth = super::conpot_users::import(&protocols, &mut errs);

    let filesystem = super::filesystem::from_conpot(&protocols, &mut errs, &mut warnings);
    if !errs.is_empty() {
        return Err(errs.0);
    }
    Ok(Template {
        name: name.to_owned(),
        persona: fallback_persona(&meta),
        meta,
        source,
        databus,
        protocols,
        conpot_xml: true,
        warnings,
        auth,
        filesystem,
        // Conpot templates say nothing of the stack: the system's defaults.
        network: Default::default(),
    })
}

fn section(pname: &str, file: &str, text: String) -> Result<ProtocolSection, TemplateError> {
    let err = |key: &str, expected: String| TemplateError {
        file: file.to_owned(),
        key: key.to_owned(),
        expected,
    };
    if text.len() > MAX_XML {
        return Err(err("", "a file under 8 MiB".into()));
    }
    let doc = roxmltree::Document::parse(&text).map_err(|e| err("", format!("well-formed XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != pname {
        return Err(err(root.tag_name().name(), format!("the root element <{pname}>")));
    }
    let enabled = match root.attribute("enabled").map(str::trim) {
        Some("True" | "true" | "1") => true,
        Some("False" | "false" | "0") | None => false,
        Some(other) => {
            return Err(err(
                &format!("{pname}/@enabled"),
                format!("True or False, found `{other}`"),
            ));
        }
    };
    let host = root.attribute("host").unwrap_or("0.0.0.0").trim().to_owned();
    if host.parse::<std::net::IpAddr>().is_err() {
        return Err(err(&format!("{pname}/@host"), format!("an IP address, found `{host}`")));
    }
    let port_text = root.attribute("port").unwrap_or_default().trim();
    let port = port_text
        .parse::<u16>()
        .map_err(|_| err(&format!("{pname}/@port"), format!("a port number, found `{port_text}`")))?;
    Ok(ProtocolSection {
        name: pname.to_owned(),
        enabled,
        host,
        port,
        file: file.to_owned(),
        body: SectionBody::ConpotXml(text),
    })
}

/// The persona of an imported Conpot template: the template's own values stay as they
/// are; these fields serve the protocols that ask for identity the XML does not give.
fn fallback_persona(meta: &Meta) -> PersonaSpec {
    let mut fields = BTreeMap::new();
    let fixed = |s: &str| FieldSpec::Fixed(s.to_owned());
    fields.insert("vendor".to_owned(), fixed(&meta.vendor));
    fields.insert("product".to_owned(), fixed(&meta.unit));
    fields.insert("serial".to_owned(), FieldSpec::Pattern("S C-@%%#######".into()));
    fields.insert("mac".to_owned(), FieldSpec::Pattern("00:1B:1B:%%:%%:%%".into()));
    fields.insert("hostname".to_owned(), FieldSpec::Pattern("plc-####".into()));
    fields.insert("ip_address".to_owned(), FieldSpec::Pattern("192.168.1#.1##".into()));
    // For the versions a template leaves empty (Conpot's default does, for S7).
    fields.insert(
        "firmware".to_owned(),
        FieldSpec::Choice(["V3.2.6", "V3.2.8", "V3.2.10", "V3.2.12"].map(String::from).to_vec()),
    );
    fields.insert("hardware".to_owned(), fixed("1"));
    PersonaSpec {
        fields,
        variants: Vec::new(),
    }
}
