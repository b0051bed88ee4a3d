//! Console texts: a template's output with placeholders, parsed once when the template
//! loads (so a typo is an error of `template check`, not a blank at run time) and filled
//! at every use from the persona, the databus, the command's arguments and the session.
//!
//! Placeholders: `{persona.NAME}` and `{var.NAME}` (the console's own identity texts,
//! filled at load), `{databus.KEY}`, `{databus.KEY[N]}`,
//! `{databus.KEY[argN]}`, `{uptime}`, `{argN}` (1-based), `{args}`, `{line}`, `{user}`,
//! `{help}` (the commands of the current mode with their help texts); any of the
//! runtime ones may end in a filter: `|duration` (seconds as `3 days, 04:12:55`), `|dhms`
//! (`3 days, 04h:12m:55s`), `|upper`, `|ip` (an IPv4 address as a device parses one, dotted or
//! twelve digits), `|port` (1-65535, else 0), `|cutN` (the first N characters), `|enabled`
//! (`ENABLED n` for a positive number, else `DISABLED 0`). `{{` and `}}` are literal braces.
//! Conditions on such texts (a write made only for a valid argument, an output chosen by
//! one) are the console's: [`crate::console::Cond`].

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use conpot_core::Device;
use conpot_core::Value;

/// Where a list index comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Index {
    /// A fixed position.
    Fixed(usize),
    /// The command's argument N (1-based).
    Arg(usize),
}

/// How a filled value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// As it is.
    Plain,
    /// Seconds as `D days, HH:MM:SS`.
    Duration,
    /// Seconds as `D days, HHh:MMm:SSs` (Moxa's format).
    Dhms,
    /// Upper case.
    Upper,
    /// An IPv4 address as embedded devices read one: dotted, or twelve digits cut in
    /// groups of three (`192168001002` is 192.168.1.2); anything else is `0.0.0.0`.
    Ip,
    /// A TCP port 1-65535, anything else `0`.
    Port,
    /// The first N characters (a device's fixed-size field: a name of at most 20).
    Cut(usize),
    /// A timer as a device shows it: `ENABLED n` for a positive number, else `DISABLED 0`.
    Enabled,
}

/// One part of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// A databus value (an element of a list value when indexed).
    Databus(String, Option<Index>, Filter),
    /// Seconds since the device booted.
    Uptime(Filter),
    /// Argument N (1-based).
    Arg(usize, Filter),
    /// Every argument, space-separated.
    Args(Filter),
    /// The line as typed.
    Line(Filter),
    /// The user logged in.
    User(Filter),
    /// The help listing of the current mode.
    Help,
}

/// A parsed text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub Vec<Part>);

/// What a text is filled with at run time.
pub struct Fill<'a> {
    /// The device (databus, boot time).
    pub device: &'a Device,
    /// The time of the use.
    pub now: SystemTime,
    /// The command's arguments.
    pub args: &'a [String],
    /// The line typed.
    pub line: &'a str,
    /// The user logged in (empty before login).
    pub user: &'a str,
    /// The help listing, if the text asks for it.
    pub help: &'a dyn Fn() -> String,
}

/// The largest N of a `|cutN` filter.
pub const MAX_CUT: usize = 4096;

/// The largest text a fill produces; what passes it is cut (a databus list of a million
/// entries must not become a megabyte of console output).
pub const MAX_FILLED: usize = 64 * 1024;

impl Text {
    /// Parses `src`, whose persona references are filled from `device` and variables from
    /// `vars`; every databus key named must exist.
    pub fn parse(src: &str, device: &Device, vars: &BTreeMap<String, String>) -> Result<Text, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while let Some(i) = rest.find(['{', '}']) {
            let (before, at) = rest.split_at(i);
            lit.push_str(before);
            if let Some(after) = at.strip_prefix("{{") {
                lit.push('{');
                rest = after;
                continue;
            }
            if let Some(after) = at.strip_prefix("}}") {
                lit.push('}');
                rest = after;
                continue;
            }
            if at.starts_with('}') {
                return Err(format!("a `}}` without its `{{` in {src:?} (write `}}}}` for a brace)"));
            }
            let body_end = at
                .find('}')
                .ok_or_else(|| format!("a `}}` closing the placeholder in {src:?}"))?;
            let body = at.get(1..body_end).unwrap_or_default();
            rest = at.get(body_end + 1..).unwrap_or_default();
            if let Some(name) = body.strip_prefix("persona.") {
                let v = device
                    .persona
                    .get(name)
                    .ok_or_else(|| format!("known persona fields only: `{name}` is not one"))?;
                lit.push_str(v);
                continue;
            }
            if let Some(name) = body.strip_prefix("var.") {
                let v = vars
                    .get(name)
                    .ok_or_else(|| format!("a variable of the console's [vars]: `{name}` is not one"))?;
                lit.push_str(v);
                continue;
            }
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(placeholder(body, device)?);
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Text(parts))
    }

    /// A literal text (no placeholders).
    pub fn literal(s: &str) -> Text {
        if s.is_empty() {
            Text::default()
        } else {
            Text(vec![Part::Lit(s.to_owned())])
        }
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The databus keys the text reads.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Part::Databus(k, _, _) => Some(k.as_str()),
            _ => None,
        })
    }

    /// Fills the text, appending at most [`MAX_FILLED`] bytes to `out`.
    pub fn fill_into(&self, f: &Fill<'_>, out: &mut String) {
        let start = out.len();
        for p in &self.0 {
            let remaining = MAX_FILLED.saturating_sub(out.len() - start);
            if remaining == 0 {
                break;
            }
            let piece = match p {
                Part::Lit(s) => {
                    push_cut(out, s, remaining);
                    continue;
                }
                Part::Databus(key, index, filter) => {
                    let v = f.device.databus.with(key, f.now, |v| match (v, index) {
                        (_, None) => v.to_string(),
                        (Value::List(l), Some(ix)) => resolve(ix, f.args)
                            .and_then(|i| l.get(i))
                            .map(Value::to_string)
                            .unwrap_or_default(),
                        (Value::Str(s), Some(ix)) => resolve(ix, f.args)
                            .and_then(|i| s.chars().nth(i))
                            .map(String::from)
                            .unwrap_or_default(),
                        _ => String::new(),
                    });
                    apply(*filter, v.unwrap_or_default())
                }
                Part::Uptime(filter) => {
                    let secs = f.now.duration_since(f.device.boot).unwrap_or(Duration::ZERO).as_secs();
                    apply(*filter, secs.to_string())
                }
                Part::Arg(n, filter) => apply(
                    *filter,
                    n.checked_sub(1)
                        .and_then(|i| f.args.get(i))
                        .cloned()
                        .unwrap_or_default(),
                ),
                Part::Args(filter) => apply(*filter, f.args.join(" ")),
                Part::Line(filter) => apply(*filter, f.line.to_owned()),
                Part::User(filter) => apply(*filter, f.user.to_owned()),
                Part::Help => (f.help)(),
            };
            push_cut(out, &piece, remaining);
        }
    }

    /// Fills the text into a new string.
    pub fn fill(&self, f: &Fill<'_>) -> String {
        let mut s = String::new();
        self.fill_into(f, &mut s);
        s
    }
}

fn push_cut(out: &mut String, s: &str, limit: usize) {
    if s.len() <= limit {
        out.push_str(s);
    } else {
        let mut end = limit;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        out.push_str(s.get(..end).unwrap_or_default());
    }
}

/// The position `ix` names, given the command's arguments.
pub fn resolve(ix: &Index, args: &[String]) -> Option<usize> {
    match ix {
        Index::Fixed(i) => Some(*i),
        Index::Arg(n) => n.checked_sub(1).and_then(|i| args.get(i)).and_then(|a| a.parse().ok()),
    }
}

fn apply(filter: Filter, v: String) -> String {
    match filter {
        Filter::Plain => v,
        Filter::Upper => v.to_uppercase(),
        Filter::Ip => ipv4(&v),
        Filter::Port => v.trim().parse::<u16>().ok().filter(|p| *p > 0).unwrap_or(0).to_string(),
        Filter::Cut(n) => v.chars().take(n).collect(),
        Filter::Enabled => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => format!("ENABLED {n}"),
            _ => "DISABLED 0".to_owned(),
        },
        Filter::Duration | Filter::Dhms => {
            let secs = v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .unwrap_or(0.0) as u64;
            let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
            if filter == Filter::Duration {
                format!("{d} days, {h:02}:{m:02}:{s:02}")
            } else {
                format!("{d} days, {h:02}h:{m:02}m:{s:02}s")
            }
        }
    }
}

/// The `|ip` filter: dotted quads, or digits cut into groups of three.
fn ipv4(v: &str) -> String {
    let v = v.trim();
    let parts: Vec<&str> = if v.contains('.') {
        v.split('.').collect()
    } else if v.is_ascii() {
        (0..v.len())
            .step_by(3)
            .filter_map(|i| v.get(i..(i + 3).min(v.len())))
            .collect()
    } else {
        Vec::new()
    };
    let octets: Vec<u8> = parts.iter().filter_map(|p| p.parse::<u8>().ok()).collect();
    match octets.as_slice() {
        [a, b, c, d] if parts.len() == 4 => format!("{a}.{b}.{c}.{d}"),
        _ => "0.0.0.0".to_owned(),
    }
}

fn placeholder(body: &str, device: &Device) -> Result<Part, String> {
    let (name, filter) = match body.split_once('|') {
        None => (body, Filter::Plain),
        Some((n, f)) => (
            n,
            match f {
                "duration" => Filter::Duration,
                "dhms" => Filter::Dhms,
                "upper" => Filter::Upper,
                "ip" => Filter::Ip,
                "port" => Filter::Port,
                "enabled" => Filter::Enabled,
                other => match other.strip_prefix("cut").and_then(|n| n.parse::<usize>().ok()) {
                    Some(n) if (1..=MAX_CUT).contains(&n) => Filter::Cut(n),
                    _ => {
                        return Err(format!(
                            "a filter duration, dhms, upper, ip, port, enabled or cutN (N 1-{MAX_CUT}), found `{other}`"
                        ));
                    }
                },
            },
        ),
    };
    let arg_number = |s: &str| {
        s.strip_prefix("arg")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n >= 1)
    };
    if let Some(key) = name.strip_prefix("databus.") {
        let (key, index) = match key.split_once('[') {
            None => (key, None),
            Some((k, ix)) => {
                let ix = ix
                    .strip_suffix(']')
                    .ok_or_else(|| format!("`{{databus.KEY[N]}}`, found `{{{body}}}`"))?;
                let index = match (ix.parse::<usize>(), arg_number(ix)) {
                    (Ok(i), _) => Index::Fixed(i),
                    (_, Some(n)) => Index::Arg(n),
                    _ => return Err(format!("an index that is a number or argN, found `{ix}`")),
                };
                (k, Some(index))
            }
        };
        if !device.databus.contains(key) {
            return Err(format!("a databus key named `{key}`"));
        }
        return Ok(Part::Databus(key.to_owned(), index, filter));
    }
    Ok(match name {
        "uptime" => Part::Uptime(filter),
        "args" => Part::Args(filter),
        "line" => Part::Line(filter),
        "user" => Part::User(filter),
        "help" => Part::Help,
        n => match arg_number(n) {
            Some(i) => Part::Arg(i, filter),
            None => {
                return Err(format!(
                    "a placeholder persona.NAME, databus.KEY, uptime, argN, args, line, user or help, found `{{{body}}}`"
                ));
            }
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn device() -> Device {
        conpot_core::drive::device_from_toml(
            r#"
[template]
unit = "t"
vendor = "v"
[persona]
hostname = "sw-7"
[databus]
regs = [10, 20, 30]
name = "pump"
Uptime = 90061
"#,
        )
        .unwrap()
    }

    #[test]
    fn placeholders_fill() {
        let d = device();
        let t = Text::parse(
            "{persona.hostname} {databus.name|upper} {databus.regs[1]} {databus.regs[arg1]} {arg2} [{args}] {{x}} {databus.Uptime|duration} {databus.Uptime|dhms}",
            &d,
            &BTreeMap::new(),
        )
        .unwrap();
        let args = vec!["2".to_owned(), "b".to_owned()];
        let help = || String::new();
        let f = Fill {
            device: &d,
            now: SystemTime::UNIX_EPOCH,
            args: &args,
            line: "",
            user: "",
            help: &help,
        };
        assert_eq!(
            t.fill(&f),
            "sw-7 PUMP 20 30 b [2 b] {x} 1 days, 01:01:01 1 days, 01h:01m:01s"
        );
        // Out of range indexes are empty, never a panic.
        let vars = BTreeMap::from([("model".to_owned(), "X-1".to_owned())]);
        let t = Text::parse("<{databus.regs[9]}{databus.regs[arg3]}{var.model}>", &d, &vars).unwrap();
        assert_eq!(t.fill(&f), "<X-1>");
    }

    #[test]
    fn ip_and_port_filters_read_as_embedded_devices_do() {
        let d = device();
        let t = Text::parse("{arg1|ip}:{arg2|port}", &d, &BTreeMap::new()).unwrap();
        let help = || String::new();
        let run = |a: &[&str]| {
            let args: Vec<String> = a.iter().map(|s| (*s).to_owned()).collect();
            t.fill(&Fill {
                device: &d,
                now: SystemTime::UNIX_EPOCH,
                args: &args,
                line: "",
                user: "",
                help: &help,
            })
        };
        assert_eq!(run(&["192168001002", "61000"]), "192.168.1.2:61000");
        assert_eq!(run(&["10.0.0.9", "0"]), "10.0.0.9:0");
        assert_eq!(run(&["10.0.0.256", "65536"]), "0.0.0.0:0");
        assert_eq!(run(&["1921680010021", "x"]), "0.0.0.0:0");
        assert_eq!(run(&["0"]), "0.0.0.0:0");
        assert_eq!(run(&["1.2.3"]), "0.0.0.0:0");
    }

    #[test]
    fn errors_name_the_problem() {
        let d = device();
        assert!(
            Text::parse("{persona.nope}", &d, &BTreeMap::new())
                .unwrap_err()
                .contains("nope")
        );
        assert!(
            Text::parse("{databus.missing}", &d, &BTreeMap::new())
                .unwrap_err()
                .contains("missing")
        );
        assert!(Text::parse("{databus.regs[x]}", &d, &BTreeMap::new()).is_err());
        assert!(Text::parse("{arg0}", &d, &BTreeMap::new()).is_err());
        assert!(Text::parse("{args|bold}", &d, &BTreeMap::new()).is_err());
        assert!(Text::parse("open {", &d, &BTreeMap::new()).is_err());
        assert!(Text::parse("close }", &d, &BTreeMap::new()).is_err());
    }
}
