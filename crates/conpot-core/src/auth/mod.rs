//! Central authentication (Conpot issue 389): the accounts of a device and the one question
//! every protocol asks of them, "may this user log in with this secret over this protocol
//! from this source?". FTP, Telnet, HTTP basic auth and the S7 password hand over a clear
//! password; IPMI RAKP and SNMPv3 hand over a proof (an HMAC) with a verifier that knows
//! how to check it against the stored password. Every attempt, right or wrong, becomes one
//! `auth.attempt` event of one schema ([`attempt::event`]) and is counted per source.
//!
//! `store` holds users and groups (also what the filesystem shows as owners); `attempt`
//! the per-source counters and the event. Sans-IO: the time and the source address are
//! passed in.

pub mod attempt;
pub mod store;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

pub use attempt::{Attempt, Attempts, Count, Policy};
pub use store::{Group, Privilege, Scope, User, UserStore};

use crate::event::EventDraft;

/// The user name that logs in to the anonymous account, whatever that account is named.
pub const ANONYMOUS: &str = "anonymous";

/// Method of a clear password checked against the stored one.
pub const METHOD_PASSWORD: &str = "password";
/// Method of a login to the anonymous account (any clear password accepted).
pub const METHOD_ANONYMOUS: &str = "anonymous";

/// What the attacker presented.
#[derive(Clone, Copy)]
pub enum Secret<'a> {
    /// A clear-text password (FTP, Telnet, HTTP basic, S7), compared with the stored one.
    Plain(&'a [u8]),
    /// Challenge-response material and the protocol's way of checking it.
    Proof(&'a Proof<'a>),
}

impl std::fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Plain(p) => write!(f, "Plain({} bytes)", p.len()),
            Secret::Proof(p) => write!(f, "Proof({})", p.method),
        }
    }
}

/// Challenge-response material (IPMI RAKP, SNMPv3 USM): what was sent, for the event, and
/// a verifier that says whether it matches a stored account. The verifier sees the whole
/// account (password and protocol settings), so a protocol may check an HMAC over the
/// password or look up keys it derived from it once.
pub struct Proof<'a> {
    /// How the proof is computed (`rakp-hmac-sha1`, `snmp-usm-hmac-md5`, ...).
    pub method: &'static str,
    /// The hash function (`hmac-sha1`, `hmac-md5-96`, ...); empty if there is none.
    pub hash_alg: &'static str,
    /// The proof itself (the HMAC sent); empty if there is none.
    pub hash: &'a [u8],
    /// The salt the proof depends on (SNMP: the engine id keys are localized to); may be empty.
    pub salt: &'a [u8],
    /// The challenge the proof answers (IPMI: the RAKP fields the HMAC covers); may be empty.
    pub challenge: &'a [u8],
    /// Checks the proof against a stored account.
    pub verify: &'a dyn Fn(&User) -> Verdict,
}

/// A verifier's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The proof matches the account.
    Match,
    /// It does not (a wrong password): reason `bad_password`.
    Mismatch,
    /// The protocol refuses for a reason of its own (`unsupported_security_level`,
    /// `decryption_error`), reported as the reason.
    Refused(&'static str),
}

/// Why a login was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No account of that name.
    UnknownUser,
    /// The secret does not match.
    BadPassword,
    /// The account is disabled.
    Disabled,
    /// The account exists but not for this protocol.
    OutOfScope,
    /// The source failed too often (the policy's `lockout_after`).
    Locked,
    /// The protocol refused (see [`Verdict::Refused`]).
    Refused(&'static str),
}

impl Reason {
    /// The reason as events write it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::UnknownUser => "unknown_user",
            Reason::BadPassword => "bad_password",
            Reason::Disabled => "disabled",
            Reason::OutOfScope => "out_of_scope",
            Reason::Locked => "locked",
            Reason::Refused(r) => r,
        }
    }
}

/// The answer to a login attempt, with its event.
#[derive(Debug, Clone)]
pub struct AuthDecision {
    /// The account logged in to (privilege, groups, uid), or why not.
    pub outcome: Result<Arc<User>, Reason>,
    /// How the secret was checked (`password`, `anonymous`, or the proof's method).
    pub method: &'static str,
    /// The source's attempt counts after this one (a protocol may close after N).
    pub count: Count,
    /// The `auth.attempt` event; the protocol pushes it into its output (adding raw bytes
    /// if it wants).
    pub event: EventDraft,
}

impl AuthDecision {
    /// Whether the login succeeded.
    pub fn success(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The account logged in to.
    pub fn user(&self) -> Option<&Arc<User>> {
        self.outcome.as_ref().ok()
    }

    /// Why it was refused.
    pub fn reason(&self) -> Option<Reason> {
        self.outcome.as_ref().err().copied()
    }

    /// The privilege gained, if any.
    pub fn privilege(&self) -> Option<Privilege> {
        self.user().map(|u| u.privilege)
    }
}

/// What a template declares about authentication: its accounts and the counting policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSpec {
    /// Users and groups (texts may hold `{persona.NAME}` references).
    pub store: UserStore,
    /// Attempt counting and lockout.
    pub policy: Policy,
}

/// The authentication of one device: its accounts and the attempt counters every protocol
/// shares. Cheap to clone; clones share the counters.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    store: Arc<UserStore>,
    attempts: Arc<Attempts>,
}

impl Auth {
    /// Authentication over `store`, counting under `policy`.
    pub fn new(store: UserStore, policy: Policy) -> Auth {
        Auth {
            store: Arc::new(store),
            attempts: Arc::new(Attempts::new(policy)),
        }
    }

    /// The accounts and groups (owners of files, listings).
    pub fn store(&self) -> &UserStore {
        &self.store
    }

    /// The per-source counters.
    pub fn attempts(&self) -> &Attempts {
        &self.attempts
    }

    /// This authentication with accounts a protocol's own section declares (SNMP
    /// `[[protocols.snmp.users]]`, the S7 protection password) added after the device's,
    /// each limited to `protocol`. The counters stay shared with the device.
    pub fn with_protocol_users(&self, protocol: &str, users: impl IntoIterator<Item = User>) -> Auth {
        let mut store = (*self.store).clone();
        for mut u in users {
            u.scope = Scope::Only(vec![protocol.to_owned()]);
            store.push(u);
        }
        Auth {
            store: Arc::new(store),
            attempts: Arc::clone(&self.attempts),
        }
    }

    /// May `user` log in with `secret` over `protocol` from `source` at `now`? Checks, in
    /// order: lockout, the account (by name; `anonymous` also names the anonymous
    /// account), its scope, whether it is enabled, then the secret (any clear password
    /// opens the anonymous account; a proof is verified as for any other). Counts the
    /// attempt and builds its event.
    pub fn check(
        &self,
        protocol: &str,
        user: &[u8],
        secret: Secret<'_>,
        source: IpAddr,
        now: SystemTime,
    ) -> AuthDecision {
        let method = match secret {
            Secret::Plain(_) => METHOD_PASSWORD,
            Secret::Proof(p) => p.method,
        };
        let (outcome, method) = if self.attempts.locked(source, now) {
            (Err(Reason::Locked), method)
        } else {
            match self.find(protocol, user) {
                Err(r) => (Err(r), method),
                Ok(u) if u.anonymous && matches!(secret, Secret::Plain(_)) => (Ok(Arc::clone(u)), METHOD_ANONYMOUS),
                Ok(u) => (verify(u, &secret).map(|()| Arc::clone(u)), method),
            }
        };
        let attempt = Attempt {
            protocol,
            username: Some(user),
            secret: &secret,
            method,
        };
        self.decide(&attempt, outcome, source, now)
    }

    /// Which account does `password` open over `protocol`, for protocols that ask for a
    /// password alone (the S7 CPU's protection)? The first enabled, non-anonymous account
    /// in scope whose password it is; a match on a disabled account only is `disabled`.
    pub fn check_password_only(
        &self,
        protocol: &str,
        password: &[u8],
        source: IpAddr,
        now: SystemTime,
    ) -> AuthDecision {
        let outcome = if self.attempts.locked(source, now) {
            Err(Reason::Locked)
        } else {
            let mut matching = self
                .store
                .for_protocol(protocol)
                .filter(|u| !u.anonymous && u.password.as_bytes() == password);
            let mut disabled = false;
            loop {
                match matching.next() {
                    Some(u) if u.enabled => break Ok(Arc::clone(u)),
                    Some(_) => disabled = true,
                    None if disabled => break Err(Reason::Disabled),
                    None => break Err(Reason::BadPassword),
                }
            }
        };
        let secret = Secret::Plain(password);
        let attempt = Attempt {
            protocol,
            username: None,
            secret: &secret,
            method: METHOD_PASSWORD,
        };
        self.decide(&attempt, outcome, source, now)
    }

    /// Counts and records an attempt at a secret the store does not hold (SNMP
    /// communities), so it gets the same event as every other attempt.
    pub fn record(&self, attempt: &Attempt<'_>, reason: Option<Reason>, source: IpAddr, now: SystemTime) -> EventDraft {
        let count = self.attempts.note(source, reason.is_none(), now);
        attempt::event(attempt, reason.as_ref(), count.attempts)
    }

    /// The account `user` names for `protocol`: the first in scope of that name, else the
    /// anonymous account in scope for `anonymous`; with the reason if there is none.
    fn find<'a>(&'a self, protocol: &'a str, user: &[u8]) -> Result<&'a Arc<User>, Reason> {
        let named = |u: &&Arc<User>| u.name.as_bytes() == user;
        let anon = |u: &&Arc<User>| u.anonymous && user == ANONYMOUS.as_bytes();
        let found = self
            .store
            .for_protocol(protocol)
            .find(named)
            .or_else(|| self.store.for_protocol(protocol).find(anon));
        match found {
            Some(u) if !u.enabled => Err(Reason::Disabled),
            Some(u) => Ok(u),
            None if self.store.users().any(|u| named(&u) || anon(&u)) => Err(Reason::OutOfScope),
            None => Err(Reason::UnknownUser),
        }
    }

    fn decide(
        &self,
        attempt: &Attempt<'_>,
        outcome: Result<Arc<User>, Reason>,
        source: IpAddr,
        now: SystemTime,
    ) -> AuthDecision {
        let count = self.attempts.note(source, outcome.is_ok(), now);
        let event = attempt::event(attempt, outcome.as_ref().err(), count.attempts);
        AuthDecision {
            outcome,
            method: attempt.method,
            count,
            event,
        }
    }
}

fn verify(user: &User, secret: &Secret<'_>) -> Result<(), Reason> {
    match secret {
        Secret::Plain(p) if user.password.as_bytes() == *p => Ok(()),
        Secret::Plain(_) => Err(Reason::BadPassword),
        Secret::Proof(p) => match (p.verify)(user) {
            Verdict::Match => Ok(()),
            Verdict::Mismatch => Err(Reason::BadPassword),
            Verdict::Refused(r) => Err(Reason::Refused(r)),
        },
    }
}

#[cfg(test)]
mod tests;
