//! S7CommPlus (protocol id 0x72): the connection setup (CreateObject) that S7-1200/1500
//! scanners send first. Answered with a CreateObject response opening a session, so the
//! port does not look dead; everything is logged. CPUs without S7CommPlus close.

use conpot_core::event::EventDraft;
use conpot_core::hex;
use conpot_core::protocol::Output;
use serde_json::json;

use crate::device::S7Device;
use crate::wire::{self, S7PLUS_PROTOCOL};

/// Opcode of a request.
const OP_REQUEST: u8 = 0x31;
/// Opcode of a response.
const OP_RESPONSE: u8 = 0x32;
/// Function code of CreateObject.
const FN_CREATE_OBJECT: u16 = 0x04CA;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Handles one S7CommPlus TSDU.
pub fn handle(dev: &S7Device, p: &[u8], out: &mut Output) {
    let version = p.get(1).copied().unwrap_or(0);
    let opcode = p.get(4).copied().unwrap_or(0);
    let function = be16(p, 7).unwrap_or(0);
    let seq = be16(p, 11).unwrap_or(0);
    let mut d = EventDraft::new("s7.plus_request");
    d.body.raw = Some(p.to_vec());
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
    let mut body = vec![OP_RESPONSE, 0x00, 0x00];
    body.extend(FN_CREATE_OBJECT.to_be_bytes());
    body.extend([0x00, 0x00]);
    body.extend(seq.to_be_bytes());
    body.extend(session.to_be_bytes());
    // Transport flags, return value 0 (success), one object id: the new session.
    body.extend([0x00, 0x00, 0x01]);
    body.extend([0x87, 0x00, 0x00, 0x03]);
    body.extend([0x00, 0x00, 0x00, 0x00]);
    let mut frame = vec![S7PLUS_PROTOCOL, version.max(1)];
    frame.extend((body.len() as u16).to_be_bytes());
    frame.extend(&body);
    frame.extend([S7PLUS_PROTOCOL, version.max(1), 0x00, 0x00]);
    wire::emit_dt(&frame, 1024, &mut out.bytes);
    d.body.response = Some(json!({"session_id": format!("{session:#010x}"), "raw": hex::encode(&frame)}));
    out.events.push(d);
}
