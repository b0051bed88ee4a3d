//! The FTP server's settings from a template section: native TOML or Conpot's
//! `ftp/ftp.xml` (`device_info`: banner, device type, login attempts, timeout, MOTD,
//! STOU prefix and suffix; `ftp_vfs/path`: the folder served). Users and files come from
//! the device (central authentication and the virtual filesystem).

use std::time::Duration;

use conpot_core::Device;
use conpot_core::template::nav::{Errors, Table};
use conpot_core::template::{ProtocolSection, TemplateError};

/// How one device's FTP server behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpConfig {
    /// Text of the `220` greeting (persona references filled).
    pub banner: String,
    /// Text of the `215` reply to `SYST`.
    pub syst: String,
    /// Lines shown in the `230` reply after a login (none: a plain `230`).
    pub motd: Vec<String>,
    /// The folder of the device's filesystem the server shows as `/`.
    pub root: String,
    /// Failed logins on one connection before it is closed.
    pub max_login_attempts: u32,
    /// Idle time after which the control connection is closed (`421`).
    pub idle_timeout: Duration,
    /// Time without progress after which a transfer is aborted (`426`).
    pub transfer_timeout: Duration,
    /// Ports (inclusive) passive data listeners are opened on.
    pub data_ports: (u16, u16),
    /// Prefix of the names `STOU` makes up.
    pub stou_prefix: String,
    /// Suffix of the names `STOU` makes up.
    pub stou_suffix: String,
    /// Delay before each reply, `[min, max]` milliseconds.
    pub response_time_ms: (u32, u32),
}

impl Default for FtpConfig {
    fn default() -> Self {
        FtpConfig {
            banner: "FTP server ready.".into(),
            syst: "UNIX Type: L8".into(),
            motd: Vec::new(),
            root: "/".into(),
            max_login_attempts: 3,
            idle_timeout: Duration::from_secs(300),
            transfer_timeout: Duration::from_secs(60),
            data_ports: (60000, 60999),
            stou_prefix: String::new(),
            stou_suffix: String::new(),
            response_time_ms: (0, 0),
        }
    }
}

/// Builds the configuration of `section` for `device`.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<FtpConfig, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| Some(from_toml(file, t, device, errs)),
        |file, x, errs| from_xml(file, x, device, errs),
    )
}

fn render(file: &str, key: &str, text: &str, device: &Device, errs: &mut Errors) -> String {
    device.persona.render(text).unwrap_or_else(|e| {
        errs.push(file, key, format!("known persona fields only: {e}"));
        String::new()
    })
}

fn motd_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::to_owned)
        .filter(|l| !l.trim().is_empty())
        .take(32)
        .collect()
}

fn from_toml(file: &str, t: &toml::Table, device: &Device, errs: &mut Errors) -> FtpConfig {
    let root = Table::new(file, "protocols.ftp", t);
    root.deny_unknown(
        &[
            "banner",
            "syst",
            "motd",
            "root",
            "max_login_attempts",
            "idle_timeout",
            "transfer_timeout",
            "data_ports",
            "stou_prefix",
            "stou_suffix",
            "response_time_ms",
        ],
        errs,
    );
    let mut c = FtpConfig::default();
    let text = |key: &str, errs: &mut Errors| {
        root.str(key, false, errs)
            .map(|v| render(file, &root.key(key), v, device, errs))
    };
    if let Some(v) = text("banner", errs) {
        c.banner = v;
    }
    if let Some(v) = text("syst", errs) {
        c.syst = v;
    }
    if let Some(v) = text("motd", errs) {
        c.motd = motd_lines(&v);
    }
    if let Some(v) = root.str("root", false, errs) {
        c.root = v.to_owned();
    }
    if let Some(v) = root.int("max_login_attempts", 1, 100, false, errs) {
        c.max_login_attempts = v as u32;
    }
    if let Some(v) = root.int("idle_timeout", 1, 86_400, false, errs) {
        c.idle_timeout = Duration::from_secs(v as u64);
    }
    if let Some(v) = root.int("transfer_timeout", 1, 86_400, false, errs) {
        c.transfer_timeout = Duration::from_secs(v as u64);
    }
    if let Some(a) = root.array("data_ports", false, errs) {
        match a.as_slice() {
            [toml::Value::Integer(lo), toml::Value::Integer(hi)] if 1024 <= *lo && lo <= hi && *hi <= 65535 => {
                c.data_ports = (*lo as u16, *hi as u16);
            }
            _ => errs.push(
                file,
                &root.key("data_ports"),
                "[first, last] ports, 1024 <= first <= last <= 65535",
            ),
        }
    }
    if let Some(v) = text("stou_prefix", errs) {
        c.stou_prefix = v;
    }
    if let Some(v) = text("stou_suffix", errs) {
        c.stou_suffix = v;
    }
    c.response_time_ms = root.millis_range("response_time_ms", errs);
    check_names(file, &c, errs);
    c
}

/// STOU names must be file names: no slash or control character, short enough.
fn check_names(file: &str, c: &FtpConfig, errs: &mut Errors) {
    for (key, v) in [("stou_prefix", &c.stou_prefix), ("stou_suffix", &c.stou_suffix)] {
        if v.len() > 64 || v.chars().any(|ch| ch == '/' || ch.is_control()) {
            errs.push(file, key, "at most 64 characters, no `/` or control characters");
        }
    }
}

fn from_xml(file: &str, xml: &str, device: &Device, errs: &mut Errors) -> Option<FtpConfig> {
    let doc = match roxmltree::Document::parse(xml) {
        Ok(d) => d,
        Err(e) => {
            errs.push(file, "", format!("well-formed XML: {e}"));
            return None;
        }
    };
    let root = doc.root_element();
    let mut c = FtpConfig::default();
    if let Some(info) = child(root, "device_info") {
        let text = |tag: &str| child(info, tag).map(|n| n.text().unwrap_or_default().trim().to_owned());
        if let Some(b) = text("banner").filter(|b| !b.is_empty()) {
            c.banner = render(file, "ftp/device_info/banner", &b, device, errs);
        }
        if let Some(t) = text("device_type").filter(|t| !t.is_empty()) {
            // What the device's OS answers to SYST: a Unix system, named after the vendor.
            c.syst = format!("UNIX Type: L8 Version: {t}");
        }
        if let Some(m) = text("max_login_attempts") {
            match m.parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => c.max_login_attempts = n,
                _ => errs.push(
                    file,
                    "ftp/device_info/max_login_attempts",
                    format!("1 to 100, found `{m}`"),
                ),
            }
        }
        // Conpot spells it `sever_timeout`.
        if let Some(t) = text("sever_timeout").or_else(|| text("server_timeout")) {
            match t.parse::<u64>() {
                Ok(n) if (1..=86_400).contains(&n) => c.idle_timeout = Duration::from_secs(n),
                _ => errs.push(file, "ftp/device_info/sever_timeout", format!("seconds, found `{t}`")),
            }
        }
        if let Some(m) = text("motd") {
            c.motd = motd_lines(&render(file, "ftp/device_info/motd", &m, device, errs));
        }
        if let Some(p) = text("stou_prefix") {
            c.stou_prefix = p;
        }
        if let Some(s) = text("stou_suffix") {
            c.stou_suffix = s;
        }
    }
    if let Some(path) = child(root, "ftp_vfs").and_then(|v| child(v, "path")) {
        let p = path.text().unwrap_or_default().trim();
        if !p.is_empty() {
            c.root = p.to_owned();
        }
    }
    check_names(file, &c, errs);
    Some(c)
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(tag))
}
