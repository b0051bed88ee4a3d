//! User data (ROSCTR 7), one file per function group: `szl` (system status lists),
//! `blocks` (block lists and info), `clock` (read and set), `security` (password).
//! Answers longer than the PDU are split and continued on the client's follow-ups.

mod blocks;
mod clock;
mod security;
mod szl;

use conpot_core::hex;
use conpot_core::wire::{Reader, WireResult};
use serde_json::json;

use crate::context::{Ctx, ERR_CONTEXT};
use crate::wire::rosctr;

/// Userdata error: the function is not implemented, or its request cannot be read.
const UD_ERR_UNSUPPORTED: u16 = 0x8104;
/// Data return code: success.
const RET_OK: u8 = 0xFF;
/// Data return code: no data (an error, or an answer without a payload).
const RET_NONE: u8 = 0x0A;
/// Data transport size of an answer with a payload (octet string).
const TS_OCTETS: u8 = 0x09;
/// The three bytes that open a userdata parameter.
const PARAM_HEAD: [u8; 3] = [0x00, 0x01, 0x12];
/// Method of a response, and of a client's follow-up for the rest of a long answer.
const METHOD_RESPONSE: u8 = 0x12;
/// Type "response" in the high nibble of the type/group byte.
const TYPE_RESPONSE: u8 = 0x80;
/// Bytes of an answer's parameter part.
const ANSWER_PARAM_LEN: usize = 12;
/// Bytes of a data part's header (return code, transport size, length).
const DATA_HEADER_LEN: usize = 4;
/// Bytes of a userdata header, answer parameter and data header: what a payload shares a
/// PDU with.
const ANSWER_OVERHEAD: usize = crate::wire::header::JOB_LEN + ANSWER_PARAM_LEN + DATA_HEADER_LEN;
/// The low nibble of the type/group byte: the function group.
const GROUP_MASK: u8 = 0x0F;

/// Function groups.
mod group {
    /// Block functions.
    pub const BLOCKS: u8 = 3;
    /// System status lists.
    pub const SZL: u8 = 4;
    /// Security (password).
    pub const SECURITY: u8 = 5;
    /// Time functions.
    pub const CLOCK: u8 = 7;
}

/// The rest of a long answer, waiting for the client's follow-up.
#[derive(Debug)]
pub(crate) struct Pending {
    group: u8,
    sub: u8,
    seq: u8,
    rest: Vec<u8>,
}

/// The parameter header of a userdata request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    pub method: u8,
    pub group: u8,
    pub sub: u8,
    pub seq: u8,
}

/// Parses a userdata parameter: the head `00 01 12`, the length of what follows, the
/// method, type and group, subfunction and sequence number (a follow-up carries four
/// more bytes, not needed here).
pub(crate) fn parse_head(param: &[u8]) -> WireResult<Head> {
    let mut r = Reader::new(param);
    r.expect_bytes(&PARAM_HEAD, "userdata parameter head 00 01 12")?;
    r.skip(1)?;
    Ok(Head {
        method: r.u8()?,
        group: r.u8()? & GROUP_MASK,
        sub: r.u8()?,
        seq: r.u8()?,
    })
}

/// The payload of a userdata data part: return code, transport size, length, then that
/// many bytes. An empty data part has no payload.
pub(crate) fn parse_payload(data: &[u8]) -> WireResult<&[u8]> {
    if data.is_empty() {
        return Ok(&[]);
    }
    let mut r = Reader::new(data);
    // Return code, transport size.
    r.skip(DATA_HEADER_LEN - 2)?;
    let len = usize::from(r.u16_be()?);
    r.take(len)
}

/// What a group's handler answers.
struct Answer {
    /// The event to log with the request (`None`: the handler logged its own).
    kind: Option<&'static str>,
    /// The payload, or the error code.
    result: Result<Vec<u8>, u16>,
}

impl Answer {
    fn logged(kind: &'static str, result: Result<Vec<u8>, u16>) -> Self {
        Answer {
            kind: Some(kind),
            result,
        }
    }

    fn silent(result: Result<Vec<u8>, u16>) -> Self {
        Answer { kind: None, result }
    }
}

/// Handles a userdata request.
pub(crate) fn handle(cx: &mut Ctx<'_>, param: &[u8], data: &[u8]) {
    let head = match parse_head(param) {
        Ok(h) => h,
        Err(e) => {
            cx.malformed(format!("userdata parameter: {e}"));
            return cx.reply_error(ERR_CONTEXT);
        }
    };
    let Head { group, sub, .. } = head;
    let payload = match parse_payload(data) {
        Ok(p) => p,
        Err(e) => {
            cx.malformed(format!("userdata data: {e}"));
            return send_ud(cx, group, sub, UD_ERR_UNSUPPORTED, RET_NONE, Vec::new());
        }
    };

    // A follow-up for the rest of a long answer.
    if head.method == METHOD_RESPONSE
        && let Some(p) = cx.conn.pending.take()
        && p.group == group
        && p.sub == sub
        && p.seq == head.seq
    {
        return send_ud(cx, group, sub, 0, RET_OK, p.rest);
    }

    let answer = match group {
        group::SZL => szl::handle(cx, sub, payload),
        group::BLOCKS => blocks::handle(cx, sub, payload),
        group::CLOCK => clock::handle(cx, sub, payload),
        group::SECURITY => security::handle(cx, sub, payload),
        _ => Ok(None),
    };
    let answer = match answer {
        Ok(Some(a)) => a,
        Ok(None) => Answer::logged("s7.unsupported", Err(UD_ERR_UNSUPPORTED)),
        Err(e) => {
            cx.malformed(format!("userdata group {group} function {sub}: {e}"));
            return send_ud(cx, group, sub, UD_ERR_UNSUPPORTED, RET_NONE, Vec::new());
        }
    };
    if let Some(kind) = answer.kind {
        let mut d = cx.event(kind);
        d.body.request = Some(json!({"group": group, "subfunction": sub, "payload": hex::encode(payload)}));
        if let Err(code) = &answer.result {
            d.body.error = Some(format!("{code:#06x}"));
        }
        cx.log(d);
    }
    match answer.result {
        Ok(v) if v.is_empty() && group != group::BLOCKS => send_ud(cx, group, sub, 0, RET_NONE, Vec::new()),
        Ok(v) => send_ud(cx, group, sub, 0, RET_OK, v),
        Err(code) => send_ud(cx, group, sub, code, RET_NONE, Vec::new()),
    }
}

/// Sends a userdata answer, split with "more follows" when it exceeds the PDU.
fn send_ud(cx: &mut Ctx<'_>, group: u8, sub: u8, error: u16, ret: u8, payload: Vec<u8>) {
    let room = usize::from(cx.conn.pdu_size).saturating_sub(ANSWER_OVERHEAD).max(16);
    cx.conn.ud_seq = cx.conn.ud_seq.wrapping_add(1).max(1);
    let seq = cx.conn.ud_seq;
    let (now_part, rest) = if payload.len() > room {
        let mut p = payload;
        let rest = p.split_off(room);
        (p, Some(rest))
    } else {
        (payload, None)
    };
    let more = rest.is_some();
    let ts = if now_part.is_empty() && ret != RET_OK {
        0x00
    } else {
        TS_OCTETS
    };
    if let Some(rest) = rest {
        cx.conn.pending = Some(Pending { group, sub, seq, rest });
    }
    cx.send(
        rosctr::USERDATA,
        cx.pdu_ref,
        None,
        |w| {
            w.put_bytes(&PARAM_HEAD)?;
            let len = w.reserve_u8()?;
            w.put_u8(METHOD_RESPONSE)?;
            w.put_u8(TYPE_RESPONSE | group)?;
            w.put_u8(sub)?;
            w.put_u8(seq)?;
            // Data unit reference, last data unit (0: this is the last), error code.
            w.put_u8(0x00)?;
            w.put_u8(u8::from(more))?;
            w.put_u16_be(error)?;
            w.patch_len(len).map(drop)
        },
        |w| {
            w.put_u8(ret)?;
            w.put_u8(ts)?;
            let len = w.reserve_u16_be()?;
            w.put_bytes(&now_part)?;
            w.patch_len(len).map(drop)
        },
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn heads_and_payloads_cut_anywhere_are_errors() {
        let param = crate::hex("0001120411440100");
        let h = parse_head(&param).unwrap();
        assert_eq!((h.method, h.group, h.sub, h.seq), (0x11, group::SZL, 1, 0), "a request");
        for cut in 0..param.len() {
            assert!(parse_head(&param[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse_head(&crate::hex("0001130411440100")).is_err());
        let data = crate::hex("ff09000400110001");
        assert_eq!(parse_payload(&data).unwrap(), &[0x00, 0x11, 0x00, 0x01]);
        for cut in 1..data.len() {
            assert!(parse_payload(&data[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(parse_payload(&[]).unwrap(), &[] as &[u8]);
        // Bytes after the declared payload are not part of it.
        assert_eq!(parse_payload(&crate::hex("0a00000001")).unwrap(), &[] as &[u8]);
    }
}
