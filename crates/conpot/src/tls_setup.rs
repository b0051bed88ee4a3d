//! TLS listeners from the template: a TCP protocol's `tls` table names a second port that
//! serves the same site (the same service) over TLS, and the certificate it shows: the
//! operator's files, or one made for this deployment from the persona on the first start
//! and kept in the state folder.

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use conpot_core::Device;
use conpot_core::template::nav::{Errors, Table};
use conpot_core::template::{ProtocolSection, SectionBody, Template, TemplateError};
use conpot_net::cert::{self, CertSpec, KeyType, MAX_VALID_DAYS};
use conpot_net::{TlsServer, Versions};

/// The key of a protocol section that holds its TLS listener.
const KEY: &str = "tls";
/// Keys of the `tls` table.
const KNOWN: &[&str] = &[
    "port",
    "only",
    "name",
    "versions",
    "cert",
    "key",
    "key_type",
    "common_name",
    "organization",
    "organizational_unit",
    "serial",
    "dns_names",
    "ip_addresses",
    "valid_days",
    "age_days",
];
/// Most names of each kind in a certificate's subject alternative names.
const MAX_NAMES: usize = 16;

/// A TLS listener of a section, as far as binding needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// The protocol section whose service it carries.
    pub section: String,
    /// The listener's name (`https` for `http`, else `<section>-tls`): in the `listening`
    /// lines, `--port NAME=PORT` and the certificate's file names.
    pub name: String,
    /// The port.
    pub port: u16,
}

/// Where the certificate comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The operator's PEM files.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
    /// Made on the first start (`not_before` is set then) and kept.
    Generate {
        /// What it says.
        spec: Box<CertSpec>,
        /// `[min, max]` days before the first start that `not_before` is put (a device
        /// made its certificate when it was commissioned, not when it was scanned).
        age_days: (u32, u32),
    },
}

/// A TLS listener checked against the device.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Its listener.
    pub listener: Listener,
    /// The versions it accepts.
    pub versions: Versions,
    /// Its certificate.
    pub source: Source,
}

fn tls_table(section: &ProtocolSection) -> Option<&toml::Table> {
    match &section.body {
        SectionBody::Toml(t) => t.get(KEY).and_then(toml::Value::as_table),
        SectionBody::ConpotXml(_) => None,
    }
}

/// The name of the TLS listener of `section`.
fn default_name(section: &str) -> String {
    if section == "http" {
        "https".into()
    } else {
        format!("{section}-tls")
    }
}

/// The TLS listeners of the template's enabled sections (before anything is built: their
/// ports are bound with the others).
pub fn listeners(template: &Template) -> Vec<Listener> {
    let mut out = Vec::new();
    for section in template.protocols.values().filter(|s| s.enabled) {
        let Some(t) = tls_table(section) else { continue };
        if only(section) {
            out.push(Listener {
                section: section.name.clone(),
                name: section.name.clone(),
                port: section.port,
            });
            continue;
        }
        let mut errs = Errors::default();
        let path = format!("protocols.{}.tls", section.name);
        let table = Table::new(&section.file, &path, t);
        let Some(port) = table.int("port", 0, 65535, true, &mut errs) else {
            continue;
        };
        let name = table
            .str("name", false, &mut errs)
            .map_or_else(|| default_name(&section.name), str::to_owned);
        out.push(Listener {
            section: section.name.clone(),
            name,
            port: port as u16,
        });
    }
    out
}

/// Whether the section is served over TLS only (`tls.only = true`: a TLS-terminating
/// proxy): its own name and port are the TLS listener's, and no plain listener is bound.
pub fn only(section: &ProtocolSection) -> bool {
    tls_table(section)
        .and_then(|t| t.get("only"))
        .and_then(toml::Value::as_bool)
        == Some(true)
}

/// `section` without its `tls` table, for the protocol's own builder (which does not know
/// the key).
pub fn strip(section: &ProtocolSection) -> Cow<'_, ProtocolSection> {
    match &section.body {
        SectionBody::Toml(t) if t.contains_key(KEY) => {
            let mut s = section.clone();
            if let SectionBody::Toml(t) = &mut s.body {
                t.remove(KEY);
            }
            Cow::Owned(s)
        }
        _ => Cow::Borrowed(section),
    }
}

/// Checks the `tls` table of `section` for `device`: `Ok(None)` without one.
pub fn plan(section: &ProtocolSection, device: &Device) -> Result<Option<Plan>, Vec<TemplateError>> {
    let Some(t) = tls_table(section) else {
        return Ok(None);
    };
    let file = section.file.as_str();
    let path = format!("protocols.{}.tls", section.name);
    let table = Table::new(file, &path, t);
    let mut errs = Errors::default();
    table.deny_unknown(KNOWN, &mut errs);
    let tls_only = table.bool("only", &mut errs).unwrap_or(false);
    let port = if tls_only {
        for k in ["port", "name"] {
            if table.get(k).is_some() {
                errs.push(
                    file,
                    &table.key(k),
                    "no `port` or `name` with `only = true` (the section's own are used)",
                );
            }
        }
        section.port
    } else {
        table.int("port", 0, 65535, true, &mut errs).unwrap_or(0) as u16
    };
    let name = match table.str("name", false, &mut errs) {
        _ if tls_only => section.name.clone(),
        Some(n) if n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            errs.push(file, &table.key("name"), "a name of letters, digits, `-` and `_`");
            String::new()
        }
        Some(n) => n.to_owned(),
        None => default_name(&section.name),
    };
    let mut versions = Versions {
        tls12: false,
        tls13: false,
    };
    match table.array("versions", false, &mut errs) {
        None => versions = Versions::default(),
        Some(list) => {
            for v in list {
                match v.as_str() {
                    Some("1.2") => versions.tls12 = true,
                    Some("1.3") => versions.tls13 = true,
                    _ => errs.push(file, &table.key("versions"), "a list of \"1.2\" and \"1.3\""),
                }
            }
            if !versions.tls12 && !versions.tls13 {
                errs.push(file, &table.key("versions"), "at least one of \"1.2\" and \"1.3\"");
            }
        }
    }
    let text = |key: &str, default: Option<&str>, errs: &mut Errors| -> Option<String> {
        let raw = table.str(key, false, errs).or(default)?;
        match device.persona.render(raw) {
            Ok(v) if v.chars().count() <= 64 => Some(v),
            Ok(_) => {
                errs.push(file, &table.key(key), "at most 64 characters");
                None
            }
            Err(e) => {
                errs.push(file, &table.key(key), format!("known persona fields only: {e}"));
                None
            }
        }
    };
    let list = |key: &str, default: &[&str], errs: &mut Errors| -> Vec<String> {
        let items: Vec<String> = match table.array(key, false, errs) {
            None => default.iter().map(|s| (*s).to_owned()).collect(),
            Some(a) => a
                .iter()
                .filter_map(|v| match v.as_str() {
                    Some(s) => Some(s.to_owned()),
                    None => {
                        errs.push(file, &table.key(key), "a list of strings");
                        None
                    }
                })
                .collect(),
        };
        if items.len() > MAX_NAMES {
            errs.push(file, &table.key(key), format!("at most {MAX_NAMES} names"));
        }
        items
            .iter()
            .take(MAX_NAMES)
            // A default naming a field this persona lacks is left out, not an error.
            .filter_map(|s| device.persona.render(s).ok())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let has = |field: &str| device.persona.get(field).is_some();
    let source = match (table.str("cert", false, &mut errs), table.str("key", false, &mut errs)) {
        (Some(c), Some(k)) => Source::Files {
            cert: PathBuf::from(c),
            key: PathBuf::from(k),
        },
        (None, None) => {
            let host = has("hostname").then_some("{persona.hostname}");
            let common_name = text("common_name", host, &mut errs).unwrap_or_else(|| section.name.clone());
            let organization = text("organization", has("vendor").then_some("{persona.vendor}"), &mut errs);
            let organizational_unit = text(
                "organizational_unit",
                has("product").then_some("{persona.product}"),
                &mut errs,
            );
            let subject_serial = text("serial", has("mac").then_some("{persona.mac}"), &mut errs);
            let dns_names = list("dns_names", &["{persona.hostname}"], &mut errs);
            let mut ip_addresses = Vec::new();
            for ip in list("ip_addresses", &["{persona.ip_address}"], &mut errs) {
                match ip.parse::<IpAddr>() {
                    Ok(a) => ip_addresses.push(a),
                    Err(_) => errs.push(file, &table.key("ip_addresses"), format!("IP addresses, found `{ip}`")),
                }
            }
            let key = match table.str("key_type", false, &mut errs) {
                None => KeyType::EcdsaP256,
                Some(k) => KeyType::parse(k).unwrap_or_else(|| {
                    errs.push(file, &table.key("key_type"), "`ecdsa-p256`, `ecdsa-p384` or `ed25519`");
                    KeyType::EcdsaP256
                }),
            };
            let valid_days = table
                .int("valid_days", 1, i64::from(MAX_VALID_DAYS), false, &mut errs)
                .unwrap_or(7300) as u32;
            let age_days = match table.array("age_days", false, &mut errs).map(Vec::as_slice) {
                None => (30, 900),
                Some([toml::Value::Integer(lo), toml::Value::Integer(hi)]) if 0 <= *lo && lo <= hi && *hi <= 36_500 => {
                    (*lo as u32, *hi as u32)
                }
                Some(_) => {
                    errs.push(
                        file,
                        &table.key("age_days"),
                        "[min, max] days, 0 <= min <= max <= 36500",
                    );
                    (0, 0)
                }
            };
            Source::Generate {
                spec: Box::new(CertSpec {
                    common_name,
                    organization,
                    organizational_unit,
                    subject_serial,
                    dns_names,
                    ip_addresses,
                    not_before: SystemTime::UNIX_EPOCH,
                    valid_days,
                    key,
                }),
                age_days,
            }
        }
        _ => {
            errs.push(file, &path, "both `cert` and `key`, or neither");
            Source::Files {
                cert: PathBuf::new(),
                key: PathBuf::new(),
            }
        }
    };
    if !errs.is_empty() {
        return Err(errs.0);
    }
    Ok(Some(Plan {
        listener: Listener {
            section: section.name.clone(),
            name,
            port,
        },
        versions,
        source,
    }))
}

/// What a listener's certificate is, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The operator's files.
    Operator,
    /// Made now and kept at this path.
    Made(PathBuf),
    /// Kept from an earlier start at this path.
    Kept(PathBuf),
}

/// The TLS server of `plan`: the operator's certificate, or this deployment's (of the
/// persona `persona_key`) from `state_dir`, made now if there is none.
pub fn server(plan: &Plan, state_dir: &Path, persona_key: &str) -> Result<(TlsServer, Origin), String> {
    let (identity, origin) = match &plan.source {
        Source::Files { cert, key } => (
            cert::load(cert, key).map_err(|e| format!("{}: {e}", plan.listener.name))?,
            Origin::Operator,
        ),
        Source::Generate { spec, age_days } => {
            let (lo, hi) = *age_days;
            let days = conpot_core::rng::with_thread_rng(|r| r.range_i64(i64::from(lo), i64::from(hi)));
            let secs =
                days.max(0) as u64 * 86_400 + conpot_core::rng::with_thread_rng(|r| r.range_i64(0, 86_399)) as u64;
            let spec = CertSpec {
                not_before: SystemTime::now()
                    .checked_sub(Duration::from_secs(secs))
                    .unwrap_or(SystemTime::UNIX_EPOCH),
                ..(**spec).clone()
            };
            let name = format!("{persona_key}-{}", plan.listener.name);
            let (id, made) = cert::load_or_create(state_dir, &name, &spec).map_err(|e| {
                format!(
                    "{}: cannot keep the certificate in {}: {e}",
                    plan.listener.name,
                    state_dir.display()
                )
            })?;
            let path = cert::paths(state_dir, &name).0;
            (id, if made { Origin::Made(path) } else { Origin::Kept(path) })
        }
    };
    let server = TlsServer::new(&identity, plan.versions).map_err(|e| format!("{}: {e}", plan.listener.name))?;
    Ok((server, origin))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]
mod tests {
    use super::*;
    use conpot_core::drive::device_and_section;

    const HEAD: &str = r#"
[template]
unit = "U"
vendor = "V"
[persona]
vendor = "Acme"
product = "RTU 5"
hostname = "rtu-17"
mac = "00:11:22:33:44:55"
ip_address = "10.0.0.17"
[protocols.http]
port = 0
"#;

    fn plan_of(tls: &str) -> Result<Option<Plan>, Vec<TemplateError>> {
        let (device, section) = device_and_section(&format!("{HEAD}{tls}"), "http").unwrap();
        plan(&section, &device)
    }

    #[test]
    fn defaults_name_the_device() {
        let p = plan_of("[protocols.http.tls]\nport = 8443\n").unwrap().unwrap();
        assert_eq!(p.listener.name, "https");
        assert_eq!(p.listener.port, 8443);
        assert_eq!(p.versions, Versions::default());
        let Source::Generate { spec, age_days } = p.source else {
            panic!()
        };
        assert_eq!(spec.common_name, "rtu-17");
        assert_eq!(spec.organization.as_deref(), Some("Acme"));
        assert_eq!(spec.organizational_unit.as_deref(), Some("RTU 5"));
        assert_eq!(spec.subject_serial.as_deref(), Some("00:11:22:33:44:55"));
        assert_eq!(spec.dns_names, ["rtu-17"]);
        assert_eq!(spec.ip_addresses, [IpAddr::from([10, 0, 0, 17])]);
        assert_eq!(spec.key, KeyType::EcdsaP256);
        assert_eq!(age_days, (30, 900));
    }

    #[test]
    fn keys_are_checked() {
        let bad = |tls: &str| {
            let errs = plan_of(&format!("[protocols.http.tls]\nport = 1\n{tls}")).unwrap_err();
            errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
        };
        assert!(bad("cert = \"a.pem\"\n").contains("both `cert` and `key`"));
        assert!(bad("versions = [\"1.1\"]\n").contains("\"1.2\" and \"1.3\""));
        assert!(bad("key_type = \"rsa-512\"\n").contains("ecdsa-p256"));
        assert!(bad("age_days = [10, 5]\n").contains("days"));
        assert!(bad("common_name = \"{persona.nope}\"\n").contains("persona"));
        assert!(bad("ip_addresses = [\"not-an-ip\"]\n").contains("IP addresses"));
        assert!(bad("colour = 1\n").contains("colour"));
        let p = plan_of("[protocols.http.tls]\nport = 1\ncert = \"c.pem\"\nkey = \"k.pem\"\nversions = [\"1.3\"]\n")
            .unwrap()
            .unwrap();
        assert!(matches!(p.source, Source::Files { .. }));
        assert!(!p.versions.tls12 && p.versions.tls13);
        assert_eq!(plan_of("").unwrap(), None);
    }

    const TLS_ONLY: &str = "[template]\nunit = \"U\"\nvendor = \"V\"\n[protocols.http]\nport = 8443\n\
                            [protocols.http.tls]\nonly = true\n";

    #[test]
    fn tls_only_takes_the_sections_name_and_port() {
        let (device, section) = device_and_section(TLS_ONLY, "http").unwrap();
        assert!(only(&section));
        let p = plan(&section, &device).unwrap().unwrap();
        assert_eq!((p.listener.name.as_str(), p.listener.port), ("http", 8443));
        static FILES: &[(&str, &[u8])] = &[("template.toml", TLS_ONLY.as_bytes())];
        let t = Template::load("t", conpot_core::template::FileSource::Embedded(FILES)).unwrap();
        let l = listeners(&t);
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].name.as_str(), l[0].port), ("http", 8443));
        // Its own port or name beside `only` is a mistake.
        let errs = plan_of("[protocols.http.tls]\nonly = true\nport = 1\n").unwrap_err();
        assert!(errs.iter().any(|e| e.to_string().contains("only = true")), "{errs:?}");
        let (_, plain) = device_and_section(&format!("{HEAD}[protocols.http.tls]\nport = 1\n"), "http").unwrap();
        assert!(!only(&plain));
    }

    #[test]
    fn the_protocol_builder_never_sees_the_tls_table() {
        let (_, section) = device_and_section(&format!("{HEAD}[protocols.http.tls]\nport = 1\n"), "http").unwrap();
        let stripped = strip(&section);
        let SectionBody::Toml(t) = &stripped.body else { panic!() };
        assert!(!t.contains_key("tls"));
        assert!(matches!(strip(&stripped), Cow::Borrowed(_)));
    }

    #[test]
    fn a_made_certificate_is_kept_per_persona_and_listener() {
        let dir = std::env::temp_dir().join(format!("conpot-tls-setup-{}", std::process::id()));
        let p = plan_of("[protocols.http.tls]\nport = 1\nage_days = [100, 100]\n")
            .unwrap()
            .unwrap();
        let (_, made) = server(&p, &dir, "tpl").unwrap();
        let (_, kept) = server(&p, &dir, "tpl").unwrap();
        let path = dir.join("tls").join("tpl-https.crt");
        assert_eq!(made, Origin::Made(path.clone()));
        assert_eq!(kept, Origin::Kept(path.clone()));
        let (_, other) = server(&p, &dir, "other").unwrap();
        assert_eq!(other, Origin::Made(dir.join("tls").join("other-https.crt")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
