//! The accounts of a native template: `[[users]]`, `[[groups]]`, the `[auth]` policy, and
//! the older `[[credentials]]` form, read as before and kept for compatibility.

use std::collections::BTreeMap;
use std::time::Duration;

use super::native::check_refs;
use super::nav::{Errors, Table};
use crate::auth::{AuthSpec, Group, Policy, Privilege, Scope, User, UserStore};

/// Most accounts (and most groups) a template may declare.
pub const MAX_ACCOUNTS: usize = 4096;

const USER_KEYS: &[&str] = &[
    "name",
    "password",
    "groups",
    "scope",
    "privilege",
    "enabled",
    "anonymous",
    "uid",
];

/// Reads the accounts and the policy of the template's top-level table.
pub(super) fn read(file: &str, top: &Table<'_>, known: &[String], errs: &mut Errors) -> AuthSpec {
    let mut store = UserStore::default();
    let mut groups = Vec::new();
    for (path, t) in capped(top.tables("groups", false, errs), file, "groups", errs) {
        if let Some(g) = group(&Table::new(file, &path, t), errs) {
            if groups.iter().any(|o: &Group| o.name == g.name) {
                errs.push(file, &format!("{path}.name"), "a group name not used before");
            } else if groups.iter().any(|o: &Group| o.gid == g.gid) {
                errs.push(file, &format!("{path}.gid"), "a gid not used before");
            }
            groups.push(g);
        }
    }
    let mut users: Vec<(String, User)> = Vec::new();
    for (path, t) in capped(top.tables("users", false, errs), file, "users", errs) {
        if let Some(u) = user(&Table::new(file, &path, t), known, errs) {
            users.push((path, u));
        }
    }
    for (path, t) in capped(top.tables("credentials", false, errs), file, "credentials", errs) {
        if let Some(u) = credential(&Table::new(file, &path, t), known, errs) {
            users.push((path, u));
        }
    }
    for (i, (path, u)) in users.iter().enumerate() {
        let clash = users
            .iter()
            .take(i)
            .any(|(_, o)| o.name == u.name && o.scope.overlaps(&u.scope));
        if clash {
            errs.push(
                file,
                path,
                format!("a user name not used before for the same protocols (`{}`)", u.name),
            );
        }
        for g in &u.groups {
            if !groups.iter().any(|o| &o.name == g) {
                errs.push(
                    file,
                    &format!("{path}.groups"),
                    format!("a group declared in [[groups]] (`{g}`)"),
                );
            }
        }
    }
    for (gi, g) in groups.iter().enumerate() {
        for m in &g.members {
            if !users.iter().any(|(_, u)| &u.name == m) {
                errs.push(
                    file,
                    &format!("groups[{gi}].members"),
                    format!("names of users declared in [[users]] (`{m}`)"),
                );
            }
        }
    }
    for (_, u) in users {
        store.push(u);
    }
    for g in groups {
        store.push_group(g);
    }
    let policy = top
        .table("auth", false, errs)
        .map(|t| policy(&Table::new(file, "auth", t), errs))
        .unwrap_or_default();
    AuthSpec { store, policy }
}

fn capped<'a>(
    items: Vec<(String, &'a toml::Table)>,
    file: &str,
    key: &str,
    errs: &mut Errors,
) -> Vec<(String, &'a toml::Table)> {
    if items.len() > MAX_ACCOUNTS {
        errs.push(file, key, format!("at most {MAX_ACCOUNTS} entries"));
    }
    items.into_iter().take(MAX_ACCOUNTS).collect()
}

fn group(t: &Table<'_>, errs: &mut Errors) -> Option<Group> {
    t.deny_unknown(&["name", "gid", "members"], errs);
    let name = t.str("name", true, errs);
    let gid = t.int("gid", 0, i64::from(u32::MAX), true, errs);
    let members = strings(t, "members", errs);
    Some(Group {
        name: name?.to_owned(),
        gid: u32::try_from(gid?).ok()?,
        members,
    })
}

/// An array of strings; an error for anything else.
fn strings(t: &Table<'_>, key: &str, errs: &mut Errors) -> Vec<String> {
    let Some(a) = t.array(key, false, errs) else {
        return Vec::new();
    };
    let out: Option<Vec<String>> = a.iter().map(|v| v.as_str().map(str::to_owned)).collect();
    out.unwrap_or_else(|| {
        errs.push(t.file, &t.key(key), "an array of strings");
        Vec::new()
    })
}

/// `scope`: `"all"` (the default) or a list of protocol names.
fn scope(t: &Table<'_>, key: &str, errs: &mut Errors) -> Scope {
    match t.get(key) {
        None => Scope::All,
        Some(toml::Value::String(s)) if s == "all" => Scope::All,
        Some(toml::Value::Array(_)) => Scope::Only(strings(t, key, errs)),
        Some(_) => {
            errs.push(t.file, &t.key(key), "\"all\" or an array of protocol names");
            Scope::All
        }
    }
}

/// `privilege`: a name (`callback`, `user`, `operator`, `administrator`) or IPMI's 1 to 4.
fn privilege(t: &Table<'_>, errs: &mut Errors) -> Privilege {
    let found = match t.get("privilege") {
        None => return Privilege::User,
        Some(toml::Value::String(s)) => Privilege::parse(s),
        Some(toml::Value::Integer(i)) => u8::try_from(*i).ok().and_then(Privilege::from_ipmi),
        Some(_) => None,
    };
    found.unwrap_or_else(|| {
        errs.push(
            t.file,
            &t.key("privilege"),
            "callback, user, operator, administrator, or a number from 1 to 4",
        );
        Privilege::User
    })
}

/// Protocol settings: every other key named `<protocol>_<setting>`, a string.
fn params(t: &Table<'_>, skip: &[&str], known: &[String], errs: &mut Errors) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in t.table {
        if skip.contains(&k.as_str()) {
            continue;
        }
        match v.as_str() {
            Some(s) => {
                check_refs(t.file, &t.key(k), s, known, errs);
                out.insert(k.clone(), s.to_owned());
            }
            None => errs.push(t.file, &t.key(k), "a string"),
        }
    }
    out
}

fn user(t: &Table<'_>, known: &[String], errs: &mut Errors) -> Option<User> {
    for k in t.table.keys() {
        if !USER_KEYS.contains(&k.as_str()) && !k.contains('_') {
            errs.push(
                t.file,
                &t.key(k),
                format!(
                    "one of the known keys ({}) or a protocol setting `<protocol>_<setting>`",
                    USER_KEYS.join(", ")
                ),
            );
        }
    }
    let name = t.str("name", true, errs);
    let anonymous = t.bool("anonymous", errs).unwrap_or(false);
    let password = t.str("password", !anonymous, errs).unwrap_or_default();
    check_refs(t.file, &t.key("name"), name.unwrap_or_default(), known, errs);
    check_refs(t.file, &t.key("password"), password, known, errs);
    let uid = t.int("uid", 0, i64::from(u32::MAX), false, errs);
    let mut skip = USER_KEYS.to_vec();
    skip.extend(t.table.keys().filter(|k| !k.contains('_')).map(String::as_str));
    Some(User {
        name: name?.to_owned(),
        password: password.to_owned(),
        groups: strings(t, "groups", errs),
        scope: scope(t, "scope", errs),
        privilege: privilege(t, errs),
        enabled: t.bool("enabled", errs).unwrap_or(true),
        anonymous,
        uid: uid.and_then(|u| u32::try_from(u).ok()),
        params: params(t, &skip, known, errs),
    })
}

/// `[[credentials]]`: `user`, `password`, `services` (default all), `access` (`read` or
/// `write`), and protocol-specific string settings (`snmp_auth`, ...).
fn credential(t: &Table<'_>, known: &[String], errs: &mut Errors) -> Option<User> {
    let (Some(name), Some(password)) = (t.str("user", true, errs), t.str("password", true, errs)) else {
        return None;
    };
    check_refs(t.file, &t.key("password"), password, known, errs);
    let services = strings(t, "services", errs);
    let privilege = match t.str("access", false, errs).unwrap_or("read") {
        "read" => Privilege::User,
        "write" => Privilege::Operator,
        other => {
            errs.push(
                t.file,
                &t.key("access"),
                format!("\"read\" or \"write\", found \"{other}\""),
            );
            Privilege::User
        }
    };
    let mut user = User::new(name, password);
    user.scope = if services.is_empty() {
        Scope::All
    } else {
        Scope::Only(services)
    };
    user.privilege = privilege;
    user.params = params(t, &["user", "password", "services", "access"], known, errs);
    Some(user)
}

/// `[auth]`: `lockout_after` (failures), `window_seconds`, `max_sources`.
fn policy(t: &Table<'_>, errs: &mut Errors) -> Policy {
    t.deny_unknown(&["lockout_after", "window_seconds", "max_sources"], errs);
    let d = Policy::default();
    Policy {
        max_sources: t
            .int("max_sources", 16, 1 << 20, false, errs)
            .map_or(d.max_sources, |n| n as usize),
        lockout_after: t.int("lockout_after", 1, 1_000_000, false, errs).map(|n| n as u32),
        window: t
            .int("window_seconds", 1, 7 * 86_400, false, errs)
            .map_or(d.window, |s| Duration::from_secs(s as u64)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use crate::auth::{Privilege, Scope};
    use crate::template::Template;

    const HEAD: &str = "[template]\nunit = \"x\"\nvendor = \"y\"\n[persona]\nhostname = \"plc-1\"\n";

    fn load(body: &str) -> Result<Template, Vec<crate::template::TemplateError>> {
        Template::from_toml("t", &format!("{HEAD}{body}"))
    }

    fn keys(body: &str) -> Vec<String> {
        load(body).unwrap_err().into_iter().map(|e| e.key).collect()
    }

    #[test]
    fn users_and_groups() {
        let t = load(
            r#"
[[groups]]
name = "ftp"
gid = 45
members = ["nobody"]

[[users]]
name = "nobody"
password = "nobody"
uid = 13
scope = ["ftp"]

[[users]]
name = "ADMIN"
password = "admin-{persona.hostname}"
privilege = 4
groups = ["ftp"]
ipmi_user_id = "2"

[[users]]
name = "ftp"
anonymous = true
enabled = false

[auth]
lockout_after = 5
window_seconds = 60
"#,
        )
        .unwrap();
        let s = &t.auth.store;
        let nobody = s.user("nobody").unwrap();
        assert_eq!(nobody.uid, Some(13));
        assert_eq!(nobody.scope, Scope::Only(vec!["ftp".into()]));
        assert_eq!(s.primary_gid(nobody), Some(45));
        let admin = s.user("ADMIN").unwrap();
        assert_eq!(admin.privilege, Privilege::Administrator);
        assert_eq!(admin.param("ipmi_user_id"), Some("2"));
        assert_eq!(admin.scope, Scope::All);
        let anon = s.user("ftp").unwrap();
        assert!(anon.anonymous && !anon.enabled && anon.password.is_empty());
        assert_eq!(t.auth.policy.lockout_after, Some(5));
        assert_eq!(t.auth.policy.window.as_secs(), 60);
    }

    #[test]
    fn credentials_read_as_before() {
        let t = load(
            "[[credentials]]\nuser = \"admin\"\npassword = \"pw-{persona.hostname}\"\naccess = \"write\"\nservices = [\"snmp\"]\nsnmp_auth = \"sha\"\n",
        )
        .unwrap();
        let u = t.auth.store.user("admin").unwrap();
        assert_eq!(u.privilege, Privilege::Operator);
        assert_eq!(u.scope, Scope::Only(vec!["snmp".into()]));
        assert_eq!(u.param("snmp_auth"), Some("sha"));
        assert_eq!(u.password, "pw-{persona.hostname}", "rendered when the device is built");
        assert_eq!(
            keys("[[credentials]]\nuser = \"a\"\npassword = \"b\"\naccess = \"all\"\n"),
            ["credentials[0].access"]
        );
    }

    #[test]
    fn errors_name_their_keys() {
        let cases: &[(&str, &[&str])] = &[
            ("[[users]]\npassword = \"x\"\n", &["users[0].name"]),
            ("[[users]]\nname = \"a\"\n", &["users[0].password"]),
            (
                "[[users]]\nname = \"a\"\npassword = \"x\"\npasword = \"y\"\n",
                &["users[0].pasword"],
            ),
            (
                "[[users]]\nname = \"a\"\npassword = \"x\"\nprivilege = 9\n",
                &["users[0].privilege"],
            ),
            (
                "[[users]]\nname = \"a\"\npassword = \"x\"\nprivilege = \"root\"\n",
                &["users[0].privilege"],
            ),
            (
                "[[users]]\nname = \"a\"\npassword = \"x\"\nscope = 3\n",
                &["users[0].scope"],
            ),
            (
                "[[users]]\nname = \"a\"\npassword = \"x\"\nuid = -1\n",
                &["users[0].uid"],
            ),
            (
                "[[users]]\nname = \"a\"\npassword = \"x\"\nenabled = \"yes\"\n",
                &["users[0].enabled"],
            ),
            (
                "[[users]]\nname = \"a\"\npassword = \"x\"\ngroups = [\"nope\"]\n",
                &["users[0].groups"],
            ),
            (
                "[[users]]\nname = \"a\"\npassword = \"{persona.nope}\"\n",
                &["users[0].password"],
            ),
            (
                "[[users]]\nname = \"a\"\npassword = \"x\"\nsnmp_auth = 1\n",
                &["users[0].snmp_auth"],
            ),
            (
                "[[users]]\nname = \"a\"\npassword = \"x\"\n[[users]]\nname = \"a\"\npassword = \"y\"\nscope = [\"ftp\"]\n",
                &["users[1]"],
            ),
            ("[[groups]]\nname = \"g\"\n", &["groups[0].gid"]),
            (
                "[[groups]]\nname = \"g\"\ngid = 1\nmembers = [\"ghost\"]\n",
                &["groups[0].members"],
            ),
            (
                "[[groups]]\nname = \"g\"\ngid = 1\n[[groups]]\nname = \"h\"\ngid = 1\n",
                &["groups[1].gid"],
            ),
            ("[auth]\nlockout_after = 0\n", &["auth.lockout_after"]),
            ("[auth]\nlockot = 3\n", &["auth.lockot"]),
        ];
        for (body, want) in cases {
            assert_eq!(keys(body), *want, "{body}");
        }
    }

    #[test]
    fn one_name_in_two_disjoint_scopes_is_fine() {
        let t = load(
            "[[users]]\nname = \"a\"\npassword = \"x\"\nscope = [\"ftp\"]\n[[users]]\nname = \"a\"\npassword = \"y\"\nscope = [\"telnet\"]\n",
        )
        .unwrap();
        assert_eq!(t.auth.store.users().count(), 2);
    }
}
