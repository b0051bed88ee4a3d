//! `conpot template import DIR`: turns a Conpot template folder into a native TOML template.
//!
//! The folder is read by the one Conpot XML reader there is (`Template::load`), so what the
//! imported template serves is what the XML folder serves. The output holds the template's
//! entries, a `[persona]`, the databus in TOML (each `<value type="value">` as a TOML value
//! or `{ expr = ... }`, each emulator as `{ emulator = ... }`) and one `[protocols.NAME]`
//! table per protocol whose body stays the protocol's Conpot XML file (`conpot_xml = ...`),
//! read by that protocol's own Conpot reader. Every file of the folder is copied beside it,
//! so the HTTP pages, certificates and MIB files the XML names are found at the same paths.
//! Conpot's stock values, which scanners use to recognise a stock Conpot, get a `TELL`
//! comment saying how to make them per-deployment persona values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use conpot_core::emulators::UptimeUnit;
use conpot_core::expr::Expr;
use conpot_core::persona::FieldSpec;
use conpot_core::template::{DatabusSpec, EmulatorSpec, SectionBody, Template};
use conpot_core::value::Value;

/// Most files copied from a template folder.
const MAX_FILES: usize = 10_000;
/// Most bytes copied in all.
const MAX_BYTES: u64 = 256 << 20;
/// Deepest folder level copied.
const MAX_DEPTH: usize = 16;

/// A value a stock Conpot template ships, known to public scanners as a Conpot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tell {
    /// The text as it appears in the template.
    pub needle: &'static str,
    /// Why it gives the honeypot away.
    pub what: &'static str,
    /// The persona field that should hold a per-deployment value instead.
    pub field: &'static str,
    /// How that field is drawn (a `[persona]` value in TOML).
    pub spec: &'static str,
}

/// System descriptions real Siemens communication processors give (one is drawn).
const SIEMENS_DESCRIPTIONS: &str = "[\"Siemens, SIMATIC NET, CP 343-1 Lean, 6GK7 343-1CX10-0XE0, HW: Version 3, FW: Version V2.2.20\", \"Siemens, SIMATIC NET, CP 343-1, 6GK7 343-1EX30-0XE0, HW: Version 4, FW: Version V3.0.12\", \"Siemens, SIMATIC NET, CP 443-1, 6GK7 443-1EX20-0XE0, HW: Version 2, FW: Version V2.1.4\"]";

/// Conpot's stock values (docs/reference: realism.md, conpot-behaviour.md section 5).
pub const TELLS: &[Tell] = &[
    Tell {
        needle: "Technodrome",
        what: "Conpot's stock system name (S7 SZL 0x001C, FTP banner, HTTP pages)",
        field: "system_name",
        spec: "{ pattern = \"@@@-PLC-##\" }",
    },
    Tell {
        needle: "Mouser Factory",
        what: "Conpot's stock plant name (S7 plant id, FTP banner)",
        field: "plant",
        spec: "[\"Pumpwerk Nord\", \"WTP Line 2\", \"Klaeranlage Sued\", \"Hochbehaelter Ost\"]",
    },
    Tell {
        needle: "88111222",
        what: "Conpot's stock S7 serial number",
        field: "serial",
        spec: "{ pattern = \"S C-@%%#######\" }",
    },
    Tell {
        needle: "IM151-8 PN/DP CPU",
        what: "Conpot's stock S7 module type (it contradicts the S7-200 module name)",
        field: "module_type",
        spec: "[\"CPU 315-2 PN/DP\", \"CPU 317-2 PN/DP\"]",
    },
    Tell {
        needle: "Original Siemens Equipment",
        what: "Conpot's stock S7 copyright entry (real CPUs show it too: keep it, but with the other stock values it marks a stock Conpot)",
        field: "copyright",
        spec: "\"Original Siemens Equipment\"",
    },
    Tell {
        needle: "Siemens, SIMATIC, S7-200",
        what: "Conpot's stock device description (sysDescr, S7 module name, HTTP title)",
        field: "description",
        spec: SIEMENS_DESCRIPTIONS,
    },
    Tell {
        needle: "Siemens, SIMATIC, S7-300",
        what: "the stock device description of Conpot's IEC104 template",
        field: "description",
        spec: SIEMENS_DESCRIPTIONS,
    },
    Tell {
        needle: "CP 443-1 EX40",
        what: "Conpot's stock sysName",
        field: "hostname",
        spec: "{ pattern = \"plc-####\" }",
    },
    Tell {
        needle: "CP 343-1 IT",
        what: "the stock system name of Conpot's IEC104 template",
        field: "hostname",
        spec: "{ pattern = \"plc-####\" }",
    },
    Tell {
        needle: "Venus",
        what: "Conpot's stock sysLocation",
        field: "location",
        spec: "[\"Schaltraum 2\", \"Pump house B\", \"Halle 3 / Achse 14\", \"MCC room\"]",
    },
    Tell {
        needle: "Siemens AG",
        what: "Conpot's stock sysContact",
        field: "contact",
        spec: "{ pattern = \"instandhaltung-##\\\\@example.net\" }",
    },
    Tell {
        needle: "Compagnie Generale des Eaux",
        what: "the stock facility name of Conpot's IEC104 template",
        field: "plant",
        spec: "[\"Pumpwerk Nord\", \"WTP Line 2\", \"Klaeranlage Sued\", \"Hochbehaelter Ost\"]",
    },
    Tell {
        needle: "163.172.189.137",
        what: "the stock address in the IP, TCP and UDP tables of Conpot's IEC104 template",
        field: "ip_address",
        spec: "{ pattern = \"192.168.1#.1##\" }",
    },
    Tell {
        needle: "0x000e8c29c51a",
        what: "the stock MAC address of Conpot's IEC104 template (served as literal text)",
        field: "mac",
        spec: "{ pattern = \"00:1B:1B:%%:%%:%%\" }",
    },
    Tell {
        needle: "0x1e28",
        what: "Conpot's stock IEC 104 common address 7720",
        field: "common_address",
        spec: "{ pattern = \"1###\" }",
    },
    Tell {
        needle: "1.3.6.1.4.1.20408",
        what: "the sysObjectID of Conpot's SNMP library, not of any device",
        field: "sys_object_id",
        spec: "\"1.3.6.1.4.1.4329.6.1.2\"",
    },
    Tell {
        needle: "Alerton",
        what: "Conpot's stock BACnet vendor (id 15, model VAV-DD Controller)",
        field: "bacnet_vendor",
        spec: "\"Siemens Building Technologies\"",
    },
    Tell {
        needle: "VAV-DD Controller",
        what: "Conpot's stock BACnet model name",
        field: "bacnet_model",
        spec: "[\"PXC100-E.D\", \"PXC128-U\"]",
    },
    Tell {
        needle: "1756-L61/B LOGIX5561",
        what: "Conpot's stock EtherNet/IP product name",
        field: "enip_product",
        spec: "[\"1756-L71/B LOGIX5571\", \"1756-L72/B LOGIX5572\"]",
    },
    Tell {
        needle: "19 May 1993",
        what: "Conpot's stock HTTP Last-Modified date",
        field: "http_last_modified",
        spec: "{ pattern = \"Tue, 1# Mar 2019 0#:2#:1# GMT\" }",
    },
    Tell {
        needle: "test_user",
        what: "Conpot's stock FTP account (password `test`)",
        field: "ftp_user",
        spec: "{ pattern = \"service##\" }",
    },
    Tell {
        needle: "OpPassword",
        what: "Conpot's stock IPMI accounts with their published passwords (Administrator/Password, Operator/OpPassword, User1/U1Password ...)",
        field: "bmc_password",
        spec: "{ pattern = \"*********\" }",
    },
    Tell {
        needle: "STATOIL STATION",
        what: "Conpot's stock Guardian AST station name",
        field: "station",
        spec: "{ pattern = \"STATION ####\" }",
    },
    Tell {
        needle: "15085488",
        what: "Conpot's stock Kamstrup meter serial number",
        field: "meter_serial",
        spec: "{ pattern = \"########\" }",
    },
    Tell {
        needle: "00:13:EA:00:00:00",
        what: "Conpot's stock Kamstrup MAC address (the management banner shows it)",
        field: "meter_mac",
        spec: "{ pattern = \"00:13:EA:%%:%%:%%\" }",
    },
    Tell {
        needle: "kapserver.evilpowerprovider.org",
        what: "Conpot's stock Kamstrup KAP server name",
        field: "kap_server",
        spec: "{ pattern = \"kap##.example-energy.net\" }",
    },
    Tell {
        needle: "202.202.202.1",
        what: "Conpot's stock Kamstrup KAP server address",
        field: "kap_server_ip",
        spec: "{ pattern = \"10.1#.#.1#\" }",
    },
    Tell {
        needle: "192.168.1.210",
        what: "Conpot's stock Kamstrup meter address",
        field: "ip_address",
        spec: "{ pattern = \"192.168.1#.1##\" }",
    },
    Tell {
        needle: "A1 06 A1 02 B7 34 12 00 00 03",
        what: "Conpot's stock Kamstrup meter number",
        field: "meter_number",
        spec: "{ pattern = \"A1 06 A1 02 %% %% 12 00 00 03\" }",
    },
];

/// The tells whose text occurs in `text`.
pub fn tells_in(text: &str) -> impl Iterator<Item = &'static Tell> + '_ {
    TELLS.iter().filter(move |t| text.contains(t.needle))
}

/// What an import wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// The TOML template text.
    pub toml: String,
    /// Files written beside it besides the copied ones: (relative path, contents).
    pub sections: Vec<(String, String)>,
    /// How many tells were marked.
    pub tells: usize,
}

/// Converts a loaded Conpot template (`template.conpot_xml`) to TOML. `files` are the
/// relative paths of the folder's files, to mark Conpot's shipped test pages. Pure: the
/// caller writes the result.
pub fn convert(template: &Template, origin: &str, files: &[String]) -> Imported {
    let mut out = String::new();
    let mut tells = 0usize;
    let mut wanted: BTreeMap<&'static str, &'static str> = BTreeMap::new();
    let _ = writeln!(
        out,
        "# Imported by `conpot template import` from the Conpot template folder"
    );
    let _ = writeln!(out, "# {origin}");
    let _ = writeln!(
        out,
        "# Values stay as Conpot's template has them; lines marked TELL are Conpot's stock values,"
    );
    let _ = writeln!(
        out,
        "# which scanners recognise. Each protocol's settings stay in its Conpot XML file (conpot_xml)."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "[template]");
    for (k, v) in [
        ("unit", &template.meta.unit),
        ("vendor", &template.meta.vendor),
        ("description", &template.meta.description),
        ("protocols", &template.meta.protocols),
        ("creator", &template.meta.creator),
    ] {
        if k == "unit" || k == "vendor" || !v.is_empty() {
            let _ = writeln!(out, "{k} = {}", quote(v));
        }
    }
    for f in files.iter().filter(|f| f.contains("unittest_")) {
        let _ = writeln!(
            out,
            "# TELL: `{f}` is one of the unit-test pages Conpot ships in its htdocs; delete it."
        );
        tells += 1;
    }

    // The databus, with its tells (the persona fields they want are gathered first).
    let mut bus = String::new();
    for (key, spec) in &template.databus {
        let value = databus_value(spec);
        tells += note(&mut bus, &value, &mut wanted);
        let _ = writeln!(bus, "{} = {value}", toml_key(key));
    }

    let mut protos = String::new();
    let mut sections = Vec::new();
    for (name, sec) in &template.protocols {
        let rel = match name.strip_prefix("proxy.") {
            Some(slug) => format!("proxy/{slug}.xml"),
            None => format!("{name}/{name}.xml"),
        };
        let _ = writeln!(protos);
        let _ = writeln!(protos, "[protocols.{}]", toml_key(name));
        if let SectionBody::ConpotXml(text) = &sec.body {
            tells += note(&mut protos, text, &mut wanted);
            sections.push((rel.clone(), text.clone()));
        }
        let _ = writeln!(protos, "enabled = {}", sec.enabled);
        let _ = writeln!(protos, "host = {}", quote(&sec.host));
        let _ = writeln!(protos, "port = {}", sec.port);
        match &sec.body {
            SectionBody::ConpotXml(_) => {
                let _ = writeln!(protos, "conpot_xml = {}", quote(&rel));
            }
            // A section the Conpot reader already made native (a TLS `<proxy>`): its keys.
            SectionBody::Toml(table) => {
                for (k, v) in table
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "enabled" | "host" | "port"))
                {
                    let _ = writeln!(protos, "{} = {v}", toml_key(k));
                }
            }
        }
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "[persona]");
    let _ = writeln!(
        out,
        "# Drawn once per deployment and kept in the state folder (delete its persona file for a new device)."
    );
    for (k, f) in &template.persona.fields {
        let _ = writeln!(out, "{} = {}", toml_key(k), field_value(f));
    }
    let extra: Vec<_> = wanted
        .iter()
        .filter(|(k, _)| !template.persona.fields.contains_key(**k))
        .collect();
    if !extra.is_empty() {
        let _ = writeln!(
            out,
            "# Per-deployment values for the TELL lines below (unused until a value refers to them, but for common_address, which the IEC 104 station reads from the persona itself):"
        );
        for (k, spec) in extra {
            let _ = writeln!(out, "{k} = {spec}");
        }
    }
    if !bus.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "[databus]");
        out.push_str(&bus);
    }
    out.push_str(&protos);
    Imported {
        toml: out,
        sections,
        tells,
    }
}

/// Writes a TELL comment for every tell in `text`, notes the persona field each wants,
/// and returns how many it wrote.
fn note(out: &mut String, text: &str, wanted: &mut BTreeMap<&'static str, &'static str>) -> usize {
    let mut n = 0;
    for t in tells_in(text) {
        n += 1;
        wanted.entry(t.field).or_insert(t.spec);
        let _ = writeln!(
            out,
            "# TELL: \"{}\" is {}. Per deployment: write \"{{persona.{}}}\" in its place; [persona] {} draws a value once per deployment and keeps it.",
            t.needle, t.what, t.field, t.field
        );
    }
    n
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A bare TOML key when it may be one, else a quoted one.
fn toml_key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_owned()
    } else {
        quote(k)
    }
}

fn field_value(f: &FieldSpec) -> String {
    match f {
        FieldSpec::Fixed(s) => quote(s),
        FieldSpec::Choice(items) => {
            let items: Vec<String> = items.iter().map(|s| quote(s)).collect();
            format!("[{}]", items.join(", "))
        }
        FieldSpec::Pattern(p) => format!("{{ pattern = {} }}", quote(p)),
    }
}

/// A value as a native TOML value, when TOML has one that reads back as the same value.
fn toml_literal(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Str(s) if !s.contains("{persona.") => toml::Value::String(s.clone()),
        Value::Int(i) => toml::Value::Integer(i64::try_from(*i).ok()?),
        Value::Float(f) if f.is_finite() => toml::Value::Float(*f),
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::List(items) => toml::Value::Array(items.iter().map(toml_literal).collect::<Option<_>>()?),
        _ => return None,
    })
}

/// The value of an expression without randomness (a literal, or a list of them).
fn constant(e: &Expr) -> Option<Value> {
    match e {
        Expr::Literal(v) => Some(v.clone()),
        Expr::List(items) => Some(Value::List(items.iter().map(constant).collect::<Option<_>>()?)),
        _ => None,
    }
}

/// The TOML text of one databus entry.
fn databus_value(spec: &DatabusSpec) -> String {
    let expr = |e: &Expr| format!("{{ expr = {} }}", quote(&e.to_source()));
    match spec {
        DatabusSpec::Value(v) => toml_literal(v).map_or_else(|| expr(&Expr::Literal(v.clone())), |t| t.to_string()),
        DatabusSpec::Expr(e) => constant(e)
            .and_then(|v| toml_literal(&v))
            .map_or_else(|| expr(e), |t| t.to_string()),
        DatabusSpec::Text(t) => quote(t),
        DatabusSpec::Emulator(em) => match em {
            EmulatorSpec::Uptime(UptimeUnit::Seconds) => "{ emulator = \"uptime\", unit = \"seconds\" }".into(),
            EmulatorSpec::Uptime(UptimeUnit::Hundredths) => "{ emulator = \"uptime\", unit = \"hundredths\" }".into(),
            EmulatorSpec::RandomInt(lo, hi) => format!("{{ emulator = \"random_int\", min = {lo}, max = {hi} }}"),
            EmulatorSpec::RandomFloat(lo, hi, d) => {
                format!("{{ emulator = \"random_float\", min = {lo:?}, max = {hi:?}, digits = {d} }}")
            }
            EmulatorSpec::RandomBits(len) => format!("{{ emulator = \"random_bits\", len = {len} }}"),
            EmulatorSpec::Counter(base, rate, modulus) => {
                format!("{{ emulator = \"counter\", base = {base}, rate = {rate:?}, modulus = {modulus} }}")
            }
            EmulatorSpec::Datetime => "{ emulator = \"datetime\" }".into(),
            EmulatorSpec::Drift { len, min, max, period } => {
                format!("{{ emulator = \"drift\", len = {len}, min = {min:?}, max = {max:?}, period = {period:?} }}")
            }
        },
    }
}

/// The files below `dir` (relative paths, `/`-separated), symbolic links skipped, within
/// the copy limits.
fn list_files(dir: &Path) -> Result<Vec<(String, u64)>, String> {
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut stack = vec![(dir.to_path_buf(), String::new(), 0usize)];
    while let Some((path, rel, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
            let kind = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            if kind.is_dir() {
                if depth + 1 > MAX_DEPTH {
                    return Err(format!("{}: deeper than {MAX_DEPTH} folders", entry.path().display()));
                }
                stack.push((entry.path(), child, depth + 1));
            } else if kind.is_file() {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                total = total.saturating_add(len);
                if out.len() >= MAX_FILES || total > MAX_BYTES {
                    return Err(format!(
                        "{}: more than {MAX_FILES} files or 256 MiB to copy",
                        dir.display()
                    ));
                }
                out.push((child, len));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Imports the Conpot template folder `dir` into `out_dir` (created; it must not hold a
/// template already). Returns a summary line for the operator.
pub fn import_dir(dir: &Path, out_dir: &Path) -> Result<String, String> {
    if !dir.join("template.xml").is_file() {
        return Err(format!(
            "{}: not a Conpot template folder (no template.xml)",
            dir.display()
        ));
    }
    let same = dir
        .canonicalize()
        .ok()
        .zip(out_dir.canonicalize().ok())
        .is_some_and(|(a, b)| a == b);
    if same {
        return Err(format!(
            "{}: the output folder must not be the Conpot folder itself",
            out_dir.display()
        ));
    }
    if out_dir.join("template.toml").exists() {
        return Err(format!(
            "{}: already holds a template.toml; choose another output folder",
            out_dir.display()
        ));
    }
    let template = Template::load_dir(dir).map_err(|e| {
        format!(
            "{} cannot be imported:\n{}",
            dir.display(),
            crate::setup::format_errors(&e)
        )
    })?;
    if !template.conpot_xml {
        return Err(format!("{}: not a Conpot XML template", dir.display()));
    }
    let files = list_files(dir)?;
    let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let origin = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let imported = convert(&template, &origin.display().to_string(), &names);
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    for rel in names.iter().filter(|n| n.as_str() != "template.xml") {
        let to = out_dir.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::copy(dir.join(rel), &to).map_err(|e| format!("{}: {e}", to.display()))?;
    }
    for (rel, text) in &imported.sections {
        let to = out_dir.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&to, text).map_err(|e| format!("{}: {e}", to.display()))?;
    }
    let toml_path = out_dir.join("template.toml");
    std::fs::write(&toml_path, &imported.toml).map_err(|e| format!("{}: {e}", toml_path.display()))?;
    // The result must load: a failure here is a bug of the converter, said as such.
    Template::load_dir(out_dir).map_err(|e| {
        format!(
            "the imported template does not load (please report):\n{}",
            crate::setup::format_errors(&e)
        )
    })?;
    Ok(format!(
        "imported {} into {} ({} protocols, {} files copied, {} Conpot tells marked TELL)",
        dir.display(),
        toml_path.display(),
        template.protocols.len(),
        names.len().saturating_sub(1),
        imported.tells
    ))
}

/// The default output folder of `conpot template import DIR`: `<DIR's name>-conpot-rs` in
/// the working folder.
pub fn default_out_dir(dir: &Path) -> PathBuf {
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "template".into());
    PathBuf::from(format!("{name}-conpot-rs"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const XML: &str = r#"<core><template>
        <entity name="unit">S7-200</entity><entity name="vendor">Siemens</entity>
        <entity name="description">Test</entity></template>
        <databus><key_value_mappings>
        <key name="SystemName"><value type="value">"Technodrome"</value></key>
        <key name="coils"><value type="value">[random.randint(0,1) for b in range(0,16)]</value></key>
        <key name="num"><value type="value">-0.5</value></key>
        <key name="none"><value type="value">None</value></key>
        <key name="Uptime"><value type="function">conpot.emulators.misc.uptime.Uptime</value></key>
        <key name="odd key"><value type="value">[1, 'a']</value></key>
        </key_value_mappings></databus></core>"#;

    fn folder(tag: &str, files: &[(&str, &str)]) -> PathBuf {
        let d = std::env::temp_dir().join(format!("conpot-import-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for (rel, text) in files {
            let p = d.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        d
    }

    /// A databus entry with a constant expression as the value it evaluates to.
    fn settled(spec: &DatabusSpec) -> DatabusSpec {
        match spec {
            DatabusSpec::Expr(e) => constant(e).map_or_else(|| spec.clone(), DatabusSpec::Value),
            other => other.clone(),
        }
    }

    #[test]
    fn databus_and_tells_convert() {
        let d = folder("bus", &[("template.xml", XML)]);
        let t = Template::load_dir(&d).unwrap();
        let imported = convert(&t, "x", &["http/htdocs/tests/unittest_a.html".into()]);
        let text = &imported.toml;
        assert!(text.contains("SystemName = \"Technodrome\""), "{text}");
        assert!(
            text.contains("# TELL: \"Technodrome\" is Conpot's stock system name"),
            "{text}"
        );
        assert!(text.contains("system_name = { pattern = "), "{text}");
        assert!(
            text.contains("coils = { expr = \"[random.randint(0, 1) for _ in range(0, 16)]\" }"),
            "{text}"
        );
        assert!(text.contains("num = -0.5"), "{text}");
        assert!(text.contains("none = { expr = \"None\" }"), "{text}");
        assert!(
            text.contains("Uptime = { emulator = \"uptime\", unit = \"seconds\" }"),
            "{text}"
        );
        assert!(text.contains("\"odd key\" = [1, \"a\"]"), "{text}");
        assert!(
            text.contains("unittest_a.html` is one of the unit-test pages"),
            "{text}"
        );
        assert_eq!(imported.tells, 2);
        // The TOML loads and holds the same databus.
        let back = Template::from_toml("x", text).unwrap();
        let keys: Vec<&str> = back.databus_keys().collect();
        assert_eq!(keys.len(), t.databus.len());
        for (k, spec) in &t.databus {
            let (_, got) = back.databus.iter().find(|(n, _)| n == k).unwrap();
            assert_eq!(settled(spec), settled(got), "{k}");
        }
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn no_tell_no_comment() {
        assert_eq!(tells_in("Pumpwerk 3").count(), 0);
        assert_eq!(tells_in("<sysLocation>Venus</sysLocation> 88111222").count(), 2);
    }

    #[test]
    fn folder_imports_with_its_protocols_and_files() {
        let modbus = r#"<modbus enabled="True" host="0.0.0.0" port="5020"><device_info>
            <VendorName>Siemens</VendorName><ProductCode>SIMATIC</ProductCode><MajorMinorRevision>S7-200</MajorMinorRevision>
            </device_info><mode>tcp</mode><delay>100</delay><slaves><slave id="1"><blocks>
            <block name="memoryModbusSlave1BlockA"><type>COILS</type><starting_address>1</starting_address>
            <size>16</size><content>coils</content></block></blocks></slave></slaves></modbus>"#;
        let d = folder(
            "dir",
            &[
                ("template.xml", XML),
                ("modbus/modbus.xml", modbus),
                ("http/htdocs/index.html", "<h2>hi</h2>"),
            ],
        );
        let out = d.with_extension("out");
        let _ = std::fs::remove_dir_all(&out);
        let msg = import_dir(&d, &out).unwrap();
        assert!(msg.contains("1 protocols"), "{msg}");
        assert_eq!(
            std::fs::read_to_string(out.join("http/htdocs/index.html")).unwrap(),
            "<h2>hi</h2>"
        );
        assert!(!out.join("template.xml").exists());
        let t = Template::load_dir(&out).unwrap();
        let m = &t.protocols["modbus"];
        assert_eq!((m.enabled, m.port), (true, 5020));
        assert!(matches!(&m.body, SectionBody::ConpotXml(x) if x == modbus));
        // Into the folder itself: refused (copying its files onto themselves would empty them).
        assert!(
            import_dir(&d, &d)
                .unwrap_err()
                .contains("must not be the Conpot folder")
        );
        assert_eq!(
            std::fs::read_to_string(d.join("http/htdocs/index.html")).unwrap(),
            "<h2>hi</h2>"
        );
        // A second import into the same folder is refused rather than overwriting.
        assert!(import_dir(&d, &out).unwrap_err().contains("already holds"));
        // Not a Conpot folder.
        assert!(
            import_dir(&out, &d.with_extension("o2"))
                .unwrap_err()
                .contains("no template.xml")
        );
        let _ = std::fs::remove_dir_all(d);
        let _ = std::fs::remove_dir_all(out);
    }

    /// Each of Conpot's six folders, imported, loads into the same device model: the same
    /// protocols with the same bodies, accounts, files and databus values.
    #[test]
    fn conpot_folders_import_into_the_same_model() {
        let root = conpot_testkit::conpot_templates();
        let out_root = std::env::temp_dir().join(format!("conpot-import-six-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out_root);
        for name in ["default", "IEC104", "guardian_ast", "ipmi", "kamstrup_382", "proxy"] {
            let out = out_root.join(name);
            import_dir(&root.join(name), &out).unwrap();
            let (xml, toml) = (
                Template::load_dir(&root.join(name)).unwrap(),
                Template::load_dir(&out).unwrap(),
            );
            assert!(!toml.conpot_xml);
            assert_eq!(xml.meta, toml.meta, "{name}");
            // The persona keeps every field; the TELL suggestions are extra fields.
            for (k, f) in &xml.persona.fields {
                assert_eq!(toml.persona.fields.get(k), Some(f), "{name} persona.{k}");
            }
            assert_eq!(xml.persona.variants, toml.persona.variants, "{name}");
            let sections = |t: &Template| -> Vec<_> {
                t.protocols
                    .values()
                    .map(|p| (p.name.clone(), p.enabled, p.host.clone(), p.port, p.body.clone()))
                    .collect()
            };
            assert_eq!(sections(&xml), sections(&toml), "{name}");
            assert_eq!(xml.auth, toml.auth, "{name}");
            let entries = |t: &Template| {
                let mut fs = t.filesystem.clone();
                for e in &mut fs.entries {
                    e.file.clear();
                    e.key.clear();
                }
                fs
            };
            assert_eq!(entries(&xml), entries(&toml), "{name}");
            assert_eq!(xml.databus.len(), toml.databus.len(), "{name}");
            for (k, spec) in &xml.databus {
                let (_, got) = toml.databus.iter().find(|(n, _)| n == k).unwrap();
                assert_eq!(settled(spec), settled(got), "{name} {k}");
            }
        }
        let _ = std::fs::remove_dir_all(out_root);
    }

    /// Following every TELL comment of the databus (its value replaced by the persona
    /// reference it names) gives a template that builds, and the stock value is gone.
    #[test]
    fn following_the_tell_comments_gives_a_working_per_deployment_template() {
        let root = conpot_testkit::conpot_templates();
        let out_root = std::env::temp_dir().join(format!("conpot-import-fix-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out_root);
        for name in ["default", "IEC104", "guardian_ast", "ipmi", "kamstrup_382"] {
            let out = out_root.join(name);
            import_dir(&root.join(name), &out).unwrap();
            let text = std::fs::read_to_string(out.join("template.toml")).unwrap();
            let (mut fixed, mut pending, mut in_bus, mut replaced) = (String::new(), None, false, Vec::new());
            for line in text.lines() {
                if line.starts_with('[') {
                    in_bus = line == "[databus]";
                }
                if in_bus && line.starts_with("# TELL: \"") {
                    let needle = line.split('"').nth(1).unwrap().to_owned();
                    let reference = line
                        .split("write \"")
                        .nth(1)
                        .unwrap()
                        .split('"')
                        .next()
                        .unwrap()
                        .to_owned();
                    pending = Some((needle, reference));
                } else if let (true, Some((needle, reference))) = (in_bus && !line.starts_with('#'), pending.take()) {
                    let key = line.split(" = ").next().unwrap();
                    fixed.push_str(&format!("{key} = \"{reference}\"\n"));
                    replaced.push((key.trim_matches('"').to_owned(), needle));
                    continue;
                }
                fixed.push_str(line);
                fixed.push('\n');
            }
            assert!(!replaced.is_empty(), "{name}: no databus tell");
            std::fs::write(out.join("template.toml"), fixed).unwrap();
            let t = Template::load_dir(&out).unwrap();
            let built = crate::setup::build(&t, t.persona.generate(&t.name, 7), 1)
                .unwrap_or_else(|e| panic!("{name}: {}", crate::setup::format_errors(&e)));
            for (key, needle) in replaced {
                // Real S7 CPUs show Siemens' copyright too: that suggestion keeps the text.
                if needle == "Original Siemens Equipment" {
                    continue;
                }
                let v = built.device.databus.get(&key, std::time::SystemTime::now()).unwrap();
                assert!(
                    !format!("{v:?}").contains(&needle),
                    "{name} {key} still {needle}: {v:?}"
                );
            }
        }
        let _ = std::fs::remove_dir_all(out_root);
    }

    #[test]
    fn conpot_xml_key_must_stay_inside_the_folder() {
        let bad = "[template]\nunit = \"a\"\nvendor = \"b\"\n[protocols.modbus]\nport = 1\nconpot_xml = \"../x.xml\"\n";
        let e = Template::from_toml("x", bad).unwrap_err();
        assert!(e[0].expected.contains("inside the template folder"), "{e:?}");
        let extra = "[template]\nunit = \"a\"\nvendor = \"b\"\n[protocols.modbus]\nport = 1\nconpot_xml = \"m.xml\"\nmode = \"tcp\"\n";
        let e = Template::from_toml("x", extra).unwrap_err();
        assert!(e.iter().any(|e| e.key.contains("mode")), "{e:?}");
    }
}
