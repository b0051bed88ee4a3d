//! One Modbus/TCP connection as a sans-IO session: frames in, replies and events out.

use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::event::EventDraft;
use conpot_core::protocol::{Output, Session};
use serde_json::{Value as Json, json};

use crate::device::{Handled, ModbusDevice};
use crate::pdu::{Exception, Response, function_name};
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
                let mut handled = self.device.handle(mbap.unit, pdu, now);
                let start = out.bytes.len();
                if let Some(resp) = handled.response.take() {
                    handled.response = Some(send(&mbap, handled.function, resp, &mut out.bytes));
                }
                out.events.push(request_event(
                    &mbap,
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

/// Sends `resp`; returns what was sent. A response that does not fit a PDU (the device
/// builds none) would be replaced by SERVER DEVICE FAILURE.
fn send(mbap: &Mbap, function: u8, resp: Response, out: &mut Vec<u8>) -> Response {
    answer(function, resp, out, |r, out| wire::emit(mbap, out, |w| r.encode(w)))
}

/// Frames `resp` into `out` with `frame` (MBAP for Modbus/TCP, address and CRC for RTU)
/// and returns what was sent: a response that does not fit the frame is replaced by
/// SERVER DEVICE FAILURE, which always fits. Every Modbus framing answers through it.
pub fn answer(
    function: u8,
    resp: Response,
    out: &mut Vec<u8>,
    frame: impl Fn(&Response, &mut Vec<u8>) -> conpot_core::wire::WireResult<()>,
) -> Response {
    if frame(&resp, out).is_ok() {
        return resp;
    }
    let failure = Response::Exception {
        function,
        exception: Exception::ServerDeviceFailure,
    };
    // Two bytes always fit.
    let _ = frame(&failure, out);
    failure
}

/// The event of one request: decoded request and response, the bytes of both.
fn request_event(mbap: &Mbap, raw: &[u8], h: &Handled, reply: &[u8]) -> EventDraft {
    event(Some(mbap.transaction), mbap.unit, raw, h, reply)
}

/// The `modbus.request` event of one handled request, whatever framed it: `transaction`
/// is the MBAP transaction id (`None` for RTU, which has none), `unit` the unit or slave
/// address, `raw` and `reply` the frames as they were on the wire.
pub fn event(transaction: Option<u16>, unit: u8, raw: &[u8], h: &Handled, reply: &[u8]) -> EventDraft {
    let mut d = EventDraft::new("modbus.request");
    if let Some(t) = transaction {
        d = d.with("transaction_id", t);
    }
    let mut d = d
        .with("unit_id", unit)
        .with("slave_id", h.slave.map_or(Json::Null, Json::from))
        .with("function_code", h.function);
    d.body.request = Some(match &h.request {
        Ok(r) => r.to_json(),
        Err(_) => json!({"function": function_name(h.function), "malformed": true}),
    });
    d.body.response = Some(match &h.response {
        None => json!({"reply": "none"}),
        Some(resp) => resp.describe(),
    });
    d.body.raw = Some(raw.to_vec());
    if !reply.is_empty() {
        d.body.raw_response = Some(reply.to_vec());
    }
    d
}
