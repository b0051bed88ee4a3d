//! Messages inside an established RMCP+ session: the integrity trailer, the sequence
//! window, and sealing (encrypting and signing) the answers.

use std::time::SystemTime;

use conpot_core::event::EventDraft;

use crate::commands::NETFN_APP;
use crate::crypto::{ConfAlg, IntegrityAlg, Keys, Suite};
use crate::rmcp::{self, V20};

use super::{IpmiSession, Stage, Via, random16};

impl IpmiSession {
    pub(super) fn v20_message(&mut self, v: &V20<'_>, now: SystemTime) {
        if v.session_id == 0 {
            if v.authenticated || v.encrypted {
                return;
            }
            let Ok(req) = rmcp::decode_request(v.payload) else {
                return;
            };
            if !matches!((req.netfn, req.cmd), (NETFN_APP, 0x38 | 0x54)) {
                self.sessionless_refused(&req);
                return;
            }
            if let Some((cc, data)) = self.dispatch(&req, Via::SessionlessV20, now) {
                let msg = rmcp::encode_response(&req, cc, &data);
                self.send_clear(rmcp::PAYLOAD_IPMI, 0, &msg);
            }
            return;
        }
        let Some(i) = self
            .sessions
            .iter()
            .position(|e| e.suite.is_some() && e.id == v.session_id && e.stage == Stage::Active)
        else {
            self.events
                .push(EventDraft::new("ipmi.unknown_session").with("session_id", v.session_id));
            return;
        };
        let Some(e) = self.sessions.get(i) else { return };
        let (Some(suite), Some(keys)) = (e.suite, e.keys.clone()) else {
            return;
        };
        if !integrity_ok(suite.integrity, &keys, v) {
            self.events
                .push(EventDraft::new("ipmi.bad_authcode").with("session_id", e.id));
            return;
        }
        if !self.sequence_ok(i, v.seq, v.authenticated) {
            return;
        }
        let clear = match suite.conf {
            ConfAlg::AesCbc128 if v.encrypted => {
                let (Some(iv), Some(ct)) = (v.payload.get(..16), v.payload.get(16..)) else {
                    return;
                };
                match crate::crypto::aes_decrypt(&keys.k2, iv, ct) {
                    Some(c) => c,
                    None => return,
                }
            }
            ConfAlg::None if !v.encrypted => v.payload.to_vec(),
            _ => return,
        };
        let Ok(req) = rmcp::decode_request(&clear) else { return };
        if let Some(s) = self.sessions.get_mut(i) {
            s.last = now;
        }
        let closing = (req.netfn, req.cmd) == (NETFN_APP, 0x3C);
        let Some((cc, data)) = self.dispatch(&req, Via::Session(i), now) else {
            return;
        };
        let msg = rmcp::encode_response(&req, cc, &data);
        let Some(e) = self.sessions.get_mut(i) else { return };
        let seq = e.out_seq;
        e.out_seq = e.out_seq.wrapping_add(1);
        let console_id = e.console_id;
        if let Some(p) = seal(suite, &keys, console_id, seq, &msg) {
            self.out.push(p);
        }
        if closing && cc == 0 {
            self.remove(i, "closed", now);
        }
    }

    /// Checks the session sequence number of a message that passed its AuthCode or
    /// integrity check against session `i`'s window (the `authenticated` one, or RMCP+'s unauthenticated one) and takes it; a
    /// replay or a number outside the window is logged and the message discarded
    /// unanswered, as the specification asks of a BMC.
    pub(super) fn sequence_ok(&mut self, i: usize, seq: u32, authenticated: bool) -> bool {
        let Some(e) = self.sessions.get_mut(i) else {
            return false;
        };
        let window = if authenticated || e.suite.is_none() {
            &mut e.in_seq
        } else {
            &mut e.in_seq_plain
        };
        let before = *window;
        let Err(why) = window.accept(seq) else { return true };
        let (low, high) = before.bounds();
        self.events.push(
            EventDraft::new("ipmi.sequence")
                .with("session_id", e.id)
                .with("seq", seq)
                .with("reason", why.as_str())
                .with("highest", before.highest())
                .with("window_low", low)
                .with("window_high", high)
                .with("authenticated", authenticated),
        );
        false
    }
}

/// Checks an RMCP+ packet's integrity trailer (pad, pad length, next header, AuthCode).
fn integrity_ok(alg: IntegrityAlg, keys: &Keys, v: &V20<'_>) -> bool {
    if alg == IntegrityAlg::None {
        return !v.authenticated;
    }
    if !v.authenticated {
        return false;
    }
    let n = alg.code_len();
    let part = v.session_part;
    let Some(signed_len) = part.len().checked_sub(n) else {
        return false;
    };
    let (Some(signed), Some(code), Some(trailer)) = (
        part.get(..signed_len),
        part.get(signed_len..),
        part.get(v.payload_end..signed_len),
    ) else {
        return false;
    };
    let [pad @ .., pad_len, next] = trailer else {
        return false;
    };
    *next == 0x07 && usize::from(*pad_len) == pad.len() && alg.mac(&keys.k1, signed) == code
}

/// An RMCP+ packet of IPMI message `msg` in session `session_id`, encrypted and signed as
/// the suite wants.
fn seal(suite: Suite, keys: &Keys, session_id: u32, seq: u32, msg: &[u8]) -> Option<Vec<u8>> {
    let payload = match suite.conf {
        ConfAlg::AesCbc128 => {
            let iv = random16();
            let mut p = iv.to_vec();
            p.extend(crate::crypto::aes_encrypt(&keys.k2, &iv, msg)?);
            p
        }
        ConfAlg::None => msg.to_vec(),
    };
    let authenticated = suite.integrity != IntegrityAlg::None;
    let mut session = rmcp::v20_header(
        rmcp::PAYLOAD_IPMI,
        suite.conf != ConfAlg::None,
        authenticated,
        session_id,
        seq,
        payload.len(),
    );
    session.extend(&payload);
    if authenticated {
        let pad = rmcp::integrity_pad(session.len());
        session.extend(std::iter::repeat_n(0xFF, pad));
        session.push(u8::try_from(pad).unwrap_or(0));
        session.push(0x07);
        let code = suite.integrity.mac(&keys.k1, &session);
        session.extend(code);
    }
    let mut p = rmcp::IPMI_HEADER.to_vec();
    p.extend(session);
    Some(p)
}
