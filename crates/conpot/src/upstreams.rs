//! Where proxies relay to when the template leaves it to the operator: the embedded `proxy`
//! template names Conpot's proxies but none of their upstreams (an upstream is the
//! operator's own device), so they come from `--upstream NAME=HOST:PORT` or the sensor
//! configuration's `[listen.upstreams]` table. Both are the operator's, read once at start:
//! a host name is resolved here (a compose service name, say), never later and never from
//! anything an attacker sends.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};

use conpot_core::template::{SectionBody, Template};

/// Whether a section is served by the proxy (`proxy` or `proxy.NAME`).
fn is_proxy(name: &str) -> bool {
    name == "proxy" || name.starts_with("proxy.")
}

/// The proxy section `name` designates: its own name, or `proxy.NAME`.
fn section_name(template: &Template, name: &str) -> Option<String> {
    let prefixed = format!("proxy.{name}");
    [name.to_owned(), prefixed]
        .into_iter()
        .find(|n| is_proxy(n) && template.protocols.contains_key(n))
}

/// Resolves `HOST:PORT` (an IP address, `[v6]:port`, or a name resolved now).
pub fn resolve(text: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    if text
        .rsplit_once(':')
        .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
    {
        return Err(format!("`{text}` is not HOST:PORT"));
    }
    text.to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{text}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{text}` resolves to no address"))
}

/// Parses one `--upstream NAME=HOST:PORT`.
pub fn parse_arg(s: &str) -> Result<(String, String), String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=HOST:PORT, found `{s}`"))?;
    if name.is_empty() || addr.is_empty() {
        return Err(format!("expected NAME=HOST:PORT, found `{s}`"));
    }
    Ok((name.to_owned(), addr.to_owned()))
}

/// Sets the upstreams of `template`'s proxies: the configuration's first, then the command
/// line's (which win). A proxy still without an upstream is removed with a warning (in
/// `template.warnings`); if that leaves no proxy at all of a template that has some, the
/// sensor must not start, and the error names each proxy and how to give its upstream.
pub fn apply(
    template: &mut Template,
    configured: &BTreeMap<String, String>,
    cli: &[(String, String)],
) -> Result<(), String> {
    let mut errors = Vec::new();
    let given = configured
        .iter()
        .map(|(n, a)| (n.as_str(), a.as_str(), "[listen.upstreams]"))
        .chain(cli.iter().map(|(n, a)| (n.as_str(), a.as_str(), "--upstream")));
    for (name, addr, origin) in given {
        let Some(section) = section_name(template, name) else {
            errors.push(format!(
                "{origin}: template `{}` has no proxy named `{name}`; its proxies are: {}",
                template.name,
                list(
                    template
                        .protocols
                        .keys()
                        .filter(|n| is_proxy(n))
                        .map(|n| format!("`{n}`"))
                )
            ));
            continue;
        };
        let resolved = match resolve(addr) {
            Ok(a) => a,
            Err(e) => {
                errors.push(format!("{origin} {name}: {e}"));
                continue;
            }
        };
        let Some(sec) = template.protocols.get_mut(&section) else {
            continue;
        };
        match &mut sec.body {
            SectionBody::Toml(t) => {
                t.insert("upstream".to_owned(), toml::Value::String(resolved.to_string()));
            }
            SectionBody::ConpotXml(_) => errors.push(format!(
                "{origin} {name}: `{section}` comes from Conpot's proxy.xml, whose <proxy_host> and \
                 <proxy_port> set its upstream; edit them there"
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let missing: Vec<String> = template
        .protocols
        .values()
        .filter(|s| s.enabled && is_proxy(&s.name))
        .filter(|s| matches!(&s.body, SectionBody::Toml(t) if !t.contains_key("upstream")))
        .map(|s| s.name.clone())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let served = template
        .protocols
        .values()
        .filter(|s| s.enabled && is_proxy(&s.name))
        .count();
    let describe = |n: &String| {
        let port = template.protocols.get(n).map_or(0, |s| s.port);
        format!("`{n}` (port {port})")
    };
    let how = format!(
        "give each with --upstream NAME=HOST:PORT (repeatable, e.g. --upstream {}=192.0.2.10:{}) or in \
         the configuration's [listen.upstreams] table (\"NAME\" = \"HOST:PORT\")",
        missing.first().map_or("proxy.NAME", String::as_str),
        missing
            .first()
            .and_then(|n| template.protocols.get(n))
            .map_or(502, |s| s.port)
    );
    if missing.len() == served {
        return Err(format!(
            "template `{}`: no upstream for its proxies {}; a proxy relays to the operator's own device, which \
             no template names: {how}",
            template.name,
            list(missing.iter().map(describe))
        ));
    }
    template.warnings.push(format!(
        "proxies without an upstream are not served: {}; {how}",
        list(missing.iter().map(describe))
    ));
    // Removed rather than disabled: a disabled section is still validated, and it has
    // nothing to validate against.
    for n in &missing {
        template.protocols.remove(n);
    }
    Ok(())
}

fn list(items: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = items.collect();
    if v.is_empty() { "none".to_owned() } else { v.join(", ") }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn proxy_template() -> Template {
        crate::setup::load_template(Some("proxy")).unwrap()
    }

    #[test]
    fn the_embedded_proxy_template_refuses_without_upstreams_naming_every_proxy() {
        let mut t = proxy_template();
        let e = apply(&mut t, &BTreeMap::new(), &[]).unwrap_err();
        for n in [
            "proxy.kamstrup_channel_a",
            "proxy.kamstrup_channel_b",
            "proxy.kamstrup_telnet",
            "proxy.ssl_proxy",
        ] {
            assert!(e.contains(n), "{e}");
        }
        assert!(e.contains("--upstream"), "{e}");
        assert!(e.contains("[listen.upstreams]"), "{e}");
    }

    #[test]
    fn upstreams_from_cli_win_over_the_configuration_and_the_rest_are_left_out() {
        let mut t = proxy_template();
        let conf = BTreeMap::from([("proxy.kamstrup_channel_a".to_owned(), "192.0.2.1:1025".to_owned())]);
        let cli = vec![
            ("kamstrup_channel_a".to_owned(), "192.0.2.2:1025".to_owned()),
            ("proxy.kamstrup_telnet".to_owned(), "[2001:db8::5]:50100".to_owned()),
        ];
        apply(&mut t, &conf, &cli).unwrap();
        let up = |n: &str| match &t.protocols[n].body {
            SectionBody::Toml(tb) => tb.get("upstream").and_then(|v| v.as_str()).map(str::to_owned),
            SectionBody::ConpotXml(_) => None,
        };
        assert_eq!(up("proxy.kamstrup_channel_a").as_deref(), Some("192.0.2.2:1025"));
        assert_eq!(up("proxy.kamstrup_telnet").as_deref(), Some("[2001:db8::5]:50100"));
        assert!(t.protocols["proxy.kamstrup_channel_a"].enabled);
        assert!(!t.protocols.contains_key("proxy.kamstrup_channel_b"));
        assert!(!t.protocols.contains_key("proxy.ssl_proxy"));
        assert!(t.warnings.iter().any(|w| w.contains("proxy.ssl_proxy")));
        // Every enabled proxy now builds.
        let persona = t.persona.generate(&t.name, 0);
        let built = crate::setup::build(&t, persona, 1);
        assert!(built.is_ok(), "{:?}", built.err());
    }

    #[test]
    fn unknown_names_and_bad_addresses_are_errors() {
        let mut t = proxy_template();
        let e = apply(&mut t, &BTreeMap::new(), &[("modbus".into(), "192.0.2.1:502".into())]).unwrap_err();
        assert!(
            e.contains("no proxy named `modbus`") && e.contains("proxy.ssl_proxy"),
            "{e}"
        );
        let e = apply(&mut t, &BTreeMap::new(), &[("ssl_proxy".into(), "192.0.2.1".into())]).unwrap_err();
        assert!(e.contains("HOST:PORT"), "{e}");
        assert_eq!(resolve("localhost:80").map(|a| a.port()), Ok(80));
        assert!(parse_arg("x").is_err() && parse_arg("=1.2.3.4:5").is_err());
        assert_eq!(parse_arg("a=b:1"), Ok(("a".into(), "b:1".into())));
    }
}
