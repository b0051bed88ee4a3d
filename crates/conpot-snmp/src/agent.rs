//! The SNMP agent: decodes a datagram, checks the community or the USM user, runs GET,
//! GETNEXT, GETBULK or SET over the MIB view, and encodes the answer within the size the
//! listener allows. Sans-IO: bytes and time in, bytes and events out.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use conpot_core::auth::{self, Attempt, Auth, Proof, Reason, Secret, Verdict};
use conpot_core::databus::Databus;
use conpot_core::event::EventDraft;
use conpot_core::fields::json_object;
use serde_json::{Value as Json, json};

use crate::message::{self, Message, Pdu, Scoped, SnmpValue, Usm, VarBind, oid_string, pdu_tag};
use crate::mib::{self, Mib, Ty};
use crate::usm::{AuthProto, PrivProto};

/// The protocol name logins are checked and recorded under.
const PROTOCOL: &str = "snmp";

/// The agent's statistics: (name, OID).
pub const STATS: &[(&str, &[u32])] = &[
    ("snmpInPkts", &[1, 3, 6, 1, 2, 1, 11, 1, 0]),
    ("snmpOutPkts", &[1, 3, 6, 1, 2, 1, 11, 2, 0]),
    ("snmpInBadVersions", &[1, 3, 6, 1, 2, 1, 11, 3, 0]),
    ("snmpInBadCommunityNames", &[1, 3, 6, 1, 2, 1, 11, 4, 0]),
    ("snmpInBadCommunityUses", &[1, 3, 6, 1, 2, 1, 11, 5, 0]),
    ("snmpInASNParseErrs", &[1, 3, 6, 1, 2, 1, 11, 6, 0]),
    ("snmpInTotalReqVars", &[1, 3, 6, 1, 2, 1, 11, 13, 0]),
    ("snmpInGetRequests", &[1, 3, 6, 1, 2, 1, 11, 15, 0]),
    ("snmpInGetNexts", &[1, 3, 6, 1, 2, 1, 11, 16, 0]),
    ("snmpInSetRequests", &[1, 3, 6, 1, 2, 1, 11, 17, 0]),
    ("snmpOutGetResponses", &[1, 3, 6, 1, 2, 1, 11, 28, 0]),
    ("snmpSilentDrops", &[1, 3, 6, 1, 2, 1, 11, 31, 0]),
    ("snmpProxyDrops", &[1, 3, 6, 1, 2, 1, 11, 32, 0]),
    ("usmStatsUnsupportedSecLevels", &[1, 3, 6, 1, 6, 3, 15, 1, 1, 1, 0]),
    ("usmStatsNotInTimeWindows", &[1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0]),
    ("usmStatsUnknownUserNames", &[1, 3, 6, 1, 6, 3, 15, 1, 1, 3, 0]),
    ("usmStatsUnknownEngineIDs", &[1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0]),
    ("usmStatsWrongDigests", &[1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0]),
    ("usmStatsDecryptionErrors", &[1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0]),
];

const IN_PKTS: usize = 0;
const OUT_PKTS: usize = 1;
const BAD_VERSIONS: usize = 2;
const BAD_COMMUNITY: usize = 3;
const BAD_COMMUNITY_USE: usize = 4;
const PARSE_ERRS: usize = 5;
const TOTAL_REQ_VARS: usize = 6;
const GETS: usize = 7;
const NEXTS: usize = 8;
const SETS: usize = 9;
const RESPONSES: usize = 10;
const SILENT_DROPS: usize = 11;
const UNSUPPORTED_LEVEL: usize = 13;
const NOT_IN_TIME: usize = 14;
const UNKNOWN_USER: usize = 15;
const UNKNOWN_ENGINE: usize = 16;
const WRONG_DIGEST: usize = 17;
const DECRYPT_ERRORS: usize = 18;

/// Error statuses.
mod status {
    pub const TOO_BIG: i64 = 1;
    pub const NO_SUCH_NAME: i64 = 2;
    pub const BAD_VALUE: i64 = 3;
    pub const NO_ACCESS: i64 = 6;
    pub const WRONG_TYPE: i64 = 7;
    pub const WRONG_LENGTH: i64 = 8;
    pub const WRONG_VALUE: i64 = 10;
    pub const NOT_WRITABLE: i64 = 17;
    pub const NO_CREATION: i64 = 11;
}

/// The USM keys of an account (localized once at start; the account itself, its privilege
/// and whether it is enabled, is in the device's central store).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Name.
    pub name: Vec<u8>,
    /// Authentication protocol and localized key.
    pub auth: Option<(AuthProto, Vec<u8>)>,
    /// Privacy protocol and localized key.
    pub privacy: Option<(PrivProto, Vec<u8>)>,
}

/// A community and whether it may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Community {
    /// The string.
    pub name: Vec<u8>,
    /// Read-write (else read-only).
    pub write: bool,
}

/// Everything that defines an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct SnmpConfig {
    /// The MIB view.
    pub mib: Mib,
    /// v1/v2c communities.
    pub communities: Vec<Community>,
    /// Keys of the v3 users (localized to `engine_id`): the device's accounts for SNMP and
    /// those of `accounts`.
    pub users: Vec<User>,
    /// v3 accounts the SNMP section declares itself (Conpot's built-in users, the native
    /// section's `users`), checked after the device's own.
    pub accounts: Vec<auth::User>,
    /// Our engine id.
    pub engine_id: Vec<u8>,
    /// Engine boots.
    pub boots: u32,
    /// Cap on GETBULK max-repetitions.
    pub max_repetitions: u32,
    /// Response time profile `[min, max]` in milliseconds.
    pub response_time_ms: (u32, u32),
}

/// An SNMP agent over a databus.
#[derive(Debug)]
pub struct Agent {
    /// Configuration.
    pub config: SnmpConfig,
    auth: Auth,
    databus: Arc<Databus>,
    boot: SystemTime,
    stats: Vec<AtomicU32>,
    salt: AtomicU32,
}

fn kind_name(k: u8) -> &'static str {
    match k {
        pdu_tag::GET => "get",
        pdu_tag::GET_NEXT => "getnext",
        pdu_tag::GET_BULK => "getbulk",
        pdu_tag::SET => "set",
        pdu_tag::RESPONSE => "response",
        pdu_tag::INFORM => "inform",
        pdu_tag::TRAP_V2 => "trap",
        pdu_tag::REPORT => "report",
        _ => "unknown",
    }
}

fn varbinds_json(v: &[VarBind]) -> Json {
    Json::Array(
        v.iter()
            .map(|vb| {
                json_object([
                    ("oid", Json::String(oid_string(&vb.oid))),
                    ("value", vb.value.to_json()),
                ])
            })
            .collect(),
    )
}

/// A value as Conpot's log wrote it: text, with NULL as empty.
fn legacy_val(v: &SnmpValue) -> Json {
    match v {
        SnmpValue::Null => Json::String(String::new()),
        SnmpValue::Octets(b) => Json::String(String::from_utf8_lossy(b).into_owned()),
        other => Json::String(other.to_json().to_string().trim_matches('"').to_owned()),
    }
}

/// What Conpot logged of a request: the first binding of each side, typed by version and
/// command (`SNMPv2 Get`).
fn conpot_view(version: &str, kind: u8, request: &[VarBind], response: &[VarBind]) -> conpot_core::event::ConpotView {
    let first = |v: &[VarBind]| {
        v.first().map_or(Json::Null, |vb| {
            json_object([
                ("oid", Json::String(oid_string(&vb.oid))),
                ("val", legacy_val(&vb.value)),
            ])
        })
    };
    let command = match kind {
        pdu_tag::GET => "Get",
        pdu_tag::GET_NEXT => "GetNext",
        pdu_tag::GET_BULK => "Bulk",
        _ => "Set",
    };
    let digit = match version {
        "v1" => "1",
        "v2c" => "2",
        _ => "3",
    };
    conpot_core::event::ConpotView {
        event_type: Some(format!("SNMPv{digit} {command}")),
        request: first(request),
        response: first(response),
    }
}

/// Who asked, for events and access.
struct Principal<'a> {
    version: &'static str,
    /// Borrowed from the request when it is valid UTF-8 (a community almost always is).
    name: Cow<'a, str>,
    write: bool,
}

impl Agent {
    /// An agent with `config` over `databus`, booted at `boot`, logging v3 users in
    /// against the device's `auth` (with the section's own accounts added).
    pub fn new(config: SnmpConfig, databus: Arc<Databus>, boot: SystemTime, auth: &Auth) -> Self {
        Agent {
            auth: auth.with_protocol_users("snmp", config.accounts.iter().cloned()),
            config,
            databus,
            boot,
            stats: STATS.iter().map(|_| AtomicU32::new(0)).collect(),
            salt: AtomicU32::new(0x5A17),
        }
    }

    fn bump(&self, i: usize) -> u32 {
        self.stats
            .get(i)
            .map_or(0, |s| s.fetch_add(1, Ordering::Relaxed).wrapping_add(1))
    }

    /// Current value of statistic `name`.
    pub fn stat(&self, name: &str) -> u32 {
        STATS
            .iter()
            .position(|(n, _)| *n == name)
            .and_then(|i| self.stats.get(i))
            .map_or(0, |s| s.load(Ordering::Relaxed))
    }

    fn engine_time(&self, now: SystemTime) -> u32 {
        now.duration_since(self.boot)
            .unwrap_or(Duration::ZERO)
            .as_secs()
            .min(u64::from(i32::MAX as u32)) as u32
    }

    fn read(&self, obj: &mib::Object, now: SystemTime) -> SnmpValue {
        mib::read(obj, &self.databus, self.boot, now, &self.stats)
    }

    /// Handles one datagram from an unknown source (tests, fuzzing). `max_reply` bounds
    /// the answer's size.
    pub fn handle(&self, datagram: &[u8], now: SystemTime, max_reply: usize) -> (Option<Vec<u8>>, Vec<EventDraft>) {
        self.handle_from(datagram, IpAddr::V4(Ipv4Addr::UNSPECIFIED), now, max_reply)
    }

    /// Handles one datagram from `source` (whose login attempts are counted).
    pub fn handle_from(
        &self,
        datagram: &[u8],
        source: IpAddr,
        now: SystemTime,
        max_reply: usize,
    ) -> (Option<Vec<u8>>, Vec<EventDraft>) {
        self.bump(IN_PKTS);
        let mut events = Vec::new();
        let msg = match Message::decode(datagram) {
            Ok(m) => m,
            Err(e) => {
                let idx = if matches!(e, crate::ber::BerError::Value) && datagram.len() > 4 {
                    BAD_VERSIONS
                } else {
                    PARSE_ERRS
                };
                self.bump(idx);
                let mut d = EventDraft::new("snmp.malformed");
                d.body.error = Some(format!("{e:?}"));
                d.body.raw = Some(datagram.to_vec());
                events.push(d);
                return (None, events);
            }
        };
        let reply = match msg {
            Message::Community {
                version,
                community,
                pdu,
            } => self.community(
                version,
                &community,
                pdu,
                datagram,
                (source, now),
                max_reply,
                &mut events,
            ),
            Message::V3 {
                msg_id,
                max_size,
                flags,
                usm,
                auth_offset,
                scoped,
                ..
            } => {
                let limit = max_reply.min(usize::try_from(max_size).unwrap_or(484).max(484));
                self.v3(
                    msg_id,
                    flags,
                    &usm,
                    auth_offset,
                    scoped,
                    datagram,
                    (source, now),
                    limit,
                    &mut events,
                )
            }
        };
        if reply.is_some() {
            self.bump(OUT_PKTS);
        }
        (reply, events)
    }

    #[allow(clippy::too_many_arguments)]
    fn community(
        &self,
        version: i64,
        community: &[u8],
        pdu: Pdu,
        raw: &[u8],
        (source, now): (IpAddr, SystemTime),
        max_reply: usize,
        events: &mut Vec<EventDraft>,
    ) -> Option<Vec<u8>> {
        let vname = if version == 0 { "v1" } else { "v2c" };
        let Some(c) = self.config.communities.iter().find(|c| c.name == community) else {
            self.bump(BAD_COMMUNITY);
            let attempt = Attempt {
                protocol: PROTOCOL,
                username: None,
                secret: &Secret::Plain(community),
                method: "snmp-community",
            };
            let mut d = self.auth.record(&attempt, Some(Reason::BadPassword), source, now);
            d.body.raw = Some(raw.to_vec());
            events.push(d);
            return None;
        };
        if version == 0 && pdu.kind == pdu_tag::GET_BULK {
            self.bump(PARSE_ERRS);
            return None;
        }
        let who = Principal {
            version: vname,
            name: String::from_utf8_lossy(community),
            write: c.write,
        };
        let resp = self.process(
            &pdu,
            version == 0,
            &who,
            now,
            max_reply.saturating_sub(16 + community.len()),
            raw,
            events,
        )?;
        Some(message::encode_community_raw(version, community, &resp))
    }

    fn report(&self, stat: usize, request_id: i64) -> Pdu {
        let v = self.bump(stat);
        let oid = STATS.get(stat).map(|(_, o)| o.to_vec()).unwrap_or_default();
        Pdu {
            kind: pdu_tag::REPORT,
            request_id,
            error_status: 0,
            error_index: 0,
            varbinds: vec![VarBind {
                oid,
                value: SnmpValue::Counter32(v),
            }],
            dropped_varbinds: 0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn v3(
        &self,
        msg_id: i64,
        flags: u8,
        usm: &Usm,
        auth_offset: usize,
        scoped: Scoped,
        raw: &[u8],
        (source, now): (IpAddr, SystemTime),
        limit: usize,
        events: &mut Vec<EventDraft>,
    ) -> Option<Vec<u8>> {
        let reportable = flags & 4 != 0;
        let request_id = match &scoped {
            Scoped::Plain { pdu, .. } => pdu.request_id,
            Scoped::Encrypted(_) => 0,
        };
        let user_name = String::from_utf8_lossy(&usm.user).into_owned();
        // Discovery: unknown engine id.
        if usm.engine_id != self.config.engine_id {
            let pdu = self.report(UNKNOWN_ENGINE, request_id);
            let mut d = EventDraft::new("snmp.discovery").with("msg_id", msg_id);
            d.body.raw = Some(raw.to_vec());
            events.push(d);
            return reportable.then(|| self.encode_v3(msg_id, 0, &[], None, &pdu.to_bytes(), now));
        }
        let keys = self.config.users.iter().find(|u| u.name == usm.user);
        let (want_auth, want_priv) = (flags & 1 != 0, flags & 2 != 0);
        // Decrypted before the check, so a wrong privacy password is part of the one decision.
        let decrypted = match &scoped {
            Scoped::Encrypted(ct) => keys.and_then(|k| k.privacy.as_ref()).and_then(|(p, key)| {
                p.decrypt(key, usm.boots as u32, usm.time as u32, &usm.privacy, ct)
                    .and_then(|b| message::decode_scoped(&b).ok())
            }),
            Scoped::Plain { .. } => None,
        };
        let verify = |_: &auth::User| -> Verdict {
            let Some(k) = keys else { return Verdict::Mismatch };
            if want_priv && !want_auth
                || want_auth && k.auth.is_none()
                || want_priv && k.privacy.is_none()
                || !want_auth && k.auth.is_some()
            {
                return Verdict::Refused("unsupported_security_level");
            }
            if let Some((proto, key)) = &k.auth {
                let mut copy = raw.to_vec();
                let n = usm.auth.len();
                if let Some(field) = copy.get_mut(auth_offset..auth_offset + n) {
                    field.fill(0);
                }
                if n != proto.mac_len() || proto.mac(key, &copy) != usm.auth {
                    return Verdict::Mismatch;
                }
            }
            if matches!(scoped, Scoped::Encrypted(_)) && decrypted.is_none() {
                return Verdict::Refused("decryption_error");
            }
            Verdict::Match
        };
        let proto = keys.and_then(|k| k.auth.as_ref()).map(|(p, _)| *p);
        let proof = Proof {
            method: match (proto, keys) {
                (Some(p), _) => p.method(),
                (None, Some(_)) => "snmp-usm-none",
                (None, None) => "snmp-usm",
            },
            hash_alg: proto.map_or("", AuthProto::hmac_name),
            hash: &usm.auth,
            salt: &usm.engine_id,
            challenge: &[],
            verify: &verify,
        };
        let decision = self.auth.check(PROTOCOL, &usm.user, Secret::Proof(&proof), source, now);
        let mut d = decision.event;
        d.body.raw = Some(raw.to_vec());
        events.push(d);
        let our_time = i64::from(self.engine_time(now));
        let in_time = usm.boots == i64::from(self.config.boots) && (usm.time - our_time).abs() <= 150;
        let (account, user) = match (decision.outcome, keys) {
            (Ok(account), Some(user)) => (account, user),
            (Err(Reason::Refused("decryption_error")), Some(user)) if in_time => {
                let pdu = self.report(DECRYPT_ERRORS, request_id);
                return reportable.then(|| self.encode_v3(msg_id, 1, &usm.user, Some(user), &pdu.to_bytes(), now));
            }
            (Err(Reason::Refused("decryption_error")), Some(user)) => {
                let pdu = self.report(NOT_IN_TIME, request_id);
                return reportable.then(|| self.encode_v3(msg_id, 1, &usm.user, Some(user), &pdu.to_bytes(), now));
            }
            (Err(Reason::Refused(_)), Some(_)) => {
                let pdu = self.report(UNSUPPORTED_LEVEL, request_id);
                return reportable.then(|| self.encode_v3(msg_id, 0, &usm.user, None, &pdu.to_bytes(), now));
            }
            (Err(Reason::BadPassword | Reason::Locked), Some(_)) => {
                let pdu = self.report(WRONG_DIGEST, request_id);
                return reportable.then(|| self.encode_v3(msg_id, 0, &usm.user, None, &pdu.to_bytes(), now));
            }
            _ => {
                let pdu = self.report(UNKNOWN_USER, request_id);
                return reportable.then(|| self.encode_v3(msg_id, 0, &usm.user, None, &pdu.to_bytes(), now));
            }
        };
        if user.auth.is_some() && !in_time {
            let pdu = self.report(NOT_IN_TIME, request_id);
            return reportable.then(|| self.encode_v3(msg_id, 1, &usm.user, Some(user), &pdu.to_bytes(), now));
        }
        let scoped = decrypted.unwrap_or(scoped);
        let Scoped::Plain { pdu, .. } = scoped else { return None };
        let level = match (want_auth, want_priv) {
            (true, true) => "authPriv",
            (true, false) => "authNoPriv",
            _ => "noAuthNoPriv",
        };
        let who = Principal {
            version: "v3",
            name: Cow::Owned(format!("{user_name} ({level})")),
            write: account.privilege.may_write(),
        };
        let overhead = 64 + usm.user.len() + self.config.engine_id.len() * 2 + 48 + 16;
        let resp = self.process(&pdu, false, &who, now, limit.saturating_sub(overhead), raw, events)?;
        Some(self.encode_v3(msg_id, flags & 3, &usm.user, Some(user), &resp, now))
    }

    /// Encodes a v3 answer around the encoded `pdu`: authenticated and encrypted as
    /// `flags` and `user` say.
    fn encode_v3(
        &self,
        msg_id: i64,
        flags: u8,
        user_name: &[u8],
        user: Option<&User>,
        pdu: &[u8],
        now: SystemTime,
    ) -> Vec<u8> {
        let boots = self.config.boots;
        let time = self.engine_time(now);
        let scoped = message::encode_scoped_raw(&self.config.engine_id, b"", pdu);
        let auth = user.and_then(|u| u.auth.clone()).filter(|_| flags & 1 != 0);
        let privacy = user.and_then(|u| u.privacy.clone()).filter(|_| flags & 2 != 0);
        let (body, salt, flags) = match &privacy {
            Some((p, key)) => {
                let n = self.salt.fetch_add(1, Ordering::Relaxed);
                let mut salt = [0u8; 8];
                salt[..4].copy_from_slice(&boots.to_be_bytes());
                salt[4..].copy_from_slice(&n.to_be_bytes());
                match p.encrypt(key, boots, time, &salt, &scoped) {
                    Some(ct) => (ct, salt.to_vec(), flags),
                    None => (scoped, Vec::new(), flags & 1),
                }
            }
            None => (scoped, Vec::new(), flags & 1),
        };
        let usm = Usm {
            engine_id: self.config.engine_id.clone(),
            boots: i64::from(boots),
            time: i64::from(time),
            user: user_name.to_vec(),
            auth: auth.as_ref().map_or_else(Vec::new, |(p, _)| vec![0; p.mac_len()]),
            privacy: salt,
        };
        let (mut bytes, off) = message::encode_v3(msg_id, 65507, flags, &usm, &body);
        if let Some((p, key)) = auth {
            let mac = p.mac(&key, &bytes);
            if let Some(field) = bytes.get_mut(off..off + mac.len()) {
                field.copy_from_slice(&mac);
            }
        }
        bytes
    }

    /// Runs a PDU; returns the encoded Response PDU (None: no answer, e.g. for a received
    /// Response).
    #[allow(clippy::too_many_arguments)]
    fn process(
        &self,
        pdu: &Pdu,
        v1: bool,
        who: &Principal<'_>,
        now: SystemTime,
        budget: usize,
        raw: &[u8],
        events: &mut Vec<EventDraft>,
    ) -> Option<Vec<u8>> {
        let vars = pdu.varbinds.len() as u32;
        if let Some(s) = self.stats.get(TOTAL_REQ_VARS) {
            s.fetch_add(vars, Ordering::Relaxed);
        }
        let mut resp = Pdu {
            kind: pdu_tag::RESPONSE,
            request_id: pdu.request_id,
            error_status: 0,
            error_index: 0,
            varbinds: Vec::with_capacity(pdu.varbinds.len()),
            dropped_varbinds: 0,
        };
        let request = matches!(
            pdu.kind,
            pdu_tag::GET | pdu_tag::GET_NEXT | pdu_tag::GET_BULK | pdu_tag::SET
        );
        if request && pdu.dropped_varbinds > 0 {
            // More bindings than this agent handles: tooBig with no bindings (RFC 3416
            // 4.2.1), answered below like any response that does not fit.
            resp.error_status = status::TOO_BIG;
        } else {
            self.dispatch(pdu, v1, who, now, budget, &mut resp, raw, events)?;
        }
        // An answer that does not fit: tooBig (GETBULK was trimmed to fit already).
        let mut encoded = resp.to_bytes();
        if encoded.len() > budget || resp.error_status == status::TOO_BIG {
            resp.error_status = status::TOO_BIG;
            resp.error_index = 0;
            resp.varbinds = Vec::new();
            encoded = resp.to_bytes();
        }
        self.bump(RESPONSES);
        let mut d = EventDraft::new("snmp.request")
            .with("version", who.version)
            .with("principal", who.name.clone())
            .with("pdu", kind_name(pdu.kind))
            .with("request_id", pdu.request_id);
        if pdu.dropped_varbinds > 0 {
            d = d.with("varbinds_total", (pdu.varbinds.len() + pdu.dropped_varbinds) as u64);
        }
        d.body.request = Some(json_object([("varbinds", varbinds_json(&pdu.varbinds))]));
        d.body.response = Some(json_object([
            ("error_status", Json::from(resp.error_status)),
            ("error_index", Json::from(resp.error_index)),
            ("varbinds", varbinds_json(&resp.varbinds)),
        ]));
        d.body.raw = Some(raw.to_vec());
        if conpot_core::event::conpot_view_wanted() {
            d.body.conpot = Some(conpot_view(who.version, pdu.kind, &pdu.varbinds, &resp.varbinds));
        }
        events.push(d);
        Some(encoded)
    }

    /// Carries out the PDU's command into `resp`; `None` when it is not answered.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        pdu: &Pdu,
        v1: bool,
        who: &Principal<'_>,
        now: SystemTime,
        budget: usize,
        resp: &mut Pdu,
        raw: &[u8],
        events: &mut Vec<EventDraft>,
    ) -> Option<()> {
        match pdu.kind {
            pdu_tag::GET => {
                self.bump(GETS);
                self.get(pdu, v1, now, resp);
            }
            pdu_tag::GET_NEXT => {
                self.bump(NEXTS);
                self.get_next(pdu, v1, now, resp);
            }
            pdu_tag::GET_BULK => {
                self.bump(NEXTS);
                self.get_bulk(pdu, now, budget, resp);
            }
            pdu_tag::SET => {
                self.bump(SETS);
                if !who.write {
                    self.bump(BAD_COMMUNITY_USE);
                    resp.error_status = if v1 { status::NO_SUCH_NAME } else { status::NO_ACCESS };
                    resp.error_index = 1;
                    resp.varbinds = pdu.varbinds.clone();
                } else {
                    self.set(pdu, v1, now, resp);
                }
            }
            other => {
                self.bump(SILENT_DROPS);
                let mut d = EventDraft::new("snmp.request")
                    .with("version", who.version)
                    .with("principal", who.name.clone())
                    .with("pdu", kind_name(other));
                d.body.request = Some(json!({"varbinds": varbinds_json(&pdu.varbinds)}));
                d.body.raw = Some(raw.to_vec());
                events.push(d);
                return None;
            }
        }
        Some(())
    }

    fn visible(&self, v1: bool, obj: &mib::Object) -> bool {
        !(v1 && obj.ty == Ty::Counter64)
    }

    fn get(&self, pdu: &Pdu, v1: bool, now: SystemTime, resp: &mut Pdu) {
        for (i, vb) in pdu.varbinds.iter().enumerate() {
            let value = match self.config.mib.objects.get(&vb.oid).filter(|o| self.visible(v1, o)) {
                Some(obj) => self.read(obj, now),
                None if v1 => {
                    resp.error_status = status::NO_SUCH_NAME;
                    resp.error_index = i as i64 + 1;
                    resp.varbinds = pdu.varbinds.clone();
                    return;
                }
                None => {
                    let parent = vb.oid.get(..vb.oid.len().saturating_sub(1)).unwrap_or_default();
                    if !parent.is_empty() && self.config.mib.has_prefix(parent) {
                        SnmpValue::NoSuchInstance
                    } else {
                        SnmpValue::NoSuchObject
                    }
                }
            };
            resp.varbinds.push(VarBind {
                oid: vb.oid.clone(),
                value,
            });
        }
    }

    fn next_of(&self, oid: &[u32], v1: bool, now: SystemTime) -> Option<VarBind> {
        let mut cur = oid.to_vec();
        loop {
            let (o, obj) = self.config.mib.next_after(&cur)?;
            if self.visible(v1, obj) {
                return Some(VarBind {
                    oid: o.clone(),
                    value: self.read(obj, now),
                });
            }
            cur = o.clone();
        }
    }

    fn get_next(&self, pdu: &Pdu, v1: bool, now: SystemTime, resp: &mut Pdu) {
        for (i, vb) in pdu.varbinds.iter().enumerate() {
            match self.next_of(&vb.oid, v1, now) {
                Some(n) => resp.varbinds.push(n),
                None if v1 => {
                    resp.error_status = status::NO_SUCH_NAME;
                    resp.error_index = i as i64 + 1;
                    resp.varbinds = pdu.varbinds.clone();
                    return;
                }
                None => resp.varbinds.push(VarBind {
                    oid: vb.oid.clone(),
                    value: SnmpValue::EndOfMibView,
                }),
            }
        }
    }

    fn get_bulk(&self, pdu: &Pdu, now: SystemTime, budget: usize, resp: &mut Pdu) {
        let n = usize::try_from(pdu.error_status.max(0))
            .unwrap_or(0)
            .min(pdu.varbinds.len());
        let m = u32::try_from(pdu.error_index.max(0))
            .unwrap_or(0)
            .min(self.config.max_repetitions);
        let mut size = 32usize;
        let mut enc = Vec::new();
        let mut push = |resp: &mut Pdu, vb: VarBind| -> bool {
            enc.clear();
            crate::ber::put_seq(&mut enc, crate::ber::tag::SEQUENCE, |v| {
                crate::ber::put_oid(v, &vb.oid);
                vb.value.encode(v);
            });
            if size + enc.len() > budget || resp.varbinds.len() >= crate::message::MAX_VARBINDS {
                return false;
            }
            size += enc.len();
            resp.varbinds.push(vb);
            true
        };
        for vb in pdu.varbinds.iter().take(n) {
            let next = self.next_of(&vb.oid, false, now).unwrap_or(VarBind {
                oid: vb.oid.clone(),
                value: SnmpValue::EndOfMibView,
            });
            if !push(resp, next) {
                return;
            }
        }
        let mut cursors: Vec<Vec<u32>> = pdu.varbinds.iter().skip(n).map(|v| v.oid.clone()).collect();
        for _ in 0..m {
            let mut all_end = true;
            for c in cursors.iter_mut() {
                let next = match self.next_of(c, false, now) {
                    Some(vb) => {
                        all_end = false;
                        *c = vb.oid.clone();
                        vb
                    }
                    None => VarBind {
                        oid: c.clone(),
                        value: SnmpValue::EndOfMibView,
                    },
                };
                if !push(resp, next) {
                    return;
                }
            }
            if all_end {
                return;
            }
        }
    }

    fn set(&self, pdu: &Pdu, v1: bool, now: SystemTime, resp: &mut Pdu) {
        // Check every binding first: a SET is all or nothing.
        for (i, vb) in pdu.varbinds.iter().enumerate() {
            let err = match self.config.mib.objects.get(&vb.oid) {
                None if v1 => Some(status::NO_SUCH_NAME),
                None => Some(
                    if self
                        .config
                        .mib
                        .has_prefix(vb.oid.get(..vb.oid.len().saturating_sub(1)).unwrap_or_default())
                    {
                        status::NO_CREATION
                    } else {
                        status::NOT_WRITABLE
                    },
                ),
                Some(o) if !o.writable || !matches!(o.source, mib::Source::Databus(_)) => {
                    Some(if v1 { status::NO_SUCH_NAME } else { status::NOT_WRITABLE })
                }
                Some(o) if !o.ty.accepts(&vb.value) => Some(if v1 { status::BAD_VALUE } else { status::WRONG_TYPE }),
                Some(o) => match &vb.value {
                    SnmpValue::Octets(b) if b.len() > o.max_len => {
                        Some(if v1 { status::BAD_VALUE } else { status::WRONG_LENGTH })
                    }
                    SnmpValue::Integer(x)
                        if i32::try_from(*x).is_err() || o.range.is_some_and(|(lo, hi)| *x < lo || *x > hi) =>
                    {
                        Some(if v1 { status::BAD_VALUE } else { status::WRONG_VALUE })
                    }
                    _ => None,
                },
            };
            if let Some(e) = err {
                resp.error_status = e;
                resp.error_index = i as i64 + 1;
                resp.varbinds = pdu.varbinds.clone();
                return;
            }
        }
        for vb in &pdu.varbinds {
            if let Some(mib::Object {
                source: mib::Source::Databus(key),
                ..
            }) = self.config.mib.objects.get(&vb.oid)
            {
                self.databus.set(key, Ty::to_value(&vb.value));
            }
        }
        resp.varbinds = pdu
            .varbinds
            .iter()
            .map(|vb| VarBind {
                oid: vb.oid.clone(),
                value: self
                    .config
                    .mib
                    .objects
                    .get(&vb.oid)
                    .map_or(SnmpValue::Null, |o| self.read(o, now)),
            })
            .collect();
    }
}
