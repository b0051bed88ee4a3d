//! Kamstrup KMP relayed (Conpot's `Decoder382`): frames found with `conpot-kamstrup`'s
//! scanner in both directions, decoded and described with its frame codec, each request
//! paired with the meter's next answer (a KMP master waits for one before the next) and
//! logged as the emulated meter logs: `kamstrup.request` with `status`, `request`,
//! `response` and both frames' bytes.

use conpot_core::event::EventDraft;
use conpot_kamstrup::kmp::{self, Scan};
use serde_json::Value as Json;

use super::{Decoder, Direction, Stream, raw_event};

/// A relayed KMP connection's decoder.
#[derive(Debug, Default)]
pub struct KamstrupDecoder {
    requests: Stream,
    responses: Stream,
    /// The request on its way (its bytes).
    asked: Option<Vec<u8>>,
}

fn described(bytes: &[u8]) -> (Json, Option<String>) {
    match kmp::decode_frame(bytes) {
        Ok(f) => (Json::Object(kmp::describe(&f)), None),
        Err(e) => (Json::Null, Some(e.to_string())),
    }
}

/// The `kamstrup.request` event of `req` and the meter's answer `resp`, if one came.
fn paired(req: &[u8], resp: Option<&[u8]>) -> EventDraft {
    let (request, error) = described(req);
    let status = match (&error, resp) {
        (Some(e), _) if e.contains("CRC") => "bad_crc",
        (Some(_), _) => "malformed",
        (None, Some(_)) => "ok",
        (None, None) => "unanswered",
    };
    let response = resp.map_or(Json::Null, |r| described(r).0);
    let mut d = EventDraft::new("kamstrup.request")
        .with("status", status)
        .with("request", request)
        .with("response", response);
    if let Some(e) = error {
        d = d.with("error", e);
    }
    d.body.raw = Some(req.to_vec());
    d.body.raw_response = resp.map(<[u8]>::to_vec);
    d
}

impl KamstrupDecoder {
    fn frames(&mut self, dir: Direction, out: &mut Vec<EventDraft>) {
        let kdir = match dir {
            Direction::ToUpstream => kmp::Direction::Request,
            Direction::FromUpstream => kmp::Direction::Response,
        };
        loop {
            let s = match dir {
                Direction::ToUpstream => &mut self.requests,
                Direction::FromUpstream => &mut self.responses,
            };
            match kmp::scan(s.bytes(), kdir) {
                Scan::Noise { skip } => {
                    if skip > 0 {
                        let noise = s.bytes().get(..skip).unwrap_or_default().to_vec();
                        s.consume(skip);
                        out.push(raw_event(dir, &noise, Some("no KMP frame")));
                    }
                    return;
                }
                Scan::Partial { start } => {
                    if start > 0 {
                        let noise = s.bytes().get(..start).unwrap_or_default().to_vec();
                        s.consume(start);
                        out.push(raw_event(dir, &noise, Some("no KMP frame")));
                    }
                    return;
                }
                Scan::Broken { end, .. } => {
                    let broken = s.bytes().get(..end).unwrap_or_default().to_vec();
                    s.consume(end);
                    out.push(raw_event(dir, &broken, Some("KMP frame cut short")));
                }
                Scan::Frame { start, end } => {
                    let frame = s.bytes().get(start..end).unwrap_or_default().to_vec();
                    s.consume(end);
                    match dir {
                        Direction::ToUpstream => {
                            if let Some(old) = self.asked.replace(frame) {
                                out.push(paired(&old, None));
                            }
                        }
                        Direction::FromUpstream => match self.asked.take() {
                            Some(req) => out.push(paired(&req, Some(&frame))),
                            None => out.push(raw_event(dir, &frame, Some("answer without a request"))),
                        },
                    }
                }
            }
        }
    }
}

impl Decoder for KamstrupDecoder {
    fn feed(&mut self, dir: Direction, bytes: &[u8], out: &mut Vec<EventDraft>) {
        let mut rest = bytes;
        while !rest.is_empty() {
            rest = match dir {
                Direction::ToUpstream => self.requests.push(rest, kmp::MAX_FRAME + 1),
                Direction::FromUpstream => self.responses.push(rest, kmp::MAX_FRAME + 1),
            };
            self.frames(dir, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<EventDraft>) {
        if let Some(req) = self.asked.take() {
            out.push(paired(&req, None));
        }
        self.requests.log_leftover(Direction::ToUpstream, "frame", out);
        self.responses.log_leftover(Direction::FromUpstream, "frame", out);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn frame(direction: kmp::Direction, command: u8, payload: &[u8]) -> Vec<u8> {
        kmp::encode_frame(&kmp::Frame {
            direction,
            address: 0x3F,
            command,
            payload: payload.to_vec(),
        })
    }

    #[test]
    fn requests_pair_with_the_next_answer_across_segments() {
        let req = frame(kmp::Direction::Request, kmp::cmd::GET_SERIAL_NO, &[]);
        let resp = frame(
            kmp::Direction::Response,
            kmp::cmd::GET_SERIAL_NO,
            &[0x00, 0xE6, 0x2E, 0xB0],
        );
        let mut d = KamstrupDecoder::default();
        let mut out = Vec::new();
        for b in &req {
            d.feed(Direction::ToUpstream, &[*b], &mut out);
        }
        assert!(out.is_empty());
        d.feed(Direction::FromUpstream, &resp, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].event_type, "kamstrup.request");
        assert_eq!(out[0].body.data.get("status"), Some(&serde_json::json!("ok")));
        assert_eq!(out[0].body.raw_response.as_deref(), Some(&resp[..]));
        // A corrupted request is logged with its CRC error when the connection ends.
        let mut bad = req.clone();
        bad[2] ^= 0x01;
        d.feed(Direction::ToUpstream, &bad, &mut out);
        d.finish(&mut out);
        assert_eq!(out.len(), 2);
        assert_ne!(out[1].body.data.get("status"), Some(&serde_json::json!("ok")));
    }
}
