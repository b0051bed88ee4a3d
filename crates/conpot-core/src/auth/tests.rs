//! Decisions of the central authentication and the events they carry.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use super::*;

const T: SystemTime = SystemTime::UNIX_EPOCH;

fn src(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, n))
}

fn only(p: &str) -> Scope {
    Scope::Only(vec![p.to_owned()])
}

fn auth(policy: Policy) -> Auth {
    let mut admin = User::new("admin", "Siemens-1");
    admin.privilege = Privilege::Administrator;
    let mut ftp_user = User::new("test_user", "test");
    ftp_user.scope = only("ftp");
    ftp_user.uid = Some(10);
    ftp_user.groups = vec!["ftp".into()];
    let mut off = User::new("Operator", "OpPassword");
    off.enabled = false;
    off.scope = only("ipmi");
    off.privilege = Privilege::Operator;
    let mut anon = User::new("ftp", "");
    anon.anonymous = true;
    anon.scope = only("ftp");
    anon.uid = Some(32);
    let mut telnet_admin = User::new("admin", "telnet-pw");
    telnet_admin.scope = only("telnet");
    let store = UserStore::new(
        vec![ftp_user, off, anon, telnet_admin, admin],
        vec![Group {
            name: "ftp".into(),
            gid: 45,
            members: Vec::new(),
        }],
    );
    Auth::new(store, policy)
}

#[test]
fn right_password_logs_in_with_privilege_and_uid() {
    let a = auth(Policy::default());
    let d = a.check("ftp", b"test_user", Secret::Plain(b"test"), src(1), T);
    assert!(d.success());
    let u = d.user().unwrap();
    assert_eq!(u.uid, Some(10));
    assert_eq!(a.store().primary_gid(u), Some(45));
    assert_eq!(d.privilege(), Some(Privilege::User));
    assert_eq!(d.method, "password");
    assert_eq!(d.event.body.data["success"], true);
    assert_eq!(d.event.body.data["reason"], serde_json::Value::Null);
    assert_eq!(d.event.body.data["username"], "test_user");
    assert_eq!(d.event.body.data["password"], "test");
    let d = a.check("snmp", b"admin", Secret::Plain(b"Siemens-1"), src(1), T);
    assert_eq!(d.privilege(), Some(Privilege::Administrator));
}

#[test]
fn each_refusal_has_its_reason() {
    let a = auth(Policy::default());
    let cases: [(&str, &[u8], &[u8], Reason); 5] = [
        ("ftp", b"root", b"x", Reason::UnknownUser),
        ("ftp", b"test_user", b"wrong", Reason::BadPassword),
        ("telnet", b"test_user", b"test", Reason::OutOfScope),
        ("ipmi", b"Operator", b"OpPassword", Reason::Disabled),
        ("snmp", b"anonymous", b"me@x", Reason::OutOfScope),
    ];
    for (proto, user, pw, why) in cases {
        let d = a.check(proto, user, Secret::Plain(pw), src(2), T);
        assert_eq!(d.reason(), Some(why), "{proto} {user:?}");
        assert_eq!(d.event.body.data["reason"], why.as_str());
        assert_eq!(d.event.body.data["success"], false);
    }
}

#[test]
fn one_name_two_scopes_each_with_its_own_password() {
    let a = auth(Policy::default());
    assert!(
        a.check("telnet", b"admin", Secret::Plain(b"telnet-pw"), src(3), T)
            .success()
    );
    assert_eq!(
        a.check("telnet", b"admin", Secret::Plain(b"Siemens-1"), src(3), T)
            .reason(),
        Some(Reason::BadPassword),
        "the telnet account comes first for telnet"
    );
    assert!(
        a.check("ftp", b"admin", Secret::Plain(b"Siemens-1"), src(3), T)
            .success()
    );
}

#[test]
fn anonymous_takes_any_secret_where_allowed() {
    let a = auth(Policy::default());
    for name in [&b"anonymous"[..], b"ftp"] {
        let d = a.check("ftp", name, Secret::Plain(b"guest@example.com"), src(4), T);
        assert!(d.success());
        assert_eq!(d.user().unwrap().name, "ftp");
        assert_eq!(d.user().unwrap().uid, Some(32));
        assert_eq!(d.method, "anonymous");
        assert_eq!(d.event.body.data["method"], "anonymous");
        assert_eq!(d.event.body.data["password"], "guest@example.com");
    }
    // A proof is never taken on trust, not even for the anonymous account.
    let verify = |_: &User| Verdict::Mismatch;
    let proof = Proof {
        method: "toy",
        hash_alg: "",
        hash: b"\x01",
        salt: b"",
        challenge: b"",
        verify: &verify,
    };
    assert_eq!(
        a.check("ftp", b"anonymous", Secret::Proof(&proof), src(4), T).reason(),
        Some(Reason::BadPassword)
    );
    let none = Auth::new(UserStore::default(), Policy::default());
    assert_eq!(
        none.check("ftp", b"anonymous", Secret::Plain(b""), src(4), T).reason(),
        Some(Reason::UnknownUser)
    );
}

#[test]
fn proofs_are_checked_by_the_verifier_and_logged_as_material() {
    let a = auth(Policy::default());
    // A toy challenge-response: the proof is the password reversed.
    let sent = b"1-snemeiS".to_vec();
    let verify = |u: &User| {
        if u.password.bytes().rev().eq(sent.iter().copied()) {
            Verdict::Match
        } else {
            Verdict::Mismatch
        }
    };
    let proof = Proof {
        method: "toy-reverse",
        hash_alg: "reverse",
        hash: &sent,
        salt: b"\x01\x02",
        challenge: b"",
        verify: &verify,
    };
    let d = a.check("ipmi", b"admin", Secret::Proof(&proof), src(5), T);
    assert!(d.success());
    let data = &d.event.body.data;
    assert_eq!(data["method"], "toy-reverse");
    assert_eq!(data["hash"], crate::hex::encode(&sent));
    assert_eq!(data["salt"], "0102");
    assert_eq!(data["challenge"], serde_json::Value::Null);
    assert_eq!(data["hash_alg"], "reverse");
    assert_eq!(data["password"], serde_json::Value::Null);
    let refuse = |_: &User| Verdict::Refused("unsupported_security_level");
    let proof = Proof {
        verify: &refuse,
        ..proof
    };
    let d = a.check("ipmi", b"admin", Secret::Proof(&proof), src(5), T);
    assert_eq!(d.reason(), Some(Reason::Refused("unsupported_security_level")));
    assert_eq!(d.event.body.data["reason"], "unsupported_security_level");
}

#[test]
fn password_only_finds_the_account_it_opens() {
    let a = auth(Policy::default()).with_protocol_users("s7comm", [User::new("cpu", "secret")]);
    let d = a.check_password_only("s7comm", b"secret", src(6), T);
    assert_eq!(d.user().unwrap().name, "cpu");
    assert_eq!(d.event.body.data["username"], serde_json::Value::Null);
    assert_eq!(
        a.check_password_only("s7comm", b"Siemens-1", src(6), T)
            .user()
            .unwrap()
            .name,
        "admin",
        "device accounts of every scope count"
    );
    assert_eq!(
        a.check_password_only("s7comm", b"test", src(6), T).reason(),
        Some(Reason::BadPassword),
        "an ftp-only account does not open the CPU"
    );
    assert_eq!(
        a.check_password_only("s7comm", b"", src(6), T).reason(),
        Some(Reason::BadPassword),
        "the anonymous account does not either"
    );
    // Protocol accounts are limited to their protocol.
    assert_eq!(
        a.check("ftp", b"cpu", Secret::Plain(b"secret"), src(6), T).reason(),
        Some(Reason::OutOfScope)
    );
    let mut off = User::new("old", "retired");
    off.enabled = false;
    let b = a.with_protocol_users("s7comm", [off]);
    assert_eq!(
        b.check_password_only("s7comm", b"retired", src(6), T).reason(),
        Some(Reason::Disabled)
    );
}

#[test]
fn attempts_are_counted_across_protocols_and_views() {
    let a = auth(Policy::default());
    let view = a.with_protocol_users("s7comm", [User::new("cpu", "secret")]);
    let d1 = a.check("ftp", b"root", Secret::Plain(b"x"), src(7), T);
    let d2 = view.check_password_only("s7comm", b"nope", src(7), T);
    let d3 = a.check("ftp", b"test_user", Secret::Plain(b"test"), src(8), T);
    assert_eq!(d1.count.attempts, 1);
    assert_eq!(d2.count.attempts, 2, "the protocol's view shares the device's counters");
    assert_eq!(d2.event.body.data["attempts"], 2);
    assert_eq!(d3.count.attempts, 1, "another source");
    let ev = a.record(
        &Attempt {
            protocol: "snmp",
            username: None,
            secret: &Secret::Plain(b"private"),
            method: "snmp-community",
        },
        Some(Reason::BadPassword),
        src(7),
        T,
    );
    assert_eq!(ev.body.data["attempts"], 3);
    assert_eq!(ev.body.data["method"], "snmp-community");
}

#[test]
fn lockout_refuses_even_the_right_password_until_the_window_passes() {
    let a = auth(Policy {
        lockout_after: Some(2),
        window: Duration::from_secs(60),
        ..Policy::default()
    });
    for _ in 0..2 {
        a.check("ftp", b"test_user", Secret::Plain(b"guess"), src(9), T);
    }
    let d = a.check("ftp", b"test_user", Secret::Plain(b"test"), src(9), T);
    assert_eq!(d.reason(), Some(Reason::Locked));
    assert_eq!(d.event.body.data["reason"], "locked");
    assert!(
        a.check("ftp", b"test_user", Secret::Plain(b"test"), src(10), T)
            .success(),
        "another source is not locked"
    );
    let later = T + Duration::from_secs(61);
    assert!(
        a.check("ftp", b"test_user", Secret::Plain(b"test"), src(9), later)
            .success()
    );
}

#[test]
fn every_decision_has_the_same_field_set() {
    let a = auth(Policy::default());
    let verify = |_: &User| Verdict::Mismatch;
    let proof = Proof {
        method: "x",
        hash_alg: "",
        hash: b"",
        salt: b"",
        challenge: b"",
        verify: &verify,
    };
    let events = [
        a.check("ftp", b"test_user", Secret::Plain(b"test"), src(11), T).event,
        a.check("ftp", b"\xff\xfe", Secret::Plain(b"\x00"), src(11), T).event,
        a.check("snmp", b"admin", Secret::Proof(&proof), src(11), T).event,
        a.check_password_only("s7comm", b"x", src(11), T).event,
    ];
    for e in &events {
        let keys: Vec<_> = e.body.data.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, attempt::FIELDS);
        assert_eq!(e.event_type, "auth.attempt");
    }
    assert_eq!(events[1].body.data["username"], "\\xff\\xfe");
}
