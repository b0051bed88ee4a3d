//! One EtherNet/IP session as a sans-IO state machine: a TCP connection (with its
//! registered session handle and CIP connections) or the datagrams of one UDP source
//! (the List commands only, as the specification allows).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::event::{EventDraft, Transport};
use conpot_core::protocol::{Output, Session, SessionCtx};
use conpot_core::wire::{Reader, WireResult, Writer};
use serde_json::{Value as Json, json};

use crate::cip::general;
use crate::connection::Connections;
use crate::device::{EnipDevice, Trace};
use crate::wire::{self, Framed, Header, command, item, status};

/// The encapsulation port ListIdentity announces.
pub const ENIP_PORT: u16 = 44818;

/// A session's state.
#[derive(Debug)]
pub struct EnipSession {
    device: Arc<EnipDevice>,
    transport: Transport,
    local: Option<Ipv4Addr>,
    handle: Option<u32>,
    seed: u32,
    conns: Connections,
}

/// The name of an encapsulation command for events.
pub fn command_name(c: u16) -> &'static str {
    match c {
        command::NOP => "nop",
        command::LIST_SERVICES => "list_services",
        command::LIST_IDENTITY => "list_identity",
        command::LIST_INTERFACES => "list_interfaces",
        command::REGISTER_SESSION => "register_session",
        command::UNREGISTER_SESSION => "unregister_session",
        command::SEND_RR_DATA => "send_rr_data",
        command::SEND_UNIT_DATA => "send_unit_data",
        _ => "unknown",
    }
}

/// What one command produced: the reply (none for NOP, UnRegisterSession and unknown
/// connections), whether to close, and what the event says.
struct Handled {
    reply: Option<(u32, Vec<u8>)>,
    close: bool,
    session: Option<u32>,
    cip: Vec<Json>,
    note: Option<&'static str>,
}

impl Handled {
    fn status(s: u32) -> Handled {
        Handled {
            reply: Some((s, Vec::new())),
            close: false,
            session: None,
            cip: Vec::new(),
            note: None,
        }
    }

    fn reply(body: Vec<u8>) -> Handled {
        Handled {
            reply: Some((status::SUCCESS, body)),
            ..Handled::status(0)
        }
    }

    fn silent(note: &'static str) -> Handled {
        Handled {
            reply: None,
            note: Some(note),
            ..Handled::status(0)
        }
    }
}

fn body(f: impl FnOnce(&mut Writer<'_>) -> WireResult<()>) -> Vec<u8> {
    let mut out = Vec::new();
    if conpot_core::wire::append(&mut out, wire::MAX_DATA, f).is_err() {
        out.clear();
    }
    out
}

impl EnipSession {
    /// A session of `device` for `ctx`; `seed` varies the session handle and connection ids.
    pub fn new(device: Arc<EnipDevice>, ctx: &SessionCtx, seed: u32) -> Self {
        let local = match ctx.local.ip() {
            IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
            _ => None,
        };
        EnipSession {
            device,
            transport: ctx.transport,
            local,
            handle: None,
            seed,
            conns: Connections::new(seed.rotate_left(16)),
        }
    }

    fn list_identity(&self) -> Vec<u8> {
        let ip = self.local.unwrap_or(self.device.config.network.ip);
        body(|w| {
            w.put_u16_le(1)?;
            wire::put_item(w, item::IDENTITY, |w| {
                w.put_u16_le(1)?;
                w.put_u16_be(2)?;
                w.put_u16_be(ENIP_PORT)?;
                w.put_u32_be(u32::from(ip))?;
                w.put_fill(0, 8)?;
                self.device.put_identity(w)?;
                w.put_u8(self.device.config.identity.state)
            })
        })
    }

    fn list_services() -> Vec<u8> {
        body(|w| {
            w.put_u16_le(1)?;
            wire::put_item(w, item::SERVICE, |w| {
                w.put_u16_le(1)?;
                // Bit 5: CIP encapsulation over TCP; bit 8: class 0/1 over UDP.
                w.put_u16_le(0x0120)?;
                let mut name = [0u8; 16];
                name.get_mut(..14)
                    .unwrap_or_default()
                    .copy_from_slice(b"Communications");
                w.put_bytes(&name)
            })
        })
    }

    fn command(&mut self, h: &Header, data: &[u8], now: SystemTime) -> Handled {
        let tcp = self.transport == Transport::Tcp;
        match h.command {
            command::NOP => Handled::silent("nop"),
            command::LIST_IDENTITY => Handled::reply(self.list_identity()),
            command::LIST_SERVICES => Handled::reply(Self::list_services()),
            command::LIST_INTERFACES => Handled::reply(vec![0, 0]),
            command::REGISTER_SESSION if tcp => self.register(h, data),
            command::UNREGISTER_SESSION if tcp => {
                if self.handle.is_some() && self.handle == Some(h.session) {
                    self.handle = None;
                    Handled {
                        close: true,
                        ..Handled::silent("unregistered")
                    }
                } else {
                    Handled::status(status::INVALID_SESSION)
                }
            }
            command::SEND_RR_DATA | command::SEND_UNIT_DATA if tcp => {
                if self.handle.is_none() || self.handle != Some(h.session) {
                    return Handled::status(status::INVALID_SESSION);
                }
                self.send_data(h.command, data, now)
            }
            _ => Handled::status(status::INVALID_COMMAND),
        }
    }

    fn register(&mut self, h: &Header, data: &[u8]) -> Handled {
        if data.len() != 4 {
            return Handled::status(status::INVALID_LENGTH);
        }
        let mut r = Reader::new(data);
        let version = r.u16_le().unwrap_or(0);
        let options = r.u16_le().unwrap_or(0);
        let echo = vec![1, 0, 0, 0];
        if version != 1 || options != 0 {
            return Handled {
                reply: Some((status::UNSUPPORTED_PROTOCOL, echo)),
                ..Handled::status(0)
            };
        }
        if self.handle.is_some() {
            return Handled::status(status::INCORRECT_DATA);
        }
        let handle = self.seed.max(1);
        self.handle = Some(handle);
        let _ = h;
        Handled {
            session: Some(handle),
            ..Handled::reply(echo)
        }
    }

    fn send_data(&mut self, cmd: u16, data: &[u8], now: SystemTime) -> Handled {
        let mut r = Reader::new(data);
        let parsed = (|| {
            r.skip(6)?;
            wire::read_items(&mut r)
        })();
        let Ok(items) = parsed else {
            return Handled::status(status::INCORRECT_DATA);
        };
        let mut trace = Trace::default();
        let dev = Arc::clone(&self.device);
        let out = if cmd == command::SEND_RR_DATA {
            let [addr, msg] = items.as_slice() else {
                return Handled::status(status::INCORRECT_DATA);
            };
            if addr.kind != item::NULL_ADDRESS || msg.kind != item::UNCONNECTED_DATA {
                return Handled::status(status::INCORRECT_DATA);
            }
            let reply = dev.execute(msg.data, &mut self.conns, 0, now, &mut trace);
            let cip = reply.to_bytes(crate::device::MAX_CIP_REPLY);
            body(|w| {
                w.put_u32_le(0)?;
                w.put_u16_le(0)?;
                w.put_u16_le(2)?;
                wire::put_item(w, item::NULL_ADDRESS, |_| Ok(()))?;
                wire::put_item(w, item::UNCONNECTED_DATA, |w| w.put_bytes(&cip))
            })
        } else {
            let [addr, msg] = items.as_slice() else {
                return Handled::status(status::INCORRECT_DATA);
            };
            if addr.kind != item::CONNECTED_ADDRESS || msg.kind != item::CONNECTED_DATA {
                return Handled::status(status::INCORRECT_DATA);
            }
            let mut ar = Reader::new(addr.data);
            let mut mr = Reader::new(msg.data);
            let (Ok(id), Ok(seq)) = (ar.u32_le(), mr.u16_le()) else {
                return Handled::status(status::INCORRECT_DATA);
            };
            let Some(conn) = self.conns.find(id).copied() else {
                // A real adapter drops data for a connection it does not know.
                return Handled::silent("unknown_connection");
            };
            let reply = dev.execute(mr.rest(), &mut self.conns, 0, now, &mut trace);
            let cip = reply.to_bytes(crate::device::MAX_CIP_REPLY);
            body(|w| {
                w.put_u32_le(0)?;
                w.put_u16_le(0)?;
                w.put_u16_le(2)?;
                wire::put_item(w, item::CONNECTED_ADDRESS, |w| w.put_u32_le(conn.t_o_id))?;
                wire::put_item(w, item::CONNECTED_DATA, |w| {
                    w.put_u16_le(seq)?;
                    w.put_bytes(&cip)
                })
            })
        };
        Handled {
            reply: Some((status::SUCCESS, out)),
            close: trace.reset,
            session: None,
            cip: trace.requests,
            note: None,
        }
    }
}

fn malformed(error: &str, raw: &[u8]) -> EventDraft {
    let mut d = EventDraft::new("enip.malformed");
    d.body.error = Some(error.to_owned());
    d.body.raw = Some(raw.to_vec());
    d
}

impl Session for EnipSession {
    fn on_input(&mut self, input: &[u8], now: SystemTime, out: &mut Output) -> usize {
        let udp = self.transport == Transport::Udp;
        match wire::frame(input) {
            Framed::Incomplete => {
                if udp {
                    out.events
                        .push(malformed("datagram shorter than its encapsulation header says", input));
                }
                0
            }
            Framed::TooLong(h) => {
                // The length cannot be trusted: answer "invalid length" and, on TCP, close
                // (the stream cannot be resynchronised).
                let _ = wire::emit(&h.reply(status::INVALID_LENGTH), &mut out.bytes, |_| Ok(()));
                out.events.push(
                    malformed("encapsulation length over the limit", input)
                        .with("command", h.command)
                        .with("length", h.length),
                );
                out.close = !udp;
                input.len()
            }
            Framed::Frame { header, data, size } => {
                let raw = input.get(..size).unwrap_or_default();
                let handled = self.command(&header, data, now);
                let start = out.bytes.len();
                let mut sent_status = None;
                if let Some((st, reply_body)) = &handled.reply {
                    let mut h = header.reply(*st);
                    if let Some(s) = handled.session {
                        h.session = s;
                    }
                    let fits = out.reply_limit.is_none_or(|l| wire::HEADER_LEN + reply_body.len() <= l);
                    if fits && wire::emit(&h, &mut out.bytes, |w| w.put_bytes(reply_body)).is_ok() {
                        sent_status = Some(*st);
                    }
                    if udp {
                        out.end_datagram();
                    }
                }
                out.close |= handled.close;
                let mut d = EventDraft::new("enip.request")
                    .with("command", command_name(header.command))
                    .with("command_code", header.command)
                    .with("session_handle", header.session)
                    .with("status", sent_status.map_or(Json::Null, Json::from));
                let mut req = json!({"command": command_name(header.command)});
                if !handled.cip.is_empty()
                    && let Some(m) = req.as_object_mut()
                {
                    m.insert("cip".into(), Json::Array(handled.cip));
                }
                d.body.request = Some(req);
                d.body.response = Some(match (sent_status, handled.note) {
                    (Some(s), _) => json!({"status": s}),
                    (None, Some(n)) => json!({"reply": "none", "reason": n}),
                    (None, None) => json!({"reply": "none"}),
                });
                d.body.raw = Some(raw.to_vec());
                if let Some(reply) = out.bytes.get(start..).filter(|b| !b.is_empty()) {
                    d.body.raw_response = Some(reply.to_vec());
                }
                out.events.push(d);
                let _ = general::SUCCESS;
                size
            }
        }
    }

    fn on_eof(&mut self, rest: &[u8], _now: SystemTime, out: &mut Output) {
        if !rest.is_empty() {
            out.events
                .push(malformed("connection closed inside a message (truncated)", rest));
        }
    }
}
