//! One ISO-on-TCP connection to the CPU: the COTP connection (connect, reassembly of
//! segmented data, disconnect), then each S7 PDU checked against the connection's state
//! and handed to the job or userdata handlers. Plain code over bytes; time comes in as an
//! argument.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::event::EventDraft;
use conpot_core::hex;
use conpot_core::protocol::{Output, Session};
use serde_json::json;

use crate::context::{Conn, Ctx, ERR_CONTEXT, ERR_PDU_SIZE};
use crate::device::S7Device;
use crate::job::{self, function};
use crate::userdata;
use crate::wire::{self, Cotp, S7_PROTOCOL, S7PLUS_PROTOCOL, Tpkt, rosctr};

/// Largest TSDU reassembled from segmented DT TPDUs.
const MAX_TSDU: usize = 65_536;
/// DR reason: normal disconnect.
const DR_NORMAL: u8 = 0x80;
/// TPDU size code taken when a connection request gives none (1024 bytes).
const TPDU_SIZE_DEFAULT: u8 = 0x0A;
/// TPDU size codes accepted: 128 to 1024 bytes.
const TPDU_SIZE_CODES: std::ops::RangeInclusive<u8> = 0x07..=0x0A;

/// The TPDU size code a connection request asking for `requested` gets: the default when
/// none is asked, clamped to what the CPU accepts (a proxy reports the same size).
pub fn tpdu_size_code(requested: Option<u8>) -> u8 {
    requested
        .unwrap_or(TPDU_SIZE_DEFAULT)
        .clamp(*TPDU_SIZE_CODES.start(), *TPDU_SIZE_CODES.end())
}

/// The `s7.cotp_connect` event of a connection request: the TSAPs, rack and slot, and
/// the TPDU size the connection gets.
pub fn connect_event(raw: &[u8], calling_tsap: &[u8], called_tsap: &[u8], tpdu_size: Option<u8>) -> EventDraft {
    // The called TSAP's second byte: rack in the top three bits, slot below.
    let (rack, slot) = called_tsap.get(1).map(|b| (b >> 5, b & 0x1F)).unzip();
    let mut d = event("s7.cotp_connect", raw);
    d.body.request = Some(json!({
        "calling_tsap": hex::encode(calling_tsap),
        "called_tsap": hex::encode(called_tsap),
        "rack": rack,
        "slot": slot,
        "tpdu_size": 1usize << tpdu_size_code(tpdu_size),
    }));
    d
}

/// A connection's state.
#[derive(Debug)]
pub struct S7Session {
    dev: Arc<S7Device>,
    /// Whether the COTP connection is confirmed.
    connected: bool,
    tpdu_max: usize,
    peer_ref: u16,
    own_ref: u16,
    tsdu: Vec<u8>,
    /// The S7 state above COTP.
    conn: Conn,
}

fn event(kind: &'static str, raw: &[u8]) -> EventDraft {
    let mut d = EventDraft::new(kind);
    d.body.raw = Some(raw.to_vec());
    d
}

impl S7Session {
    /// A session on `dev`; `own_ref` is the COTP reference this side uses.
    pub fn new(dev: Arc<S7Device>, own_ref: u16) -> Self {
        S7Session {
            dev,
            connected: false,
            tpdu_max: 1024,
            peer_ref: 0,
            own_ref: own_ref.max(1),
            tsdu: Vec::new(),
            conn: Conn::default(),
        }
    }

    /// The session with the attacker's address `peer` (password attempts are counted per
    /// source).
    pub fn with_peer(mut self, peer: IpAddr) -> Self {
        self.conn.peer = peer;
        self
    }

    fn close_with_dr(&self, out: &mut Output, why: &str, raw: &[u8]) {
        let mut d = event("s7.malformed", raw);
        d.body.error = Some(why.to_owned());
        out.events.push(d);
        if self.connected {
            // The connection closes either way; a DR that cannot be framed is not sent.
            let _ = wire::emit_dr(self.peer_ref, self.own_ref, DR_NORMAL, &mut out.bytes);
        }
        out.close = true;
    }

    fn handle_tpdu(&mut self, tpdu: &[u8], raw: &[u8], now: SystemTime, out: &mut Output) {
        match wire::cotp(tpdu) {
            Err(e) => self.close_with_dr(out, &format!("malformed COTP TPDU: {e}"), raw),
            Ok(Cotp::ConnectRequest {
                src_ref,
                tpdu_size,
                calling_tsap,
                called_tsap,
            }) => {
                if self.connected {
                    return self.close_with_dr(out, "connection request on an open connection", raw);
                }
                let code = tpdu_size_code(tpdu_size);
                self.tpdu_max = 1usize << code;
                self.peer_ref = src_ref;
                if let Err(e) = wire::emit_cc(src_ref, self.own_ref, code, calling_tsap, called_tsap, &mut out.bytes) {
                    return self.close_with_dr(out, &format!("connection confirm not framed: {e}"), raw);
                }
                self.connected = true;
                out.events
                    .push(connect_event(raw, calling_tsap, called_tsap, tpdu_size));
            }
            Ok(Cotp::DisconnectRequest) => {
                out.events.push(event("s7.cotp_disconnect", raw));
                out.close = true;
            }
            Ok(Cotp::Other(kind)) => {
                let mut d = event("s7.malformed", raw);
                d.body.error = Some(format!("COTP TPDU type {kind:#04x} ignored"));
                out.events.push(d);
            }
            Ok(Cotp::Data { eot, payload }) => {
                if !self.connected {
                    return self.close_with_dr(out, "data before the COTP connection", raw);
                }
                if self.tsdu.len() + payload.len() > MAX_TSDU {
                    return self.close_with_dr(out, "segmented data larger than 64 KiB", raw);
                }
                self.tsdu.extend_from_slice(payload);
                if eot {
                    let tsdu = std::mem::take(&mut self.tsdu);
                    self.handle_tsdu(&tsdu, now, out);
                }
            }
        }
    }

    fn handle_tsdu(&mut self, p: &[u8], now: SystemTime, out: &mut Output) {
        match p.first() {
            Some(&S7PLUS_PROTOCOL) => return crate::plus::handle(&self.dev, p, out),
            Some(&S7_PROTOCOL) => {}
            _ => return self.close_with_dr(out, "not an S7 PDU", p),
        }
        let parsed = wire::s7(p);
        let mut cx = Ctx {
            dev: &self.dev,
            conn: &mut self.conn,
            now,
            // A header too short for a reference: answered with reference 0.
            pdu_ref: parsed
                .as_ref()
                .map_or_else(|_| wire::pdu_ref(p).unwrap_or(0), |pdu| pdu.pdu_ref),
            raw: p,
            out,
            tpdu_max: self.tpdu_max,
        };
        let pdu = match parsed {
            Ok(pdu) => pdu,
            Err(e) => {
                // A header the CPU cannot read: answered with a header error, as a CPU does.
                cx.malformed(format!("S7 header: {e}"));
                return cx.reply_error(ERR_CONTEXT);
            }
        };
        if p.len() > usize::from(cx.conn.pdu_size) && cx.conn.ready {
            cx.malformed(format!("PDU of {} bytes, {} negotiated", p.len(), cx.conn.pdu_size));
            return cx.reply_error(ERR_PDU_SIZE);
        }
        let is_setup = pdu.rosctr == rosctr::JOB && pdu.param.first() == Some(&function::SETUP);
        if !(cx.conn.ready || is_setup) {
            cx.malformed("request before setup communication".into());
            return cx.reply_error(ERR_CONTEXT);
        }
        match pdu.rosctr {
            rosctr::JOB => job::handle(&mut cx, pdu.param, pdu.data),
            rosctr::USERDATA => userdata::handle(&mut cx, pdu.param, pdu.data),
            rosctr::ACK_DATA => job::answer(&mut cx, pdu.param, pdu.data),
            other => cx.malformed(format!("ROSCTR {other:#04x} not accepted from a client")),
        }
    }
}

impl Session for S7Session {
    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        match wire::tpkt(input) {
            Tpkt::Incomplete => 0,
            Tpkt::Invalid => {
                self.close_with_dr(out, "not a TPKT (version 3, length 7..8192)", input);
                input.len()
            }
            Tpkt::Packet { payload, size } => {
                let raw = input.get(..size).unwrap_or_default();
                self.handle_tpdu(payload, raw, now, out);
                size
            }
        }
    }

    fn on_eof(&mut self, rest: &[u8], _now: SystemTime, out: &mut Output) {
        if !rest.is_empty() {
            let mut d = event("s7.malformed", rest);
            d.body.error = Some("connection closed inside a TPKT (truncated)".into());
            out.events.push(d);
        }
    }
}
