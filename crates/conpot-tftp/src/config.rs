//! The TFTP server's settings from a template section: native TOML or Conpot's
//! `tftp/tftp.xml` (`tftp_root_path`: the folder served). Files come from the device's
//! virtual filesystem.

use std::time::Duration;

use conpot_core::Device;
use conpot_core::template::nav::{Errors, Table};
use conpot_core::template::{ProtocolSection, TemplateError};

/// How one device's TFTP server behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TftpConfig {
    /// The folder of the device's filesystem the server serves.
    pub root: String,
    /// The account the server runs as (owner of uploads, checked against the modes).
    pub user: String,
    /// Its groups, primary first.
    pub groups: Vec<String>,
    /// Whether write requests are served.
    pub allow_write: bool,
    /// Largest block size granted (a client asking for more gets this).
    pub max_blksize: u16,
    /// Largest window granted (RFC 7440).
    pub max_windowsize: u16,
    /// Retransmission timeout when the client names none.
    pub timeout: Duration,
    /// Retransmissions of one packet before the transfer is given up.
    pub max_retries: u32,
    /// Transfers one client address may run at once.
    pub max_transfers: usize,
}

impl Default for TftpConfig {
    fn default() -> Self {
        TftpConfig {
            root: "/".into(),
            user: "root".into(),
            groups: vec!["root".into()],
            allow_write: true,
            max_blksize: 8192,
            max_windowsize: 64,
            timeout: Duration::from_secs(1),
            max_retries: 5,
            max_transfers: 4,
        }
    }
}

/// Builds the configuration of `section` for `device`.
pub fn build(section: &ProtocolSection, _device: &Device) -> Result<TftpConfig, Vec<TemplateError>> {
    conpot_core::template::read_section(section, |file, t, errs| Some(from_toml(file, t, errs)), from_xml)
}

fn from_toml(file: &str, t: &toml::Table, errs: &mut Errors) -> TftpConfig {
    let root = Table::new(file, "protocols.tftp", t);
    root.deny_unknown(
        &[
            "root",
            "user",
            "groups",
            "allow_write",
            "max_blksize",
            "max_windowsize",
            "timeout",
            "max_retries",
            "max_transfers",
        ],
        errs,
    );
    let mut c = TftpConfig::default();
    if let Some(v) = root.str("root", false, errs) {
        c.root = v.to_owned();
    }
    if let Some(v) = root.str("user", false, errs) {
        c.user = v.to_owned();
    }
    if let Some(a) = root.array("groups", false, errs) {
        c.groups = a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
    }
    if let Some(v) = root.bool("allow_write", errs) {
        c.allow_write = v;
    }
    if let Some(v) = root.int("max_blksize", 512, 65_464, false, errs) {
        c.max_blksize = v as u16;
    }
    if let Some(v) = root.int("max_windowsize", 1, 1024, false, errs) {
        c.max_windowsize = v as u16;
    }
    if let Some(v) = root.int("timeout", 1, 255, false, errs) {
        c.timeout = Duration::from_secs(v as u64);
    }
    if let Some(v) = root.int("max_retries", 0, 20, false, errs) {
        c.max_retries = v as u32;
    }
    if let Some(v) = root.int("max_transfers", 1, 4, false, errs) {
        c.max_transfers = v as usize;
    }
    c
}

fn from_xml(file: &str, xml: &str, errs: &mut Errors) -> Option<TftpConfig> {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(d) => d,
        Err(e) => {
            errs.push(file, "", format!("well-formed XML: {e}"));
            return None;
        }
    };
    let mut c = TftpConfig::default();
    if let Some(p) = doc.root_element().children().find(|n| n.has_tag_name("tftp_root_path")) {
        // Conpot lower-cases the path, and so does the filesystem import.
        let p = p.text().unwrap_or_default().trim().to_lowercase();
        if !p.is_empty() {
            c.root = p;
        }
    }
    Some(c)
}
