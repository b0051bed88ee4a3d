//! The credential store every protocol of a device shares: the accounts an attacker can
//! log in with (SNMPv3 users now; FTP, Telnet, IPMI and HTTP accounts as they come), each
//! open to some services, with protocol-specific settings beside it.

use std::collections::BTreeMap;

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// User name.
    pub user: String,
    /// Password (clear text: it is a honeypot's bait).
    pub password: String,
    /// Services it is valid for (`snmp`, `ftp`, ...); empty means all.
    pub services: Vec<String>,
    /// Whether it may change things (SET, uploads, writes).
    pub write: bool,
    /// Protocol-specific settings (`snmp_auth`, `snmp_priv`, `snmp_priv_password`, ...).
    pub params: BTreeMap<String, String>,
}

/// The accounts of one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Every account.
    pub accounts: Vec<Credential>,
}

impl Credential {
    /// Whether the account is valid for `service`.
    pub fn serves(&self, service: &str) -> bool {
        self.services.is_empty() || self.services.iter().any(|s| s == service)
    }
}

impl Credentials {
    /// The accounts valid for `service`.
    pub fn for_service<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Credential> + 'a {
        self.accounts.iter().filter(move |c| c.serves(service))
    }

    /// The account `user` with `password` for `service`, if they match.
    pub fn check(&self, service: &str, user: &str, password: &str) -> Option<&Credential> {
        self.accounts
            .iter()
            .find(|c| c.serves(service) && c.user == user && c.password == password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_checks() {
        let store = Credentials {
            accounts: vec![
                Credential {
                    user: "admin".into(),
                    password: "pw".into(),
                    services: vec![],
                    write: true,
                    params: BTreeMap::new(),
                },
                Credential {
                    user: "ftp".into(),
                    password: "x".into(),
                    services: vec!["ftp".into()],
                    write: false,
                    params: BTreeMap::new(),
                },
            ],
        };
        assert_eq!(store.for_service("snmp").count(), 1);
        assert_eq!(store.for_service("ftp").count(), 2);
        assert!(store.check("ftp", "ftp", "x").is_some());
        assert!(store.check("snmp", "ftp", "x").is_none());
        assert!(store.check("ftp", "admin", "wrong").is_none());
    }
}
