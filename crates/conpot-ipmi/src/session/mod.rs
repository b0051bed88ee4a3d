//! The sessions of one source address: IPMI 1.5 (challenge, activation, per-message MD5
//! or password AuthCodes) and RMCP+ (Open Session, RAKP 1-4, integrity and
//! confidentiality), bounded in number, closed when idle, and the dispatch of the
//! messages they carry. A session-less request is answered and leaves nothing behind.
//!
//! This module holds the session table, its bounds and timeouts and the [`Session`]
//! entry points; the protocol steps live in `v15` (IPMI 1.5), `rakp` (RMCP+ Open Session
//! and RAKP), `v20` (messages in an RMCP+ session) and `dispatch` (the commands).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::auth::{Privilege, Proof, Secret, Verdict};
use conpot_core::event::EventDraft;
use conpot_core::protocol::{Output, Session};

use crate::bmc::{Bmc, Slot};
use crate::crypto::{Keys, Suite};
use crate::rmcp::{self, Packet};
use crate::seqwin::SeqWindow;

mod dispatch;
mod rakp;
mod v15;
mod v20;

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
    /// Inbound session sequence numbers: IPMI 1.5, or RMCP+ authenticated packets.
    in_seq: SeqWindow,
    /// RMCP+: inbound numbers of unauthenticated packets, counted apart as the
    /// specification asks (a suite without integrity sends only these).
    in_seq_plain: SeqWindow,
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
            in_seq: SeqWindow::v20(),
            in_seq_plain: SeqWindow::v20(),
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
