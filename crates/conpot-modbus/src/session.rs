//! One Modbus/TCP connection as a sans-IO session: frames in, replies and events out.

use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::event::EventDraft;
use conpot_core::protocol::{Output, Session, response_delay};
use serde_json::{Value as Json, json};

use crate::device::{Handled, ModbusDevice};
use crate::pdu::{Request, function_name};
use crate::wire::{self, Framed, Mbap};

/// A connection's state (Modbus/TCP keeps none beyond framing).
#[derive(Debug)]
pub struct ModbusSession {
    device: Arc<ModbusDevice>,
}

impl ModbusSession {
    /// A session served by `device`.
    pub fn new(device: Arc<ModbusDevice>) -> Self {
        ModbusSession { device }
    }
}

fn malformed(error: &str, raw: &[u8]) -> EventDraft {
    let mut d = EventDraft::new("modbus.malformed");
    d.body.error = Some(error.to_owned());
    d.body.raw = Some(raw.to_vec());
    d
}

impl Session for ModbusSession {
    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        match wire::frame(input) {
            Framed::Incomplete => 0,
            Framed::BadLength(mbap) => {
                // Framing is lost: a real stack drops the connection.
                out.events.push(
                    malformed("MBAP length outside 2..=254: framing lost, connection closed", input)
                        .with("transaction_id", mbap.transaction)
                        .with("length", mbap.length),
                );
                out.close = true;
                input.len()
            }
            Framed::Frame { mbap, pdu, size } => {
                let raw = input.get(..size).unwrap_or_default();
                if mbap.protocol != 0 {
                    // Not Modbus: real servers discard such frames without answering.
                    out.events.push(
                        malformed("protocol identifier is not 0: frame discarded", raw)
                            .with("protocol_id", mbap.protocol),
                    );
                    return size;
                }
                let handled = self.device.handle(mbap.unit, pdu, now);
                let start = out.bytes.len();
                if let Some(resp) = &handled.response {
                    wire::emit(&mbap, resp, &mut out.bytes);
                    out.delay = out.delay.max(response_delay(self.device.config.response_time_ms));
                }
                out.events.push(request_event(
                    &mbap,
                    pdu,
                    raw,
                    &handled,
                    out.bytes.get(start..).unwrap_or_default(),
                ));
                size
            }
        }
    }

    fn on_eof(&mut self, rest: &[u8], _now: SystemTime, out: &mut Output) {
        if !rest.is_empty() {
            out.events
                .push(malformed("connection closed inside a frame (truncated)", rest));
        }
    }
}

fn request_event(mbap: &Mbap, pdu: &[u8], raw: &[u8], h: &Handled, reply: &[u8]) -> EventDraft {
    let fc = pdu.first().copied().unwrap_or(0);
    let mut d = EventDraft::new("modbus.request")
        .with("transaction_id", mbap.transaction)
        .with("unit_id", mbap.unit)
        .with("slave_id", h.slave.map_or(Json::Null, Json::from))
        .with("function_code", fc);
    d.body.request = Some(match &h.request {
        Ok(r) => r.to_json(),
        Err(_) => json!({"function": function_name(fc), "malformed": true}),
    });
    d.body.response = Some(match &h.response {
        None => json!({"reply": "none"}),
        Some(resp) => response_json(h.request.as_ref().ok(), resp),
    });
    d.body.raw = Some(raw.to_vec());
    if !reply.is_empty() {
        d.body.raw_response = Some(reply.to_vec());
    }
    d
}

fn response_json(req: Option<&Request>, resp: &[u8]) -> Json {
    let fc = resp.first().copied().unwrap_or(0);
    if fc & 0x80 != 0 {
        let code = resp.get(1).copied().unwrap_or(0);
        return json!({"exception": code, "exception_name": exception_name(code)});
    }
    let data = resp.get(2..).unwrap_or_default();
    match req {
        Some(Request::ReadBits { quantity, .. }) => {
            let bits: Vec<u8> = (0..usize::from(*quantity))
                .map(|i| data.get(i / 8).map_or(0, |b| (b >> (i % 8)) & 1))
                .collect();
            json!({"values": bits})
        }
        Some(Request::ReadRegisters { .. }) => {
            let regs: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes(<[u8; 2]>::try_from(c).unwrap_or_default()))
                .collect();
            json!({"values": regs})
        }
        Some(Request::ReadDeviceId { .. }) => device_id_json(resp),
        Some(Request::ReportServerId) => {
            let body = resp.get(2..).unwrap_or_default();
            json!({"server_id": String::from_utf8_lossy(body), "raw": conpot_core::hex::encode(body)})
        }
        _ => json!({"ok": true}),
    }
}

/// Decodes a Read Device Identification response into its objects.
fn device_id_json(resp: &[u8]) -> Json {
    let mut objects = serde_json::Map::new();
    let mut at = 7;
    while let (Some(&id), Some(&len)) = (resp.get(at), resp.get(at + 1)) {
        let value = resp.get(at + 2..at + 2 + usize::from(len)).unwrap_or_default();
        objects.insert(format!("{id:#04x}"), String::from_utf8_lossy(value).into());
        at += 2 + usize::from(len);
    }
    json!({
        "conformity": resp.get(3).copied().unwrap_or(0),
        "more_follows": resp.get(4).copied().unwrap_or(0) == 0xFF,
        "next_object_id": resp.get(5).copied().unwrap_or(0),
        "objects": objects,
    })
}

fn exception_name(code: u8) -> &'static str {
    match code {
        0x01 => "ILLEGAL FUNCTION",
        0x02 => "ILLEGAL DATA ADDRESS",
        0x03 => "ILLEGAL DATA VALUE",
        0x04 => "SERVER DEVICE FAILURE",
        0x0A => "GATEWAY PATH UNAVAILABLE",
        0x0B => "GATEWAY TARGET DEVICE FAILED TO RESPOND",
        _ => "UNKNOWN",
    }
}
