//! Import of Conpot's `proxy/proxy.xml`: one protocol section per `<proxy>`, each its
//! own listener. A section is named `proxy.<slug of the proxy's name>` (the registry
//! serves every `proxy.*` section with the proxy service) and its body is the `<proxy>`
//! element's own XML, which the proxy crate reads.

use std::collections::BTreeMap;

use super::nav::{Errors, xml_text};
use super::{FileSource, ProtocolSection, SectionBody};

/// Most proxies one file may declare (each is a listener).
const MAX_PROXIES: usize = 64;

/// The section name of a proxy called `name` (the `n`-th of its file): `proxy.` and the
/// name in lower case with every run of other characters than letters and digits made
/// one `_`.
pub fn section_name(name: &str, n: usize) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('_') {
            slug.push('_');
        }
    }
    let slug = slug.trim_end_matches('_');
    if slug.is_empty() {
        format!("proxy.{n}")
    } else {
        format!("proxy.{slug}")
    }
}

/// Adds the proxies of `source`'s `proxy/proxy.xml` (if there is one) to `protocols`.
pub(super) fn import(
    source: &FileSource,
    protocols: &mut BTreeMap<String, ProtocolSection>,
    errs: &mut Errors,
    warnings: &mut Vec<String>,
) {
    const REL: &str = "proxy/proxy.xml";
    let Some(bytes) = source.read(REL) else { return };
    let file = source.label(REL);
    let Ok(text) = String::from_utf8(bytes) else {
        return errs.push(&file, "", "UTF-8 XML");
    };
    if text.len() > super::conpot_xml::MAX_XML {
        return errs.push(&file, "", "a file under 8 MiB");
    }
    let doc = match roxmltree::Document::parse(&text) {
        Ok(d) => d,
        Err(e) => return errs.push(&file, "", format!("well-formed XML: {e}")),
    };
    let root = doc.root_element();
    if root.tag_name().name() != "proxies" {
        return errs.push(&file, root.tag_name().name(), "the root element <proxies>");
    }
    let enabled = matches!(root.attribute("enabled").map(str::trim), Some("True" | "true" | "1"));
    for (n, node) in root.children().filter(|c| c.has_tag_name("proxy")).enumerate() {
        let name = node.attribute("name").unwrap_or_default().trim();
        let path = format!("proxies/proxy[@name='{name}']");
        if n >= MAX_PROXIES {
            return errs.push(&file, "proxies", format!("at most {MAX_PROXIES} proxies"));
        }
        let host = node.attribute("host").unwrap_or("0.0.0.0").trim().to_owned();
        if host.parse::<std::net::IpAddr>().is_err() {
            errs.push(
                &file,
                &format!("{path}/@host"),
                format!("an IP address, found `{host}`"),
            );
            continue;
        }
        let port_text = node.attribute("port").unwrap_or_default().trim();
        let Ok(port) = port_text.parse::<u16>() else {
            errs.push(
                &file,
                &format!("{path}/@port"),
                format!("a port number, found `{port_text}`"),
            );
            continue;
        };
        let mut key = section_name(name, n);
        if protocols.contains_key(&key) {
            key = format!("{key}_{n}");
        }
        if xml_text(node, "proxy_host").is_none() {
            errs.push(&file, &format!("{path}/proxy_host"), "the upstream's address");
            continue;
        }
        if let (Some(keyfile), Some(certfile)) = (node.attribute("keyfile"), node.attribute("certfile")) {
            // TLS on both legs, as Conpot relays it: a native section with the proxy's TLS.
            let Some(table) = tls_section(
                source,
                node,
                name,
                (keyfile.trim(), certfile.trim()),
                warnings,
                &file,
                &path,
            ) else {
                errs.push(
                    &file,
                    &format!("{path}/proxy_host"),
                    "the upstream's IP address and port (names are not resolved)",
                );
                continue;
            };
            protocols.insert(
                key.clone(),
                ProtocolSection {
                    name: key,
                    enabled,
                    host,
                    port,
                    file: file.clone(),
                    body: SectionBody::Toml(table),
                },
            );
            continue;
        }
        let Some(body) = text.get(node.range()) else { continue };
        protocols.insert(
            key.clone(),
            ProtocolSection {
                name: key,
                enabled,
                host,
                port,
                file: file.clone(),
                body: SectionBody::ConpotXml(body.to_owned()),
            },
        );
    }
}

/// Where Conpot looks for a proxy's TLS file `rel` (`<parent of the template folder>/ssl/`),
/// then the template's own `ssl/` and `proxy/` folders: the first that exists.
fn tls_file(source: &FileSource, rel: &str) -> Option<std::path::PathBuf> {
    let FileSource::Dir(dir) = source else { return None };
    let rel = std::path::Path::new(rel);
    if rel.is_absolute() {
        return rel.is_file().then(|| rel.to_path_buf());
    }
    let mut candidates = Vec::new();
    if let Some(parent) = dir.parent() {
        candidates.push(parent.join("ssl").join(rel));
    }
    candidates.push(dir.join("ssl").join(rel));
    candidates.push(dir.join("proxy").join(rel));
    candidates.into_iter().find(|p| p.is_file())
}

/// The native section of a `<proxy>` with `keyfile`/`certfile` (`files`): the client's TLS
/// is terminated with those files (or, when they are not found, a certificate made for the
/// deployment, with a warning), and the upstream is reached over TLS without verification,
/// as Conpot's Python `ssl` wrapping does. `None` when the upstream is not an IP address
/// and port.
fn tls_section(
    source: &FileSource,
    node: roxmltree::Node<'_, '_>,
    name: &str,
    files: (&str, &str),
    warnings: &mut Vec<String>,
    file: &str,
    path: &str,
) -> Option<toml::Table> {
    let (keyfile, certfile) = files;
    let host = xml_text(node, "proxy_host")?.trim();
    let port = xml_text(node, "proxy_port")?.trim().parse::<u16>().ok()?;
    let ip = host.parse::<std::net::IpAddr>().ok()?;
    let mut t = toml::Table::new();
    t.insert("name".into(), name.into());
    t.insert(
        "upstream".into(),
        std::net::SocketAddr::new(ip, port).to_string().into(),
    );
    let decoder = xml_text(node, "decoder")
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or("raw");
    t.insert("decoder".into(), decoder.into());
    t.insert("upstream_tls".into(), true.into());
    t.insert("upstream_verify".into(), false.into());
    let mut tls = toml::Table::new();
    tls.insert("only".into(), true.into());
    match (tls_file(source, certfile), tls_file(source, keyfile)) {
        (Some(cert), Some(key)) => {
            tls.insert("cert".into(), cert.display().to_string().into());
            tls.insert("key".into(), key.display().to_string().into());
        }
        _ => warnings.push(format!(
            "{file}: {path}: keyfile `{keyfile}`/certfile `{certfile}` not found (Conpot looks in the ssl/ folder \
             beside the template folder); the proxy terminates TLS with a certificate made for this deployment"
        )),
    }
    t.insert("tls".into(), toml::Value::Table(tls));
    Some(t)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const XML: &str = r#"<proxies enabled="True">
    <proxy name="Kamstrup Channel A" host="0.0.0.0" port="1025">
        <proxy_host>192.168.1.176</proxy_host><proxy_port>1025</proxy_port><decoder></decoder>
    </proxy>
    <proxy name="SSL proxy" host="127.0.0.1" port="1234" keyfile="ssl.key" certfile="ssl.crt">
        <proxy_host>192.168.1.123</proxy_host><proxy_port>443</proxy_port><decoder/>
    </proxy>
    <proxy name="SSL proxy" host="0.0.0.0" port="1235"><proxy_host>10.0.0.1</proxy_host></proxy>
</proxies>"#;

    static FILES: &[(&str, &[u8])] = &[("proxy/proxy.xml", XML.as_bytes())];

    #[test]
    fn each_proxy_is_a_section_with_its_own_element() {
        let (mut protocols, mut errs, mut warnings) = (BTreeMap::new(), Errors::default(), Vec::new());
        import(&FileSource::Embedded(FILES), &mut protocols, &mut errs, &mut warnings);
        assert!(errs.is_empty(), "{:?}", errs.0);
        let names: Vec<&str> = protocols.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["proxy.kamstrup_channel_a", "proxy.ssl_proxy", "proxy.ssl_proxy_2"]
        );
        let ssl = &protocols["proxy.ssl_proxy"];
        assert_eq!((ssl.host.as_str(), ssl.port, ssl.enabled), ("127.0.0.1", 1234, true));
        // keyfile/certfile: a native section terminating TLS and relaying over TLS.
        match &ssl.body {
            SectionBody::Toml(t) => {
                assert_eq!(t["upstream"].as_str(), Some("192.168.1.123:443"));
                assert_eq!(t["upstream_tls"].as_bool(), Some(true));
                assert_eq!(t["decoder"].as_str(), Some("raw"));
                assert_eq!(t["tls"]["only"].as_bool(), Some(true));
            }
            other => panic!("{other:?}"),
        }
        match &protocols["proxy.kamstrup_channel_a"].body {
            SectionBody::ConpotXml(x) => assert!(x.starts_with("<proxy name=\"Kamstrup Channel A\"")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            warnings.len(),
            1,
            "the TLS files are not in an embedded folder: {warnings:?}"
        );
        assert!(warnings[0].contains("made for this deployment"));
        // Disabled as a whole, and a bad port is named.
        static OFF: &[(&str, &[u8])] = &[(
            "proxy/proxy.xml",
            b"<proxies enabled=\"False\"><proxy name=\"a\" port=\"x\"><proxy_host>1.2.3.4</proxy_host></proxy>\
              <proxy name=\"b\" port=\"1\"><proxy_host>1.2.3.4</proxy_host></proxy></proxies>",
        )];
        let (mut protocols, mut errs) = (BTreeMap::new(), Errors::default());
        import(&FileSource::Embedded(OFF), &mut protocols, &mut errs, &mut warnings);
        assert!(errs.0.iter().any(|e| e.key.contains("@port")));
        assert!(!protocols["proxy.b"].enabled);
    }

    #[test]
    fn names_become_section_names() {
        assert_eq!(section_name("Kamstrup Channel A", 0), "proxy.kamstrup_channel_a");
        assert_eq!(section_name("  SSL proxy!", 3), "proxy.ssl_proxy");
        assert_eq!(section_name("---", 2), "proxy.2");
        assert_eq!(section_name("", 0), "proxy.0");
    }
}
