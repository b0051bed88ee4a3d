//! Templates: what device a persona emulates. The native format is TOML
//! (`template.toml`); Conpot's XML template folders (`template.xml` plus
//! `<protocol>/<protocol>.xml`) are imported into the same model.

mod conpot_proxy;
mod conpot_users;
mod conpot_xml;
mod filesystem;
mod native;
pub mod nav;
// network personality (issue 16)
pub mod network;
mod users;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::emulators::UptimeUnit;
use crate::expr::Expr;
use crate::persona::PersonaSpec;
use crate::value::Value;

/// A template error: the file, the key within it, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// File (relative to the template folder, or a full path).
    pub file: String,
    /// Dotted key, or XML element path.
    pub key: String,
    /// What was expected (and what was found).
    pub expected: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.expected)
        } else {
            write!(f, "{}: {}: expected {}", self.file, self.key, self.expected)
        }
    }
}

/// Where a template's files are read from.
#[derive(Debug, Clone)]
pub enum FileSource {
    /// A folder on disk.
    Dir(PathBuf),
    /// Files compiled into the binary: (relative path, contents).
    Embedded(&'static [(&'static str, &'static [u8])]),
}

impl FileSource {
    /// The contents of the file at relative path `rel`, if it exists.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        match self {
            FileSource::Dir(d) => std::fs::read(d.join(rel)).ok(),
            FileSource::Embedded(files) => files.iter().find(|(p, _)| *p == rel).map(|(_, b)| b.to_vec()),
        }
    }

    /// The contents of `rel` as text, if it exists and is UTF-8.
    pub fn read_text(&self, rel: &str) -> Option<String> {
        self.read(rel).and_then(|b| String::from_utf8(b).ok())
    }

    /// How to name `rel` in messages.
    pub fn label(&self, rel: &str) -> String {
        match self {
            FileSource::Dir(d) => d.join(rel).display().to_string(),
            FileSource::Embedded(_) => format!("<embedded>/{rel}"),
        }
    }
}

/// Descriptive entries of a template (Conpot's `<template><entity>`s).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    /// Device unit, e.g. `S7-300`.
    pub unit: String,
    /// Vendor name.
    pub vendor: String,
    /// One-line description.
    pub description: String,
    /// Protocols, as the template describes them.
    pub protocols: String,
    /// Who wrote the template.
    pub creator: String,
}

/// An emulator named by a template.
#[derive(Debug, Clone, PartialEq)]
pub enum EmulatorSpec {
    /// Time since boot.
    Uptime(UptimeUnit),
    /// Random integer on every read.
    RandomInt(i64, i64),
    /// Random float on every read, rounded to digits.
    RandomFloat(f64, f64, i32),
    /// Random bit list of the given length.
    RandomBits(usize),
    /// Counter growing over time: base, rate per second, wrap modulus (0 = none).
    Counter(i64, f64, u64),
    /// Current date and time as text.
    Datetime,
    /// A list of `len` analog values drifting smoothly between min and max over a
    /// period in seconds, each with its own phase.
    Drift {
        /// Number of values.
        len: usize,
        /// Lowest value.
        min: f64,
        /// Highest value.
        max: f64,
        /// Seconds per cycle.
        period: f64,
    },
}

/// How a databus key gets its initial value.
#[derive(Debug, Clone, PartialEq)]
pub enum DatabusSpec {
    /// A fixed value.
    Value(Value),
    /// A Conpot expression evaluated once at start.
    Expr(Expr),
    /// Text with `{persona.NAME}` references.
    Text(String),
    /// A value computed on every read.
    Emulator(EmulatorSpec),
}

/// What is in a protocol's section, in the format it was written in.
#[derive(Debug, Clone, PartialEq)]
pub enum SectionBody {
    /// A native TOML table.
    Toml(toml::Table),
    /// A Conpot protocol XML document.
    ConpotXml(String),
}

/// One protocol of a template.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolSection {
    /// Protocol name (`modbus`, `s7comm`, ...).
    pub name: String,
    /// Whether it should be served.
    pub enabled: bool,
    /// Bind address.
    pub host: String,
    /// Port (0 = any free port).
    pub port: u16,
    /// File the section came from (for messages).
    pub file: String,
    /// The protocol-specific content.
    pub body: SectionBody,
}

/// A loaded template.
#[derive(Debug, Clone)]
pub struct Template {
    /// Name (folder name or embedded name).
    pub name: String,
    /// Descriptive entries.
    pub meta: Meta,
    /// Where its files are.
    pub source: FileSource,
    /// How its persona is generated.
    pub persona: PersonaSpec,
    /// Databus keys in declaration order.
    pub databus: Vec<(String, DatabusSpec)>,
    /// Protocols by name.
    pub protocols: BTreeMap<String, ProtocolSection>,
    /// Whether it was imported from Conpot's XML format.
    pub conpot_xml: bool,
    /// Things accepted but not fully supported, for the operator to read.
    pub warnings: Vec<String>,
    /// Accounts, groups and the attempt policy of the device (texts may hold
    /// `{persona.NAME}` references).
    pub auth: crate::auth::AuthSpec,
    /// The device's files and directories (`[filesystem]`, or Conpot's FTP/TFTP folders).
    pub filesystem: crate::vfs::FilesystemSpec,
    /// How the device's TCP/IP stack looks on the wire (`[network]`; issue 16).
    pub network: network::NetworkPersonality,
}

impl Template {
    /// Loads the template in `source`: `template.toml` if present, else Conpot's
    /// `template.xml`.
    pub fn load(name: &str, source: FileSource) -> Result<Template, Vec<TemplateError>> {
        if let Some(text) = source.read("template.toml") {
            let text = String::from_utf8(text).map_err(|_| {
                vec![TemplateError {
                    file: source.label("template.toml"),
                    key: String::new(),
                    expected: "UTF-8 text".into(),
                }]
            })?;
            native::load(name, source, &text)
        } else if source.read("template.xml").is_some() {
            conpot_xml::load(name, source)
        } else {
            Err(vec![TemplateError {
                file: source.label(""),
                key: String::new(),
                expected: "a template folder with template.toml or Conpot's template.xml".into(),
            }])
        }
    }

    /// Parses a native template from TOML text (files it refers to are not available).
    pub fn from_toml(name: &str, text: &str) -> Result<Template, Vec<TemplateError>> {
        native::load(name, FileSource::Embedded(&[]), text)
    }

    /// Loads a template folder from disk, named after the folder.
    pub fn load_dir(dir: &Path) -> Result<Template, Vec<TemplateError>> {
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "template".into());
        Template::load(&name, FileSource::Dir(dir.to_path_buf()))
    }

    /// The name its persona is kept under in the state folder: an embedded template's
    /// name, or for a folder its name and a hash of its full (canonical) path. So Conpot's
    /// `default` folder and the embedded `default` are two devices, each with its own
    /// persona, and so are two folders of the same name. (Moving a folder makes it a new
    /// device; its old persona file stays beside the new one.)
    pub fn persona_key(&self) -> String {
        use sha2::{Digest, Sha256};
        match &self.source {
            FileSource::Embedded(_) => self.name.clone(),
            FileSource::Dir(dir) => {
                let full = dir.canonicalize().unwrap_or_else(|_| dir.clone());
                let hash = Sha256::digest(full.as_os_str().as_encoded_bytes());
                format!(
                    "{}-{}",
                    self.name,
                    crate::hex::encode(hash.get(..4).unwrap_or_default())
                )
            }
        }
    }

    /// Names of every databus key the template defines.
    pub fn databus_keys(&self) -> impl Iterator<Item = &str> {
        self.databus.iter().map(|(k, _)| k.as_str())
    }
}

/// Reads a protocol section in whichever format it was written (`toml` or `xml`), each
/// reader recording every error it finds; the result is the configuration or all errors.
pub fn read_section<T>(
    section: &ProtocolSection,
    toml: impl FnOnce(&str, &toml::Table, &mut nav::Errors) -> Option<T>,
    xml: impl FnOnce(&str, &str, &mut nav::Errors) -> Option<T>,
) -> Result<T, Vec<TemplateError>> {
    let mut errs = nav::Errors::default();
    let config = match &section.body {
        SectionBody::Toml(t) => toml(&section.file, t, &mut errs),
        SectionBody::ConpotXml(x) => xml(&section.file, x, &mut errs),
    };
    match config {
        Some(c) if errs.is_empty() => Ok(c),
        _ => Err(errs.0),
    }
}

/// Maps one of Conpot's emulator class paths to ours.
pub fn conpot_emulator(class: &str) -> Option<DatabusSpec> {
    let short = class.rsplit('.').next().unwrap_or(class);
    let spec = match short {
        "Uptime" | "BootTime" => EmulatorSpec::Uptime(UptimeUnit::Seconds),
        "Random8BitRegisters" => EmulatorSpec::RandomBits(8),
        "Random16bitRegister" => EmulatorSpec::RandomBits(1),
        "CpuLoad" => EmulatorSpec::RandomFloat(3.0, 17.0, 1),
        "CurrentDatetime" => EmulatorSpec::Datetime,
        "PacketsSent" => EmulatorSpec::Counter(1_843_211, 31.0, 1 << 32),
        "PacketsRecv" => EmulatorSpec::Counter(2_275_907, 38.0, 1 << 32),
        "BytesSent" => EmulatorSpec::Counter(412_760_512, 2_480.0, 1 << 32),
        "BytesRecv" => EmulatorSpec::Counter(603_118_976, 3_170.0, 1 << 32),
        "TcpCurrEstab" => EmulatorSpec::RandomInt(1, 4),
        "TotalRam" => return Some(DatabusSpec::Value(Value::Float(131_072.0))),
        "StorageSize" => return Some(DatabusSpec::Value(Value::Float(524_288.0))),
        "StorageUsed" => return Some(DatabusSpec::Value(Value::Float(187_392.0))),
        "LocalIP" => return Some(DatabusSpec::Text("{persona.ip_address}".into())),
        _ => return None,
    };
    Some(DatabusSpec::Emulator(spec))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn folder(root: &Path, sub: &str) -> PathBuf {
        let d = root.join(sub).join("default");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("template.toml"),
            "[template]\nunit = \"X\"\nvendor = \"Y\"\n[persona]\nvendor = \"Y\"\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn persona_key_tells_embedded_and_folders_apart() {
        let root = std::env::temp_dir().join(format!("conpot-template-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (a, b) = (folder(&root, "a"), folder(&root, "b"));
        let embedded = Template::from_toml("default", "[template]\nunit = \"X\"\nvendor = \"Y\"\n").unwrap();
        assert_eq!(embedded.persona_key(), "default");
        let ka = Template::load_dir(&a).unwrap().persona_key();
        let kb = Template::load_dir(&b).unwrap().persona_key();
        assert!(ka.starts_with("default-") && ka.len() == "default-".len() + 8, "{ka}");
        assert_ne!(ka, kb);
        assert_ne!(ka, "default");
        // The same folder by another path is the same device.
        let again = Template::load_dir(&root.join("b/../a/default")).unwrap().persona_key();
        assert_eq!(again, ka);
        let _ = std::fs::remove_dir_all(root);
    }
}
