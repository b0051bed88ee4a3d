//! A proxy's configuration, from a native `[protocols.proxy]` (or `[protocols."proxy.NAME"]`)
//! table or from one `<proxy>` of Conpot's `proxy/proxy.xml` (the core's importer makes
//! each its own section). The upstream comes from the template only: nothing the attacker
//! sends can change where a connection goes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use conpot_core::protocol::UpstreamTls;
use conpot_core::template::nav::{Errors, Table, xml_text};
use conpot_core::template::{ProtocolSection, TemplateError};

use crate::decode::DecoderKind;

/// Connections one proxy relays at once unless configured.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;
/// How long the upstream may take to accept a connection unless configured.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a relayed connection may be silent both ways unless configured.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// One proxy: where it relays to and how it logs what passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Its name (Conpot's `name` attribute or the section name), in every event.
    pub name: String,
    /// The device every connection is relayed to.
    pub upstream: SocketAddr,
    /// How the relayed bytes are turned into events.
    pub decoder: DecoderKind,
    /// Connections relayed at once; more are closed at once with `proxy.refused`.
    pub max_connections: usize,
    /// How long the upstream may take to accept.
    pub connect_timeout: Duration,
    /// How long a connection may be silent both ways before both sides are closed.
    pub idle_timeout: Duration,
    /// TLS towards the upstream (`upstream_tls = true`), else plain TCP.
    pub upstream_tls: Option<UpstreamTls>,
}

/// Builds the configuration of `section`.
pub fn build(section: &ProtocolSection) -> Result<ProxyConfig, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(section, file, t, errs),
        |file, x, errs| from_xml(section, file, x, errs),
    )
}

fn upstream(host: &str, port: u16) -> Option<SocketAddr> {
    host.trim().parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, port))
}

fn from_toml(section: &ProtocolSection, file: &str, t: &toml::Table, errs: &mut Errors) -> Option<ProxyConfig> {
    let path = format!("protocols.{}", section.name);
    let root = Table::new(file, &path, t);
    root.deny_unknown(
        &[
            "name",
            "upstream",
            "decoder",
            "max_connections",
            "connect_timeout_ms",
            "idle_timeout_s",
            "upstream_tls",
            "upstream_verify",
            "upstream_ca",
            "upstream_sni",
        ],
        errs,
    );
    let upstream_tls = upstream_tls(&root, errs);
    let Some(up_text) = root.str("upstream", false, errs) else {
        errs.push(
            file,
            &root.key("upstream"),
            "the device relayed to, \"HOST:PORT\" (here, or from --upstream NAME=HOST:PORT or the \
             configuration's [listen.upstreams])",
        );
        return None;
    };
    let Some(up) = up_text.parse::<SocketAddr>().ok() else {
        errs.push(
            file,
            &root.key("upstream"),
            format!("an IP address and port such as \"10.0.0.5:502\", found \"{up_text}\""),
        );
        return None;
    };
    let decoder = match root.str("decoder", false, errs) {
        None => DecoderKind::Raw,
        // Conpot's class names too (a `<proxy>` the core imported as a native section).
        Some(d) => match DecoderKind::parse(d).or_else(|| DecoderKind::from_conpot(d)) {
            Some(k) => k,
            None => {
                errs.push(
                    file,
                    &root.key("decoder"),
                    format!("{}, found \"{d}\"", DecoderKind::NAMES),
                );
                DecoderKind::Raw
            }
        },
    };
    let max_connections = root
        .int("max_connections", 1, 100_000, false, errs)
        .map_or(DEFAULT_MAX_CONNECTIONS, |n| n as usize);
    let connect_timeout = root
        // The listener gives up a connect after 10 s whatever is asked.
        .int("connect_timeout_ms", 1, 10_000, false, errs)
        .map_or(DEFAULT_CONNECT_TIMEOUT, |ms| Duration::from_millis(ms as u64));
    let idle_timeout = root
        .int("idle_timeout_s", 1, 86_400, false, errs)
        .map_or(DEFAULT_IDLE_TIMEOUT, |s| Duration::from_secs(s as u64));
    Some(ProxyConfig {
        name: root.str("name", false, errs).unwrap_or(&section.name).to_owned(),
        upstream: up,
        decoder,
        max_connections,
        connect_timeout,
        idle_timeout,
        upstream_tls,
    })
}

/// The upstream TLS keys: `upstream_tls` turns it on; `upstream_verify` (default true)
/// checks the certificate against `upstream_ca` (a PEM file) or the system's roots, and
/// the name `upstream_sni` (default: the upstream's address), which is also sent as SNI.
fn upstream_tls(root: &Table<'_>, errs: &mut Errors) -> Option<UpstreamTls> {
    let on = root.bool("upstream_tls", errs).unwrap_or(false);
    let verify = root.bool("upstream_verify", errs).unwrap_or(true);
    let ca_file = root.str("upstream_ca", false, errs).map(std::path::PathBuf::from);
    let server_name = root.str("upstream_sni", false, errs).map(str::to_owned);
    if !on {
        for k in ["upstream_verify", "upstream_ca", "upstream_sni"] {
            if root.get(k).is_some() {
                errs.push(root.file, &root.key(k), "`upstream_tls = true` as well");
            }
        }
        return None;
    }
    if let Some(n) = &server_name
        && (n.is_empty() || n.len() > 253)
    {
        errs.push(root.file, &root.key("upstream_sni"), "a host name of 1-253 characters");
    }
    Some(UpstreamTls {
        verify,
        ca_file,
        server_name,
    })
}

fn from_xml(section: &ProtocolSection, file: &str, text: &str, errs: &mut Errors) -> Option<ProxyConfig> {
    let doc = match roxmltree::Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            errs.push(file, &section.name, format!("well-formed XML: {e}"));
            return None;
        }
    };
    let node = doc.root_element();
    if !node.has_tag_name("proxy") {
        errs.push(file, &section.name, "a <proxy> element");
        return None;
    }
    let name = node.attribute("name").unwrap_or(&section.name).trim().to_owned();
    let path = format!("proxies/proxy[@name='{name}']");
    let host = xml_text(node, "proxy_host").unwrap_or_default();
    let port_text = xml_text(node, "proxy_port").unwrap_or_default();
    let Ok(port) = port_text.parse::<u16>() else {
        errs.push(
            file,
            &format!("{path}/proxy_port"),
            format!("a port number, found `{port_text}`"),
        );
        return None;
    };
    let Some(up) = upstream(host, port) else {
        errs.push(
            file,
            &format!("{path}/proxy_host"),
            format!("an IP address (names are not resolved), found `{host}`"),
        );
        return None;
    };
    let class = xml_text(node, "decoder").unwrap_or_default();
    let decoder = DecoderKind::from_conpot(class).unwrap_or_else(|| {
        errs.push(
            file,
            &format!("{path}/decoder"),
            format!(
                "one of Conpot's decoder classes or {}, found `{class}`",
                DecoderKind::NAMES
            ),
        );
        DecoderKind::Raw
    });
    Some(ProxyConfig {
        name,
        upstream: up,
        decoder,
        max_connections: DEFAULT_MAX_CONNECTIONS,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        idle_timeout: DEFAULT_IDLE_TIMEOUT,
        upstream_tls: None,
    })
}
