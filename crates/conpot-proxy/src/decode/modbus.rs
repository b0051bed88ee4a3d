//! Modbus/TCP relayed: ADUs framed with `conpot-modbus`'s MBAP framer in both directions,
//! each request parsed with its PDU parser and paired with the response of the same
//! transaction id, which its response parser reads; the pair is logged with the Modbus
//! server's own `modbus.request` builder, so a proxied request and an emulated one look
//! the same in the log.

use std::collections::VecDeque;

use conpot_core::event::EventDraft;
use conpot_modbus::device::Handled;
use conpot_modbus::pdu::{Request, Response};
use conpot_modbus::session::event;
use conpot_modbus::wire::{self, Framed, MAX_ADU, Mbap};

use super::{Decoder, Direction, Stream, raw_event};

/// Requests waiting for their response; a client pipelining more is logged unanswered
/// for the oldest.
pub const MAX_OUTSTANDING: usize = 32;

/// One request on its way.
#[derive(Debug)]
struct Asked {
    mbap: Mbap,
    raw: Vec<u8>,
    function: u8,
    request: Result<Request, conpot_modbus::pdu::Exception>,
}

/// A relayed Modbus/TCP connection's decoder.
#[derive(Debug, Default)]
pub struct ModbusDecoder {
    requests: Stream,
    responses: Stream,
    asked: VecDeque<Asked>,
}

/// The event of `asked` with the response frame `reply` (its PDU `pdu`), if one came.
fn paired(asked: &Asked, reply: Option<(&[u8], &[u8])>) -> EventDraft {
    let response = match (&asked.request, reply) {
        (_, None) => None,
        (Ok(req), Some((_, pdu))) => Response::parse(req, pdu),
        // A request the parser refused: only an exception answer can be read.
        (Err(_), Some((_, pdu))) => Response::parse(
            &Request::Unsupported {
                function: asked.function,
            },
            pdu,
        ),
    };
    let undecoded = reply.is_some() && response.is_none();
    let h = Handled {
        function: asked.function,
        request: asked.request.clone(),
        response,
        // The unit that answered: a relayed device routes by itself.
        slave: reply.map(|_| asked.mbap.unit),
    };
    let mut d = event(
        Some(asked.mbap.transaction),
        asked.mbap.unit,
        &asked.raw,
        &h,
        reply.map_or(&[][..], |(frame, _)| frame),
    );
    if undecoded {
        d.body.error = Some("response does not answer the request".into());
    }
    d
}

impl ModbusDecoder {
    fn lose(&mut self, dir: Direction, why: &str, out: &mut Vec<EventDraft>) {
        let s = match dir {
            Direction::ToUpstream => &mut self.requests,
            Direction::FromUpstream => &mut self.responses,
        };
        s.lost = true;
        let rest = s.take_all();
        out.push(raw_event(dir, &rest, Some(why)));
    }

    fn frames(&mut self, dir: Direction, out: &mut Vec<EventDraft>) {
        loop {
            let s = match dir {
                Direction::ToUpstream => &self.requests,
                Direction::FromUpstream => &self.responses,
            };
            let (mbap, pdu, size) = match wire::frame(s.bytes()) {
                Framed::Incomplete => return,
                Framed::BadLength(_) => return self.lose(dir, "MBAP length outside 2..=254: framing lost", out),
                Framed::Frame { mbap, pdu, size } => (mbap, pdu.to_vec(), size),
            };
            let frame = s.bytes().get(..size).unwrap_or_default().to_vec();
            match dir {
                Direction::ToUpstream => {
                    self.requests.consume(size);
                    if mbap.protocol != 0 {
                        out.push(raw_event(dir, &frame, Some("protocol identifier is not 0")));
                        continue;
                    }
                    if self.asked.len() >= MAX_OUTSTANDING
                        && let Some(old) = self.asked.pop_front()
                    {
                        out.push(paired(&old, None));
                    }
                    self.asked.push_back(Asked {
                        mbap,
                        raw: frame,
                        function: pdu.first().copied().unwrap_or(0),
                        request: Request::parse(&pdu),
                    });
                }
                Direction::FromUpstream => {
                    self.responses.consume(size);
                    let at = self
                        .asked
                        .iter()
                        .position(|a| a.mbap.transaction == mbap.transaction && a.mbap.unit == mbap.unit);
                    match at.and_then(|i| self.asked.remove(i)) {
                        Some(a) => out.push(paired(&a, Some((&frame, &pdu)))),
                        None => out.push(raw_event(dir, &frame, Some("response without a request"))),
                    }
                }
            }
        }
    }
}

impl Decoder for ModbusDecoder {
    fn feed(&mut self, dir: Direction, bytes: &[u8], out: &mut Vec<EventDraft>) {
        let s = match dir {
            Direction::ToUpstream => &mut self.requests,
            Direction::FromUpstream => &mut self.responses,
        };
        if s.lost {
            return out.push(raw_event(dir, bytes, Some("framing lost earlier on this connection")));
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            rest = match dir {
                Direction::ToUpstream => self.requests.push(rest, MAX_ADU),
                Direction::FromUpstream => self.responses.push(rest, MAX_ADU),
            };
            self.frames(dir, out);
            let lost = match dir {
                Direction::ToUpstream => self.requests.lost,
                Direction::FromUpstream => self.responses.lost,
            };
            if lost {
                if !rest.is_empty() {
                    out.push(raw_event(dir, rest, Some("framing lost earlier on this connection")));
                }
                return;
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<EventDraft>) {
        for a in self.asked.drain(..) {
            out.push(paired(&a, None));
        }
        self.requests.log_leftover(Direction::ToUpstream, "frame", out);
        self.responses.log_leftover(Direction::FromUpstream, "frame", out);
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
    fn pairs_by_transaction_across_segments() {
        let mut d = ModbusDecoder::default();
        let mut out = Vec::new();
        // Two requests in one write, the second split.
        let a = hex("000100000006010300000002000200000006010100010003");
        d.feed(Direction::ToUpstream, &a[..15], &mut out);
        d.feed(Direction::ToUpstream, &a[15..], &mut out);
        assert!(out.is_empty());
        // Answers out of order, the first one byte at a time.
        let r2 = hex("00020000000401010105");
        let r1 = hex("0001000000070103040001beef");
        for b in &r2 {
            d.feed(Direction::FromUpstream, &[*b], &mut out);
        }
        d.feed(Direction::FromUpstream, &r1, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].event_type, "modbus.request");
        assert_eq!(out[0].body.data.get("transaction_id"), Some(&json!(2)));
        assert_eq!(out[0].body.response, Some(json!({"values": [1, 0, 1]})));
        assert_eq!(out[1].body.data.get("function_code"), Some(&json!(3)));
        assert_eq!(
            out[1].body.request,
            Some(
                json!({"function": "read_holding_registers", "table": "holding_registers", "address": 0, "quantity": 2})
            )
        );
        assert_eq!(out[1].body.response, Some(json!({"values": [1, 0xBEEF]})));
        assert_eq!(out[1].body.raw_response.as_deref(), Some(&r1[..]));
    }
}
