//! RMCP+ session setup: Open Session and the RAKP 1-4 handshake that proves the password
//! and derives the session keys.

use std::time::SystemTime;

use conpot_core::auth::{Privilege, Proof, Secret, Verdict};
use conpot_core::event::EventDraft;

use crate::crypto::{AuthAlg, ConfAlg, IntegrityAlg, Keys, find_suite, password_key};
use crate::rmcp::{self, V20};

use super::{Entry, IpmiSession, Stage, random_u32, random16};

/// RMCP+ status: insufficient resources to create a session.
const ST_NO_RESOURCES: u8 = 0x01;
/// RMCP+ status: invalid session id.
const ST_BAD_SESSION: u8 = 0x02;
/// RMCP+ status: invalid role.
const ST_BAD_ROLE: u8 = 0x09;
/// RMCP+ status: unauthorized role or privilege level requested.
const ST_UNAUTHORIZED_ROLE: u8 = 0x0A;
/// RMCP+ status: invalid name length.
const ST_BAD_NAME_LENGTH: u8 = 0x0C;
/// RMCP+ status: unauthorized name.
const ST_UNAUTHORIZED_NAME: u8 = 0x0D;
/// RMCP+ status: invalid integrity check value.
const ST_BAD_ICV: u8 = 0x0F;
/// RMCP+ status: no cipher suite match with the proposed security algorithms.
const ST_NO_SUITE: u8 = 0x11;
/// RMCP+ status: illegal or unrecognized parameter.
const ST_BAD_PARAMETER: u8 = 0x12;

impl IpmiSession {
    pub(super) fn v20(&mut self, v: &V20<'_>, now: SystemTime) {
        match v.payload_type {
            rmcp::PAYLOAD_OPEN_REQ => self.open_session(v.payload, now),
            rmcp::PAYLOAD_RAKP1 => self.rakp1(v.payload, now),
            rmcp::PAYLOAD_RAKP3 => self.rakp3(v.payload, now),
            rmcp::PAYLOAD_IPMI => self.v20_message(v, now),
            other => self
                .events
                .push(EventDraft::new("ipmi.payload").with("payload_type", other)),
        }
    }

    pub(super) fn send_clear(&mut self, payload_type: u8, session_id: u32, payload: &[u8]) {
        let mut p = rmcp::IPMI_HEADER.to_vec();
        p.extend(rmcp::v20_header(
            payload_type,
            false,
            false,
            session_id,
            0,
            payload.len(),
        ));
        p.extend(payload);
        self.out.push(p);
    }

    pub(super) fn open_session(&mut self, p: &[u8], now: SystemTime) {
        let (Some(tag), Some(console)) = (p.first(), p.get(4..8)) else {
            return;
        };
        let console_id = u32::from_le_bytes(console.try_into().unwrap_or([0; 4]));
        let error = |s: &mut Self, status: u8| {
            // The managed system's id stays zero: there is no session (and scanners read
            // the field whatever the status).
            let mut d = vec![*tag, status, 0, 0];
            d.extend(console_id.to_le_bytes());
            d.extend([0; 4]);
            s.send_clear(rmcp::PAYLOAD_OPEN_RSP, 0, &d);
        };
        let role = p.get(1).copied().unwrap_or(0) & 0x0F;
        let alg = |at: usize, ty: u8| -> Option<Option<u8>> {
            let rec = p.get(at..at + 8)?;
            if rec.first() != Some(&ty) {
                return None;
            }
            // A zero length asks the BMC to choose.
            Some((rec.get(3) != Some(&0)).then(|| rec.get(4).copied().unwrap_or(0) & 0x3F))
        };
        let (Some(a), Some(i), Some(c)) = (alg(8, 0), alg(16, 1), alg(24, 2)) else {
            return error(self, ST_BAD_PARAMETER);
        };
        if role > 4 {
            return error(self, ST_BAD_ROLE);
        }
        let (a, i, c) = (a.unwrap_or(3), i.unwrap_or(4), c.unwrap_or(1));
        if a == 0 {
            self.events.push(
                EventDraft::new("ipmi.cipher_zero")
                    .with("attack", "cipher_zero")
                    .with("integrity", i)
                    .with("confidentiality", c),
            );
            return error(self, ST_NO_SUITE);
        }
        let suite = match (AuthAlg::from_u8(a), IntegrityAlg::from_u8(i), ConfAlg::from_u8(c)) {
            (Some(a), Some(i), Some(c)) => find_suite(a, i, c),
            _ => None,
        };
        let Some(suite) = suite else {
            self.events.push(
                EventDraft::new("ipmi.open_session_refused")
                    .with("authentication", a)
                    .with("integrity", i)
                    .with("confidentiality", c),
            );
            return error(self, ST_NO_SUITE);
        };
        if !self.admit(now) {
            return error(self, ST_NO_RESOURCES);
        }
        let mut e = Entry::new(random_u32(), now);
        e.console_id = console_id;
        e.suite = Some(suite);
        e.max_privilege = Privilege::from_ipmi(role).unwrap_or(Privilege::Administrator);
        let mut d = vec![*tag, 0, e.max_privilege.ipmi(), 0];
        d.extend(console_id.to_le_bytes());
        d.extend(e.id.to_le_bytes());
        for (ty, n) in [
            (0u8, suite.auth.number()),
            (1, suite.integrity.number()),
            (2, suite.conf.number()),
        ] {
            d.extend([ty, 0, 0, 8, n, 0, 0, 0]);
        }
        self.sessions.push(e);
        self.send_clear(rmcp::PAYLOAD_OPEN_RSP, 0, &d);
    }

    /// The index of the RMCP+ session whose BMC session id is `sid` (4 bytes, little
    /// endian, as a RAKP message carries it) and whose stage `at` accepts.
    fn rmcp_plus_session(&self, sid: &[u8], at: impl Fn(Stage) -> bool) -> Option<usize> {
        let bmc_id = u32::from_le_bytes(sid.try_into().unwrap_or([0; 4]));
        self.sessions
            .iter()
            .position(|e| e.suite.is_some() && e.id == bmc_id && at(e.stage))
    }

    pub(super) fn rakp1(&mut self, p: &[u8], now: SystemTime) {
        let (Some(tag), Some(sid), Some(rm), Some(role), Some(ulen)) =
            (p.first(), p.get(4..8), p.get(8..24), p.get(24), p.get(27))
        else {
            return;
        };
        let tag = *tag;
        let Some(i) = self.rmcp_plus_session(sid, |s| matches!(s, Stage::Opened | Stage::Rakp2Sent)) else {
            return self.send_clear(rmcp::PAYLOAD_RAKP2, 0, &[tag, ST_BAD_SESSION, 0, 0, 0, 0, 0, 0]);
        };
        let Some(e) = self.sessions.get(i).cloned() else { return };
        let fail = |s: &mut Self, status: u8| {
            let mut d = vec![tag, status, 0, 0];
            d.extend(e.console_id.to_le_bytes());
            s.send_clear(rmcp::PAYLOAD_RAKP2, 0, &d);
            s.remove(i, "refused", now);
        };
        let Some(user) = p.get(28..28 + usize::from(*ulen)).filter(|u| u.len() <= 16) else {
            return fail(self, ST_BAD_NAME_LENGTH);
        };
        let Some(want) = Privilege::from_ipmi(role & 0x0F) else {
            return fail(self, ST_BAD_ROLE);
        };
        let suite = e.suite.unwrap_or(crate::crypto::DEFAULT_SUITE);
        let slot = self.bmc.slot_named(user);
        let usable = slot.as_ref().is_some_and(|s| s.enabled) && !self.bmc.auth.attempts().locked(self.source, now);
        if !usable || slot.as_ref().is_some_and(|s| s.privilege < want) || want > e.max_privilege {
            // Refused before any proof: this is the attempt's one event.
            let proof = Proof {
                method: suite.auth.method(),
                hash_alg: suite.auth.hash_alg(),
                hash: &[],
                salt: &[],
                challenge: &[],
                verify: &|_| Verdict::Mismatch,
            };
            let refuse = |_: &str| {
                if usable {
                    Verdict::Refused("privilege_level")
                } else {
                    Verdict::Mismatch
                }
            };
            let login = self.bmc.login(user, Secret::Proof(&proof), &refuse, self.source, now);
            self.events.push(login.event);
            return fail(
                self,
                if usable {
                    ST_UNAUTHORIZED_ROLE
                } else {
                    ST_UNAUTHORIZED_NAME
                },
            );
        }
        let Some(slot) = slot else { return };
        let mut rm16 = [0u8; 16];
        rm16.copy_from_slice(rm);
        let rc = random16();
        let guid = self.bmc.config.guid;
        let key = password_key(slot.password(), 20);
        let salt = [
            &e.console_id.to_le_bytes()[..],
            &e.id.to_le_bytes(),
            &rm16,
            &rc,
            &guid,
            &[*role],
            &[*ulen],
            user,
        ]
        .concat();
        let code = suite.auth.hmac(&key, &[&salt]);
        let mut d = vec![tag, 0, 0, 0];
        d.extend(e.console_id.to_le_bytes());
        d.extend(rc);
        d.extend(guid);
        d.extend(&code);
        self.send_clear(rmcp::PAYLOAD_RAKP2, 0, &d);
        if let Some(s) = self.sessions.get_mut(i) {
            s.stage = Stage::Rakp2Sent;
            s.rakp2 = Some((code.clone(), salt));
            s.rm = rm16;
            s.rc = rc;
            s.role = *role;
            s.user = user.to_vec();
            s.slot = Some(slot);
            s.last = now;
        }
    }

    pub(super) fn rakp3(&mut self, p: &[u8], now: SystemTime) {
        let (Some(tag), Some(status), Some(sid)) = (p.first(), p.get(1), p.get(4..8)) else {
            return;
        };
        let tag = *tag;
        let Some(i) = self.rmcp_plus_session(sid, |s| s == Stage::Rakp2Sent) else {
            return self.send_clear(rmcp::PAYLOAD_RAKP4, 0, &[tag, ST_BAD_SESSION, 0, 0, 0, 0, 0, 0]);
        };
        let Some(e) = self.sessions.get(i).cloned() else { return };
        let suite = e.suite.unwrap_or(crate::crypto::DEFAULT_SUITE);
        let code = p.get(8..).unwrap_or_default();
        let ulen = u8::try_from(e.user.len()).unwrap_or(16);
        let sid_m = e.console_id.to_le_bytes();
        let challenge = [&e.rc[..], &sid_m, &[e.role, ulen], &e.user].concat();
        let salt = [
            &sid_m[..],
            &e.id.to_le_bytes(),
            &e.rm,
            &e.rc,
            &self.bmc.config.guid,
            &[e.role, ulen],
            &e.user,
        ]
        .concat();
        let client_ok = *status == 0;
        let verify = |pw: &str| {
            let expect = suite.auth.hmac(&password_key(pw, 20), &[&challenge]);
            if client_ok && !expect.is_empty() && expect == code {
                Verdict::Match
            } else {
                Verdict::Mismatch
            }
        };
        let proof = Proof {
            method: suite.auth.method(),
            hash_alg: suite.auth.hash_alg(),
            hash: code,
            salt: &salt,
            challenge: &challenge,
            verify: &|_| Verdict::Mismatch,
        };
        let login = self
            .bmc
            .login(&e.user, Secret::Proof(&proof), &verify, self.source, now);
        let mut event = login.event;
        if !client_ok {
            // The console found our RAKP2 code wrong: it holds another password.
            event = event.with("rakp3_status", *status);
        }
        self.events.push(event);
        let fail = |s: &mut Self, status: u8| {
            let mut d = vec![tag, status, 0, 0];
            d.extend(e.console_id.to_le_bytes());
            s.send_clear(rmcp::PAYLOAD_RAKP4, 0, &d);
            s.remove(i, "refused", now);
        };
        let Ok(slot) = login.outcome else {
            if client_ok {
                return fail(self, ST_BAD_ICV);
            }
            self.remove(i, "refused", now);
            return;
        };
        let key = password_key(slot.password(), 20);
        let sik = suite.auth.hmac(&key, &[&e.rm, &e.rc, &[e.role, ulen], &e.user]);
        let keys = Keys::derive(suite.auth, sik);
        let mut icv = suite
            .auth
            .hmac(&keys.sik, &[&e.rm, &e.id.to_le_bytes(), &self.bmc.config.guid]);
        icv.truncate(suite.auth.icv_len());
        let mut d = vec![tag, 0, 0, 0];
        d.extend(e.console_id.to_le_bytes());
        d.extend(icv);
        self.send_clear(rmcp::PAYLOAD_RAKP4, 0, &d);
        if let Some(s) = self.sessions.get_mut(i) {
            let want = Privilege::from_ipmi(e.role & 0x0F).unwrap_or(Privilege::User);
            s.keys = Some(keys);
            s.stage = Stage::Active;
            s.max_privilege = want;
            s.privilege = want.min(Privilege::User);
            s.slot = Some(slot);
            s.last = now;
        }
        self.opened(i);
    }
}
