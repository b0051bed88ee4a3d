//! The accounts of one device: users and groups as the template declares them. Plain data,
//! shared read-only by every protocol; the filesystem and FTP listings read owner and
//! group names from here, the login checks in [`super::Auth`] read users from here.

use std::collections::BTreeMap;
use std::sync::Arc;

/// What a logged-in user may do, one ordered scale for every protocol: IPMI's channel
/// privilege levels (callback 1, user 2, operator 3, administrator 4), S7 protection
/// (read needs `User`, write needs `Operator`), FTP and SNMP read or write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Privilege {
    /// May only be called back (IPMI level 1); reads nothing.
    Callback,
    /// May read (IPMI level 2, FTP downloads, SNMP GET, S7 reads of a read-protected CPU).
    #[default]
    User,
    /// May change process values (IPMI level 3, FTP uploads, SNMP SET, S7 writes).
    Operator,
    /// May change everything, configuration too (IPMI level 4).
    Administrator,
}

impl Privilege {
    /// Every level, lowest first.
    pub const ALL: [Privilege; 4] = [
        Privilege::Callback,
        Privilege::User,
        Privilege::Operator,
        Privilege::Administrator,
    ];

    /// The level of IPMI privilege number `level` (1 to 4); `None` for any other number
    /// (IPMI's 5, OEM, has no meaning shared with other protocols).
    pub fn from_ipmi(level: u8) -> Option<Privilege> {
        Privilege::ALL.get(usize::from(level).checked_sub(1)?).copied()
    }

    /// The IPMI privilege number (1 to 4).
    pub fn ipmi(self) -> u8 {
        match self {
            Privilege::Callback => 1,
            Privilege::User => 2,
            Privilege::Operator => 3,
            Privilege::Administrator => 4,
        }
    }

    /// Parses a template's name for a level: `callback`, `user` (or `read`), `operator`
    /// (or `write`), `administrator` (or `admin`).
    pub fn parse(name: &str) -> Option<Privilege> {
        Some(match name {
            "callback" => Privilege::Callback,
            "user" | "read" => Privilege::User,
            "operator" | "write" => Privilege::Operator,
            "administrator" | "admin" => Privilege::Administrator,
            _ => return None,
        })
    }

    /// The level's name as templates write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Callback => "callback",
            Privilege::User => "user",
            Privilege::Operator => "operator",
            Privilege::Administrator => "administrator",
        }
    }

    /// Whether the level may read (everything above callback).
    pub fn may_read(self) -> bool {
        self >= Privilege::User
    }

    /// Whether the level may change things (operator and above).
    pub fn may_write(self) -> bool {
        self >= Privilege::Operator
    }
}

/// Which protocols an account may log in over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    /// Every protocol that logs users in.
    #[default]
    All,
    /// Only these protocols (names as in `[protocols.NAME]`: `ftp`, `snmp`, `s7comm`, ...).
    Only(Vec<String>),
}

impl Scope {
    /// Whether `protocol` is in the scope.
    pub fn allows(&self, protocol: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(list) => list.iter().any(|p| p == protocol),
        }
    }

    /// Whether some protocol is in both scopes (two accounts of one name must not be).
    pub fn overlaps(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::All, _) | (_, Scope::All) => true,
            (Scope::Only(a), Scope::Only(b)) => a.iter().any(|p| b.contains(p)),
        }
    }
}

/// One account of the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Password, in clear text: it is a honeypot's bait, and challenge-response protocols
    /// (IPMI RAKP, SNMPv3) need the clear text to compute what the client should send.
    pub password: String,
    /// Groups named on the account; groups that list it as a member count too (see
    /// [`UserStore::groups_of`]).
    pub groups: Vec<String>,
    /// Protocols the account may log in over.
    pub scope: Scope,
    /// What it may do once logged in.
    pub privilege: Privilege,
    /// A disabled account exists (its files keep their owner, IPMI lists it) but every
    /// login is refused.
    pub enabled: bool,
    /// The account anonymous logins map to (FTP `anonymous`): any clear password is
    /// accepted, over the account's own name or the name `anonymous`.
    pub anonymous: bool,
    /// Numeric user id, shown as the owner of files (FTP listings, the filesystem).
    pub uid: Option<u32>,
    /// Protocol-specific settings, named `<protocol>_<setting>` (`snmp_auth`, `snmp_priv`,
    /// `snmp_priv_password`, `ipmi_user_id`, ...).
    pub params: BTreeMap<String, String>,
}

impl User {
    /// An enabled account `name` with `password`, valid for every protocol, at privilege
    /// `User`, no uid, groups or settings.
    pub fn new(name: impl Into<String>, password: impl Into<String>) -> User {
        User {
            name: name.into(),
            password: password.into(),
            groups: Vec::new(),
            scope: Scope::All,
            privilege: Privilege::User,
            enabled: true,
            anonymous: false,
            uid: None,
            params: BTreeMap::new(),
        }
    }

    /// The protocol-specific setting `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// Whether the account may log in over `protocol` (enabled or not).
    pub fn serves(&self, protocol: &str) -> bool {
        self.scope.allows(protocol)
    }

    /// The account with every text (name, password, settings) passed through `f`, e.g. to
    /// fill in `{persona.NAME}` references.
    pub fn map_texts(&self, f: &impl Fn(&str) -> String) -> User {
        User {
            name: f(&self.name),
            password: f(&self.password),
            params: self.params.iter().map(|(k, v)| (k.clone(), f(v))).collect(),
            ..self.clone()
        }
    }
}

/// A group of accounts, shown as the group of files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Name.
    pub name: String,
    /// Numeric group id.
    pub gid: u32,
    /// Names of the accounts in it (besides those naming the group themselves).
    pub members: Vec<String>,
}

/// Every account and group of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserStore {
    users: Vec<Arc<User>>,
    groups: Vec<Group>,
}

impl UserStore {
    /// A store of `users` and `groups`, in the order given (lookups find the first match).
    pub fn new(users: Vec<User>, groups: Vec<Group>) -> UserStore {
        UserStore {
            users: users.into_iter().map(Arc::new).collect(),
            groups,
        }
    }

    /// Adds an account after the others.
    pub fn push(&mut self, user: User) {
        self.users.push(Arc::new(user));
    }

    /// Adds a group after the others.
    pub fn push_group(&mut self, group: Group) {
        self.groups.push(group);
    }

    /// Appends every account and group of `other`.
    pub fn extend(&mut self, other: UserStore) {
        self.users.extend(other.users);
        self.groups.extend(other.groups);
    }

    /// Whether there is no account and no group.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    /// Every account, in order.
    pub fn users(&self) -> impl Iterator<Item = &Arc<User>> {
        self.users.iter()
    }

    /// Every group, in order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The first account named `name`, whatever its scope.
    pub fn user(&self, name: &str) -> Option<&Arc<User>> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The accounts that may log in over `protocol` (enabled or not).
    pub fn for_protocol<'a>(&'a self, protocol: &'a str) -> impl Iterator<Item = &'a Arc<User>> + 'a {
        self.users.iter().filter(move |u| u.serves(protocol))
    }

    /// The first account with user id `uid`.
    pub fn by_uid(&self, uid: u32) -> Option<&Arc<User>> {
        self.users.iter().find(|u| u.uid == Some(uid))
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The group with id `gid`.
    pub fn group_by_gid(&self, gid: u32) -> Option<&Group> {
        self.groups.iter().find(|g| g.gid == gid)
    }

    /// The groups `user` is in: those it names first (in its order), then those that
    /// list it as a member, each once.
    pub fn groups_of<'a>(&'a self, user: &'a User) -> impl Iterator<Item = &'a Group> + 'a {
        let named = user.groups.iter().filter_map(|n| self.group(n));
        let listing = self
            .groups
            .iter()
            .filter(move |g| g.members.contains(&user.name) && !user.groups.contains(&g.name));
        named.chain(listing)
    }

    /// The group id files of `user` get: its first group's.
    pub fn primary_gid(&self, user: &User) -> Option<u32> {
        self.groups_of(user).next().map(|g| g.gid)
    }

    /// The name shown for owner `uid` (FTP listings).
    pub fn owner_name(&self, uid: u32) -> Option<&str> {
        self.by_uid(uid).map(|u| u.name.as_str())
    }

    /// The name shown for group `gid`.
    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.group_by_gid(gid).map(|g| g.name.as_str())
    }

    /// The store with every account's texts passed through `f` (see [`User::map_texts`]).
    pub fn map_texts(&self, f: impl Fn(&str) -> String) -> UserStore {
        UserStore {
            users: self.users.iter().map(|u| Arc::new(u.map_texts(&f))).collect(),
            groups: self.groups.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn store() -> UserStore {
        let mut nobody = User::new("nobody", "nobody");
        nobody.uid = Some(13);
        nobody.groups = vec!["ftp".into()];
        let mut test = User::new("test_user", "test");
        test.uid = Some(10);
        let mut ops = User::new("ops", "pw");
        ops.groups = vec!["wheel".into()];
        UserStore::new(
            vec![nobody, test, ops],
            vec![
                Group {
                    name: "ftp".into(),
                    gid: 45,
                    members: vec!["test_user".into(), "nobody".into()],
                },
                Group {
                    name: "wheel".into(),
                    gid: 10,
                    members: vec!["nobody".into()],
                },
            ],
        )
    }

    #[test]
    fn lookups_by_name_uid_and_gid() {
        let s = store();
        assert_eq!(s.owner_name(13), Some("nobody"));
        assert_eq!(s.owner_name(10), Some("test_user"));
        assert_eq!(s.owner_name(99), None);
        assert_eq!(s.group_name(45), Some("ftp"));
        assert_eq!(s.group("wheel").unwrap().gid, 10);
        assert_eq!(s.user("ops").unwrap().password, "pw");
        assert!(s.user("root").is_none());
    }

    #[test]
    fn groups_of_joins_both_directions_once() {
        let s = store();
        let nobody = s.user("nobody").unwrap();
        let names: Vec<_> = s.groups_of(nobody).map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["ftp", "wheel"], "named first, then listed, ftp once");
        assert_eq!(s.primary_gid(nobody), Some(45));
        let test = s.user("test_user").unwrap();
        assert_eq!(s.primary_gid(test), Some(45), "membership by the group's list");
        let ops = s.user("ops").unwrap();
        assert_eq!(s.primary_gid(ops), Some(10));
    }

    #[test]
    fn privilege_scale() {
        for p in Privilege::ALL {
            assert_eq!(Privilege::from_ipmi(p.ipmi()), Some(p));
            assert_eq!(Privilege::parse(p.as_str()), Some(p));
        }
        assert_eq!(Privilege::from_ipmi(0), None);
        assert_eq!(Privilege::from_ipmi(5), None);
        assert_eq!(Privilege::parse("write"), Some(Privilege::Operator));
        assert!(!Privilege::Callback.may_read());
        assert!(Privilege::User.may_read() && !Privilege::User.may_write());
        assert!(Privilege::Operator.may_write());
    }

    #[test]
    fn scopes() {
        let ftp = Scope::Only(vec!["ftp".into()]);
        let snmp = Scope::Only(vec!["snmp".into(), "telnet".into()]);
        assert!(ftp.allows("ftp") && !ftp.allows("snmp"));
        assert!(Scope::All.allows("anything"));
        assert!(!ftp.overlaps(&snmp));
        assert!(ftp.overlaps(&Scope::All));
        assert!(snmp.overlaps(&Scope::Only(vec!["telnet".into()])));
    }
}
