//! Building a [`Console`] from a template's `[protocols.telnet]` section: an embedded
//! console named by `console = "..."` with the section's own keys laid over it, or a
//! console written out in full. Every text is parsed here, so a wrong placeholder, an
//! unknown mode or a missing databus key is an error of `template check`.

use std::collections::BTreeMap;
use std::time::Duration;

use conpot_core::Device;
use conpot_core::auth::Privilege;
use conpot_core::template::nav::{Errors, Table};
use conpot_core::template::{ProtocolSection, TemplateError};

use crate::codec::{DO, DONT, WILL, WONT};
use crate::console::{Case, Command, Cond, Console, Login, MAX_LINE, Mode, SetAction, Test};
use crate::options;
use crate::text::{Index, Text};

/// The consoles shipped inside the binary: name and TOML text.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("nport", include_str!("consoles/nport.toml")),
    ("scalance", include_str!("consoles/scalance.toml")),
    ("hirschmann", include_str!("consoles/hirschmann.toml")),
];

const KEYS: &[&str] = &[
    "console",
    "banner",
    "login",
    "login_prompt",
    "password_prompt",
    "login_failed",
    "max_tries",
    "accept_after",
    "failure_delay_ms",
    "locked",
    "welcome",
    "goodbye",
    "unknown",
    "incomplete",
    "ambiguous",
    "denied",
    "invalid",
    "idle_message",
    "login_timeout",
    "idle_timeout",
    "abbreviate",
    "ignore_case",
    "negotiate",
    "new_environ",
    "modes",
    "commands",
    "vars",
];

/// Builds the console of `section` for `device`.
pub fn build(section: &ProtocolSection, device: &Device) -> Result<Console, Vec<TemplateError>> {
    conpot_core::template::read_section(
        section,
        |file, t, errs| from_toml(file, t, device, errs),
        |file, _x, errs| {
            // Conpot never had a Telnet server, so there is no XML form to read.
            errs.push(file, "telnet", "a native TOML [protocols.telnet] section");
            None
        },
    )
}

/// Builds a console from a TOML table written like a `[protocols.telnet]` section (an
/// embedded console named by `console`, or all of it): for protocols whose console is
/// written in this language but served under their own name (Kamstrup's management
/// console). `file` names the table's origin in error messages.
pub fn from_table(file: &str, table: &toml::Table, device: &Device) -> Result<Console, Vec<TemplateError>> {
    let mut errs = Errors::default();
    match from_toml(file, table, device, &mut errs) {
        Some(c) if errs.is_empty() => Ok(c),
        _ => Err(errs.0),
    }
}

/// The section's table laid over the embedded console it names (its keys replace the
/// console's; `commands` are added after the console's own, and a command with the same
/// words and modes replaces the console's).
fn merged(file: &str, t: &toml::Table, errs: &mut Errors) -> Option<toml::Table> {
    let Some(name) = t.get("console") else {
        return Some(t.clone());
    };
    let Some(name) = name.as_str() else {
        errs.push(file, "protocols.telnet.console", "the name of an embedded console");
        return None;
    };
    let Some((_, text)) = EMBEDDED.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
        errs.push(
            file,
            "protocols.telnet.console",
            format!("one of the embedded consoles ({}), found \"{name}\"", names.join(", ")),
        );
        return None;
    };
    let mut base: toml::Table = match text.parse() {
        Ok(b) => b,
        Err(e) => {
            errs.push(
                file,
                "protocols.telnet.console",
                format!("embedded console `{name}` to parse: {e}"),
            );
            return None;
        }
    };
    for (k, v) in t {
        if k == "console" {
            continue;
        }
        if k == "commands"
            && let (Some(toml::Value::Array(mine)), toml::Value::Array(extra)) = (base.get_mut("commands"), v)
        {
            for c in extra {
                let same = |b: &toml::Value| b.get("command") == c.get("command") && b.get("modes") == c.get("modes");
                mine.retain(|b| !same(b));
                mine.push(c.clone());
            }
            continue;
        }
        if k == "vars"
            && let (Some(toml::Value::Table(mine)), toml::Value::Table(extra)) = (base.get_mut("vars"), v)
        {
            mine.extend(extra.iter().map(|(a, b)| (a.clone(), b.clone())));
            continue;
        }
        base.insert(k.clone(), v.clone());
    }
    Some(base)
}

/// What texts are parsed with: the device and the console's variables.
struct Scope<'a> {
    device: &'a Device,
    vars: BTreeMap<String, String>,
}

fn text(root: &Table<'_>, key: &str, default: &str, scope: &Scope<'_>, errs: &mut Errors) -> Text {
    let src = root.str(key, false, errs).unwrap_or(default);
    Text::parse(src, scope.device, &scope.vars).unwrap_or_else(|e| {
        errs.push(root.file, &root.key(key), e);
        Text::default()
    })
}

fn seconds(root: &Table<'_>, key: &str, default: u64, errs: &mut Errors) -> Duration {
    Duration::from_secs(root.int(key, 1, 86_400, false, errs).map_or(default, |s| s as u64))
}

fn from_toml(file: &str, t: &toml::Table, device: &Device, errs: &mut Errors) -> Option<Console> {
    let t = merged(file, t, errs)?;
    let root = Table::new(file, "protocols.telnet", &t);
    root.deny_unknown(KEYS, errs);
    let mut vars = BTreeMap::new();
    if let Some(vt) = root.table("vars", false, errs) {
        for (k, v) in vt {
            let key = format!("protocols.telnet.vars.{k}");
            match v.as_str().map(|s| device.persona.render(s)) {
                Some(Ok(s)) => {
                    vars.insert(k.clone(), s);
                }
                Some(Err(e)) => errs.push(file, &key, format!("known persona fields only: {e}")),
                None => errs.push(file, &key, "a text"),
            }
        }
    }
    let scope = Scope { device, vars };
    let login = match root.str("login", false, errs).unwrap_or("user") {
        "user" => Login::UserPassword,
        "password" => Login::PasswordOnly,
        "none" => Login::None,
        other => {
            errs.push(
                file,
                &root.key("login"),
                format!("\"user\", \"password\" or \"none\", found \"{other}\""),
            );
            Login::UserPassword
        }
    };
    let negotiate = match root.array("negotiate", false, errs) {
        None => vec![
            (WILL, options::ECHO),
            (WILL, options::SGA),
            (DO, options::NAWS),
            (DO, options::TTYPE),
        ],
        Some(a) => a
            .iter()
            .filter_map(|v| {
                let parsed = v.as_str().and_then(|s| {
                    let (verb, opt) = s.split_once(' ')?;
                    let verb = match verb {
                        "WILL" => WILL,
                        "WONT" => WONT,
                        "DO" => DO,
                        "DONT" => DONT,
                        _ => return None,
                    };
                    Some((verb, options::by_name(opt.trim())?))
                });
                if parsed.is_none() {
                    errs.push(
                        file,
                        &root.key("negotiate"),
                        "entries like \"WILL ECHO\" or \"DO NAWS\"",
                    );
                }
                parsed
            })
            .collect(),
    };
    let mut modes = Vec::new();
    for (path, mt) in root.tables("modes", true, errs) {
        let mt = Table::new(file, &path, mt);
        mt.deny_unknown(&["name", "prompt"], errs);
        let name = mt.str("name", true, errs).unwrap_or_default().to_owned();
        if modes.iter().any(|m: &Mode| m.name == name) {
            errs.push(
                file,
                &mt.key("name"),
                format!("a mode name used once, `{name}` is repeated"),
            );
        }
        let prompt = text(&mt, "prompt", "> ", &scope, errs);
        modes.push(Mode { name, prompt });
    }
    if modes.is_empty() {
        errs.push(file, &root.key("modes"), "at least one [[protocols.telnet.modes]]");
    }
    let mut commands = Vec::new();
    for (path, ct) in root.tables("commands", false, errs) {
        if let Some(c) = command(file, &path, ct, &modes, &scope, errs) {
            commands.push(c);
        }
    }
    let console = Console {
        banner: text(&root, "banner", "", &scope, errs),
        login,
        login_prompt: text(&root, "login_prompt", "login: ", &scope, errs),
        password_prompt: text(&root, "password_prompt", "Password: ", &scope, errs),
        login_failed: text(&root, "login_failed", "\nLogin incorrect\n", &scope, errs),
        max_tries: root.int("max_tries", 1, 100, false, errs).map_or(3, |n| n as u32),
        accept_after: root.int("accept_after", 0, 1000, false, errs).map_or(0, |n| n as u32),
        failure_delay_ms: root.millis_range("failure_delay_ms", errs),
        locked: text(
            &root,
            "locked",
            "\nToo many login failures, try again later.\n",
            &scope,
            errs,
        ),
        welcome: text(&root, "welcome", "", &scope, errs),
        goodbye: text(&root, "goodbye", "", &scope, errs),
        unknown: text(&root, "unknown", "% Unknown command.\n", &scope, errs),
        incomplete: text(&root, "incomplete", "% Incomplete command.\n", &scope, errs),
        ambiguous: text(&root, "ambiguous", "% Ambiguous command.\n", &scope, errs),
        denied: text(&root, "denied", "% Permission denied.\n", &scope, errs),
        invalid: text(&root, "invalid", "% Invalid value.\n", &scope, errs),
        idle_message: text(&root, "idle_message", "\nSession timed out.\n", &scope, errs),
        login_timeout: seconds(&root, "login_timeout", 60, errs),
        idle_timeout: seconds(&root, "idle_timeout", 300, errs),
        abbreviate: root.bool("abbreviate", errs).unwrap_or(true),
        ignore_case: root.bool("ignore_case", errs).unwrap_or(true),
        modes,
        commands,
        negotiate,
        new_environ: root.bool("new_environ", errs).unwrap_or(false),
    };
    errs.is_empty().then_some(console)
}

fn command(
    file: &str,
    path: &str,
    ct: &toml::Table,
    modes: &[Mode],
    scope: &Scope<'_>,
    errs: &mut Errors,
) -> Option<Command> {
    let ct = Table::new(file, path, ct);
    ct.deny_unknown(
        &[
            "command",
            "modes",
            "help",
            "args",
            "output",
            "enter",
            "back",
            "logout",
            "set",
            "sets",
            "privilege",
            "cases",
        ],
        errs,
    );
    let words: Vec<String> = ct
        .str("command", true, errs)?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if words.is_empty() {
        errs.push(file, &ct.key("command"), "at least one word");
        return None;
    }
    let known = |m: &str| modes.iter().any(|x| x.name == m);
    let mut cmd_modes = Vec::new();
    for m in ct.array("modes", false, errs).into_iter().flatten() {
        match m.as_str() {
            Some(m) if known(m) => cmd_modes.push(m.to_owned()),
            _ => errs.push(file, &ct.key("modes"), format!("names of declared modes, found {m}")),
        }
    }
    let args = match ct.get("args") {
        None => (0, 0),
        Some(toml::Value::Integer(n)) if (0..=16).contains(n) => (*n as usize, *n as usize),
        Some(toml::Value::Array(a)) => match a.as_slice() {
            [toml::Value::Integer(lo), toml::Value::Integer(hi)] if 0 <= *lo && lo <= hi && *hi <= 16 => {
                (*lo as usize, *hi as usize)
            }
            _ => {
                errs.push(file, &ct.key("args"), "a count from 0 to 16, or [min, max]");
                (0, 0)
            }
        },
        Some(_) => {
            errs.push(file, &ct.key("args"), "a count from 0 to 16, or [min, max]");
            (0, 0)
        }
    };
    let enter = ct.str("enter", false, errs).map(str::to_owned);
    if let Some(e) = &enter
        && !known(e)
    {
        errs.push(file, &ct.key("enter"), format!("a declared mode, found `{e}`"));
    }
    let privilege = match ct.str("privilege", false, errs) {
        None => Privilege::User,
        Some(p) => Privilege::parse(p).unwrap_or_else(|| {
            errs.push(file, &ct.key("privilege"), "callback, user, operator or administrator");
            Privilege::User
        }),
    };
    let set = ct
        .table("set", false, errs)
        .map(|st| set_action(file, &format!("{path}.set"), st, scope, errs));
    let sets = ct
        .tables("sets", false, errs)
        .into_iter()
        .map(|(p, st)| set_action(file, &p, st, scope, errs))
        .collect();
    let cases = ct
        .tables("cases", false, errs)
        .into_iter()
        .filter_map(|(p, kt)| {
            let kt = Table::new(file, &p, kt);
            kt.deny_unknown(&["when", "output"], errs);
            let when = cond(&kt, scope, errs)?;
            Some(Case {
                when,
                output: text(&kt, "output", "", scope, errs),
            })
        })
        .collect();
    Some(Command {
        words,
        modes: cmd_modes,
        help: ct.str("help", false, errs).unwrap_or_default().to_owned(),
        args,
        output: text(&ct, "output", "", scope, errs),
        enter,
        back: ct.bool("back", errs).unwrap_or(false),
        logout: ct.bool("logout", errs).unwrap_or(false),
        set,
        sets,
        privilege,
        cases,
    })
}

/// The `when` condition of `t`, if it has one: `{ value = TEXT, is = S }`, `not = S` or
/// `max_len = N`.
fn cond(t: &Table<'_>, scope: &Scope<'_>, errs: &mut Errors) -> Option<Cond> {
    let wt = t.table("when", false, errs)?;
    let path = t.key("when");
    let wt = Table::new(t.file, &path, wt);
    wt.deny_unknown(&["value", "is", "not", "max_len"], errs);
    let value = text(&wt, "value", "", scope, errs);
    let is = wt.str("is", false, errs).map(|s| Test::Is(s.to_owned()));
    let not = wt.str("not", false, errs).map(|s| Test::Not(s.to_owned()));
    let max = wt
        .int("max_len", 0, MAX_LINE as i64, false, errs)
        .map(|n| Test::MaxLen(n as usize));
    let tests: Vec<Test> = [is, not, max].into_iter().flatten().collect();
    match <[Test; 1]>::try_from(tests) {
        Ok([test]) => Some(Cond { value, test }),
        Err(_) => {
            errs.push(t.file, &t.key("when"), "exactly one of `is`, `not` and `max_len`");
            None
        }
    }
}

/// One databus write of a command (`set = {...}` or an entry of `sets = [...]`).
fn set_action(file: &str, path: &str, st: &toml::Table, scope: &Scope<'_>, errs: &mut Errors) -> SetAction {
    let st = Table::new(file, path, st);
    st.deny_unknown(&["key", "index", "value", "when"], errs);
    let key = st.str("key", true, errs).unwrap_or_default().to_owned();
    if !scope.device.databus.contains(&key) {
        errs.push(file, &st.key("key"), format!("a databus key named `{key}`"));
    }
    let index = match st.get("index") {
        None => None,
        Some(toml::Value::Integer(i)) if *i >= 0 => Some(Index::Fixed(*i as usize)),
        Some(toml::Value::String(s))
            if s.strip_prefix("arg")
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n >= 1) =>
        {
            s.get(3..).and_then(|n| n.parse().ok()).map(Index::Arg)
        }
        Some(_) => {
            errs.push(file, &st.key("index"), "a position from 0, or \"argN\"");
            None
        }
    };
    let value = text(&st, "value", "{arg1}", scope, errs);
    let when = cond(&st, scope, errs);
    SetAction {
        key,
        index,
        value,
        when,
    }
}
