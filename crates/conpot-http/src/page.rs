//! Page templating: `<condata source="..." key="..." />` markers (Conpot's form) replaced
//! by live values when a page is served. Sources: `databus` (the key's current value,
//! `index="N"` picks one item of a list, so a register written over Modbus shows),
//! `persona` (a persona field), `clock` (the device's time, `key` a strftime format), and
//! Conpot's `eval` with a `time.strftime('FMT', ...)` key (read as `clock`; nothing is
//! executed). Unknown markers are left as they are, as Conpot leaves them.

use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::time::Civil;
use conpot_core::value::Value;

/// Largest page after substitution; values that would grow it further are cut.
pub const MAX_RENDERED: usize = 1024 * 1024;

/// Replaces every `<condata ... />` marker of `page` for `device` at `now`.
pub fn render(page: &str, device: &Device, now: SystemTime) -> String {
    let mut out = String::with_capacity(page.len());
    let mut rest = page;
    while let Some(at) = find_marker(rest) {
        let (before, marker) = rest.split_at(at);
        out.push_str(before);
        let Some(end) = marker.find('>') else {
            out.push_str(marker);
            return out;
        };
        let (tag, after) = marker.split_at(end + 1);
        match value_of(tag, device, now) {
            Some(v) if out.len() + v.len() <= MAX_RENDERED => out.push_str(&v),
            Some(_) => {}
            None => out.push_str(tag),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

fn find_marker(s: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = s.get(from..).and_then(|r| r.find('<')) {
        let at = from + p;
        // Bytes, not text: a multi-byte character after a `<` must not end the search.
        if s.as_bytes().get(at + 1..at + 8)?.eq_ignore_ascii_case(b"condata") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The value of attribute `name` in `tag` (single or double quotes).
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(p) = tag.get(from..).and_then(|r| r.find(name)) {
        let at = from + p;
        from = at + name.len();
        let before_ok = tag
            .get(..at)
            .and_then(|b| b.chars().next_back())
            .is_some_and(char::is_whitespace);
        let rest = tag.get(at + name.len()..)?.trim_start();
        let Some(rest) = rest.strip_prefix('=') else { continue };
        if !before_ok {
            continue;
        }
        let rest = rest.trim_start();
        let quote = rest.chars().next()?;
        if quote != '"' && quote != '\'' {
            continue;
        }
        let body = rest.get(1..)?;
        return body.find(quote).and_then(|e| body.get(..e));
    }
    None
}

fn value_of(tag: &str, device: &Device, now: SystemTime) -> Option<String> {
    let key = attr(tag, "key")?;
    match attr(tag, "source")? {
        "databus" => {
            let index = attr(tag, "index").and_then(|i| i.parse::<usize>().ok());
            device.databus.with(key, now, |v| match (v, index) {
                (Value::List(items), Some(i)) => items.get(i).map(text).unwrap_or_default(),
                (v, _) => text(v),
            })
        }
        "persona" => device.persona.get(key).map(str::to_owned),
        "clock" => Some(strftime(key, now)),
        "eval" => {
            let fmt = key.split_once("strftime(")?.1;
            let quote = fmt.chars().next()?;
            let fmt = fmt.get(1..)?;
            Some(strftime(fmt.get(..fmt.find(quote)?)?, now))
        }
        _ => None,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A small strftime: `%H %M %S %d %m %Y %y %%` of the device's clock (UTC); other
/// directives are kept as written.
pub fn strftime(fmt: &str, now: SystemTime) -> String {
    let c = Civil::from_system(now);
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(ch) = chars.next() {
        if ch != '%' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('H') => out.push_str(&format!("{:02}", c.hour)),
            Some('M') => out.push_str(&format!("{:02}", c.minute)),
            Some('S') => out.push_str(&format!("{:02}", c.second)),
            Some('d') => out.push_str(&format!("{:02}", c.day)),
            Some('m') => out.push_str(&format!("{:02}", c.month)),
            Some('Y') => out.push_str(&format!("{:04}", c.year)),
            Some('y') => out.push_str(&format!("{:02}", c.year.rem_euclid(100))),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn markers_are_filled() {
        let device = conpot_core::drive::device_from_toml(
            "[template]\nunit = \"U\"\nvendor = \"V\"\n[persona]\nvendor = \"Acme\"\n[databus]\nName = \"Pump 1\"\nregs = [1, 2, 3]\n",
        )
        .unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(3600 * 13 + 62);
        let page = "<h2><condata source=\"databus\" key=\"Name\" /></h2> <condata source='databus' key='regs' index='2'/> \
                    <CONDATA  source=\"persona\"  key=\"vendor\"/> <condata source=\"eval\" key=\"time.strftime('%H:%M:%S', time.localtime())\" /> \
                    <condata source=\"other\" key=\"x\" /> <b>";
        assert_eq!(
            render(page, &device, now),
            "<h2>Pump 1</h2> 3 Acme 13:01:02 <condata source=\"other\" key=\"x\" /> <b>"
        );
        assert_eq!(
            render("<condata source=\"databus\"", &device, now),
            "<condata source=\"databus\""
        );
        assert_eq!(
            render("<üh> <condata source=\"persona\" key=\"vendor\" />", &device, now),
            "<üh> Acme"
        );
    }
}
