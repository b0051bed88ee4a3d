//! The devices one sensor process serves (`[[personas]]` of our TOML configuration): each
//! entry names a template, where it listens and where its state is kept, so that a fleet
//! operator runs many different devices from one small machine, each with its own
//! identity, databus, filesystem, credentials and certificate, while the process shares
//! its connection limits, sinks and metrics between them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::template::nav::{Errors, Table};

/// Most personas one process serves: enough for a fleet VM, bounded so a configuration
/// cannot make the sensor build an unbounded number of devices.
pub const MAX_PERSONAS: usize = 256;

/// Longest persona name (it is in every event and in file names).
pub const MAX_NAME: usize = 64;

/// Folder under the sensor's state folder holding each persona's state when the entry
/// gives none: `<state_dir>/personas/<name>`.
pub const STATE_SUBDIR: &str = "personas";

/// One `[[personas]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonaEntry {
    /// The persona's name: the `persona` field of each of its events.
    pub name: String,
    /// Embedded template name or template folder.
    pub template: String,
    /// Every protocol of the persona listens on this address (else the template's, or
    /// `[listen] host`): one loopback or public address per device.
    pub listen: Option<IpAddr>,
    /// Per-protocol (or TLS listener) port overrides (0 = any free port).
    pub ports: BTreeMap<String, u16>,
    /// Where the persona's identity, certificates and boot counter are kept (default:
    /// `<sensor state_dir>/personas/<name>`).
    pub state_dir: Option<PathBuf>,
    /// Upstreams of the persona's proxies by section name ("NAME" = "HOST:PORT"), as
    /// `[listen.upstreams]` for the template of `-t`.
    pub upstreams: BTreeMap<String, String>,
    /// The `sensor_id` of this persona's events (default: the sensor's): Conpot's log
    /// schema has no persona field, so a distinct id is how its consumers tell devices apart.
    pub sensor_id: Option<String>,
}

impl PersonaEntry {
    /// The state folder of this persona, given the sensor's.
    pub fn state_dir_in(&self, sensor_state: &Path) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| sensor_state.join(STATE_SUBDIR).join(&self.name))
    }
}

/// Whether `name` may name a persona: 1 to [`MAX_NAME`] ASCII letters, digits, `.`, `_`
/// or `-`, not starting with a dot (it becomes a folder name).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Reads the `[[personas]]` array of `top` (in `file`); every mistake is recorded in
/// `errs`: unknown keys, bad names or addresses, and duplicate names or state folders.
/// Whether two personas' listeners collide is checked once their templates are loaded.
pub fn parse(file: &str, top: &Table<'_>, errs: &mut Errors) -> Vec<PersonaEntry> {
    let entries = top.tables("personas", false, errs);
    if entries.len() > MAX_PERSONAS {
        errs.push(file, "personas", format!("at most {MAX_PERSONAS} personas"));
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    let mut states = BTreeMap::new();
    for (path, table) in &entries {
        let t = Table::new(file, path, table);
        t.deny_unknown(
            &[
                "name",
                "template",
                "listen",
                "ports",
                "upstreams",
                "state_dir",
                "sensor_id",
            ],
            errs,
        );
        let name = t.str("name", true, errs).unwrap_or_default();
        if !name.is_empty() && !valid_name(name) {
            errs.push(
                file,
                &t.key("name"),
                format!("1 to {MAX_NAME} letters, digits, `.`, `_` or `-` (not starting with `.`), found `{name}`"),
            );
        }
        if !name.is_empty() && !names.insert(name.to_owned()) {
            errs.push(
                file,
                &t.key("name"),
                format!("a name no other persona has: `{name}` is given twice"),
            );
        }
        let template = t.str("template", true, errs).unwrap_or_default();
        let listen = t.str("listen", false, errs).and_then(|v| match v.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                errs.push(
                    file,
                    &t.key("listen"),
                    format!("an IP address such as 127.0.0.2 or ::1, found `{v}`"),
                );
                None
            }
        });
        let mut ports = BTreeMap::new();
        if let Some(pt) = t.table("ports", false, errs) {
            let key = t.key("ports");
            let p = Table::new(file, &key, pt);
            for k in pt.keys() {
                if let Some(v) = p.int(k, 0, 65535, true, errs) {
                    ports.insert(k.clone(), v as u16);
                }
            }
        }
        let mut upstreams = BTreeMap::new();
        if let Some(ut) = t.table("upstreams", false, errs) {
            let key = t.key("upstreams");
            let u = Table::new(file, &key, ut);
            for k in ut.keys() {
                if let Some(v) = u.str(k, true, errs) {
                    upstreams.insert(k.clone(), v.to_owned());
                }
            }
        }
        let state_dir = t.str("state_dir", false, errs).map(PathBuf::from);
        if let Some(dir) = &state_dir
            && let Some(other) = states.insert(dir.clone(), name.to_owned())
        {
            errs.push(
                file,
                &t.key("state_dir"),
                format!(
                    "a folder of this persona alone: `{}` is also the state of `{other}`",
                    dir.display()
                ),
            );
        }
        let sensor_id = t.str("sensor_id", false, errs).map(str::to_owned);
        out.push(PersonaEntry {
            name: name.to_owned(),
            template: template.to_owned(),
            listen,
            ports,
            upstreams,
            state_dir,
            sensor_id,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn parse_text(text: &str) -> Result<Vec<PersonaEntry>, Vec<String>> {
        let root: toml::Table = text.parse().unwrap();
        let mut errs = Errors::default();
        let out = parse("c.toml", &Table::new("c.toml", "", &root), &mut errs);
        if errs.is_empty() {
            Ok(out)
        } else {
            Err(errs.0.iter().map(|e| e.to_string()).collect())
        }
    }

    #[test]
    fn entries_with_addresses_ports_and_state() {
        let p = parse_text(
            r#"
[[personas]]
name = "plc-hall-3"
template = "default"
listen = "127.0.0.2"
ports = { s7comm = 102, modbus = 502 }
upstreams = { proxy_modbus = "192.0.2.7:502" }
state_dir = "/var/lib/conpot/plc"

[[personas]]
name = "bmc.v6"
template = "ipmi"
listen = "::1"
sensor_id = "bmc-sensor"
"#,
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "plc-hall-3");
        assert_eq!(p[0].listen, Some("127.0.0.2".parse().unwrap()));
        assert_eq!(p[0].ports.get("s7comm"), Some(&102));
        assert_eq!(p[0].ports.get("modbus"), Some(&502));
        assert_eq!(
            p[0].upstreams.get("proxy_modbus").map(String::as_str),
            Some("192.0.2.7:502")
        );
        assert_eq!(p[0].state_dir_in(Path::new("s")), PathBuf::from("/var/lib/conpot/plc"));
        assert_eq!(p[1].listen, Some("::1".parse().unwrap()));
        assert_eq!(p[1].state_dir_in(Path::new("s")), PathBuf::from("s/personas/bmc.v6"));
        assert_eq!(p[1].sensor_id.as_deref(), Some("bmc-sensor"));
        assert!(p[1].ports.is_empty());
    }

    #[test]
    fn duplicate_names_and_state_folders_are_named() {
        let errs = parse_text(
            r#"
[[personas]]
name = "a"
template = "default"
state_dir = "st"
[[personas]]
name = "a"
template = "ipmi"
state_dir = "st"
"#,
        )
        .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs[0].contains("personas[1].name") && errs[0].contains("`a` is given twice"),
            "{errs:?}"
        );
        assert!(errs[1].contains("personas[1].state_dir") && errs[1].contains("also the state of `a`"));
    }

    #[test]
    fn bad_entries_are_each_reported() {
        let errs = parse_text(
            r#"
[[personas]]
name = "../escape"
template = "default"
listen = "127.0.0.300"
ports = { modbus = 70000 }
colour = "red"
[[personas]]
listen = "::1"
"#,
        )
        .unwrap_err();
        let all = errs.join("\n");
        for needle in [
            "personas[0].colour",
            "personas[0].name",
            "personas[0].listen",
            "127.0.0.300",
            "personas[0].ports.modbus",
            "personas[1].name",
            "personas[1].template",
        ] {
            assert!(all.contains(needle), "{needle} missing in:\n{all}");
        }
    }

    #[test]
    fn names_are_file_safe() {
        assert!(valid_name("plc-hall-3"));
        assert!(valid_name("a.b_c"));
        assert!(!valid_name(""));
        assert!(!valid_name(".hidden"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(&"x".repeat(MAX_NAME + 1)));
    }

    #[test]
    fn too_many_personas_are_refused() {
        let mut text = String::new();
        for i in 0..=MAX_PERSONAS {
            text.push_str(&format!("[[personas]]\nname = \"p{i}\"\ntemplate = \"default\"\n"));
        }
        let errs = parse_text(&text).unwrap_err();
        assert!(errs[0].contains("at most"), "{errs:?}");
    }
}
