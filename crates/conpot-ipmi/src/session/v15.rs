//! IPMI 1.5 sessions: Get Session Challenge, Activate Session, the per-message AuthCodes
//! (MD5, MD2 or straight password) and the session-less requests that leave nothing behind.

use std::time::SystemTime;

use conpot_core::auth::{Privilege, Proof, Secret, Verdict};
use conpot_core::event::EventDraft;

use crate::commands::{self, CC_BAD_LENGTH, CC_INVALID_DATA, NETFN_APP};
use crate::crypto::{md2_authcode, md5_authcode, password_key};
use crate::rmcp::{self, Request, V15};
use crate::seqwin::SeqWindow;

use super::{Entry, IpmiSession, Stage, Via, random_u32, random16};

impl IpmiSession {
    pub(super) fn v15(&mut self, v: &V15<'_>, now: SystemTime) {
        let Ok(req) = rmcp::decode_request(v.message) else {
            self.events
                .push(EventDraft::new("ipmi.malformed").with("length", v.message.len()));
            return;
        };
        if v.session_id == 0 {
            let reply = match (req.netfn, req.cmd) {
                (NETFN_APP, 0x39) => Some(self.challenge(&req, now)),
                (NETFN_APP, 0x38 | 0x54) => self.dispatch(&req, Via::SessionlessV15, now),
                _ => {
                    self.sessionless_refused(&req);
                    None
                }
            };
            if let Some((cc, data)) = reply {
                let msg = rmcp::encode_response(&req, cc, &data);
                self.out.push(rmcp::wrap_v15(rmcp::AUTH_NONE, 0, 0, None, &msg));
            }
            return;
        }
        let Some(i) = self
            .sessions
            .iter()
            .position(|e| e.suite.is_none() && e.id == v.session_id)
        else {
            self.events
                .push(EventDraft::new("ipmi.unknown_session").with("session_id", v.session_id));
            return;
        };
        let Some(e) = self.sessions.get(i) else { return };
        if e.auth_type != v.auth_type {
            return;
        }
        if e.stage == Stage::Challenged {
            self.activate(i, v, &req, now);
            return;
        }
        if !authcode_ok(e.auth_type, e.password(), v) {
            self.events
                .push(EventDraft::new("ipmi.bad_authcode").with("session_id", e.id));
            return;
        }
        if !self.sequence_ok(i, v.seq, true) {
            return;
        }
        if let Some(e) = self.sessions.get_mut(i) {
            e.last = now;
        }
        let closing = (req.netfn, req.cmd) == (NETFN_APP, 0x3C);
        if let Some((cc, data)) = self.dispatch(&req, Via::Session(i), now) {
            let msg = rmcp::encode_response(&req, cc, &data);
            if let Some(e) = self.sessions.get_mut(i) {
                let seq = e.out_seq;
                e.out_seq = e.out_seq.wrapping_add(1);
                let code = code_for(e.auth_type, e.password(), e.id, &msg, seq);
                self.out
                    .push(rmcp::wrap_v15(e.auth_type, seq, e.id, code.as_ref(), &msg));
            }
            if closing && cc == 0 {
                self.remove(i, "closed", now);
            }
        }
    }

    pub(super) fn sessionless_refused(&mut self, req: &Request<'_>) {
        self.events.push(
            EventDraft::new("ipmi.command")
                .with("netfn", req.netfn)
                .with("cmd", req.cmd)
                .with(
                    "name",
                    commands::known(req.netfn, req.cmd).map_or("unknown", |k| k.name),
                )
                .with("session", false)
                .with("answered", false),
        );
    }

    /// Get Session Challenge: a temporary session and its challenge.
    pub(super) fn challenge(&mut self, req: &Request<'_>, now: SystemTime) -> commands::Reply {
        let [auth_type, name @ ..] = req.data else {
            return (CC_BAD_LENGTH, Vec::new());
        };
        if name.len() != 16 {
            return (CC_BAD_LENGTH, Vec::new());
        }
        let offered = match *auth_type {
            rmcp::AUTH_NONE => self.bmc.config.auth_types & 0x01 != 0,
            rmcp::AUTH_MD2 => self.bmc.config.auth_types & 0x02 != 0,
            rmcp::AUTH_MD5 => self.bmc.config.auth_types & 0x04 != 0,
            rmcp::AUTH_PASSWORD => self.bmc.config.auth_types & 0x10 != 0,
            _ => false,
        };
        if !offered {
            return (CC_INVALID_DATA, Vec::new());
        }
        let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
        let user = name.get(..end).unwrap_or_default();
        let Some(slot) = self.bmc.slot_named(user) else {
            let login = self
                .bmc
                .login(user, Secret::Plain(&[]), &|_| Verdict::Mismatch, self.source, now);
            self.events.push(login.event);
            return (if user.is_empty() { 0x82 } else { 0x81 }, Vec::new());
        };
        if !self.admit(now) {
            return (0x81, Vec::new());
        }
        let mut e = Entry::new(random_u32(), now);
        e.stage = Stage::Challenged;
        e.auth_type = *auth_type;
        e.rm = random16();
        e.user = user.to_vec();
        e.slot = Some(slot);
        let mut d = e.id.to_le_bytes().to_vec();
        d.extend(e.rm);
        self.sessions.push(e);
        (0, d)
    }

    /// Activate Session: the AuthCode proves the password; the session gets its real id.
    pub(super) fn activate(&mut self, i: usize, v: &V15<'_>, req: &Request<'_>, now: SystemTime) {
        let Some(e) = self.sessions.get(i).cloned() else { return };
        if req.cmd != 0x3A || req.netfn != NETFN_APP {
            return;
        }
        let reply = |s: &mut Self, cc: u8, data: &[u8]| {
            let msg = rmcp::encode_response(req, cc, data);
            let code = code_for(e.auth_type, e.password(), e.id, &msg, 0);
            s.out.push(rmcp::wrap_v15(e.auth_type, 0, e.id, code.as_ref(), &msg));
        };
        let [_, max_priv, rest @ ..] = req.data else {
            return reply(self, CC_BAD_LENGTH, &[]);
        };
        if rest.len() != 20 {
            return reply(self, CC_BAD_LENGTH, &[]);
        }
        let challenge = rest.get(..16).unwrap_or_default();
        let code = v.auth_code.unwrap_or([0; 16]);
        let sid_seq = [v.session_id.to_le_bytes(), v.seq.to_le_bytes()].concat();
        let (method, hash_alg) = match e.auth_type {
            rmcp::AUTH_MD5 => ("ipmi15-md5", "md5"),
            rmcp::AUTH_MD2 => ("ipmi15-md2", "md2"),
            // Authentication type none: any password opens the account (a BMC configured
            // so is a known weakness; the template must offer it).
            rmcp::AUTH_NONE => ("ipmi15-none", ""),
            _ => (conpot_core::auth::METHOD_PASSWORD, ""),
        };
        let v_copy = v.clone();
        let challenge_ok = challenge == e.rm;
        let verify = move |pw: &str| {
            if challenge_ok && authcode_ok(e.auth_type, pw, &v_copy) {
                Verdict::Match
            } else {
                Verdict::Mismatch
            }
        };
        let login = if e.auth_type == rmcp::AUTH_PASSWORD {
            let end = code.iter().position(|b| *b == 0).unwrap_or(16);
            let plain = code.get(..end).unwrap_or_default();
            self.bmc.login(&e.user, Secret::Plain(plain), &verify, self.source, now)
        } else {
            let hash: &[u8] = if e.auth_type == rmcp::AUTH_NONE { &[] } else { &code };
            let proof = Proof {
                method,
                hash_alg,
                hash,
                salt: &sid_seq,
                challenge: &e.rm,
                verify: &|_| Verdict::Mismatch,
            };
            self.bmc
                .login(&e.user, Secret::Proof(&proof), &verify, self.source, now)
        };
        self.events.push(login.event);
        let Ok(slot) = login.outcome else {
            // A real BMC discards a request whose AuthCode does not check.
            self.remove(i, "refused", now);
            return;
        };
        let requested = Privilege::from_ipmi(max_priv & 0x0F);
        let Some(requested) = requested.filter(|p| *p <= slot.privilege) else {
            reply(self, 0x86, &[]);
            self.remove(i, "refused", now);
            return;
        };
        let new_id = random_u32();
        let inbound = random_u32();
        let outbound = u32::from_le_bytes(rest.get(16..20).and_then(|b| b.try_into().ok()).unwrap_or([0; 4]));
        let mut d = vec![e.auth_type];
        d.extend(new_id.to_le_bytes());
        d.extend(inbound.to_le_bytes());
        d.push(requested.ipmi());
        reply(self, 0, &d);
        if let Some(s) = self.sessions.get_mut(i) {
            s.id = new_id;
            s.stage = Stage::Active;
            s.slot = Some(slot);
            s.max_privilege = requested;
            s.privilege = requested.min(Privilege::User);
            s.out_seq = outbound.max(1);
            s.in_seq = SeqWindow::v15(inbound);
            s.last = now;
        }
        self.opened(i);
    }

    pub(super) fn opened(&mut self, i: usize) {
        if let Some(e) = self.sessions.get(i) {
            self.events.push(
                EventDraft::new("ipmi.session_open")
                    .with("session_id", e.id)
                    .with("username", e.username())
                    .with("version", if e.suite.is_some() { "2.0" } else { "1.5" })
                    .with("cipher_suite", e.suite.map(|s| s.id))
                    .with("max_privilege", e.max_privilege.as_str()),
            );
        }
    }
}

/// The AuthCode of an IPMI 1.5 message under the session's authentication type.
fn code_for(auth_type: u8, password: &str, id: u32, msg: &[u8], seq: u32) -> Option<[u8; 16]> {
    match auth_type {
        rmcp::AUTH_MD5 => Some(md5_authcode(password, id, msg, seq)),
        rmcp::AUTH_MD2 => Some(md2_authcode(password, id, msg, seq)),
        rmcp::AUTH_PASSWORD => password_key(password, 16).try_into().ok(),
        _ => None,
    }
}

fn authcode_ok(auth_type: u8, password: &str, v: &V15<'_>) -> bool {
    match (
        code_for(auth_type, password, v.session_id, v.message, v.seq),
        v.auth_code,
    ) {
        (Some(want), Some(got)) => want == got,
        (None, None) => auth_type == rmcp::AUTH_NONE,
        _ => false,
    }
}
