//! BACnet/IP for conpot-rs: a device as a sans-IO core.
//!
//! `frame` is BVLC, NPDU and the APDU headers; `tag` the tagged encoding; `objects` the
//! Device object and the template's objects bound to the databus; `services` answers
//! confirmed and unconfirmed requests; `config` builds the device from a native or
//! Conpot template. The session of one source address carries segmented answers.

pub mod config;
pub mod frame;
pub mod objects;
pub mod services;
pub mod tag;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::Device;
use conpot_core::auth::Auth;
use conpot_core::event::{EventDraft, Transport};
use conpot_core::protocol::{Output, Service, Session, SessionCtx};
use conpot_core::template::{ProtocolSection, TemplateError};

pub use objects::BacDevice;

use frame::{Station, pdu};

/// The BACnet service of one device.
#[derive(Debug)]
pub struct BacnetService {
    device: Arc<BacDevice>,
    auth: Auth,
}

impl BacnetService {
    /// Builds the service from a template section for `device`.
    pub fn build(section: &ProtocolSection, device: &Device) -> Result<Self, Vec<TemplateError>> {
        let spec = config::build(section, device)?;
        Ok(BacnetService {
            device: Arc::new(BacDevice::new(spec, Arc::clone(&device.databus))),
            auth: (*device.auth).clone(),
        })
    }

    /// The device behind the service.
    pub fn device(&self) -> &Arc<BacDevice> {
        &self.device
    }
}

impl Service for BacnetService {
    fn protocol(&self) -> &'static str {
        "bacnet"
    }

    fn transports(&self) -> &'static [Transport] {
        &[Transport::Udp]
    }

    fn new_session(&self, ctx: &SessionCtx) -> Box<dyn Session> {
        Box::new(BacnetSession {
            device: Arc::clone(&self.device),
            auth: self.auth.clone(),
            source: ctx.peer.ip(),
            pending: None,
        })
    }
}

/// A segmented answer waiting for the client's Segment-ACKs.
#[derive(Debug)]
struct Pending {
    invoke: u8,
    service: u8,
    chunks: Vec<Vec<u8>>,
    reply_to: Option<Station>,
    priority: u8,
}

/// The datagrams of one source address.
pub struct BacnetSession {
    device: Arc<BacDevice>,
    auth: Auth,
    source: IpAddr,
    pending: Option<Pending>,
}

/// Bytes of a segmented Complex-ACK header.
const SEGMENT_HEADER: usize = 5;
/// Length of a Segment-ACK datagram (BVLC, NPDU, APDU).
const SEGMENT_ACK_LEN: usize = 10;
/// The smallest reply the listener's amplification cap allows.
const MIN_REPLY: usize = 64;
/// Most segments one answer is cut into.
const MAX_CHUNKS: usize = 64;

impl BacnetSession {
    fn segment(p: &Pending, seq: usize) -> Option<Vec<u8>> {
        let chunk = p.chunks.get(seq)?;
        let more = seq + 1 < p.chunks.len();
        let mut a = vec![
            (pdu::COMPLEX_ACK << 4) | 0x08 | if more { 0x04 } else { 0 },
            p.invoke,
            seq as u8,
            1,
            p.service,
        ];
        a.extend(chunk);
        Some(frame::encode(&a, p.reply_to.as_ref(), p.priority))
    }

    fn handle(
        &mut self,
        datagram: &[u8],
        now: SystemTime,
        room: usize,
        events: &mut Vec<EventDraft>,
    ) -> Option<Vec<u8>> {
        let npdu = match frame::decode(datagram) {
            Ok(Ok(n)) => n,
            Ok(Err(function)) => {
                events.push(EventDraft::new("bacnet.bvlc").with("function", function));
                return frame::bbmd_nak(function).map(frame::bvlc_result);
            }
            Err(e) => {
                events.push(
                    EventDraft::new("bacnet.malformed")
                        .with("length", datagram.len())
                        .with("error", e.to_string()),
                );
                return None;
            }
        };
        if npdu.network_message {
            events.push(EventDraft::new("bacnet.network_message").with("type", npdu.apdu.first().copied()));
            return None;
        }
        if npdu.dest.as_ref().is_some_and(|d| d.net != 0xFFFF) {
            // For another network: this device is no router.
            return None;
        }
        let reply_to = npdu.source.clone();
        let apdu = npdu.apdu;
        if apdu.first().map(|b| b >> 4) == Some(pdu::SEGMENT_ACK) {
            let (Some(invoke), Some(seq)) = (apdu.get(1), apdu.get(2)) else {
                return None;
            };
            let p = self.pending.as_ref().filter(|p| p.invoke == *invoke)?;
            let next = usize::from(*seq) + 1;
            let out = Self::segment(p, next);
            if next + 1 >= p.chunks.len() {
                self.pending = None;
            }
            return out;
        }
        let asker = services::Asker {
            auth: &self.auth,
            source: self.source,
        };
        let answer = services::answer(&self.device, apdu, &asker, now);
        events.extend(answer.events);
        let reply = answer.apdu?;
        let overhead = frame::encode(&[], reply_to.as_ref(), npdu.priority).len();
        let mut r = conpot_core::wire::Reader::new(apdu);
        let fits = |len: usize, max: usize| len + overhead <= room && len <= max;
        if apdu.first().map(|b| b >> 4) == Some(pdu::CONFIRMED)
            && let Ok(h) = frame::confirmed(&mut r)
        {
            let max = frame::max_apdu(h.limits).min(self.device.spec.max_apdu);
            if !fits(reply.len(), max) {
                let is_ack = reply.first().map(|b| b >> 4) == Some(pdu::COMPLEX_ACK);
                // Later segments answer Segment-ACKs (10 bytes): they get the cap of
                // such a datagram, which the cap of this one tells.
                let factor = room / datagram.len().max(1);
                let ack_room = (SEGMENT_ACK_LEN * factor).max(MIN_REPLY);
                let size = max
                    .min(room.saturating_sub(overhead))
                    .min(ack_room.saturating_sub(overhead))
                    .saturating_sub(SEGMENT_HEADER);
                let data = reply.get(3..).unwrap_or_default();
                let n = if size == 0 {
                    usize::MAX
                } else {
                    data.len().div_ceil(size)
                };
                let allowed = frame::max_segments(h.limits).unwrap_or(usize::MAX).min(MAX_CHUNKS);
                if !is_ack || !h.segmented_accepted || size < 16 || n > allowed {
                    let reason = if h.segmented_accepted {
                        services::ABORT_BUFFER_OVERFLOW
                    } else {
                        services::ABORT_SEGMENTATION
                    };
                    events.push(
                        EventDraft::new("bacnet.abort")
                            .with("invoke_id", h.invoke)
                            .with("reason", reason),
                    );
                    return Some(frame::encode(
                        &services::abort_pdu(h.invoke, reason),
                        reply_to.as_ref(),
                        npdu.priority,
                    ));
                }
                let p = Pending {
                    invoke: h.invoke,
                    service: h.service,
                    chunks: data.chunks(size).map(<[u8]>::to_vec).collect(),
                    reply_to,
                    priority: npdu.priority,
                };
                events.push(
                    EventDraft::new("bacnet.segmented")
                        .with("invoke_id", h.invoke)
                        .with("segments", p.chunks.len()),
                );
                let first = Self::segment(&p, 0);
                self.pending = Some(p);
                return first;
            }
        }
        Some(frame::encode(&reply, reply_to.as_ref(), npdu.priority))
    }
}

impl Session for BacnetSession {
    fn on_input(&mut self, datagram: &[u8], now: SystemTime, out: &mut Output) -> usize {
        let room = out.reply_limit.unwrap_or(65_507);
        let mut events = Vec::new();
        if let Some(reply) = self.handle(datagram, now, room, &mut events)
            && reply.len() <= room
        {
            out.bytes.extend_from_slice(&reply);
            out.delay = conpot_core::protocol::response_delay(self.device.spec.response_time_ms);
        }
        out.events.append(&mut events);
        datagram.len()
    }
}
