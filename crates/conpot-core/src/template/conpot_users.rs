//! Accounts of an imported Conpot template: Conpot kept them in the protocols' own files,
//! FTP's `<ftp_users>` (a group `gid:name`, users with uid, name and password, and the
//! anonymous login) and IPMI's `<user_list>` (name, password, privilege 1 to 4, active,
//! fixed). Here they become accounts of the device, each limited to its protocol.

use std::collections::BTreeMap;

use super::nav::Errors;
use super::{ProtocolSection, SectionBody};
use crate::auth::{AuthSpec, Group, Privilege, Scope, User, UserStore};

/// The accounts declared in the protocol sections of a Conpot template.
pub(super) fn import(protocols: &BTreeMap<String, ProtocolSection>, errs: &mut Errors) -> AuthSpec {
    let mut store = UserStore::default();
    let xml = |name: &str| match protocols.get(name).map(|s| (&s.file, &s.body)) {
        Some((file, SectionBody::ConpotXml(text))) => Some((file.as_str(), text.as_str())),
        _ => None,
    };
    if let Some((file, text)) = xml("ftp") {
        with_doc(file, text, errs, |root, errs| ftp(file, root, &mut store, errs));
    }
    if let Some((file, text)) = xml("ipmi") {
        with_doc(file, text, errs, |root, errs| ipmi(file, root, &mut store, errs));
    }
    AuthSpec {
        store,
        policy: Default::default(),
    }
}

/// Runs `f` on the root element of `text`; the section reader reports malformed XML.
fn with_doc(file: &str, text: &str, errs: &mut Errors, f: impl FnOnce(roxmltree::Node<'_, '_>, &mut Errors)) {
    match roxmltree::Document::parse(text) {
        Ok(doc) => f(doc.root_element(), errs),
        Err(e) => errs.push(file, "", format!("well-formed XML: {e}")),
    }
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(tag))
}

fn text_of(n: roxmltree::Node<'_, '_>, tag: &str) -> Option<String> {
    child(n, tag).map(|c| c.text().unwrap_or_default().trim().to_owned())
}

fn flag(text: &str) -> Option<bool> {
    match text.trim() {
        "True" | "true" | "1" => Some(true),
        "False" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn ftp(file: &str, root: roxmltree::Node<'_, '_>, store: &mut UserStore, errs: &mut Errors) {
    let Some(users) = child(root, "ftp_users") else { return };
    let scope = || Scope::Only(vec!["ftp".to_owned()]);
    let mut group_name = None;
    for (gi, set) in users.children().filter(|c| c.has_tag_name("users")).enumerate() {
        let path = format!("ftp_users/users[{gi}]");
        let group = set.attribute("group").unwrap_or_default();
        match group.split_once(':').map(|(g, n)| (g.trim().parse::<u32>(), n.trim())) {
            Some((Ok(gid), name)) if !name.is_empty() => {
                if store.group(name).is_none() {
                    store.push_group(Group {
                        name: name.to_owned(),
                        gid,
                        members: Vec::new(),
                    });
                }
                group_name = Some(name.to_owned());
            }
            _ => errs.push(file, &format!("{path}/@group"), format!("gid:name, found `{group}`")),
        }
        for (ui, u) in set.children().filter(|c| c.has_tag_name("user")).enumerate() {
            let upath = format!("{path}/user[{ui}]");
            let (Some(name), Some(password)) = (text_of(u, "uname"), text_of(u, "password")) else {
                errs.push(file, &upath, "<uname> and <password>");
                continue;
            };
            let Some(uid) = uid(file, &upath, u, errs) else {
                continue;
            };
            let mut user = User::new(name, password);
            user.uid = Some(uid);
            user.scope = scope();
            user.privilege = Privilege::Operator;
            user.groups = group_name.iter().cloned().collect();
            store.push(user);
        }
    }
    if let Some(anon) = child(users, "anon_login") {
        let path = "ftp_users/anon_login";
        let enabled = anon.attribute("enabled").unwrap_or_default();
        let Some(enabled) = flag(enabled) else {
            errs.push(
                file,
                &format!("{path}/@enabled"),
                format!("True or False, found `{enabled}`"),
            );
            return;
        };
        let Some(uid) = uid(file, path, anon, errs) else { return };
        let mut user = User::new(text_of(anon, "uname").unwrap_or_else(|| "ftp".to_owned()), "");
        user.anonymous = true;
        user.enabled = enabled;
        user.uid = Some(uid);
        user.scope = scope();
        user.privilege = Privilege::Operator;
        user.groups = group_name.into_iter().collect();
        store.push(user);
    }
}

fn uid(file: &str, path: &str, n: roxmltree::Node<'_, '_>, errs: &mut Errors) -> Option<u32> {
    let text = n.attribute("uid").unwrap_or_default();
    let uid = text.trim().parse::<u32>().ok();
    if uid.is_none() {
        errs.push(file, &format!("{path}/@uid"), format!("a user id, found `{text}`"));
    }
    uid
}

fn ipmi(file: &str, root: roxmltree::Node<'_, '_>, store: &mut UserStore, errs: &mut Errors) {
    let Some(list) = child(root, "user_list") else { return };
    for (i, u) in list.children().filter(|c| c.has_tag_name("user")).enumerate() {
        let path = format!("user_list/user[{i}]");
        let (Some(name), Some(password)) = (text_of(u, "user_name"), text_of(u, "password")) else {
            errs.push(file, &path, "<user_name> and <password>");
            continue;
        };
        let level = text_of(u, "privilege").unwrap_or_default();
        let Some(privilege) = level.parse::<u8>().ok().and_then(Privilege::from_ipmi) else {
            errs.push(file, &format!("{path}/privilege"), format!("1 to 4, found `{level}`"));
            continue;
        };
        let active = text_of(u, "active").unwrap_or_else(|| "true".to_owned());
        let Some(enabled) = flag(&active) else {
            errs.push(
                file,
                &format!("{path}/active"),
                format!("true or false, found `{active}`"),
            );
            continue;
        };
        let mut user = User::new(name, password);
        user.scope = Scope::Only(vec!["ipmi".to_owned()]);
        user.privilege = privilege;
        user.enabled = enabled;
        // Conpot numbers IPMI users by their position, from 1.
        user.params.insert("ipmi_user_id".to_owned(), (i + 1).to_string());
        let fixed = text_of(u, "fixed").and_then(|f| flag(&f)).unwrap_or(false);
        user.params.insert("ipmi_fixed".to_owned(), fixed.to_string());
        store.push(user);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::template::Template;

    #[test]
    fn conpot_default_ftp_and_ipmi_users() {
        let t = Template::load_dir(&conpot_testkit::conpot_templates().join("default")).unwrap();
        let s = &t.auth.store;
        let nobody = s.user("nobody").unwrap();
        assert_eq!((nobody.uid, nobody.password.as_str()), (Some(13), "nobody"));
        assert_eq!(nobody.scope, Scope::Only(vec!["ftp".into()]));
        assert_eq!(s.owner_name(10), Some("test_user"));
        assert_eq!(s.group_name(45), Some("ftp"));
        assert_eq!(s.primary_gid(s.user("test_user").unwrap()), Some(45));
        let anon = s.user("ftp").unwrap();
        assert!(anon.anonymous && anon.enabled);
        assert_eq!(anon.uid, Some(32));
        let admin = s.user("Administrator").unwrap();
        assert_eq!(admin.privilege, Privilege::Administrator);
        assert_eq!(admin.param("ipmi_user_id"), Some("1"));
        assert_eq!(admin.scope, Scope::Only(vec!["ipmi".into()]));
        let op = s.user("Operator").unwrap();
        assert!(!op.enabled, "active false");
        assert_eq!(op.privilege, Privilege::Operator);
        assert_eq!(s.user("User3").unwrap().privilege, Privilege::Callback);
        assert_eq!(s.users().count(), 3 + 5);
    }

    fn section(name: &str, xml: &str) -> BTreeMap<String, ProtocolSection> {
        let mut m = BTreeMap::new();
        m.insert(
            name.to_owned(),
            ProtocolSection {
                name: name.to_owned(),
                enabled: true,
                host: "0.0.0.0".into(),
                port: 1,
                file: format!("{name}/{name}.xml"),
                body: SectionBody::ConpotXml(xml.to_owned()),
            },
        );
        m
    }

    #[test]
    fn errors_name_the_element() {
        let cases = [
            (
                "ftp",
                "<ftp><ftp_users><users group=\"ftp\"/></ftp_users></ftp>",
                "ftp_users/users[0]/@group",
            ),
            (
                "ftp",
                "<ftp><ftp_users><users group=\"1:g\"><user uid=\"x\"><uname>a</uname><password>b</password></user></users></ftp_users></ftp>",
                "ftp_users/users[0]/user[0]/@uid",
            ),
            (
                "ftp",
                "<ftp><ftp_users><anon_login enabled=\"maybe\" uid=\"1\"/></ftp_users></ftp>",
                "ftp_users/anon_login/@enabled",
            ),
            (
                "ipmi",
                "<ipmi><user_list><user><user_name>a</user_name><password>b</password><privilege>5</privilege></user></user_list></ipmi>",
                "user_list/user[0]/privilege",
            ),
            (
                "ipmi",
                "<ipmi><user_list><user><user_name>a</user_name></user></user_list></ipmi>",
                "user_list/user[0]",
            ),
        ];
        for (proto, xml, key) in cases {
            let mut errs = Errors::default();
            import(&section(proto, xml), &mut errs);
            let keys: Vec<_> = errs.0.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys, [key], "{xml}");
        }
    }

    #[test]
    fn anonymous_login_disabled() {
        let mut errs = Errors::default();
        let spec = import(
            &section(
                "ftp",
                "<ftp><ftp_users><anon_login enabled=\"False\" uid=\"32\"><uname>ftp</uname></anon_login></ftp_users></ftp>",
            ),
            &mut errs,
        );
        assert!(errs.is_empty());
        let anon = spec.store.user("ftp").unwrap();
        assert!(anon.anonymous && !anon.enabled);
    }
}
