//! S7CommPlus (protocol id 0x72): the connection setup (CreateObject) that S7-1200/1500
//! scanners send first. Answered with a CreateObject response opening a session, so the
//! port does not look dead; everything is logged. CPUs without S7CommPlus close.

use conpot_core::event::EventDraft;
use conpot_core::hex;
use conpot_core::protocol::Output;
use conpot_core::wire::{Reader, WireResult, append};
use serde_json::json;

use crate::device::S7Device;
use crate::wire::{self, S7PLUS_PROTOCOL};

/// Opcode of a request.
const OP_REQUEST: u8 = 0x31;
/// Opcode of a response.
const OP_RESPONSE: u8 = 0x32;
/// Function code of CreateObject.
const FN_CREATE_OBJECT: u16 = 0x04CA;
/// Most bytes of an answer frame.
const MAX_FRAME: usize = 256;

/// The start of an S7CommPlus frame: protocol id, version, data length, then the
/// request header.
#[derive(Debug, Clone, Copy)]
struct Request {
    version: u8,
    opcode: u8,
    function: u16,
    seq: u16,
}

fn parse(p: &[u8]) -> WireResult<Request> {
    let mut r = Reader::new(p);
    r.expect_u8(S7PLUS_PROTOCOL, "S7CommPlus protocol id 0x72")?;
    let version = r.u8()?;
    // Data length, then the opcode.
    r.skip(2)?;
    let opcode = r.u8()?;
    // Reserved, then the function code.
    r.skip(2)?;
    let function = r.u16_be()?;
    // Reserved, then the sequence number.
    r.skip(2)?;
    let seq = r.u16_be()?;
    Ok(Request {
        version,
        opcode,
        function,
        seq,
    })
}

/// Handles one S7CommPlus TSDU.
pub fn handle(dev: &S7Device, p: &[u8], out: &mut Output) {
    let mut d = EventDraft::new("s7.plus_request");
    d.body.raw = Some(p.to_vec());
    let req = match parse(p) {
        Ok(req) => req,
        Err(e) => {
            // A frame too short for its header: a CPU drops the connection.
            d.body.error = Some(format!("malformed S7CommPlus request ({e}): connection closed"));
            out.events.push(d);
            out.close = true;
            return;
        }
    };
    let Request {
        version,
        opcode,
        function,
        seq,
    } = req;
    d.body.request = Some(json!({
        "version": version,
        "opcode": format!("{opcode:#04x}"),
        "function": format!("{function:#06x}"),
        "sequence": seq,
    }));
    if !dev.config.identity.family.s7plus() {
        d.body.error = Some("S7CommPlus on a CPU without it: connection closed".into());
        out.events.push(d);
        out.close = true;
        return;
    }
    if opcode != OP_REQUEST || function != FN_CREATE_OBJECT {
        // Anything beyond session setup needs the integrity protocol; a CPU answers an
        // unauthenticated request by closing the connection.
        d.body.error = Some("S7CommPlus request outside session setup: connection closed".into());
        out.events.push(d);
        out.close = true;
        return;
    }
    let session = 0x0000_0380u32 | u32::from(seq & 0x3F);
    let version = version.max(1);
    let mut frame = Vec::new();
    let written = append(&mut frame, MAX_FRAME, |w| {
        w.put_u8(S7PLUS_PROTOCOL)?;
        w.put_u8(version)?;
        let len = w.reserve_u16_be()?;
        w.put_u8(OP_RESPONSE)?;
        w.put_u16_be(0)?;
        w.put_u16_be(FN_CREATE_OBJECT)?;
        w.put_u16_be(0)?;
        w.put_u16_be(seq)?;
        w.put_u32_be(session)?;
        // Transport flags, return value 0 (success), one object id: the new session.
        w.put_bytes(&[0x00, 0x00, 0x01])?;
        w.put_bytes(&[0x87, 0x00, 0x00, 0x03])?;
        w.put_bytes(&[0x00, 0x00, 0x00, 0x00])?;
        w.patch_len(len)?;
        // The trailer: protocol id, version, no data.
        w.put_bytes(&[S7PLUS_PROTOCOL, version, 0x00, 0x00])
    })
    .and_then(|_| wire::emit_dt(&frame, 1024, &mut out.bytes));
    if let Err(e) = written {
        d.body.error = Some(format!("answer not framed: {e}"));
        out.events.push(d);
        out.close = true;
        return;
    }
    d.body.response = Some(json!({"session_id": format!("{session:#010x}"), "raw": hex::encode(&frame)}));
    out.events.push(d);
}
