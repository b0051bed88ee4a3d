//! The devices one process serves: the one template of `-t` (an implicit persona), or
//! each `[[personas]]` entry of the configuration with its template, addresses, ports and
//! state folder; and the check that no two of their listeners claim the same socket.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use conpot_core::config::{Config, ListenOverrides};
use conpot_core::event::Transport;
use conpot_core::template::Template;
use conpot_net::BindSpec;

use crate::setup;

/// One device of the process and where it listens.
#[derive(Debug)]
pub struct Unit {
    /// The `[[personas]]` name (the `persona` of its events); `None` for the template of
    /// `-t`, whose events name its generated identity as before.
    pub name: Option<String>,
    /// The device's template.
    pub template: Template,
    /// Its address and port overrides (with the process's `ipv6` and `ttl`).
    pub listen: ListenOverrides,
    /// Where its identity, certificates and boot counter are kept.
    pub state_dir: PathBuf,
    /// The `sensor_id` of its events.
    pub sensor_id: String,
}

impl Unit {
    /// How the persona is named in messages: `persona `x`: ` or nothing for `-t`.
    pub fn prefix(&self) -> String {
        self.name
            .as_ref()
            .map(|n| format!("persona `{n}`: "))
            .unwrap_or_default()
    }
}

/// The devices `config` asks for: its `[[personas]]`, or else the template `template`
/// (`-t`, default `default`) with the port overrides `ports` (`--port`) and proxy
/// upstreams `upstreams` (`--upstream`). A `-t`, `--port` or `--upstream` together with
/// `[[personas]]` is refused, since it could not say which persona it means.
pub fn units(
    config: &Config,
    template: Option<&str>,
    ports: &[(String, u16)],
    upstreams: &[(String, String)],
) -> Result<Vec<Unit>, String> {
    if config.personas.is_empty() {
        let mut template = setup::load_template(template)?;
        crate::upstreams::apply(&mut template, &config.listen.upstreams, upstreams)?;
        setup::check_port_names(
            &template,
            config.listen.ports.keys().map(String::as_str),
            "[listen.ports] of the configuration",
        )?;
        setup::check_port_names(&template, ports.iter().map(|(n, _)| n.as_str()), "--port")?;
        let mut listen = config.listen.clone();
        listen.ports.extend(ports.iter().cloned());
        return Ok(vec![Unit {
            name: None,
            template,
            listen,
            state_dir: config.state_dir.clone(),
            sensor_id: config.sensor_id.clone(),
        }]);
    }
    if let Some(t) = template {
        return Err(format!(
            "-t {t} and the [[personas]] of the configuration cannot be combined: give each persona its `template`"
        ));
    }
    if !ports.is_empty() {
        return Err("--port cannot be combined with [[personas]]: give each persona its `ports`".to_owned());
    }
    if !upstreams.is_empty() {
        return Err("--upstream cannot be combined with [[personas]]: give each persona its `upstreams`".to_owned());
    }
    let mut units = Vec::with_capacity(config.personas.len());
    for p in &config.personas {
        let mut template = setup::load_template(Some(&p.template)).map_err(|e| format!("persona `{}`: {e}", p.name))?;
        crate::upstreams::apply(&mut template, &p.upstreams, &[]).map_err(|e| format!("persona `{}`: {e}", p.name))?;
        setup::check_port_names(
            &template,
            p.ports.keys().map(String::as_str),
            &format!("the ports of persona `{}`", p.name),
        )?;
        // `[listen] ports` name one template's protocols: with personas they would apply
        // to every device at once and collide, so only the persona's own count.
        let listen = ListenOverrides {
            host: p.listen.map(|ip| ip.to_string()).or_else(|| config.listen.host.clone()),
            ports: p.ports.clone(),
            ipv6: config.listen.ipv6,
            ttl: config.listen.ttl,
            upstreams: p.upstreams.clone(),
        };
        units.push(Unit {
            name: Some(p.name.clone()),
            template,
            listen,
            state_dir: p.state_dir_in(&config.state_dir),
            sensor_id: p.sensor_id.clone().unwrap_or_else(|| config.sensor_id.clone()),
        });
    }
    Ok(units)
}

/// Every pair of sockets of different plans (one per persona, named by the first element)
/// that the kernel would refuse to bind both: the same transport and port on the same
/// address, or on an address and the wildcard of its family. Port 0 (any free port) never
/// collides. Each conflict in words, naming both personas, protocols and the socket.
pub fn conflicts(plans: &[(String, Vec<BindSpec>)]) -> Vec<String> {
    let mut claimed: BTreeMap<(bool, u16), Vec<Claim<'_>>> = BTreeMap::new();
    let mut out = Vec::new();
    for (persona, plan) in plans {
        for spec in plan.iter().filter(|s| s.addr.port() != 0 && !s.optional) {
            let udp = spec.transport == Transport::Udp;
            let key = (udp, spec.addr.port());
            let ip = spec.addr.ip();
            let others = claimed.entry(key).or_default();
            for (other_ip, other_persona, other_proto) in others.iter() {
                if *other_persona != persona.as_str() && overlaps(*other_ip, ip) {
                    out.push(format!(
                        "persona `{persona}` ({}) and persona `{other_persona}` ({other_proto}) both listen on {} {}: \
                         give one of them another `listen` address or port",
                        spec.name,
                        if udp { "udp" } else { "tcp" },
                        SocketAddr::new(ip, spec.addr.port()),
                    ));
                }
            }
            others.push((ip, persona.as_str(), spec.name.as_str()));
        }
    }
    out
}

/// A socket claimed by a plan, under its (transport is UDP, port): address, persona, protocol.
type Claim<'a> = (IpAddr, &'a str, &'a str);

/// Whether sockets on `a` and `b` (same port and transport) exclude each other: equal
/// addresses, or one the wildcard of the other's family.
fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    a == b || (a.is_ipv4() == b.is_ipv4() && (a.is_unspecified() || b.is_unspecified()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn spec(name: &str, addr: &str, transport: Transport) -> BindSpec {
        BindSpec {
            name: name.into(),
            addr: addr.parse().unwrap(),
            transport,
            optional: false,
        }
    }

    #[test]
    fn same_socket_in_two_personas_is_named() {
        let plans = vec![
            ("plc".to_owned(), vec![spec("s7comm", "127.0.0.2:102", Transport::Tcp)]),
            (
                "meter".to_owned(),
                vec![spec("kamstrup", "127.0.0.2:102", Transport::Tcp)],
            ),
        ];
        let c = conflicts(&plans);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].contains("persona `meter` (kamstrup)"), "{}", c[0]);
        assert!(c[0].contains("persona `plc` (s7comm)"), "{}", c[0]);
        assert!(c[0].contains("tcp 127.0.0.2:102"), "{}", c[0]);
    }

    #[test]
    fn other_address_port_or_transport_is_no_conflict() {
        let plans = vec![
            (
                "a".to_owned(),
                vec![
                    spec("modbus", "127.0.0.2:502", Transport::Tcp),
                    spec("snmp", "127.0.0.2:161", Transport::Udp),
                ],
            ),
            (
                "b".to_owned(),
                vec![
                    spec("modbus", "127.0.0.3:502", Transport::Tcp),
                    spec("modbus2", "127.0.0.2:503", Transport::Tcp),
                    spec("other", "127.0.0.2:161", Transport::Tcp),
                    spec("v6", "[::1]:502", Transport::Tcp),
                ],
            ),
        ];
        assert!(conflicts(&plans).is_empty());
    }

    #[test]
    fn wildcard_collides_with_its_family_only() {
        let plans = vec![
            ("any".to_owned(), vec![spec("snmp", "0.0.0.0:161", Transport::Udp)]),
            (
                "one".to_owned(),
                vec![
                    spec("snmp", "127.0.0.5:161", Transport::Udp),
                    spec("snmp6", "[::1]:161", Transport::Udp),
                ],
            ),
        ];
        let c = conflicts(&plans);
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].contains("udp 127.0.0.5:161"));
        let v6 = vec![
            ("any6".to_owned(), vec![spec("snmp", "[::]:161", Transport::Udp)]),
            ("one6".to_owned(), vec![spec("snmp", "[::1]:161", Transport::Udp)]),
        ];
        assert_eq!(conflicts(&v6).len(), 1);
    }

    #[test]
    fn any_free_port_and_optional_twins_never_collide() {
        let mut twin = spec("modbus", "[::]:502", Transport::Tcp);
        twin.optional = true;
        let plans = vec![
            (
                "a".to_owned(),
                vec![spec("modbus", "127.0.0.2:0", Transport::Tcp), twin.clone()],
            ),
            (
                "b".to_owned(),
                vec![spec("modbus", "127.0.0.2:0", Transport::Tcp), twin],
            ),
        ];
        assert!(conflicts(&plans).is_empty());
    }

    #[test]
    fn one_persona_is_not_checked_against_itself() {
        // A template's own duplicate is the kernel's to report, with its usual message.
        let plans = vec![(
            "a".to_owned(),
            vec![
                spec("x", "127.0.0.2:80", Transport::Tcp),
                spec("y", "127.0.0.2:80", Transport::Tcp),
            ],
        )];
        assert!(conflicts(&plans).is_empty());
    }

    fn config(text: &str) -> Config {
        Config::from_toml("c.toml", text).unwrap()
    }

    #[test]
    fn units_of_personas_get_their_own_listen_and_state() {
        let c = config(
            "[sensor]\nstate_dir = \"st\"\nid = \"fleet\"\n[listen]\nttl = 60\n\
             [[personas]]\nname = \"plc\"\ntemplate = \"default\"\nlisten = \"127.0.0.2\"\nports = { s7comm = 1102 }\n\
             [[personas]]\nname = \"bmc\"\ntemplate = \"ipmi\"\nlisten = \"::1\"\nsensor_id = \"bmc-1\"\n",
        );
        let u = units(&c, None, &[], &[]).unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].name.as_deref(), Some("plc"));
        assert_eq!(u[0].listen.host.as_deref(), Some("127.0.0.2"));
        assert_eq!(u[0].listen.ports.get("s7comm"), Some(&1102));
        assert_eq!(u[0].listen.ttl, Some(60));
        assert_eq!(u[0].state_dir, PathBuf::from("st/personas/plc"));
        assert_eq!(u[0].sensor_id, "fleet");
        assert_eq!(u[1].template.name, "ipmi");
        assert_eq!(u[1].listen.host.as_deref(), Some("::1"));
        assert_eq!(u[1].sensor_id, "bmc-1");
    }

    #[test]
    fn personas_refuse_template_flag_port_flag_and_unknown_protocols() {
        let c = config("[[personas]]\nname = \"plc\"\ntemplate = \"default\"\n");
        let e = units(&c, Some("ipmi"), &[], &[]).unwrap_err();
        assert!(e.contains("cannot be combined"), "{e}");
        let e = units(&c, None, &[("modbus".into(), 5020)], &[]).unwrap_err();
        assert!(e.contains("--port"), "{e}");
        let c = config("[[personas]]\nname = \"plc\"\ntemplate = \"default\"\nports = { s7 = 102 }\n");
        let e = units(&c, None, &[], &[]).unwrap_err();
        assert!(e.contains("persona `plc`") && e.contains("`s7`"), "{e}");
        let c = config("[[personas]]\nname = \"x\"\ntemplate = \"no-such-template\"\n");
        let e = units(&c, None, &[], &[]).unwrap_err();
        assert!(e.contains("persona `x`") && e.contains("not found"), "{e}");
    }

    #[test]
    fn without_personas_the_template_flag_is_one_unnamed_unit() {
        let c = Config::default();
        let u = units(&c, Some("ipmi"), &[("ipmi".into(), 0)], &[]).unwrap();
        assert_eq!(u.len(), 1);
        assert!(u[0].name.is_none());
        assert_eq!(u[0].listen.ports.get("ipmi"), Some(&0));
        assert_eq!(u[0].state_dir, c.state_dir);
    }
}
