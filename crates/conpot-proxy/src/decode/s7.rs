//! S7comm over ISO-on-TCP relayed: TPKT framed and COTP parsed with `conpot-s7`'s wire
//! module in both directions, segmented COTP data reassembled into whole S7 PDUs, each
//! request paired with the CPU's answer of the same PDU reference and logged with
//! `conpot-s7`'s observer, in the schemas the emulated CPU uses.

use std::collections::VecDeque;

use conpot_core::event::EventDraft;
use conpot_s7::observe;
use conpot_s7::wire::{self, Cotp, MAX_TPKT, S7_PROTOCOL, Tpkt};

use super::{Decoder, Direction, Stream, raw_event};

/// Largest S7 PDU reassembled from segmented COTP data.
pub const MAX_TSDU: usize = 65_536;
/// Requests waiting for their answer; beyond, the oldest is logged unanswered.
pub const MAX_OUTSTANDING: usize = 32;

/// One direction: its TPKT stream and the COTP data being reassembled.
#[derive(Debug, Default)]
struct Side {
    stream: Stream,
    tsdu: Vec<u8>,
}

/// Parts of one long answer kept (each at most a PDU).
pub const MAX_PARTS: usize = 64;

/// A request on its way to the CPU.
#[derive(Debug)]
struct Asked {
    reference: Option<u16>,
    pdu: Vec<u8>,
    /// A client's follow-up for the rest of a long answer.
    follow_up: bool,
}

/// A relayed S7comm connection's decoder.
#[derive(Debug, Default)]
pub struct S7Decoder {
    to_upstream: Side,
    from_upstream: Side,
    asked: VecDeque<Asked>,
    /// A long answer in parts: the request and the parts so far.
    continuing: Option<(Vec<u8>, Vec<Vec<u8>>)>,
}

impl S7Decoder {
    fn side(&mut self, dir: Direction) -> &mut Side {
        match dir {
            Direction::ToUpstream => &mut self.to_upstream,
            Direction::FromUpstream => &mut self.from_upstream,
        }
    }

    fn tpdu(&mut self, dir: Direction, raw: &[u8], payload: &[u8], out: &mut Vec<EventDraft>) {
        match wire::cotp(payload) {
            Err(e) => out.push(raw_event(dir, raw, Some(&format!("malformed COTP TPDU: {e}")))),
            Ok(Cotp::ConnectRequest {
                tpdu_size,
                calling_tsap,
                called_tsap,
                ..
            }) => out.push(conpot_s7::session::connect_event(
                raw,
                calling_tsap,
                called_tsap,
                tpdu_size,
            )),
            Ok(Cotp::DisconnectRequest) => {
                let mut d = EventDraft::new("s7.cotp_disconnect").with("direction", dir.as_str());
                d.body.raw = Some(raw.to_vec());
                out.push(d);
            }
            // The CPU's connection confirm: the connect event was logged with the request.
            Ok(Cotp::Other(kind)) if kind & 0xF0 == wire::tpdu::CC => {}
            Ok(Cotp::Other(kind)) => out.push(raw_event(dir, raw, Some(&format!("COTP TPDU type {kind:#04x}")))),
            Ok(Cotp::Data { eot, payload }) => {
                let side = self.side(dir);
                if side.tsdu.len() + payload.len() > MAX_TSDU {
                    side.tsdu.clear();
                    return out.push(raw_event(dir, raw, Some("segmented data larger than 64 KiB: dropped")));
                }
                side.tsdu.extend_from_slice(payload);
                if eot {
                    let pdu = std::mem::take(&mut side.tsdu);
                    self.pdu(dir, pdu, out);
                }
            }
        }
    }

    fn pdu(&mut self, dir: Direction, pdu: Vec<u8>, out: &mut Vec<EventDraft>) {
        if pdu.first() != Some(&S7_PROTOCOL) {
            return out.push(raw_event(
                dir,
                &pdu,
                Some("not an S7comm PDU (S7CommPlus is not decoded)"),
            ));
        }
        let reference = observe::reference(&pdu);
        match dir {
            Direction::FromUpstream if observe::is_cpu_job(&pdu) => {
                // A job of the CPU's own (a download request): logged as it comes.
                out.push(observe::pdu_event(&pdu, None));
            }
            Direction::FromUpstream => {
                let at = self.asked.iter().position(|a| a.reference == reference);
                let Some(asked) = at.and_then(|i| self.asked.remove(i)) else {
                    return out.push(raw_event(dir, &pdu, Some("answer without a request")));
                };
                let (request, mut parts) = match (asked.follow_up, self.continuing.take()) {
                    (true, Some(c)) => c,
                    // A follow-up after no long answer: logged on its own.
                    (_, _) => (asked.pdu, Vec::new()),
                };
                if parts.len() < MAX_PARTS {
                    parts.push(pdu);
                }
                let more = parts.last().is_some_and(|p| observe::continues(p));
                if more {
                    self.continuing = Some((request, parts));
                } else {
                    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
                    out.push(observe::pdu_event_parts(&request, &refs));
                }
            }
            Direction::ToUpstream if observe::is_answer(&pdu) => out.push(observe::pdu_event(&pdu, None)),
            Direction::ToUpstream => {
                if self.asked.len() >= MAX_OUTSTANDING
                    && let Some(old) = self.asked.pop_front()
                {
                    out.push(observe::pdu_event(&old.pdu, None));
                }
                let follow_up = self.continuing.is_some() && observe::is_follow_up(&pdu);
                self.asked.push_back(Asked {
                    reference,
                    pdu,
                    follow_up,
                });
            }
        }
    }

    fn frames(&mut self, dir: Direction, out: &mut Vec<EventDraft>) {
        loop {
            let side = self.side(dir);
            let (raw, payload) = match wire::tpkt(side.stream.bytes()) {
                Tpkt::Incomplete => return,
                Tpkt::Invalid => {
                    side.stream.lost = true;
                    let rest = side.stream.take_all();
                    return out.push(raw_event(dir, &rest, Some("not a TPKT: framing lost")));
                }
                Tpkt::Packet { payload, size } => {
                    let raw = side.stream.bytes().get(..size).unwrap_or_default().to_vec();
                    let payload = payload.to_vec();
                    side.stream.consume(size);
                    (raw, payload)
                }
            };
            self.tpdu(dir, &raw, &payload, out);
        }
    }
}

impl Decoder for S7Decoder {
    fn feed(&mut self, dir: Direction, bytes: &[u8], out: &mut Vec<EventDraft>) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let side = self.side(dir);
            if side.stream.lost {
                return out.push(raw_event(dir, rest, Some("framing lost earlier on this connection")));
            }
            rest = side.stream.push(rest, MAX_TPKT);
            self.frames(dir, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<EventDraft>) {
        if let Some((req, parts)) = self.continuing.take() {
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            out.push(observe::pdu_event_parts(&req, &refs));
        }
        for a in self.asked.drain(..) {
            if !a.follow_up {
                out.push(observe::pdu_event(&a.pdu, None));
            }
        }
        for dir in [Direction::ToUpstream, Direction::FromUpstream] {
            self.side(dir).stream.log_leftover(dir, "TPKT", out);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    fn hex(s: &str) -> Vec<u8> {
        conpot_core::hex::decode(s).unwrap()
    }

    #[test]
    fn connect_setup_and_answer_paired() {
        let mut d = S7Decoder::default();
        let mut out = Vec::new();
        let cr = hex("0300001611e00000000100c0010ac1020100c2020102");
        let cc = hex("0300001611d00000000100c0010ac1020100c2020102");
        let setup = hex("0300001902f08032010000000000080000f0000001000101e0");
        let ack = hex("0300001b02f080320300000000000800000000f0000001000100f0");
        // The request a byte at a time, the answer whole.
        for b in cr.iter().chain(&setup) {
            d.feed(Direction::ToUpstream, &[*b], &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].event_type, "s7.cotp_connect");
        assert_eq!(out[0].body.request.as_ref().unwrap()["slot"], json!(2));
        d.feed(Direction::FromUpstream, &[cc, ack].concat(), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].event_type, "s7.setup");
        assert_eq!(out[1].body.request.as_ref().unwrap()["pdu_size"], json!(480));
        assert_eq!(out[1].body.response, Some(json!({"pdu_size": 240, "max_amq": 1})));
    }

    #[test]
    fn segmented_data_is_reassembled() {
        let mut d = S7Decoder::default();
        let mut out = Vec::new();
        // The setup PDU in two DT TPDUs, the first without EOT.
        let first = hex("0300000f02f0003201000000000008");
        let second = hex("0300001102f0800000f0000001000101e0");
        d.feed(Direction::ToUpstream, &[first, second].concat(), &mut out);
        d.finish(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].event_type, "s7.setup");
        assert!(out[0].body.response.is_none());
    }

    #[test]
    fn garbage_is_logged_raw_once_framing_is_lost() {
        let mut d = S7Decoder::default();
        let mut out = Vec::new();
        d.feed(Direction::ToUpstream, b"GET / HTTP/1.0\r\n", &mut out);
        d.feed(Direction::ToUpstream, b"more", &mut out);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|e| e.event_type == "proxy.data"));
    }
}
