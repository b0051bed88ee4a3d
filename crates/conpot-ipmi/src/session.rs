//! The sessions of one source address: IPMI 1.5 (challenge, activation, per-message MD5
//! or password AuthCodes) and RMCP+ (Open Session, RAKP 1-4, integrity and
//! confidentiality), bounded in number, closed when idle, and the dispatch of the
//! messages they carry. A session-less request is answered and leaves nothing behind.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::auth::{Privilege, Proof, Secret, Verdict};
use conpot_core::event::EventDraft;
use conpot_core::protocol::{Output, Session};

use crate::bmc::{Bmc, Slot};
use crate::commands::{self, CC_BAD_LENGTH, CC_INVALID_COMMAND, CC_INVALID_DATA, CC_PRIVILEGE, Extra, NETFN_APP};
use crate::crypto::{
    AuthAlg, ConfAlg, IntegrityAlg, Keys, Suite, find_suite, md2_authcode, md5_authcode, password_key,
};
use crate::rmcp::{self, Packet, Request, V15, V20};

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

/// How long a handshake (challenge, Open Session, RAKP2) waits for the console's next
/// message: consoles answer within milliseconds and retry within a second or two.
pub const HANDSHAKE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// IPMI 1.5: challenge sent, waiting for Activate Session.
    Challenged,
    /// RMCP+: Open Session answered, waiting for RAKP1.
    Opened,
    /// RMCP+: RAKP2 sent, waiting for RAKP3.
    Rakp2Sent,
    /// Logged in.
    Active,
}

/// One session of this source.
#[derive(Debug, Clone)]
struct Entry {
    /// The BMC's session id (the temporary one while challenged).
    id: u32,
    /// RMCP+: the console's session id.
    console_id: u32,
    /// RMCP+: the negotiated suite; `None` for IPMI 1.5.
    suite: Option<Suite>,
    /// IPMI 1.5: the authentication type.
    auth_type: u8,
    stage: Stage,
    /// IPMI 1.5 challenge, or RMCP+ Rm (the console's random).
    rm: [u8; 16],
    /// RMCP+ Rc (the BMC's random).
    rc: [u8; 16],
    /// RAKP1's role byte.
    role: u8,
    /// User name sent.
    user: Vec<u8>,
    slot: Option<Slot>,
    keys: Option<Keys>,
    /// Highest privilege the session may take.
    max_privilege: Privilege,
    /// Current privilege.
    privilege: Privilege,
    /// Next outbound sequence number.
    out_seq: u32,
    last: SystemTime,
    /// RMCP+: the RAKP2 code sent and what it covers (a hash-dumping tool's catch).
    rakp2: Option<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    fn new(id: u32, now: SystemTime) -> Entry {
        Entry {
            id,
            console_id: 0,
            suite: None,
            auth_type: 0,
            stage: Stage::Opened,
            rm: [0; 16],
            rc: [0; 16],
            role: 0,
            user: Vec::new(),
            slot: None,
            keys: None,
            max_privilege: Privilege::User,
            privilege: Privilege::User,
            out_seq: 1,
            last: now,
            rakp2: None,
        }
    }

    fn password(&self) -> &str {
        self.slot.as_ref().map_or("", Slot::password)
    }

    fn username(&self) -> String {
        conpot_core::auth::attempt::escape(&self.user)
    }
}

/// How a message reached the BMC, for the reply and the dispatch.
#[derive(Debug, Clone, Copy)]
enum Via {
    /// Outside a session (IPMI 1.5 wrapper with session id 0).
    SessionlessV15,
    /// Outside a session, RMCP+ wrapper with session id 0.
    SessionlessV20,
    /// Inside session `index` of the table.
    Session(usize),
}

/// The IPMI traffic of one source address.
pub struct IpmiSession {
    bmc: Arc<Bmc>,
    source: IpAddr,
    sessions: Vec<Entry>,
    out: Vec<Vec<u8>>,
    events: Vec<EventDraft>,
}

fn random_u32() -> u32 {
    conpot_core::rng::with_thread_rng(|r| {
        loop {
            let v = (r.next_u64() >> 16) as u32;
            if v != 0 {
                break v;
            }
        }
    })
}

fn random16() -> [u8; 16] {
    let (a, b) = conpot_core::rng::with_thread_rng(|r| (r.next_u64(), r.next_u64()));
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_le_bytes());
    out[8..].copy_from_slice(&b.to_le_bytes());
    out
}

impl IpmiSession {
    /// The sessions of `source` on `bmc`.
    pub fn new(bmc: Arc<Bmc>, source: IpAddr) -> IpmiSession {
        IpmiSession {
            bmc,
            source,
            sessions: Vec::new(),
            out: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Sessions this source holds (any stage).
    pub fn open(&self) -> usize {
        self.sessions.len()
    }

    fn remove(&mut self, index: usize, reason: &str, now: SystemTime) {
        if index < self.sessions.len() {
            let e = self.sessions.remove(index);
            self.bmc.close_session();
            if let (Stage::Rakp2Sent, Some((code, salt)), "timeout" | "evicted") = (e.stage, &e.rakp2, reason) {
                self.abandoned(&e, code, salt, now);
            }
            if e.stage == Stage::Active {
                self.events.push(
                    EventDraft::new("ipmi.session_close")
                        .with("session_id", e.id)
                        .with("username", e.username())
                        .with("reason", reason),
                );
            }
        }
    }

    /// The console never sent RAKP3: it found our RAKP2 code wrong (it holds another
    /// password) or it only wanted the code (hash dumping). The attempt's one event
    /// carries the code we sent and what it covers.
    fn abandoned(&mut self, e: &Entry, code: &[u8], salt: &[u8], now: SystemTime) {
        let suite = e.suite.unwrap_or(crate::crypto::DEFAULT_SUITE);
        let proof = Proof {
            method: suite.auth.method(),
            hash_alg: suite.auth.hash_alg(),
            hash: code,
            salt,
            challenge: &[],
            verify: &|_| Verdict::Mismatch,
        };
        let login = self.bmc.login(
            &e.user,
            Secret::Proof(&proof),
            &|_| Verdict::Refused("no_rakp3"),
            self.source,
            now,
        );
        self.events.push(login.event.with("rakp2_sent", true));
    }

    /// Makes room for a new session: the source's oldest one goes when the source is at
    /// its bound; false if the BMC as a whole has no session left.
    fn admit(&mut self, now: SystemTime) -> bool {
        if self.sessions.len() >= self.bmc.config.sessions_per_source.max(1) {
            let oldest = (0..self.sessions.len()).min_by_key(|i| self.sessions.get(*i).map(|e| e.last));
            if let Some(i) = oldest {
                self.remove(i, "evicted", now);
            }
        }
        self.bmc.open_session()
    }

    fn expire(&mut self, now: SystemTime) {
        while let Some(i) = self.sessions.iter().position(|e| self.expiry(e) <= now) {
            self.remove(i, "timeout", now);
        }
    }

    /// When an entry expires: a handshake waits [`HANDSHAKE_WAIT`] for its next step, a
    /// session the configured idle timeout.
    fn expiry(&self, e: &Entry) -> SystemTime {
        match e.stage {
            Stage::Active => e.last + self.bmc.config.session_timeout,
            _ => e.last + HANDSHAKE_WAIT.min(self.bmc.config.session_timeout),
        }
    }

    fn next_deadline(&self) -> Option<SystemTime> {
        self.sessions.iter().map(|e| self.expiry(e)).min()
    }

    fn handle(&mut self, datagram: &[u8], now: SystemTime) {
        let packet = match rmcp::decode(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.events.push(
                    EventDraft::new("ipmi.malformed")
                        .with("length", datagram.len())
                        .with("error", e.to_string()),
                );
                return;
            }
        };
        match packet {
            Packet::Asf {
                rmcp_seq,
                msg_type,
                tag,
            } => {
                if rmcp_seq != rmcp::NO_ACK {
                    self.out.push(rmcp::ack(rmcp_seq).to_vec());
                }
                if msg_type == rmcp::ASF_PING {
                    self.events.push(EventDraft::new("ipmi.ping"));
                    self.out.push(rmcp::pong(rmcp_seq, tag));
                }
            }
            Packet::Ack => {}
            Packet::V15(v) => self.v15(&v, now),
            Packet::V20(v) => self.v20(&v, now),
        }
    }

    // ---- IPMI 1.5 -------------------------------------------------------------------

    fn v15(&mut self, v: &V15<'_>, now: SystemTime) {
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

    fn sessionless_refused(&mut self, req: &Request<'_>) {
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
    fn challenge(&mut self, req: &Request<'_>, now: SystemTime) -> commands::Reply {
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
    fn activate(&mut self, i: usize, v: &V15<'_>, req: &Request<'_>, now: SystemTime) {
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
            s.last = now;
        }
        self.opened(i);
    }

    fn opened(&mut self, i: usize) {
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

    // ---- RMCP+ ----------------------------------------------------------------------

    fn v20(&mut self, v: &V20<'_>, now: SystemTime) {
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

    fn send_clear(&mut self, payload_type: u8, session_id: u32, payload: &[u8]) {
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

    fn open_session(&mut self, p: &[u8], now: SystemTime) {
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

    fn rakp1(&mut self, p: &[u8], now: SystemTime) {
        let (Some(tag), Some(sid), Some(rm), Some(role), Some(ulen)) =
            (p.first(), p.get(4..8), p.get(8..24), p.get(24), p.get(27))
        else {
            return;
        };
        let tag = *tag;
        let bmc_id = u32::from_le_bytes(sid.try_into().unwrap_or([0; 4]));
        let Some(i) = self
            .sessions
            .iter()
            .position(|e| e.suite.is_some() && e.id == bmc_id && matches!(e.stage, Stage::Opened | Stage::Rakp2Sent))
        else {
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

    fn rakp3(&mut self, p: &[u8], now: SystemTime) {
        let (Some(tag), Some(status), Some(sid)) = (p.first(), p.get(1), p.get(4..8)) else {
            return;
        };
        let tag = *tag;
        let bmc_id = u32::from_le_bytes(sid.try_into().unwrap_or([0; 4]));
        let Some(i) = self
            .sessions
            .iter()
            .position(|e| e.suite.is_some() && e.id == bmc_id && e.stage == Stage::Rakp2Sent)
        else {
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

    fn v20_message(&mut self, v: &V20<'_>, now: SystemTime) {
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

    // ---- dispatch -------------------------------------------------------------------

    fn dispatch(&mut self, req: &Request<'_>, via: Via, now: SystemTime) -> Option<commands::Reply> {
        let (privilege, session) = match via {
            Via::Session(i) => {
                let e = self.sessions.get(i)?;
                (e.privilege, Some((e.id, e.username())))
            }
            _ => (Privilege::Callback, None),
        };
        let known = commands::known(req.netfn, req.cmd);
        let reply = match known {
            None => (CC_INVALID_COMMAND, Vec::new()),
            Some(k) if k.privilege > privilege => (CC_PRIVILEGE, Vec::new()),
            Some(_) => match (req.netfn, req.cmd, via) {
                (NETFN_APP, 0x3B, Via::Session(i)) => self.set_privilege(i, req.data),
                (NETFN_APP, 0x3C, Via::Session(i)) => {
                    let own = self.sessions.get(i).map(|e| e.id);
                    match req.data.get(..4) {
                        Some(id) if Some(u32::from_le_bytes(id.try_into().unwrap_or([0; 4]))) == own => (0, Vec::new()),
                        Some(_) => (0x87, Vec::new()),
                        None => (CC_BAD_LENGTH, Vec::new()),
                    }
                }
                (NETFN_APP, 0x39 | 0x3A, _) => (CC_INVALID_COMMAND, Vec::new()),
                _ => {
                    let mut extra = Extra {
                        events: &mut self.events,
                        active_sessions: self.bmc.sessions(),
                    };
                    commands::handle(&self.bmc, req.netfn, req.cmd, req.data, now, &mut extra)
                }
            },
        };
        let mut event = EventDraft::new("ipmi.command")
            .with("netfn", req.netfn)
            .with("cmd", req.cmd)
            .with("name", known.map_or("unknown", |k| k.name))
            .with("completion_code", reply.0)
            .with("session", session.is_some());
        if let Some((id, user)) = session {
            event = event
                .with("session_id", id)
                .with("username", user)
                .with("privilege", privilege.as_str());
        }
        if known.is_none() {
            event = event.with("data", conpot_core::hex::encode(req.data.get(..64).unwrap_or(req.data)));
        }
        self.events.push(event);
        Some(reply)
    }

    fn set_privilege(&mut self, i: usize, data: &[u8]) -> commands::Reply {
        let Some(e) = self.sessions.get_mut(i) else {
            return (CC_INVALID_DATA, Vec::new());
        };
        let [level] = data else {
            return (CC_BAD_LENGTH, Vec::new());
        };
        let level = level & 0x0F;
        if level == 0 {
            return (0, vec![e.privilege.ipmi()]);
        }
        let Some(p) = Privilege::from_ipmi(level) else {
            return (CC_INVALID_DATA, Vec::new());
        };
        let limit = e.slot.as_ref().map_or(Privilege::Callback, |s| s.privilege);
        if p > limit {
            return (0x80, Vec::new());
        }
        if p > e.max_privilege {
            return (0x81, Vec::new());
        }
        e.privilege = p;
        (0, vec![p.ipmi()])
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

impl Session for IpmiSession {
    fn on_input(&mut self, datagram: &[u8], now: SystemTime, out: &mut Output) -> usize {
        self.expire(now);
        self.handle(datagram, now);
        // The answers to one datagram stay within the amplification cap together.
        let mut room = out.reply_limit.unwrap_or(usize::MAX);
        for d in self.out.drain(..) {
            if d.len() <= room {
                room -= d.len();
                out.bytes.extend_from_slice(&d);
                out.end_datagram();
            }
        }
        out.events.append(&mut self.events);
        if !out.bytes.is_empty() {
            out.delay = conpot_core::protocol::response_delay(self.bmc.config.response_time_ms);
        }
        match self.next_deadline() {
            Some(t) => out.set_deadline(t),
            None => out.clear_deadline(),
        }
        datagram.len()
    }

    fn on_timeout(&mut self, now: SystemTime, out: &mut Output) {
        self.expire(now);
        out.events.append(&mut self.events);
        match self.next_deadline() {
            Some(t) => out.set_deadline(t),
            None => out.clear_deadline(),
        }
    }
}

impl Drop for IpmiSession {
    fn drop(&mut self) {
        for _ in self.sessions.drain(..) {
            self.bmc.close_session();
        }
    }
}
