//! Logix tag services: Read Tag, Write Tag and their fragmented forms, reached by a
//! symbolic path (`SCADA`, `Pumps[2]`), and the class/instance/attribute addresses
//! Conpot's templates gave tags.

use std::time::SystemTime;

use conpot_core::wire::Reader;

use crate::cip::{Reply, Request, Segment, general, service};
use crate::device::EnipDevice;
use crate::structs::{Member, Structure};
use crate::tags::Tag;

/// Logix's general status for errors it qualifies with an extended code.
const GENERAL_ERROR: u8 = 0xFF;
/// Extended status: the request reaches past the end of the tag.
const BEYOND_END: u16 = 0x2105;
/// Extended status: the data type does not match the tag's.
const TYPE_MISMATCH: u16 = 0x2107;

/// Largest chunk of a fragmented read.
const FRAGMENT: usize = 480;

/// A tag service on a symbolic path.
pub fn handle(dev: &EnipDevice, req: &Request<'_>, now: SystemTime) -> Reply {
    let svc = req.service;
    let (name, element, member) = match req.path.as_slice() {
        [Segment::Symbol(n)] => (n, 0, None),
        [Segment::Symbol(n), Segment::Member(e)] => (n, *e, None),
        [Segment::Symbol(n), Segment::Symbol(m)] => (n, 0, Some(m)),
        _ => return Reply::error(svc, general::PATH_SEGMENT_ERROR),
    };
    let Some(tag) = dev
        .config
        .tags
        .iter()
        .find(|t| t.name.as_bytes().eq_ignore_ascii_case(name))
    else {
        return Reply::error(svc, general::PATH_SEGMENT_ERROR);
    };
    let structure = tag
        .structure
        .and_then(|i| dev.config.structures.iter().find(|s| s.instance == i));
    match (structure, member) {
        (None, None) => tag_service(dev, tag, element as usize, req, now),
        (Some(st), None) if element == 0 => struct_service(dev, tag, st, None, req, now),
        (Some(st), Some(m)) => match st.member(m) {
            Some(m) => struct_service(dev, tag, st, Some(m), req, now),
            None => Reply::error(svc, general::PATH_SEGMENT_ERROR),
        },
        _ => Reply::error(svc, general::PATH_SEGMENT_ERROR),
    }
}

/// The type code a structure's read reply and write request carry before its handle.
const STRUCT_TYPE: u16 = 0x02A0;

/// Read/Write Tag (and the fragmented forms) on a structured tag: the whole structure
/// (type 0x02A0 and the structure handle, then its bytes) or one member (the member's
/// atomic type, then its bytes); a member write changes that member only.
fn struct_service(
    dev: &EnipDevice,
    tag: &Tag,
    st: &Structure,
    member: Option<&Member>,
    req: &Request<'_>,
    now: SystemTime,
) -> Reply {
    let svc = req.service;
    let mut r = Reader::new(req.data);
    let mut all = st.encode(&dev.databus, &tag.key, now);
    // The bytes addressed: the whole structure or the member's.
    let (at, len) = match member {
        Some(m) => (m.offset as usize, m.size()),
        None => (0, all.len()),
    };
    match svc {
        service::READ_TAG | service::UNCONNECTED_SEND => {
            let Ok(count) = r.u16_le() else {
                return Reply::error(svc, general::NOT_ENOUGH_DATA);
            };
            let offset = if svc == service::UNCONNECTED_SEND {
                match r.u32_le() {
                    Ok(o) => o as usize,
                    Err(_) => return Reply::error(svc, general::NOT_ENOUGH_DATA),
                }
            } else {
                0
            };
            // A scalar (or the structure) is one element; an array member holds several.
            let want = match member {
                Some(m) if m.elements > 0 => len / usize::from(m.elements) * usize::from(count.max(1)),
                _ if count > 1 => return Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END),
                _ => len,
            };
            if want > len {
                return Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END);
            }
            let Some(rest) = all.get(at..at + want).and_then(|b| b.get(offset..)) else {
                return Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END);
            };
            let head = match member {
                Some(m) => m.ty.code().to_le_bytes().to_vec(),
                None => [STRUCT_TYPE.to_le_bytes(), st.handle.to_le_bytes()].concat(),
            };
            read_reply(svc, head, rest)
        }
        service::WRITE_TAG | service::WRITE_TAG_FRAGMENTED => {
            let head = (|| {
                let ty = r.u16_le()?;
                let handle = if ty == STRUCT_TYPE { Some(r.u16_le()?) } else { None };
                let _count = r.u16_le()?;
                let offset = if svc == service::WRITE_TAG_FRAGMENTED {
                    r.u32_le()? as usize
                } else {
                    0
                };
                Ok::<_, conpot_core::wire::WireError>((ty, handle, offset))
            })();
            let Ok((ty, handle, offset)) = head else {
                return Reply::error(svc, general::NOT_ENOUGH_DATA);
            };
            let matches = match member {
                Some(m) => ty == m.ty.code(),
                None => handle == Some(st.handle),
            };
            if !matches {
                return Reply::error_ext(svc, GENERAL_ERROR, TYPE_MISMATCH);
            }
            // A controller takes the bytes of what is addressed and ignores any more
            // (pycomm3 repeats its whole request after the value); a Write Tag must hold
            // all of them, a fragment any part from its offset.
            let bytes = r.take_rest();
            if svc == service::WRITE_TAG && bytes.len() < len {
                return Reply::error(svc, general::NOT_ENOUGH_DATA);
            }
            let Some(room) = len.checked_sub(offset) else {
                return Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END);
            };
            let bytes = bytes.get(..bytes.len().min(room)).unwrap_or_default();
            let start = at + offset;
            let Some(dst) = all.get_mut(start..start + bytes.len()) else {
                return Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END);
            };
            dst.copy_from_slice(bytes);
            match st.store(&dev.databus, &tag.key, &all) {
                Some(()) => Reply::ok(svc, Vec::new()),
                None => Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END),
            }
        }
        _ => Reply::error(svc, general::SERVICE_NOT_SUPPORTED),
    }
}

/// Read Template (Read Tag on the Template object, class 0x6C): `bytes` of the
/// structure's template from `offset`, in chunks with "partial transfer" until the end.
pub fn read_template(dev: &EnipDevice, instance: u32, data: &[u8]) -> Reply {
    let svc = service::READ_TAG;
    let Some(st) = dev.config.structures.iter().find(|s| u32::from(s.instance) == instance) else {
        return Reply::error(svc, general::OBJECT_DOES_NOT_EXIST);
    };
    let mut r = Reader::new(data);
    let (Ok(offset), Ok(bytes)) = (r.u32_le(), r.u16_le()) else {
        return Reply::error(svc, general::NOT_ENOUGH_DATA);
    };
    let template = st.template();
    let Some(rest) = template.get(offset as usize..) else {
        return Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END);
    };
    let want = usize::from(bytes).min(rest.len());
    let n = want.min(FRAGMENT);
    Reply {
        service: svc,
        status: if n < rest.len() {
            general::PARTIAL_TRANSFER
        } else {
            general::SUCCESS
        },
        extended: Vec::new(),
        data: rest.get(..n).unwrap_or_default().to_vec(),
    }
}

/// Read/Write Tag (and the fragmented forms) on `tag` from element `start`.
fn tag_service(dev: &EnipDevice, tag: &Tag, start: usize, req: &Request<'_>, now: SystemTime) -> Reply {
    let svc = req.service;
    let bus = &dev.databus;
    let mut r = Reader::new(req.data);
    let code = tag.ty.code();
    match svc {
        service::READ_TAG | service::UNCONNECTED_SEND => {
            let Ok(count) = r.u16_le() else {
                return Reply::error(svc, general::NOT_ENOUGH_DATA);
            };
            let offset = if svc == service::UNCONNECTED_SEND {
                match r.u32_le() {
                    Ok(o) => o as usize,
                    Err(_) => return Reply::error(svc, general::NOT_ENOUGH_DATA),
                }
            } else {
                0
            };
            let Some(all) = tag.encode_range(bus, now, start, usize::from(count.max(1))) else {
                return Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END);
            };
            let Some(rest) = all.get(offset..) else {
                return Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END);
            };
            read_reply(svc, code.to_le_bytes().to_vec(), rest)
        }
        service::WRITE_TAG | service::WRITE_TAG_FRAGMENTED => {
            let head = (|| {
                let ty = r.u16_le()?;
                let count = r.u16_le()?;
                let offset = if svc == service::WRITE_TAG_FRAGMENTED {
                    r.u32_le()? as usize
                } else {
                    0
                };
                Ok::<_, conpot_core::wire::WireError>((ty, count, offset))
            })();
            let Ok((ty, count, offset)) = head else {
                return Reply::error(svc, general::NOT_ENOUGH_DATA);
            };
            if ty != code {
                return Reply::error_ext(svc, GENERAL_ERROR, TYPE_MISMATCH);
            }
            let count = usize::from(count.max(1));
            let bytes = r.take_rest();
            let payload = if svc == service::WRITE_TAG_FRAGMENTED {
                let Some(mut all) = tag.encode_range(bus, now, start, count) else {
                    return Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END);
                };
                let Some(dst) = offset.checked_add(bytes.len()).and_then(|end| all.get_mut(offset..end)) else {
                    return Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END);
                };
                dst.copy_from_slice(bytes);
                all
            } else {
                bytes.to_vec()
            };
            match tag.store(bus, now, start, count, &payload) {
                Some(_) => Reply::ok(svc, Vec::new()),
                None => Reply::error_ext(svc, GENERAL_ERROR, BEYOND_END),
            }
        }
        _ => Reply::error(svc, general::SERVICE_NOT_SUPPORTED),
    }
}

/// Get/Set_Attribute_Single (and Get_Attributes_All) on a tag's Conpot address: the
/// tag's elements without a type code, as cpppo's `@class/instance/attribute` reads them.
pub fn attribute(dev: &EnipDevice, tag: &Tag, req: &Request<'_>, now: SystemTime) -> Reply {
    let svc = req.service;
    let n = usize::from(tag.elements.max(1));
    match svc {
        service::GET_ATTRIBUTE_SINGLE | service::GET_ATTRIBUTES_ALL => {
            match tag.encode_range(&dev.databus, now, 0, n) {
                Some(v) => Reply::ok(svc, v),
                None => Reply::error(svc, general::ATTRIBUTE_NOT_SUPPORTED),
            }
        }
        service::SET_ATTRIBUTE_SINGLE => {
            // A write of fewer elements than the tag holds changes the first ones.
            let mut all = tag.encode_range(&dev.databus, now, 0, n).unwrap_or_default();
            if req.data.len() > all.len() {
                return Reply::error(svc, general::TOO_MUCH_DATA);
            }
            if let Some(dst) = all.get_mut(..req.data.len()) {
                dst.copy_from_slice(req.data);
            }
            match tag.store(&dev.databus, now, 0, n, &all) {
                Some(_) => Reply::ok(svc, Vec::new()),
                None => Reply::error(svc, general::NOT_ENOUGH_DATA),
            }
        }
        // cpppo's client reads and writes `@class/instance/attribute` with the tag services.
        service::READ_TAG | service::WRITE_TAG | service::UNCONNECTED_SEND | service::WRITE_TAG_FRAGMENTED => {
            let element = req.path.iter().find_map(|s| match s {
                Segment::Member(m) => Some(*m as usize),
                _ => None,
            });
            tag_service(dev, tag, element.unwrap_or(0), req, now)
        }
        _ => Reply::error(svc, general::SERVICE_NOT_SUPPORTED),
    }
}

/// Largest tag listing in one reply; the rest follows with "partial transfer".
const LIST_BUDGET: usize = 3600;

/// Get Instance Attribute List on the symbol class: the tags from instance `start` on
/// (instance ids count from 1 in template order), each with the attributes asked for, in
/// the order asked (name, type, address, object address, software control, dimensions,
/// external access).
pub fn symbol_list(dev: &EnipDevice, start: u32, data: &[u8]) -> Reply {
    let svc = service::GET_INSTANCE_ATTRIBUTE_LIST;
    let mut r = Reader::new(data);
    let Ok(count) = r.u16_le() else {
        return Reply::error(svc, general::NOT_ENOUGH_DATA);
    };
    let mut attrs = Vec::new();
    for _ in 0..count.min(16) {
        match r.u16_le() {
            Ok(a) => attrs.push(a),
            Err(_) => return Reply::error(svc, general::NOT_ENOUGH_DATA),
        }
    }
    let mut out = Vec::new();
    let mut more = false;
    for (i, tag) in dev.config.tags.iter().enumerate() {
        let id = i as u32 + 1;
        if id < start {
            continue;
        }
        let mut entry = Vec::new();
        let ok = conpot_core::wire::append(&mut entry, 512, |w| {
            w.put_u32_le(id)?;
            for a in &attrs {
                match a {
                    1 => crate::device::put_cip_string_unpadded(w, &tag.name)?,
                    2 => match tag.structure {
                        // Bit 15: a structure, its template instance in the low 12 bits.
                        Some(instance) => w.put_u16_le(0x8000 | (instance & 0x0FFF))?,
                        None => {
                            let dims = if tag.elements > 1 { 0x2000 } else { 0 };
                            w.put_u16_le(tag.ty.code() | dims)?;
                        }
                    },
                    3 | 5 => w.put_u32_le(0x0010_0000 + id * 0x40)?,
                    6 => w.put_u32_le(0)?,
                    8 => {
                        w.put_u32_le(if tag.elements > 1 { u32::from(tag.elements) } else { 0 })?;
                        w.put_u32_le(0)?;
                        w.put_u32_le(0)?;
                    }
                    10 => w.put_u8(0)?,
                    _ => {}
                }
            }
            Ok(())
        });
        if ok.is_err() {
            continue;
        }
        if out.len() + entry.len() > LIST_BUDGET {
            more = true;
            break;
        }
        out.extend_from_slice(&entry);
    }
    Reply {
        service: svc,
        status: if more {
            general::PARTIAL_TRANSFER
        } else {
            general::SUCCESS
        },
        extended: Vec::new(),
        data: out,
    }
}

/// A read's answer, shared by tag and structure reads: the type `head`, then `rest` (the value
/// from the requested offset), cut at one fragment with "partial transfer" under the same
/// condition for both.
fn read_reply(svc: u8, mut head: Vec<u8>, rest: &[u8]) -> Reply {
    let more = svc == service::UNCONNECTED_SEND && rest.len() > FRAGMENT;
    head.extend_from_slice(if more {
        rest.get(..FRAGMENT).unwrap_or_default()
    } else {
        rest
    });
    Reply {
        service: svc,
        status: if more {
            general::PARTIAL_TRANSFER
        } else {
            general::SUCCESS
        },
        extended: Vec::new(),
        data: head,
    }
}
