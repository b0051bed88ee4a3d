//! One ISO-on-TCP connection to the CPU: COTP connection, S7 setup, then jobs and user
//! data, answered as an S7 CPU does. Plain code over bytes; time comes in as an argument.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::auth::Privilege;
use conpot_core::event::EventDraft;
use conpot_core::hex;
use conpot_core::protocol::{Capture, Output, Session};
use serde_json::{Value as Json, json};

use crate::blocks::{self, Block};
use crate::device::{S7Device, bcd_time, parse_bcd_time};
use crate::memory::{Area, ItemError};
use crate::szl;
use crate::wire::{self, Cotp, S7_PROTOCOL, S7PLUS_PROTOCOL, Tpkt, rosctr};

/// Largest TSDU reassembled from segmented DT TPDUs.
const MAX_TSDU: usize = 65_536;
/// Most items one read or write job may carry (as an S7-300 accepts).
const MAX_ITEMS: usize = 20;

/// Header error: the service is not available in this state or not supported.
const ERR_CONTEXT: u16 = 0x8104;
/// Header error: the PDU is longer than negotiated.
const ERR_PDU_SIZE: u16 = 0x8500;
/// Header error: access denied by the protection level.
const ERR_PROTECTED: u16 = 0xD604;
/// Userdata error: the password is wrong.
const UD_ERR_PASSWORD: u16 = 0xD602;
/// Userdata error: the function is not implemented.
const UD_ERR_UNSUPPORTED: u16 = 0x8104;
/// Userdata error: block not found.
const UD_ERR_NO_BLOCK: u16 = 0xD209;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitConnect,
    AwaitSetup,
    Ready,
}

#[derive(Debug)]
struct Upload {
    id: u8,
    name: String,
    image: Vec<u8>,
    pos: usize,
}

#[derive(Debug)]
struct Download {
    kind: u8,
    number: u16,
    name: String,
    data: Vec<u8>,
    received: usize,
    address: Vec<u8>,
}

#[derive(Debug)]
struct Pending {
    group: u8,
    sub: u8,
    seq: u8,
    rest: Vec<u8>,
}

/// A connection's state.
#[derive(Debug)]
pub struct S7Session {
    dev: Arc<S7Device>,
    phase: Phase,
    tpdu_max: usize,
    peer_ref: u16,
    own_ref: u16,
    pdu_size: u16,
    tsdu: Vec<u8>,
    ud_seq: u8,
    job_ref: u16,
    upload: Option<Upload>,
    download: Option<Download>,
    pending: Option<Pending>,
    /// What the password given on this connection allows (`None`: no password yet).
    privilege: Option<Privilege>,
    /// The attacker's address, whose password attempts are counted.
    peer: IpAddr,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
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
            phase: Phase::AwaitConnect,
            tpdu_max: 1024,
            peer_ref: 0,
            own_ref: own_ref.max(1),
            pdu_size: 240,
            tsdu: Vec::new(),
            ud_seq: 0,
            job_ref: 0x0100,
            upload: None,
            download: None,
            pending: None,
            privilege: None,
            peer: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }

    /// The session with the attacker's address `peer` (password attempts are counted per
    /// source).
    pub fn with_peer(mut self, peer: IpAddr) -> Self {
        self.peer = peer;
        self
    }

    fn close_with_dr(&self, out: &mut Output, why: &str, raw: &[u8]) {
        let mut d = event("s7.malformed", raw);
        d.body.error = Some(why.to_owned());
        out.events.push(d);
        if self.phase != Phase::AwaitConnect {
            wire::emit_dr(self.peer_ref, self.own_ref, 0x80, &mut out.bytes);
        }
        out.close = true;
    }

    fn send(&self, pdu: &[u8], out: &mut Output) {
        out.delay = out
            .delay
            .max(conpot_core::protocol::response_delay(self.dev.config.response_time_ms));
        wire::emit_dt(pdu, self.tpdu_max, &mut out.bytes);
    }

    fn protected_write(&self) -> bool {
        self.dev.config.protection >= 2 && !self.privilege.is_some_and(Privilege::may_write)
    }

    fn protected_read(&self) -> bool {
        self.dev.config.protection >= 3 && !self.privilege.is_some_and(Privilege::may_read)
    }

    fn handle_tpdu(&mut self, tpdu: &[u8], raw: &[u8], now: SystemTime, out: &mut Output) {
        match wire::cotp(tpdu) {
            Err(e) => self.close_with_dr(out, &format!("malformed COTP TPDU: {e:?}"), raw),
            Ok(Cotp::ConnectRequest {
                src_ref,
                tpdu_size,
                calling_tsap,
                called_tsap,
            }) => {
                if self.phase != Phase::AwaitConnect {
                    return self.close_with_dr(out, "connection request on an open connection", raw);
                }
                let code = tpdu_size.unwrap_or(0x0A).clamp(0x07, 0x0A);
                self.tpdu_max = 1usize << code;
                self.peer_ref = src_ref;
                wire::emit_cc(src_ref, self.own_ref, code, calling_tsap, called_tsap, &mut out.bytes);
                self.phase = Phase::AwaitSetup;
                let (rack, slot) = called_tsap.get(1).map_or((0, 0), |b| (b >> 5, b & 0x1F));
                let mut d = event("s7.cotp_connect", raw);
                d.body.request = Some(json!({
                    "calling_tsap": hex::encode(calling_tsap),
                    "called_tsap": hex::encode(called_tsap),
                    "rack": rack,
                    "slot": slot,
                    "tpdu_size": self.tpdu_max,
                }));
                out.events.push(d);
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
                if self.phase == Phase::AwaitConnect {
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
        let pdu = match wire::s7(p) {
            Ok(pdu) => pdu,
            Err(e) => {
                // A header the CPU cannot read: answered with a header error, as a CPU does.
                let mut d = event("s7.malformed", p);
                d.body.error = Some(format!("S7 header: {e:?}"));
                out.events.push(d);
                let reference = be16(p, 4).unwrap_or(0);
                self.send(
                    &wire::emit_s7(rosctr::ACK_DATA, reference, Some(ERR_CONTEXT), &[], &[]),
                    out,
                );
                return;
            }
        };
        if p.len() > usize::from(self.pdu_size) && self.phase == Phase::Ready {
            let mut d = event("s7.malformed", p);
            d.body.error = Some(format!("PDU of {} bytes, {} negotiated", p.len(), self.pdu_size));
            out.events.push(d);
            self.send(
                &wire::emit_s7(rosctr::ACK_DATA, pdu.pdu_ref, Some(ERR_PDU_SIZE), &[], &[]),
                out,
            );
            return;
        }
        let function = pdu.param.first().copied().unwrap_or(0);
        if self.phase == Phase::AwaitSetup && !(pdu.rosctr == rosctr::JOB && function == 0xF0) {
            let mut d = event("s7.malformed", p);
            d.body.error = Some("request before setup communication".into());
            out.events.push(d);
            self.send(
                &wire::emit_s7(rosctr::ACK_DATA, pdu.pdu_ref, Some(ERR_CONTEXT), &[], &[]),
                out,
            );
            return;
        }
        match pdu.rosctr {
            rosctr::JOB => self.job(pdu.pdu_ref, function, pdu.param, pdu.data, p, now, out),
            rosctr::USERDATA => self.userdata(pdu.pdu_ref, pdu.param, pdu.data, p, now, out),
            rosctr::ACK_DATA => self.job_answer(pdu.param, pdu.data, p, out),
            other => {
                let mut d = event("s7.malformed", p);
                d.body.error = Some(format!("ROSCTR {other:#04x} not accepted from a client"));
                out.events.push(d);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn job(
        &mut self,
        reference: u16,
        function: u8,
        param: &[u8],
        data: &[u8],
        raw: &[u8],
        now: SystemTime,
        out: &mut Output,
    ) {
        let reply =
            |err: u16, param: &[u8], data: &[u8]| wire::emit_s7(rosctr::ACK_DATA, reference, Some(err), param, data);
        match function {
            0xF0 => {
                let (Some(amq_calling), Some(amq_called), Some(pdu)) = (be16(param, 2), be16(param, 4), be16(param, 6))
                else {
                    let r = reply(ERR_CONTEXT, &[], &[]);
                    self.send(&r, out);
                    return out.events.push(event("s7.malformed", raw));
                };
                let fam = self.dev.config.identity.family;
                self.pdu_size = pdu.clamp(64, fam.max_pdu());
                let amq = |v: u16| v.clamp(1, fam.max_amq());
                let mut prm = vec![0xF0, 0x00];
                prm.extend(amq(amq_calling).to_be_bytes());
                prm.extend(amq(amq_called).to_be_bytes());
                prm.extend(self.pdu_size.to_be_bytes());
                let r = reply(0, &prm, &[]);
                self.send(&r, out);
                self.phase = Phase::Ready;
                let mut d = event("s7.setup", raw);
                d.body.request =
                    Some(json!({"pdu_size": pdu, "max_amq_calling": amq_calling, "max_amq_called": amq_called}));
                d.body.response = Some(json!({"pdu_size": self.pdu_size, "max_amq": amq(amq_calling)}));
                out.events.push(d);
            }
            0x04 => self.read_var(reference, param, raw, now, out),
            0x05 => self.write_var(reference, param, data, raw, now, out),
            0x28 | 0x29 => self.control(reference, function, param, raw, now, out),
            0x1D => self.start_upload(reference, param, raw, now, out),
            0x1E | 0x1F => self.upload_step(reference, function, param, raw, out),
            0x1A => self.request_download(reference, param, raw, out),
            other => {
                let r = reply(ERR_CONTEXT, &[], &[]);
                self.send(&r, out);
                let mut d = event("s7.unsupported", raw);
                d.body.request = Some(json!({"function": other}));
                d.body.error = Some(format!("job function {other:#04x} not supported"));
                out.events.push(d);
            }
        }
    }

    fn items(param: &[u8]) -> Result<Vec<Item>, ()> {
        let count = usize::from(*param.get(1).ok_or(())?);
        if count == 0 || count > MAX_ITEMS {
            return Err(());
        }
        let mut items = Vec::with_capacity(count);
        let mut at = 2;
        for _ in 0..count {
            let spec = param.get(at..at + 12).ok_or(())?;
            if spec.first() != Some(&0x12) || spec.get(2) != Some(&0x10) {
                return Err(());
            }
            let ts = *spec.get(3).ok_or(())?;
            let count = be16(spec, 4).ok_or(())?;
            let db = be16(spec, 6).ok_or(())?;
            let area = *spec.get(8).ok_or(())?;
            let addr = u32::from_be_bytes([
                0,
                *spec.get(9).ok_or(())?,
                *spec.get(10).ok_or(())?,
                *spec.get(11).ok_or(())?,
            ]);
            items.push(Item {
                ts,
                count,
                db,
                area,
                addr,
            });
            at += 12;
        }
        Ok(items)
    }

    fn read_var(&mut self, reference: u16, param: &[u8], raw: &[u8], now: SystemTime, out: &mut Output) {
        if param.get(1).is_none_or(|&n| n == 0) {
            // A read of no items (python-snap7 probes the CPU state this way): an empty
            // result, as the job asked for nothing.
            self.send(
                &wire::emit_s7(rosctr::ACK_DATA, reference, Some(0), &[0x04, 0x00], &[]),
                out,
            );
            let mut d = event("s7.read_var", raw);
            d.body.request = Some(json!({"items": []}));
            return out.events.push(d);
        }
        let Ok(items) = Self::items(param) else {
            self.send(
                &wire::emit_s7(rosctr::ACK_DATA, reference, Some(ERR_CONTEXT), &[], &[]),
                out,
            );
            let mut d = event("s7.read_var", raw);
            d.body.error = Some("malformed item list".into());
            return out.events.push(d);
        };
        let mut data = Vec::new();
        let mut logged = Vec::new();
        let n = items.len();
        for (i, it) in items.iter().enumerate() {
            let result = if self.protected_read() {
                Err(ItemError::Access)
            } else {
                it.read(&self.dev, now)
            };
            match &result {
                Ok((ts, bytes)) => {
                    data.push(0xFF);
                    data.push(*ts);
                    let len = if matches!(ts, 0x04 | 0x05) {
                        bytes.len() * 8
                    } else {
                        bytes.len()
                    };
                    data.extend((len as u16).to_be_bytes());
                    data.extend_from_slice(bytes);
                    if bytes.len() % 2 == 1 && i + 1 < n {
                        data.push(0);
                    }
                }
                Err(e) => data.extend_from_slice(&[*e as u8, 0x00, 0x00, 0x00]),
            }
            logged.push(it.describe(
                result.as_ref().ok().map(|(_, b)| b.as_slice()),
                result.as_ref().err().copied(),
            ));
        }
        let pdu = if 10 + 2 + 2 + data.len() > usize::from(self.pdu_size) {
            wire::emit_s7(rosctr::ACK_DATA, reference, Some(ERR_PDU_SIZE), &[], &[])
        } else {
            wire::emit_s7(rosctr::ACK_DATA, reference, Some(0), &[0x04, n as u8], &data)
        };
        self.send(&pdu, out);
        let mut d = event("s7.read_var", raw);
        d.body.request = Some(json!({"items": logged}));
        out.events.push(d);
    }

    fn write_var(&mut self, reference: u16, param: &[u8], data: &[u8], raw: &[u8], now: SystemTime, out: &mut Output) {
        let Ok(items) = Self::items(param) else {
            self.send(
                &wire::emit_s7(rosctr::ACK_DATA, reference, Some(ERR_CONTEXT), &[], &[]),
                out,
            );
            let mut d = event("s7.write_var", raw);
            d.body.error = Some("malformed item list".into());
            return out.events.push(d);
        };
        let mut codes = Vec::with_capacity(items.len());
        let mut logged = Vec::new();
        let mut at = 0usize;
        let n = items.len();
        for (i, it) in items.iter().enumerate() {
            let header = data.get(at..at + 4);
            let (value, next) = match header {
                Some(h) => {
                    let ts = h.get(1).copied().unwrap_or(0);
                    let len = usize::from(be16(h, 2).unwrap_or(0));
                    let bytes = if matches!(ts, 0x03 | 0x07 | 0x09) {
                        len
                    } else {
                        len.div_ceil(8)
                    };
                    let v = data.get(at + 4..at + 4 + bytes);
                    let pad = usize::from(bytes % 2 == 1 && i + 1 < n);
                    (v, at + 4 + bytes + pad)
                }
                None => (None, at),
            };
            at = next;
            let result = match value {
                None => Err(ItemError::Inconsistent),
                Some(_) if self.protected_write() => Err(ItemError::Access),
                Some(v) => it.write(&self.dev, v, now),
            };
            codes.push(match result {
                Ok(()) => 0xFF,
                Err(e) => e as u8,
            });
            let mut desc = it.describe(None, result.err());
            if let (Some(obj), Some(v)) = (desc.as_object_mut(), value) {
                obj.insert("value".into(), hex::encode(v).into());
            }
            logged.push(desc);
        }
        self.send(
            &wire::emit_s7(rosctr::ACK_DATA, reference, Some(0), &[0x05, n as u8], &codes),
            out,
        );
        let mut d = event("s7.write_var", raw);
        d.body.request = Some(json!({"items": logged}));
        out.events.push(d);
    }

    fn control(&mut self, reference: u16, function: u8, param: &[u8], raw: &[u8], now: SystemTime, out: &mut Output) {
        // PI service: the service name is the last length-prefixed string of the parameter.
        let name = param.last().map(|_| pi_service(param, function)).unwrap_or_default();
        let args = if function == 0x28 { pi_args(param) } else { Vec::new() };
        let action = match (function, name.as_str()) {
            (0x29, _) => "stop",
            (0x28, "P_PROGRAM") if args.iter().any(|a| a.starts_with('C')) => "cold_start",
            (0x28, "P_PROGRAM") => "hot_start",
            (0x28, "_GARB") => "compress",
            (0x28, "_MODU") => "copy_ram_to_rom",
            (0x28, "_DELE") => "delete_block",
            (0x28, "_INSE") => "insert_block",
            _ => "unknown",
        };
        let mut d = event("s7.plc_control", raw);
        d.body.request = Some(json!({"service": name, "action": action, "arguments": args}));
        let err = if self.protected_write() {
            Some(ERR_PROTECTED)
        } else {
            match action {
                "stop" => {
                    self.dev.set_running(false, now);
                    None
                }
                "hot_start" | "cold_start" => {
                    self.dev.set_running(true, now);
                    None
                }
                "unknown" => Some(ERR_CONTEXT),
                _ => None,
            }
        };
        let pdu = match err {
            Some(e) => wire::emit_s7(rosctr::ACK_DATA, reference, Some(e), &[], &[]),
            None => wire::emit_s7(rosctr::ACK_DATA, reference, Some(0), &[function], &[]),
        };
        self.send(&pdu, out);
        d.body.response = Some(json!({"ok": err.is_none(), "run": self.dev.running(now)}));
        out.events.push(d);
    }

    fn start_upload(&mut self, reference: u16, param: &[u8], raw: &[u8], now: SystemTime, out: &mut Output) {
        let addr = param.get(9..).and_then(|a| a.get(..usize::from(*param.get(8)?)));
        let found = addr.and_then(parse_block_address).and_then(|(kind, number)| {
            let blocks = self.dev.blocks.read().ok()?;
            blocks.iter().find(|b| b.kind == kind && b.number == number).cloned()
        });
        let mut d = event("s7.upload", raw);
        let name = addr
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .unwrap_or_default();
        let pdu = match found.filter(|_| !self.protected_read()) {
            Some(block) => {
                let image = if block.kind == 0x41 {
                    self.db_image(&block, now)
                } else {
                    block.image()
                };
                let id = self.ud_seq.wrapping_add(7).max(1);
                let mut prm = vec![0x1D, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, id, 0x07];
                prm.extend(format!("{:07}", image.len().min(9_999_999)).bytes());
                d.body.response = Some(json!({"block": name, "size": image.len()}));
                self.upload = Some(Upload {
                    id,
                    name: name.clone(),
                    image,
                    pos: 0,
                });
                wire::emit_s7(rosctr::ACK_DATA, reference, Some(0), &prm, &[])
            }
            None => {
                d.body.error = Some(format!("block {name:?} not found"));
                wire::emit_s7(rosctr::ACK_DATA, reference, Some(0xD209), &[], &[])
            }
        };
        d.body.request = Some(json!({"phase": "start", "block": name}));
        self.send(&pdu, out);
        out.events.push(d);
    }

    fn db_image(&self, block: &Block, now: SystemTime) -> Vec<u8> {
        let mut b = block.clone();
        if let Some(size) = self
            .dev
            .config
            .memory
            .areas
            .get(&Area::Db(block.number))
            .map(|m| m.size)
            && let Ok(bytes) = self
                .dev
                .config
                .memory
                .read(&self.dev.databus, Area::Db(block.number), 0, size, now)
        {
            b.code = bytes;
        }
        b.image()
    }

    fn upload_step(&mut self, reference: u16, function: u8, param: &[u8], raw: &[u8], out: &mut Output) {
        let id = param.get(7).copied();
        let mut d = event("s7.upload", raw);
        let valid = self.upload.as_ref().is_some_and(|u| Some(u.id) == id);
        if !valid {
            d.body.error = Some("no upload in progress with that id".into());
            self.send(
                &wire::emit_s7(rosctr::ACK_DATA, reference, Some(ERR_CONTEXT), &[], &[]),
                out,
            );
            return out.events.push(d);
        }
        if function == 0x1F {
            if let Some(u) = self.upload.take() {
                d.body.request = Some(json!({"phase": "end", "block": u.name, "sent": u.pos}));
            }
            self.send(&wire::emit_s7(rosctr::ACK_DATA, reference, Some(0), &[0x1F], &[]), out);
            return out.events.push(d);
        }
        let room = usize::from(self.pdu_size).saturating_sub(12 + 2 + 4).max(16);
        let Some(u) = self.upload.as_mut() else {
            return;
        };
        let chunk = u
            .image
            .get(u.pos..(u.pos + room).min(u.image.len()))
            .unwrap_or_default()
            .to_vec();
        u.pos += chunk.len();
        let more = u.pos < u.image.len();
        let mut data = (chunk.len() as u16).to_be_bytes().to_vec();
        data.extend([0x00, 0xFB]);
        data.extend_from_slice(&chunk);
        d.body.request =
            Some(json!({"phase": "data", "block": u.name, "offset": u.pos - chunk.len(), "length": chunk.len()}));
        self.send(
            &wire::emit_s7(rosctr::ACK_DATA, reference, Some(0), &[0x1E, u8::from(more)], &data),
            out,
        );
        out.events.push(d);
    }

    fn request_download(&mut self, reference: u16, param: &[u8], raw: &[u8], out: &mut Output) {
        let addr = param.get(9..18).map(<[u8]>::to_vec).unwrap_or_default();
        let name = String::from_utf8_lossy(&addr).into_owned();
        let sizes = param
            .get(19..)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default();
        let mut d = event("s7.download", raw);
        d.body.request = Some(json!({"phase": "request", "block": name, "sizes": sizes}));
        let full = self
            .dev
            .blocks
            .read()
            .map(|b| b.len() >= self.dev.config.max_blocks)
            .unwrap_or(true);
        match parse_block_address(&addr) {
            Some((kind, number)) if !self.protected_write() && !full => {
                self.send(&wire::emit_s7(rosctr::ACK_DATA, reference, Some(0), &[0x1A], &[]), out);
                self.download = Some(Download {
                    kind,
                    number,
                    name,
                    data: Vec::new(),
                    received: 0,
                    address: addr,
                });
                self.request_block_data(0x1B, out);
            }
            _ => {
                d.body.error = Some("download refused".into());
                let err = if self.protected_write() { ERR_PROTECTED } else { 0xD20E };
                self.send(&wire::emit_s7(rosctr::ACK_DATA, reference, Some(err), &[], &[]), out);
            }
        }
        out.events.push(d);
    }

    /// Sends the CPU's own job asking the client for the next part of the download (0x1B)
    /// or telling it the download ended (0x1C).
    fn request_block_data(&mut self, function: u8, out: &mut Output) {
        let Some(dl) = &self.download else { return };
        self.job_ref = self.job_ref.wrapping_add(1);
        let mut prm = vec![function, 0, 0, 0, 0, 0, 0, 0, dl.address.len() as u8];
        prm.extend_from_slice(&dl.address);
        let pdu = wire::emit_s7(rosctr::JOB, self.job_ref, None, &prm, &[]);
        self.send(&pdu, out);
    }

    fn job_answer(&mut self, param: &[u8], data: &[u8], raw: &[u8], out: &mut Output) {
        let function = param.first().copied().unwrap_or(0);
        let Some(dl) = self.download.as_mut() else {
            let mut d = event("s7.malformed", raw);
            d.body.error = Some("acknowledgement with no job outstanding".into());
            return out.events.push(d);
        };
        match function {
            0x1B => {
                let more = param.get(1) == Some(&1);
                let len = usize::from(be16(data, 0).unwrap_or(0));
                let chunk = data
                    .get(4..4 + len)
                    .unwrap_or_else(|| data.get(4..).unwrap_or_default());
                dl.received += chunk.len();
                let room = self.dev.config.max_block.saturating_sub(dl.data.len());
                dl.data
                    .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
                let next = if more && dl.received < 16 * self.dev.config.max_block.max(1) {
                    0x1B
                } else {
                    0x1C
                };
                self.request_block_data(next, out);
            }
            0x1C => {
                if let Some(dl) = self.download.take() {
                    let mut block = Block {
                        kind: dl.kind,
                        number: dl.number,
                        lang: dl.data.get(4).copied().unwrap_or(1),
                        author: String::new(),
                        family: String::new(),
                        name: String::new(),
                        version: 0x01,
                        code: dl.data.get(36..).unwrap_or_default().to_vec(),
                        modified: (0, 0),
                    };
                    if block.code.is_empty() {
                        block.code = dl.data.clone();
                    }
                    if let Ok(mut blocks) = self.dev.blocks.write() {
                        blocks.retain(|b| !(b.kind == block.kind && b.number == block.number));
                        blocks.push(block);
                    }
                    let mut d = event("s7.download", raw);
                    d.body.request = Some(json!({"phase": "end", "block": dl.name, "size": dl.received}));
                    out.events.push(d);
                    let mut data = serde_json::Map::new();
                    data.insert("protocol".into(), "s7comm".into());
                    data.insert("block".into(), dl.name.clone().into());
                    data.insert("block_type".into(), blocks::type_name(dl.kind).into());
                    data.insert("block_number".into(), dl.number.into());
                    out.files.push(Capture {
                        name: dl.name,
                        bytes: dl.data,
                        original_len: dl.received,
                        data,
                    });
                }
            }
            _ => {
                let mut d = event("s7.malformed", raw);
                d.body.error = Some(format!("unexpected acknowledgement of function {function:#04x}"));
                out.events.push(d);
            }
        }
    }

    fn userdata(&mut self, reference: u16, param: &[u8], data: &[u8], raw: &[u8], now: SystemTime, out: &mut Output) {
        if param.len() < 8 || param.get(2) != Some(&0x12) {
            let mut d = event("s7.malformed", raw);
            d.body.error = Some("userdata parameter too short".into());
            out.events.push(d);
            return self.send(
                &wire::emit_s7(rosctr::ACK_DATA, reference, Some(ERR_CONTEXT), &[], &[]),
                out,
            );
        }
        let method = param.get(4).copied().unwrap_or(0);
        let group = param.get(5).copied().unwrap_or(0) & 0x0F;
        let sub = param.get(6).copied().unwrap_or(0);
        let seq = param.get(7).copied().unwrap_or(0);
        let payload = data.get(4..).unwrap_or_default();

        // A follow-up for the rest of a long answer.
        if method == 0x12
            && let Some(p) = self.pending.take()
            && p.group == group
            && p.sub == sub
            && p.seq == seq
        {
            return self.send_ud(reference, group, sub, 0, 0xFF, p.rest, out);
        }

        let (kind, result): (&'static str, Result<Vec<u8>, u16>) = match (group, sub) {
            (4, 1) => {
                let id = be16(payload, 0).unwrap_or(0);
                let index = be16(payload, 2).unwrap_or(0);
                let r = szl::read(&self.dev.config.identity, &self.dev.state(now), id, index).map_err(|e| e.code());
                let mut d = event("s7.szl_read", raw);
                d.body.request = Some(json!({"szl_id": format!("{id:#06x}"), "index": format!("{index:#06x}")}));
                d.body.response = Some(match &r {
                    Ok(v) => json!({"length": v.len()}),
                    Err(code) => json!({"error": format!("{code:#06x}")}),
                });
                out.events.push(d);
                ("", r)
            }
            (3, 1) => ("s7.block_list", Ok(self.block_counts())),
            (3, 2) => {
                let kind = payload.get(1).copied().unwrap_or(0);
                let list = self.blocks_of(kind);
                ("s7.block_list", Ok(list))
            }
            (3, 3) => {
                let block = payload.get(..8).and_then(|p| {
                    let number = std::str::from_utf8(p.get(2..7)?).ok()?.parse::<u16>().ok()?;
                    Some((*p.get(1)?, number))
                });
                let found = block.and_then(|(k, n)| {
                    let blocks = self.dev.blocks.read().ok()?;
                    blocks.iter().find(|b| b.kind == k && b.number == n).map(|b| {
                        if b.kind == 0x41 {
                            let mut b = b.clone();
                            if let Some(m) = self.dev.config.memory.areas.get(&Area::Db(b.number)) {
                                b.code = vec![0; m.size];
                            }
                            b.info()
                        } else {
                            b.info()
                        }
                    })
                });
                ("s7.block_info", found.ok_or(UD_ERR_NO_BLOCK))
            }
            (7, 1) | (7, 3) => ("s7.clock", Ok(bcd_time(self.dev.clock(now)).to_vec())),
            (7, 2) | (7, 4) => {
                let r = if self.protected_write() {
                    Err(ERR_PROTECTED)
                } else {
                    match parse_bcd_time(payload) {
                        Some(t) => {
                            self.dev.set_clock(t, now);
                            Ok(Vec::new())
                        }
                        None => Err(0xD003),
                    }
                };
                ("s7.clock", r)
            }
            (5, 1) => {
                let tried = decode_password(payload);
                let decision = self.dev.auth.check_password_only(
                    crate::device::PROTOCOL,
                    tried.trim_end().as_bytes(),
                    self.peer,
                    now,
                );
                let ok = decision.success();
                if let Some(p) = decision.privilege() {
                    self.privilege = Some(p);
                }
                let mut d = decision.event;
                d.body.raw = Some(raw.to_vec());
                out.events.push(d);
                ("", if ok { Ok(Vec::new()) } else { Err(UD_ERR_PASSWORD) })
            }
            (5, 2) => {
                self.privilege = None;
                ("s7.password_clear", Ok(Vec::new()))
            }
            _ => ("s7.unsupported", Err(UD_ERR_UNSUPPORTED)),
        };
        if !kind.is_empty() {
            let mut d = event(kind, raw);
            d.body.request = Some(json!({"group": group, "subfunction": sub, "payload": hex::encode(payload)}));
            if let Err(code) = &result {
                d.body.error = Some(format!("{code:#06x}"));
            }
            out.events.push(d);
        }
        match result {
            Ok(v) if v.is_empty() && group != 3 => self.send_ud(reference, group, sub, 0, 0x0A, Vec::new(), out),
            Ok(v) => self.send_ud(reference, group, sub, 0, 0xFF, v, out),
            Err(code) => self.send_ud(reference, group, sub, code, 0x0A, Vec::new(), out),
        }
    }

    /// Sends a userdata answer, split with "more follows" when it exceeds the PDU.
    #[allow(clippy::too_many_arguments)]
    fn send_ud(&mut self, reference: u16, group: u8, sub: u8, error: u16, ret: u8, payload: Vec<u8>, out: &mut Output) {
        let room = usize::from(self.pdu_size).saturating_sub(10 + 12 + 4).max(16);
        self.ud_seq = self.ud_seq.wrapping_add(1).max(1);
        let (now_part, rest) = if payload.len() > room {
            let mut p = payload;
            let rest = p.split_off(room);
            (p, Some(rest))
        } else {
            (payload, None)
        };
        let more = rest.is_some();
        let mut prm = vec![
            0x00,
            0x01,
            0x12,
            0x08,
            0x12,
            0x80 | group,
            sub,
            self.ud_seq,
            0x00,
            u8::from(more),
        ];
        prm.extend(error.to_be_bytes());
        let ts = if now_part.is_empty() && ret != 0xFF { 0x00 } else { 0x09 };
        let mut data = vec![ret, ts];
        data.extend((now_part.len() as u16).to_be_bytes());
        data.extend(now_part);
        if let Some(rest) = rest {
            self.pending = Some(Pending {
                group,
                sub,
                seq: self.ud_seq,
                rest,
            });
        }
        self.send(&wire::emit_s7(rosctr::USERDATA, reference, None, &prm, &data), out);
    }

    fn block_counts(&self) -> Vec<u8> {
        let blocks = self.dev.blocks.read().map(|b| b.clone()).unwrap_or_default();
        let mut v = Vec::with_capacity(28);
        for (code, _) in blocks::TYPES {
            let n = blocks.iter().filter(|b| b.kind == *code).count() as u16;
            v.push(0x30);
            v.push(*code);
            v.extend(n.to_be_bytes());
        }
        v
    }

    fn blocks_of(&self, kind: u8) -> Vec<u8> {
        let blocks = self.dev.blocks.read().map(|b| b.clone()).unwrap_or_default();
        let mut nums: Vec<&Block> = blocks.iter().filter(|b| b.kind == kind).collect();
        nums.sort_by_key(|b| b.number);
        let mut v = Vec::with_capacity(nums.len() * 4);
        for b in nums {
            v.extend(b.number.to_be_bytes());
            v.push(0x22);
            v.push(b.lang);
        }
        v
    }
}

/// One S7ANY item of a read or write job.
#[derive(Debug, Clone, Copy)]
struct Item {
    ts: u8,
    count: u16,
    db: u16,
    area: u8,
    addr: u32,
}

impl Item {
    fn element_size(&self) -> Option<usize> {
        Some(match self.ts {
            0x01..=0x03 => 1,
            0x04 | 0x05 | 0x1C | 0x1D => 2,
            0x06..=0x08 => 4,
            _ => return None,
        })
    }

    fn area(&self) -> Option<Area> {
        Area::from_wire(self.area, self.db)
    }

    /// The return transport size for the answer.
    fn return_ts(&self) -> u8 {
        match self.ts {
            0x01 => 0x03,
            0x03 | 0x1C | 0x1D => 0x09,
            0x08 => 0x07,
            _ => 0x04,
        }
    }

    fn read(&self, dev: &S7Device, now: SystemTime) -> Result<(u8, Vec<u8>), ItemError> {
        let size = self.element_size().ok_or(ItemError::Type)?;
        let area = self.area().ok_or(ItemError::NoObject)?;
        let (start, len) = self.span(size)?;
        let bytes = dev.config.memory.read(&dev.databus, area, start, len, now)?;
        if self.ts == 0x01 {
            let bit = (self.addr & 7) as u8;
            let v = bytes.first().map_or(0, |b| (b >> bit) & 1);
            return Ok((self.return_ts(), vec![v]));
        }
        Ok((self.return_ts(), bytes))
    }

    fn span(&self, size: usize) -> Result<(usize, usize), ItemError> {
        let count = usize::from(self.count);
        if self.ts == 0x01 {
            if count != 1 {
                return Err(ItemError::Inconsistent);
            }
            return Ok(((self.addr >> 3) as usize, 1));
        }
        if matches!(self.ts, 0x1C | 0x1D) {
            return Ok((self.addr as usize * 2, count * 2));
        }
        Ok((
            (self.addr >> 3) as usize,
            count.checked_mul(size).ok_or(ItemError::Address)?,
        ))
    }

    fn write(&self, dev: &S7Device, value: &[u8], now: SystemTime) -> Result<(), ItemError> {
        let size = self.element_size().ok_or(ItemError::Type)?;
        let area = self.area().ok_or(ItemError::NoObject)?;
        let (start, len) = self.span(size)?;
        let mem = &dev.config.memory;
        if self.ts == 0x01 {
            let on = value.first().is_some_and(|b| b & 1 == 1);
            return mem.write_bit(&dev.databus, area, start, (self.addr & 7) as u8, on, now);
        }
        if value.len() != len {
            return Err(ItemError::Inconsistent);
        }
        mem.write(&dev.databus, area, start, value, now)
    }

    fn describe(&self, value: Option<&[u8]>, error: Option<ItemError>) -> Json {
        let area = self.area().map_or_else(|| format!("{:#04x}", self.area), Area::name);
        let mut j = json!({
            "area": area,
            "transport_size": self.ts,
            "count": self.count,
            "byte": self.addr >> 3,
            "bit": self.addr & 7,
        });
        if let Some(obj) = j.as_object_mut() {
            if let Some(v) = value {
                obj.insert("value".into(), hex::encode(v).into());
            }
            if let Some(e) = error {
                obj.insert("return_code".into(), (e as u8).into());
            }
        }
        j
    }
}

/// The PI service name of a PLC control (0x28) or stop (0x29) parameter.
fn pi_service(param: &[u8], function: u8) -> String {
    let name = if function == 0x29 {
        param.get(6..).and_then(|r| r.get(1..=usize::from(*r.first()?)))
    } else {
        let plen = usize::from(be16(param, 8).unwrap_or(0));
        param.get(10 + plen..).and_then(|r| r.get(1..=usize::from(*r.first()?)))
    };
    name.map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default()
}

/// The arguments of a PI service (e.g. `C ` for a cold start).
fn pi_args(param: &[u8]) -> Vec<String> {
    let plen = usize::from(be16(param, 8).unwrap_or(0));
    param
        .get(10..10 + plen)
        .map(|a| vec![String::from_utf8_lossy(a).into_owned()])
        .filter(|v| v.iter().any(|s| !s.is_empty()))
        .unwrap_or_default()
}

/// Parses a block address `_0TNNNNNX` (type byte, five ASCII digits).
fn parse_block_address(a: &[u8]) -> Option<(u8, u16)> {
    let kind = *a.get(2)?;
    let number = std::str::from_utf8(a.get(3..8)?).ok()?.parse::<u16>().ok()?;
    blocks::TYPES.iter().any(|(c, _)| *c == kind).then_some((kind, number))
}

/// Decodes the 8-byte scrambled password of the security function.
fn decode_password(enc: &[u8]) -> String {
    let mut p = [0u8; 8];
    for (i, slot) in p.iter_mut().enumerate() {
        let e = enc.get(i).copied().unwrap_or(0x55);
        *slot = if i < 2 {
            e ^ 0x55
        } else {
            e ^ 0x55 ^ enc.get(i - 2).copied().unwrap_or(0)
        };
    }
    String::from_utf8_lossy(&p).into_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_scrambling() {
        // The scrambling a client applies to "secret  ".
        let plain = b"secret  ";
        let mut enc = [0u8; 8];
        for i in 0..8 {
            enc[i] = if i < 2 {
                plain[i] ^ 0x55
            } else {
                plain[i] ^ 0x55 ^ enc[i - 2]
            };
        }
        assert_eq!(decode_password(&enc), "secret  ");
        assert_eq!(parse_block_address(b"_0A00001P"), Some((0x41, 1)));
        assert_eq!(parse_block_address(b"_0Z00001P"), None);
    }
}
