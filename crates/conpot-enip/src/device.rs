//! The CIP device: its configuration (identity, network interface, tags, slot) and the
//! objects that answer Message Router requests: Identity, Message Router, Connection
//! Manager, TCP/IP Interface, Ethernet Link and the tags.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::databus::Databus;
use conpot_core::wire::{Reader, WireResult, Writer};
use serde_json::{Value as Json, json};

use crate::cip::{self, Reply, Request, Segment, class, general, service};
use crate::connection::Connections;
use crate::tags::Tag;

/// Largest CIP reply (what a Large Forward Open connection may carry).
pub const MAX_CIP_REPLY: usize = 4000;

/// Largest nesting of Unconnected Send and Multiple Service Packet.
pub const MAX_DEPTH: u8 = 3;

/// The Identity object's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Vendor id (ODVA list; 1 is Rockwell Automation/Allen-Bradley).
    pub vendor_id: u16,
    /// Device type (14: programmable logic controller).
    pub device_type: u16,
    /// Product code of the catalogue number.
    pub product_code: u16,
    /// Firmware revision, major and minor.
    pub revision: (u8, u8),
    /// Status word.
    pub status: u16,
    /// Serial number.
    pub serial: u32,
    /// Product name (catalogue number and family).
    pub product_name: String,
    /// State (3: operational).
    pub state: u8,
}

/// The network interface the TCP/IP Interface and Ethernet Link objects describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// Configured address.
    pub ip: Ipv4Addr,
    /// Network mask.
    pub netmask: Ipv4Addr,
    /// Default gateway.
    pub gateway: Ipv4Addr,
    /// Host name.
    pub hostname: String,
    /// Domain name.
    pub domain: String,
    /// MAC address.
    pub mac: [u8; 6],
    /// Link speed in Mbit/s.
    pub speed: u32,
}

/// What the service serves.
#[derive(Debug, Clone, PartialEq)]
pub struct EnipConfig {
    /// The Identity object.
    pub identity: Identity,
    /// The Ethernet interface.
    pub network: Network,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Structure types (STRING first, then the template's user-defined types), what the
    /// Template object (class 0x6C) describes.
    pub structures: Vec<crate::structs::Structure>,
    /// Name of the controller project (Logix program name object, class 0x64).
    pub controller_name: String,
    /// Backplane slot of the CPU (what route paths of Unconnected Send must name).
    pub slot: u8,
    /// The device's response time, milliseconds.
    pub response_time_ms: (u32, u32),
}

/// The device: configuration and databus.
#[derive(Debug)]
pub struct EnipDevice {
    /// Configuration.
    pub config: EnipConfig,
    /// The databus the tags live on.
    pub databus: Arc<Databus>,
}

/// What handling one CIP request did, for the event.
#[derive(Debug, Default)]
pub struct Trace {
    /// One entry per executed request (embedded ones included).
    pub requests: Vec<Json>,
    /// Whether the device was reset (the session closes, as on a reboot).
    pub reset: bool,
}

fn bytes_of(f: impl FnOnce(&mut Writer<'_>) -> WireResult<()>) -> Vec<u8> {
    let mut out = Vec::new();
    if conpot_core::wire::append(&mut out, MAX_CIP_REPLY, f).is_err() {
        out.clear();
    }
    out
}

fn put_ip(w: &mut Writer<'_>, ip: Ipv4Addr) -> WireResult<()> {
    w.put_u32_le(u32::from(ip))
}

/// A CIP STRING without the pad byte (as Logix lists symbol names).
pub(crate) fn put_cip_string_unpadded(w: &mut Writer<'_>, s: &str) -> WireResult<()> {
    let b = s.as_bytes();
    let b = b.get(..b.len().min(64)).unwrap_or_default();
    w.put_u16_le(b.len() as u16)?;
    w.put_bytes(b)
}

pub(crate) fn put_cip_string(w: &mut Writer<'_>, s: &str) -> WireResult<()> {
    let b = s.as_bytes();
    let b = b.get(..b.len().min(64)).unwrap_or_default();
    w.put_u16_le(b.len() as u16)?;
    w.put_bytes(b)?;
    if b.len() % 2 == 1 {
        w.put_u8(0)?;
    }
    Ok(())
}

impl EnipDevice {
    /// A device serving `config` over `databus`.
    pub fn new(config: EnipConfig, databus: Arc<Databus>) -> Self {
        EnipDevice { config, databus }
    }

    /// The product name as a short string.
    fn put_name(&self, w: &mut Writer<'_>) -> WireResult<()> {
        let n = self.config.identity.product_name.as_bytes();
        let n = n.get(..n.len().min(32)).unwrap_or_default();
        w.put_u8(n.len() as u8)?;
        w.put_bytes(n)
    }

    /// The identity fields ListIdentity and Get_Attributes_All share (vendor to name).
    pub fn put_identity(&self, w: &mut Writer<'_>) -> WireResult<()> {
        let id = &self.config.identity;
        w.put_u16_le(id.vendor_id)?;
        w.put_u16_le(id.device_type)?;
        w.put_u16_le(id.product_code)?;
        w.put_u8(id.revision.0)?;
        w.put_u8(id.revision.1)?;
        w.put_u16_le(id.status)?;
        w.put_u32_le(id.serial)?;
        self.put_name(w)
    }

    /// The attributes of an object instance in Get_Attributes_All order; instance 0 is
    /// the class (revision and highest instance). `None` if the instance does not exist.
    fn attributes(&self, class: u32, instance: u32) -> Option<Vec<(u32, Vec<u8>)>> {
        let u16b = |v: u16| v.to_le_bytes().to_vec();
        let u32b = |v: u32| v.to_le_bytes().to_vec();
        if instance == 0 {
            let revision = match class {
                0xF5 => 4,
                0xF6 => 3,
                _ => 1,
            };
            return Some(vec![(1, u16b(revision)), (2, u16b(1)), (3, u16b(1))]);
        }
        if class == u32::from(crate::structs::TEMPLATE_CLASS) {
            return self
                .config
                .structures
                .iter()
                .find(|s| u32::from(s.instance) == instance)
                .map(|s| s.attributes());
        }
        if instance != 1 {
            return None;
        }
        let id = &self.config.identity;
        let net = &self.config.network;
        Some(match u16::try_from(class).ok()? {
            class::IDENTITY => vec![
                (1, u16b(id.vendor_id)),
                (2, u16b(id.device_type)),
                (3, u16b(id.product_code)),
                (4, vec![id.revision.0, id.revision.1]),
                (5, u16b(id.status)),
                (6, u32b(id.serial)),
                (7, bytes_of(|w| self.put_name(w))),
                (8, vec![id.state]),
            ],
            class::MESSAGE_ROUTER => {
                let classes = [
                    class::IDENTITY,
                    class::MESSAGE_ROUTER,
                    class::CONNECTION_MANAGER,
                    class::TCP_IP,
                    class::ETHERNET_LINK,
                ];
                let list = bytes_of(|w| {
                    w.put_u16_le(classes.len() as u16)?;
                    classes.iter().try_for_each(|c| w.put_u16_le(*c))
                });
                vec![(1, list), (2, u16b(32))]
            }
            class::TCP_IP => vec![
                (1, u32b(1)),
                (2, u32b(0x0000_0094)),
                (3, u32b(0)),
                (4, vec![0x02, 0x00, 0x20, 0xF6, 0x24, 0x01]),
                (
                    5,
                    bytes_of(|w| {
                        put_ip(w, net.ip)?;
                        put_ip(w, net.netmask)?;
                        put_ip(w, net.gateway)?;
                        put_ip(w, Ipv4Addr::UNSPECIFIED)?;
                        put_ip(w, Ipv4Addr::UNSPECIFIED)?;
                        put_cip_string(w, &net.domain)
                    }),
                ),
                (6, bytes_of(|w| put_cip_string(w, &net.hostname))),
            ],
            class::ETHERNET_LINK => vec![(1, u32b(net.speed)), (2, u32b(0x0000_000D)), (3, net.mac.to_vec())],
            _ => return None,
        })
    }

    fn known_class(&self, c: u32) -> bool {
        matches!(
            u16::try_from(c).ok(),
            Some(
                class::IDENTITY
                    | class::MESSAGE_ROUTER
                    | class::CONNECTION_MANAGER
                    | class::TCP_IP
                    | class::ETHERNET_LINK
                    | class::PROGRAM_NAME
                    | class::SYMBOL
                    | crate::structs::TEMPLATE_CLASS
            )
        ) || self
            .config
            .tags
            .iter()
            .any(|t| t.address.is_some_and(|(tc, _, _)| tc == c))
    }

    /// Executes one Message Router request; `conns` are the session's CIP connections.
    pub fn execute(
        &self,
        bytes: &[u8],
        conns: &mut Connections,
        depth: u8,
        now: SystemTime,
        trace: &mut Trace,
    ) -> Reply {
        let req = match cip::read_request(bytes) {
            Ok(r) => r,
            Err(e) => {
                trace
                    .requests
                    .push(json!({"service": e.service, "malformed": true, "status": e.status}));
                return Reply::error(e.service, e.status);
            }
        };
        let (c, i, a) = cip::logical(&req.path);
        let reply = self.dispatch(&req, conns, depth, now, trace);
        let mut desc = json!({
            "service": req.service,
            "service_name": cip::service_name(req.service, c),
            "status": reply.status,
        });
        if let Some(m) = desc.as_object_mut() {
            for (k, v) in [("class", c), ("instance", i), ("attribute", a)] {
                if let Some(v) = v {
                    m.insert(k.into(), v.into());
                }
            }
            if let Some(Segment::Symbol(s)) = req.path.iter().find(|s| matches!(s, Segment::Symbol(_))) {
                m.insert("tag".into(), String::from_utf8_lossy(s).into_owned().into());
            }
            if let Some(e) = reply.extended.first() {
                m.insert("extended_status".into(), (*e).into());
            }
        }
        trace.requests.push(desc);
        reply
    }

    fn dispatch(
        &self,
        req: &Request<'_>,
        conns: &mut Connections,
        depth: u8,
        now: SystemTime,
        trace: &mut Trace,
    ) -> Reply {
        let svc = req.service;
        if req.path.iter().any(|s| matches!(s, Segment::Symbol(_))) {
            return crate::logix::handle(self, req, now);
        }
        let (c, i, a) = cip::logical(&req.path);
        let Some(c) = c else {
            return Reply::error(svc, general::PATH_DESTINATION_UNKNOWN);
        };
        if !self.known_class(c) {
            return Reply::error(svc, general::PATH_DESTINATION_UNKNOWN);
        }
        if c == u32::from(class::CONNECTION_MANAGER) && matches!(i, None | Some(1)) {
            return match svc {
                service::UNCONNECTED_SEND if depth < MAX_DEPTH => self.unconnected_send(req, conns, depth, now, trace),
                service::FORWARD_OPEN | service::LARGE_FORWARD_OPEN => conns.forward_open(req),
                service::FORWARD_CLOSE => conns.forward_close(req),
                _ => Reply::error(svc, general::SERVICE_NOT_SUPPORTED),
            };
        }
        if c == u32::from(class::MESSAGE_ROUTER) && svc == service::MULTIPLE_SERVICE_PACKET {
            return if depth < MAX_DEPTH {
                self.multiple(req, conns, depth, now, trace)
            } else {
                Reply::error(svc, general::SERVICE_NOT_SUPPORTED)
            };
        }
        if c == u32::from(class::SYMBOL) {
            return match svc {
                service::GET_INSTANCE_ATTRIBUTE_LIST => crate::logix::symbol_list(self, i.unwrap_or(0), req.data),
                _ => Reply::error(svc, general::SERVICE_NOT_SUPPORTED),
            };
        }
        if c == u32::from(crate::structs::TEMPLATE_CLASS) && svc == service::READ_TAG {
            return crate::logix::read_template(self, i.unwrap_or(0), req.data);
        }
        if c == u32::from(class::PROGRAM_NAME) {
            return match (svc, i) {
                (service::GET_ATTRIBUTES_ALL, Some(1)) => {
                    Reply::ok(svc, bytes_of(|w| put_cip_string(w, &self.config.controller_name)))
                }
                (_, Some(1)) => Reply::error(svc, general::SERVICE_NOT_SUPPORTED),
                _ => Reply::error(svc, general::OBJECT_DOES_NOT_EXIST),
            };
        }
        if c == u32::from(class::IDENTITY) && i == Some(1) && svc == service::RESET {
            trace.reset = true;
            return Reply::ok(svc, Vec::new());
        }
        let mut at_address = self
            .config
            .tags
            .iter()
            .filter(|t| t.address.is_some_and(|(tc, ti, _)| tc == c && Some(ti) == i))
            .peekable();
        if at_address.peek().is_some() {
            return match at_address.find(|t| t.address.map(|(_, _, ta)| ta) == a) {
                Some(tag) => crate::logix::attribute(self, tag, req, now),
                None => Reply::error(svc, general::ATTRIBUTE_NOT_SUPPORTED),
            };
        }
        let instance = i.unwrap_or(0);
        let Some(attrs) = self.attributes(c, instance) else {
            return Reply::error(svc, general::OBJECT_DOES_NOT_EXIST);
        };
        let find = |id: u32| attrs.iter().find(|(n, _)| *n == id).map(|(_, v)| v.clone());
        match svc {
            service::GET_ATTRIBUTES_ALL => {
                // Identity's state (attribute 8) is not part of its Get_Attributes_All.
                let skip = if c == u32::from(class::IDENTITY) && instance == 1 {
                    8
                } else {
                    u32::MAX
                };
                let all: Vec<u8> = attrs
                    .iter()
                    .filter(|(n, _)| *n != skip)
                    .flat_map(|(_, v)| v.clone())
                    .collect();
                Reply::ok(svc, all)
            }
            service::GET_ATTRIBUTE_SINGLE => match a.and_then(find) {
                Some(v) => Reply::ok(svc, v),
                None => Reply::error(svc, general::ATTRIBUTE_NOT_SUPPORTED),
            },
            service::SET_ATTRIBUTE_SINGLE => match a.and_then(find) {
                Some(_) => Reply::error(svc, general::ATTRIBUTE_NOT_SETTABLE),
                None => Reply::error(svc, general::ATTRIBUTE_NOT_SUPPORTED),
            },
            service::GET_ATTRIBUTE_LIST => self.attribute_list(svc, req.data, &find),
            _ => Reply::error(svc, general::SERVICE_NOT_SUPPORTED),
        }
    }

    fn attribute_list(&self, svc: u8, data: &[u8], find: &dyn Fn(u32) -> Option<Vec<u8>>) -> Reply {
        let mut r = Reader::new(data);
        let Ok(count) = r.u16_le() else {
            return Reply::error(svc, general::NOT_ENOUGH_DATA);
        };
        let mut failed = false;
        let body = bytes_of(|w| {
            w.put_u16_le(count)?;
            for _ in 0..count.min(64) {
                let id = r.u16_le()?;
                w.put_u16_le(id)?;
                match find(u32::from(id)) {
                    Some(v) => {
                        w.put_u16_le(0)?;
                        w.put_bytes(&v)?;
                    }
                    None => {
                        failed = true;
                        w.put_u16_le(u16::from(general::ATTRIBUTE_NOT_SUPPORTED))?;
                    }
                }
            }
            Ok(())
        });
        if body.is_empty() {
            return Reply::error(svc, general::NOT_ENOUGH_DATA);
        }
        Reply {
            service: svc,
            // "Attribute list error" when one of them failed.
            status: if failed { 0x0A } else { general::SUCCESS },
            extended: Vec::new(),
            data: body,
        }
    }

    /// Unconnected Send: checks the route path (port 1, the CPU's slot) and executes the
    /// embedded request; its reply is the answer.
    fn unconnected_send(
        &self,
        req: &Request<'_>,
        conns: &mut Connections,
        depth: u8,
        now: SystemTime,
        trace: &mut Trace,
    ) -> Reply {
        let svc = req.service;
        let mut r = Reader::new(req.data);
        let parsed = (|| {
            r.skip(2)?;
            let len = usize::from(r.u16_le()?);
            let msg = r.take(len)?;
            if len % 2 == 1 {
                r.skip(1)?;
            }
            let words = usize::from(r.u8()?);
            r.skip(1)?;
            let mut p = r.sub(words * 2)?;
            let route = cip::read_segments(&mut p, false)?;
            Ok::<_, conpot_core::wire::WireError>((msg, route))
        })();
        let Ok((msg, route)) = parsed else {
            return Reply::error(svc, general::NOT_ENOUGH_DATA);
        };
        let routing = |ext: u16| Reply {
            service: svc,
            status: general::CONNECTION_FAILURE,
            extended: vec![ext],
            data: vec![0],
        };
        match route.as_slice() {
            // No route: the message is for this module.
            [] => self.execute(msg, conns, depth + 1, now, trace),
            [Segment::Port { port: 1, link }] if link.as_slice() == [self.config.slot] => {
                self.execute(msg, conns, depth + 1, now, trace)
            }
            [Segment::Port { port: 1, .. }] => routing(0x0312),
            [Segment::Port { .. }] => routing(0x0311),
            _ => routing(0x0315),
        }
    }

    /// Multiple Service Packet: each embedded request executed in order.
    fn multiple(
        &self,
        req: &Request<'_>,
        conns: &mut Connections,
        depth: u8,
        now: SystemTime,
        trace: &mut Trace,
    ) -> Reply {
        let svc = req.service;
        let data = req.data;
        let mut r = Reader::new(data);
        let Ok(count) = r.u16_le() else {
            return Reply::error(svc, general::NOT_ENOUGH_DATA);
        };
        if count > 64 {
            return Reply::error(svc, general::TOO_MUCH_DATA);
        }
        let mut offsets = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            match r.u16_le() {
                Ok(o) => offsets.push(usize::from(o)),
                Err(_) => return Reply::error(svc, general::NOT_ENOUGH_DATA),
            }
        }
        let mut replies = Vec::with_capacity(offsets.len());
        for (k, start) in offsets.iter().enumerate() {
            let end = offsets.get(k + 1).copied().unwrap_or(data.len());
            let Some(bytes) = data.get(*start..end) else {
                return Reply::error(svc, general::NOT_ENOUGH_DATA);
            };
            replies.push(self.execute(bytes, conns, depth + 1, now, trace));
        }
        let failed = replies
            .iter()
            .any(|r| r.status != general::SUCCESS && r.status != general::PARTIAL_TRANSFER);
        let body = bytes_of(|w| {
            w.put_u16_le(count)?;
            let mut at = 2 + 2 * replies.len();
            let encoded: Vec<Vec<u8>> = replies.iter().map(|r| r.to_bytes(MAX_CIP_REPLY)).collect();
            for e in &encoded {
                w.put_u16_le(u16::try_from(at).unwrap_or(u16::MAX))?;
                at += e.len();
            }
            encoded.iter().try_for_each(|e| w.put_bytes(e))
        });
        if body.is_empty() {
            return Reply::error(svc, general::TOO_MUCH_DATA);
        }
        Reply {
            service: svc,
            status: if failed {
                general::EMBEDDED_SERVICE_ERROR
            } else {
                general::SUCCESS
            },
            extended: Vec::new(),
            data: body,
        }
    }
}
