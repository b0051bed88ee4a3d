//! The application layer: confirmed and unconfirmed services (ASHRAE 135 clauses 13-16)
//! answered from the device's objects, with the Error, Reject and Abort PDUs a device
//! gives for what it cannot do.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use conpot_core::auth::Auth;
use conpot_core::event::EventDraft;
use conpot_core::wire::{Reader, WireResult};

use crate::frame::{self, pdu};
use crate::objects::{self, BacDevice, BacError, prop, ty};
use crate::tag::{self, Value};

/// Confirmed service choices.
pub mod confirmed {
    #![allow(missing_docs)]
    pub const SUBSCRIBE_COV: u8 = 5;
    pub const READ_PROPERTY: u8 = 12;
    pub const READ_PROPERTY_MULTIPLE: u8 = 14;
    pub const WRITE_PROPERTY: u8 = 15;
    pub const DEVICE_COMMUNICATION_CONTROL: u8 = 17;
    pub const REINITIALIZE_DEVICE: u8 = 20;
}

/// Unconfirmed service choices.
pub mod unconfirmed {
    #![allow(missing_docs)]
    pub const I_AM: u8 = 0;
    pub const I_HAVE: u8 = 1;
    pub const TIME_SYNCHRONIZATION: u8 = 6;
    pub const WHO_HAS: u8 = 7;
    pub const WHO_IS: u8 = 8;
    pub const UTC_TIME_SYNCHRONIZATION: u8 = 9;
}

/// Reject reasons.
pub mod reject {
    #![allow(missing_docs)]
    pub const OTHER: u8 = 0;
    pub const INVALID_TAG: u8 = 4;
    pub const MISSING_REQUIRED_PARAMETER: u8 = 5;
    pub const PARAMETER_OUT_OF_RANGE: u8 = 6;
    pub const UNRECOGNIZED_SERVICE: u8 = 9;
}

/// Abort reason segmentation-not-supported.
pub const ABORT_SEGMENTATION: u8 = 4;
/// Abort reason buffer-overflow.
pub const ABORT_BUFFER_OVERFLOW: u8 = 1;

/// What answering one APDU produced.
#[derive(Debug, Default)]
pub struct Answer {
    /// The reply APDU, if any.
    pub apdu: Option<Vec<u8>>,
    /// Events.
    pub events: Vec<EventDraft>,
}

/// Who asked, for the services that check passwords.
pub struct Asker<'a> {
    /// Central authentication.
    pub auth: &'a Auth,
    /// The source address.
    pub source: IpAddr,
}

fn error_pdu(invoke: u8, service: u8, e: BacError) -> Vec<u8> {
    let mut a = vec![pdu::ERROR << 4, invoke, service];
    tag::put_value(&mut a, &Value::Enum(e.class));
    tag::put_value(&mut a, &Value::Enum(e.code));
    a
}

/// A Reject PDU.
pub fn reject_pdu(invoke: u8, reason: u8) -> Vec<u8> {
    vec![pdu::REJECT << 4, invoke, reason]
}

/// An Abort PDU sent by the server.
pub fn abort_pdu(invoke: u8, reason: u8) -> Vec<u8> {
    vec![(pdu::ABORT << 4) | 1, invoke, reason]
}

fn service_name(unconf: bool, s: u8) -> &'static str {
    match (unconf, s) {
        (true, unconfirmed::I_AM) => "i-am",
        (true, unconfirmed::I_HAVE) => "i-have",
        (true, unconfirmed::TIME_SYNCHRONIZATION) => "time-synchronization",
        (true, unconfirmed::WHO_HAS) => "who-has",
        (true, unconfirmed::WHO_IS) => "who-is",
        (true, unconfirmed::UTC_TIME_SYNCHRONIZATION) => "utc-time-synchronization",
        (false, confirmed::SUBSCRIBE_COV) => "subscribe-cov",
        (false, confirmed::READ_PROPERTY) => "read-property",
        (false, confirmed::READ_PROPERTY_MULTIPLE) => "read-property-multiple",
        (false, confirmed::WRITE_PROPERTY) => "write-property",
        (false, confirmed::DEVICE_COMMUNICATION_CONTROL) => "device-communication-control",
        (false, confirmed::REINITIALIZE_DEVICE) => "reinitialize-device",
        _ => "other",
    }
}

/// The I-Am of the device.
pub fn i_am(dev: &BacDevice) -> Vec<u8> {
    let mut a = vec![pdu::UNCONFIRMED << 4, unconfirmed::I_AM];
    tag::put_value(&mut a, &Value::ObjectId(ty::DEVICE, dev.spec.instance));
    tag::put_value(&mut a, &Value::Unsigned(dev.spec.max_apdu as u64));
    tag::put_value(&mut a, &Value::Enum(objects::SEGMENTATION));
    tag::put_value(&mut a, &Value::Unsigned(u64::from(dev.spec.vendor_id)));
    a
}

/// Answers one APDU.
pub fn answer(dev: &BacDevice, apdu: &[u8], asker: &Asker<'_>, now: SystemTime) -> Answer {
    let mut out = Answer::default();
    let Some(first) = apdu.first() else { return out };
    let kind = first >> 4;
    let communicating = dev.communicating(now);
    match kind {
        pdu::UNCONFIRMED => {
            let service = apdu.get(1).copied().unwrap_or(0xFF);
            let mut r = Reader::new(apdu.get(2..).unwrap_or_default());
            let mut ev = EventDraft::new("bacnet.request")
                .with("pdu", "unconfirmed")
                .with("service", service_name(true, service))
                .with("service_choice", service);
            if communicating {
                out.apdu = match service {
                    unconfirmed::WHO_IS => who_is(dev, &mut r, &mut ev),
                    unconfirmed::WHO_HAS => who_has(dev, &mut r),
                    unconfirmed::TIME_SYNCHRONIZATION | unconfirmed::UTC_TIME_SYNCHRONIZATION => {
                        if let (Ok(Value::Date(d)), Ok(Value::Time(t))) =
                            (tag::read_app_value(&mut r), tag::read_app_value(&mut r))
                        {
                            ev = ev
                                .with("date", format!("{}-{:02}-{:02}", 1900 + u32::from(d[0]), d[1], d[2]))
                                .with("time", format!("{:02}:{:02}:{:02}", t[0], t[1], t[2]));
                        }
                        None
                    }
                    _ => None,
                };
            }
            ev = ev.with("answered", out.apdu.is_some());
            out.events.push(ev);
        }
        pdu::CONFIRMED => {
            let mut r = Reader::new(apdu);
            let Ok(h) = frame::confirmed(&mut r) else {
                out.events
                    .push(EventDraft::new("bacnet.malformed").with("length", apdu.len()));
                return out;
            };
            let mut ev = EventDraft::new("bacnet.request")
                .with("pdu", "confirmed")
                .with("service", service_name(false, h.service))
                .with("service_choice", h.service)
                .with("invoke_id", h.invoke);
            // A disabled device still hears the services that re-enable it.
            let allowed = communicating
                || matches!(
                    h.service,
                    confirmed::DEVICE_COMMUNICATION_CONTROL | confirmed::REINITIALIZE_DEVICE
                );
            if !allowed {
                out.events
                    .push(ev.with("answered", false).with("reason", "communication_disabled"));
                return out;
            }
            let reply = if h.segmented {
                abort_pdu(h.invoke, ABORT_SEGMENTATION)
            } else {
                let body = r.rest();
                match h.service {
                    confirmed::READ_PROPERTY => read_property(dev, h.invoke, body, now, &mut ev),
                    confirmed::READ_PROPERTY_MULTIPLE => read_multiple(dev, h.invoke, body, now, &mut ev),
                    confirmed::WRITE_PROPERTY => write_property(dev, h.invoke, body, &mut ev),
                    confirmed::DEVICE_COMMUNICATION_CONTROL | confirmed::REINITIALIZE_DEVICE => {
                        password_service(dev, h.invoke, h.service, body, asker, now, &mut ev, &mut out.events)
                    }
                    _ => reject_pdu(h.invoke, reject::UNRECOGNIZED_SERVICE),
                }
            };
            ev = ev.with(
                "reply",
                match reply.first().map(|b| b >> 4) {
                    Some(pdu::SIMPLE_ACK) => "simple_ack",
                    Some(pdu::COMPLEX_ACK) => "complex_ack",
                    Some(pdu::ERROR) => "error",
                    Some(pdu::REJECT) => "reject",
                    _ => "abort",
                },
            );
            out.events.push(ev);
            out.apdu = Some(reply);
        }
        _ => {
            // Acknowledgements and errors from a peer: nothing to answer (segment ACKs
            // are the session's).
            out.events.push(
                EventDraft::new("bacnet.request")
                    .with("pdu", pdu_name(kind))
                    .with("answered", false),
            );
        }
    }
    out
}

fn pdu_name(kind: u8) -> &'static str {
    match kind {
        pdu::SIMPLE_ACK => "simple_ack",
        pdu::COMPLEX_ACK => "complex_ack",
        pdu::SEGMENT_ACK => "segment_ack",
        pdu::ERROR => "error",
        pdu::REJECT => "reject",
        pdu::ABORT => "abort",
        _ => "reserved",
    }
}

fn who_is(dev: &BacDevice, r: &mut Reader<'_>, ev: &mut EventDraft) -> Option<Vec<u8>> {
    if r.is_empty() {
        return Some(i_am(dev));
    }
    let lo = tag::context_unsigned(r, 0).ok()?;
    let hi = tag::context_unsigned(r, 1).ok()?;
    *ev = std::mem::replace(ev, EventDraft::new(""))
        .with("low", lo)
        .with("high", hi);
    (lo..=hi).contains(&u64::from(dev.spec.instance)).then(|| i_am(dev))
}

fn who_has(dev: &BacDevice, r: &mut Reader<'_>) -> Option<Vec<u8>> {
    if tag::next_is(r, 0) {
        let lo = tag::context_unsigned(r, 0).ok()?;
        let hi = tag::context_unsigned(r, 1).ok()?;
        if !(lo..=hi).contains(&u64::from(dev.spec.instance)) {
            return None;
        }
    }
    let t = tag::peek_tag(r)?;
    let found = if t.number == 2 {
        let (ty, inst) = tag::context_object_id(r, 2).ok()?;
        dev.spec.objects.iter().find(|o| o.ty == ty && o.instance == inst)
    } else {
        let t = tag::read_tag(r).ok()?;
        let b = r.take(t.len).ok()?;
        let name = String::from_utf8_lossy(b.get(1..).unwrap_or_default()).into_owned();
        dev.spec.objects.iter().find(|o| o.name == name)
    }?;
    let mut a = vec![pdu::UNCONFIRMED << 4, unconfirmed::I_HAVE];
    tag::put_value(&mut a, &Value::ObjectId(ty::DEVICE, dev.spec.instance));
    tag::put_value(&mut a, &Value::ObjectId(found.ty, found.instance));
    tag::put_value(&mut a, &Value::Text(found.name.clone()));
    Some(a)
}

/// The value of a property with an optional array index applied.
fn indexed(
    dev: &BacDevice,
    object: Option<usize>,
    property: u32,
    index: Option<u64>,
    now: SystemTime,
) -> Result<Value, BacError> {
    let v = dev.read(object, property, now)?;
    match (index, v) {
        (None, v) => Ok(v),
        (Some(i), Value::List(items))
            if matches!(
                property,
                prop::OBJECT_LIST | prop::PRIORITY_ARRAY | prop::STATE_TEXT | prop::PROPERTY_LIST
            ) =>
        {
            if i == 0 {
                Ok(Value::Unsigned(items.len() as u64))
            } else {
                items
                    .get(usize::try_from(i - 1).unwrap_or(usize::MAX))
                    .cloned()
                    .ok_or(objects::BAD_INDEX)
            }
        }
        (Some(_), _) => Err(objects::NOT_AN_ARRAY),
    }
}

fn read_property(dev: &BacDevice, invoke: u8, body: &[u8], now: SystemTime, ev: &mut EventDraft) -> Vec<u8> {
    let mut r = Reader::new(body);
    let parsed = (|| -> WireResult<((u16, u32), u32, Option<u64>)> {
        let oid = tag::context_object_id(&mut r, 0)?;
        let p = u32::try_from(tag::context_unsigned(&mut r, 1)?).unwrap_or(u32::MAX);
        let idx = if tag::next_is(&r, 2) {
            Some(tag::context_unsigned(&mut r, 2)?)
        } else {
            None
        };
        Ok((oid, p, idx))
    })();
    let Ok(((oty, inst), p, idx)) = parsed else {
        return reject_pdu(invoke, reject::MISSING_REQUIRED_PARAMETER);
    };
    if !r.is_empty() {
        return reject_pdu(invoke, reject::INVALID_TAG);
    }
    *ev = std::mem::replace(ev, EventDraft::new(""))
        .with("object", format!("{oty}:{inst}"))
        .with("property", p);
    let result = dev.find(oty, inst).and_then(|o| {
        if matches!(p, prop::ALL | prop::REQUIRED | prop::OPTIONAL) {
            return Err(objects::UNKNOWN_PROPERTY);
        }
        indexed(dev, o, p, idx, now)
    });
    match result {
        Ok(v) => {
            let (rty, rinst) = if oty == ty::DEVICE && inst == objects::WILDCARD {
                (ty::DEVICE, dev.spec.instance)
            } else {
                (oty, inst)
            };
            let mut a = vec![pdu::COMPLEX_ACK << 4, invoke, confirmed::READ_PROPERTY];
            tag::put_context_object_id(&mut a, 0, rty, rinst);
            tag::put_context_unsigned(&mut a, 1, u64::from(p));
            if let Some(i) = idx {
                tag::put_context_unsigned(&mut a, 2, i);
            }
            tag::put_bracket(&mut a, 3, true);
            tag::put_value(&mut a, &v);
            tag::put_bracket(&mut a, 3, false);
            a
        }
        Err(e) => error_pdu(invoke, confirmed::READ_PROPERTY, e),
    }
}

fn read_multiple(dev: &BacDevice, invoke: u8, body: &[u8], now: SystemTime, ev: &mut EventDraft) -> Vec<u8> {
    let mut r = Reader::new(body);
    let mut a = vec![pdu::COMPLEX_ACK << 4, invoke, confirmed::READ_PROPERTY_MULTIPLE];
    let mut asked = Vec::new();
    let mut specs = 0;
    while !r.is_empty() {
        specs += 1;
        if specs > 64 {
            return reject_pdu(invoke, reject::OTHER);
        }
        let Ok((oty, inst)) = tag::context_object_id(&mut r, 0) else {
            return reject_pdu(invoke, reject::INVALID_TAG);
        };
        if tag::expect_bracket(&mut r, 1, true).is_err() {
            return reject_pdu(invoke, reject::INVALID_TAG);
        }
        let found = dev.find(oty, inst);
        let (rty, rinst) = if oty == ty::DEVICE && inst == objects::WILDCARD {
            (ty::DEVICE, dev.spec.instance)
        } else {
            (oty, inst)
        };
        tag::put_context_object_id(&mut a, 0, rty, rinst);
        tag::put_bracket(&mut a, 1, true);
        asked.push(format!("{oty}:{inst}"));
        let mut props = 0;
        loop {
            if tag::expect_bracket(&mut r.clone(), 1, false).is_ok() {
                let _ = tag::expect_bracket(&mut r, 1, false);
                break;
            }
            props += 1;
            let Ok(p) = tag::context_unsigned(&mut r, 0) else {
                return reject_pdu(invoke, reject::INVALID_TAG);
            };
            if props > 64 {
                return reject_pdu(invoke, reject::OTHER);
            }
            let p = u32::try_from(p).unwrap_or(u32::MAX);
            let idx = if tag::next_is(&r, 1) {
                match tag::context_unsigned(&mut r, 1) {
                    Ok(i) => Some(i),
                    Err(_) => return reject_pdu(invoke, reject::INVALID_TAG),
                }
            } else {
                None
            };
            let list: Vec<u32> = match (&found, p) {
                (Ok(o), prop::ALL | prop::REQUIRED | prop::OPTIONAL) => dev.properties(*o, p),
                _ => vec![p],
            };
            for q in list {
                tag::put_context_unsigned(&mut a, 2, u64::from(q));
                if let Some(i) = idx {
                    tag::put_context_unsigned(&mut a, 3, i);
                }
                match found.and_then(|o| indexed(dev, o, q, idx, now)) {
                    Ok(v) => {
                        tag::put_bracket(&mut a, 4, true);
                        tag::put_value(&mut a, &v);
                        tag::put_bracket(&mut a, 4, false);
                    }
                    Err(e) => {
                        tag::put_bracket(&mut a, 5, true);
                        tag::put_value(&mut a, &Value::Enum(e.class));
                        tag::put_value(&mut a, &Value::Enum(e.code));
                        tag::put_bracket(&mut a, 5, false);
                    }
                }
            }
        }
        tag::put_bracket(&mut a, 1, false);
    }
    if specs == 0 {
        return reject_pdu(invoke, reject::MISSING_REQUIRED_PARAMETER);
    }
    *ev = std::mem::replace(ev, EventDraft::new("")).with("objects", asked);
    a
}

/// A WriteProperty request: object, property, array index, values, priority.
type WriteRequest = ((u16, u32), u32, Option<u64>, Vec<Value>, Option<u64>);

fn write_property(dev: &BacDevice, invoke: u8, body: &[u8], ev: &mut EventDraft) -> Vec<u8> {
    let mut r = Reader::new(body);
    let parsed = (|| -> WireResult<WriteRequest> {
        let oid = tag::context_object_id(&mut r, 0)?;
        let p = u32::try_from(tag::context_unsigned(&mut r, 1)?).unwrap_or(u32::MAX);
        let idx = if tag::next_is(&r, 2) {
            Some(tag::context_unsigned(&mut r, 2)?)
        } else {
            None
        };
        tag::expect_bracket(&mut r, 3, true)?;
        let mut values = Vec::new();
        while tag::expect_bracket(&mut r.clone(), 3, false).is_err() {
            values.push(tag::read_app_value(&mut r)?);
            if values.len() > 32 {
                break;
            }
        }
        tag::expect_bracket(&mut r, 3, false)?;
        let prio = if tag::next_is(&r, 4) {
            Some(tag::context_unsigned(&mut r, 4)?)
        } else {
            None
        };
        Ok((oid, p, idx, values, prio))
    })();
    let Ok(((oty, inst), p, idx, values, prio)) = parsed else {
        return reject_pdu(invoke, reject::INVALID_TAG);
    };
    let value = match values.as_slice() {
        [v] => v.clone(),
        _ => return error_pdu(invoke, confirmed::WRITE_PROPERTY, objects::BAD_TYPE),
    };
    let Some(prio) = prio.map_or(Some(None), |p| {
        u8::try_from(p).ok().filter(|p| (1..=16).contains(p)).map(Some)
    }) else {
        return reject_pdu(invoke, reject::PARAMETER_OUT_OF_RANGE);
    };
    *ev = std::mem::replace(ev, EventDraft::new(""))
        .with("object", format!("{oty}:{inst}"))
        .with("property", p)
        .with("value", format!("{value:?}"))
        .with("priority", prio);
    let result = if idx.is_some() {
        Err(objects::WRITE_DENIED)
    } else {
        dev.find(oty, inst).and_then(|o| dev.write(o, p, &value, prio))
    };
    match result {
        Ok(()) => vec![pdu::SIMPLE_ACK << 4, invoke, confirmed::WRITE_PROPERTY],
        Err(e) => error_pdu(invoke, confirmed::WRITE_PROPERTY, e),
    }
}

#[allow(clippy::too_many_arguments)]
fn password_service(
    dev: &BacDevice,
    invoke: u8,
    service: u8,
    body: &[u8],
    asker: &Asker<'_>,
    now: SystemTime,
    ev: &mut EventDraft,
    events: &mut Vec<EventDraft>,
) -> Vec<u8> {
    let mut r = Reader::new(body);
    let mut duration = None;
    let state;
    if service == confirmed::DEVICE_COMMUNICATION_CONTROL {
        if tag::next_is(&r, 0) {
            duration = tag::context_unsigned(&mut r, 0).ok();
        }
        let Ok(s) = tag::context_unsigned(&mut r, 1) else {
            return reject_pdu(invoke, reject::MISSING_REQUIRED_PARAMETER);
        };
        state = s;
    } else {
        let Ok(s) = tag::context_unsigned(&mut r, 0) else {
            return reject_pdu(invoke, reject::MISSING_REQUIRED_PARAMETER);
        };
        state = s;
    }
    let pw_tag = if service == confirmed::DEVICE_COMMUNICATION_CONTROL {
        2
    } else {
        1
    };
    let password = match tag::peek_tag(&r) {
        Some(t) if t.context && t.number == pw_tag => {
            let Ok(t) = tag::read_tag(&mut r) else {
                return reject_pdu(invoke, reject::INVALID_TAG);
            };
            r.take(t.len).ok().and_then(|b| b.get(1..)).unwrap_or_default().to_vec()
        }
        _ => Vec::new(),
    };
    let decision = asker.auth.check_password_only("bacnet", &password, asker.source, now);
    let ok = decision.success();
    events.push(decision.event);
    *ev = std::mem::replace(ev, EventDraft::new(""))
        .with("state", state)
        .with("duration_minutes", duration)
        .with("password_ok", ok);
    if !ok {
        return error_pdu(invoke, service, objects::PASSWORD_FAILURE);
    }
    if service == confirmed::DEVICE_COMMUNICATION_CONTROL {
        let mut st = dev.state();
        st.disabled = match state {
            0 => None,
            1 | 2 => Some(duration.map(|m| now + Duration::from_secs(m.min(1 << 20) * 60))),
            _ => return reject_pdu(invoke, reject::PARAMETER_OUT_OF_RANGE),
        };
    } else if state > 6 {
        return reject_pdu(invoke, reject::PARAMETER_OUT_OF_RANGE);
    }
    vec![pdu::SIMPLE_ACK << 4, invoke, service]
}
