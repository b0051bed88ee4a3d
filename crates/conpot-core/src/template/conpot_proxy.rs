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
        if node.attribute("keyfile").is_some() || node.attribute("certfile").is_some() {
            warnings.push(format!(
                "{file}: {path}: TLS termination is not supported yet; the TLS stream is relayed end to end \
                 (the client sees the upstream's certificate and nothing is decoded)"
            ));
        }
        if xml_text(node, "proxy_host").is_none() {
            errs.push(&file, &format!("{path}/proxy_host"), "the upstream's address");
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
        match &ssl.body {
            SectionBody::ConpotXml(x) => {
                assert!(x.starts_with("<proxy name=\"SSL proxy\"") && x.ends_with("</proxy>") && x.contains("443"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(warnings.len(), 1, "the TLS proxy is relayed without termination");
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
