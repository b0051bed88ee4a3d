//! SNMP messages (v1, v2c, v3) and PDUs: decoded from BER and encoded back.

use crate::ber::{self, BerError, Reader, tag};

/// PDU tags.
pub mod pdu_tag {
    /// GetRequest.
    pub const GET: u8 = 0xA0;
    /// GetNextRequest.
    pub const GET_NEXT: u8 = 0xA1;
    /// Response.
    pub const RESPONSE: u8 = 0xA2;
    /// SetRequest.
    pub const SET: u8 = 0xA3;
    /// SNMPv1 Trap.
    pub const TRAP_V1: u8 = 0xA4;
    /// GetBulkRequest.
    pub const GET_BULK: u8 = 0xA5;
    /// InformRequest.
    pub const INFORM: u8 = 0xA6;
    /// SNMPv2-Trap.
    pub const TRAP_V2: u8 = 0xA7;
    /// Report.
    pub const REPORT: u8 = 0xA8;
}

/// Most variable bindings decoded from one PDU.
pub const MAX_VARBINDS: usize = 256;

/// An SNMP value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnmpValue {
    /// INTEGER / Integer32.
    Integer(i64),
    /// OCTET STRING.
    Octets(Vec<u8>),
    /// NULL.
    Null,
    /// OBJECT IDENTIFIER.
    Oid(Vec<u32>),
    /// IpAddress.
    IpAddress([u8; 4]),
    /// Counter32.
    Counter32(u32),
    /// Gauge32.
    Gauge32(u32),
    /// TimeTicks (hundredths of a second).
    TimeTicks(u32),
    /// Opaque.
    Opaque(Vec<u8>),
    /// Counter64.
    Counter64(u64),
    /// noSuchObject exception.
    NoSuchObject,
    /// noSuchInstance exception.
    NoSuchInstance,
    /// endOfMibView exception.
    EndOfMibView,
}

impl SnmpValue {
    fn decode(t: u8, c: &[u8]) -> Result<SnmpValue, BerError> {
        let u32v = |c: &[u8]| ber::decode_uint(c).and_then(|v| u32::try_from(v).map_err(|_| BerError::Value));
        Ok(match t {
            tag::INTEGER => SnmpValue::Integer(ber::decode_int(c)?),
            tag::OCTET_STRING => SnmpValue::Octets(c.to_vec()),
            tag::NULL => SnmpValue::Null,
            tag::OID => SnmpValue::Oid(ber::decode_oid(c)?),
            tag::IP_ADDRESS => SnmpValue::IpAddress(<[u8; 4]>::try_from(c).map_err(|_| BerError::Value)?),
            tag::COUNTER32 => SnmpValue::Counter32(u32v(c)?),
            tag::GAUGE32 => SnmpValue::Gauge32(u32v(c)?),
            tag::TIMETICKS => SnmpValue::TimeTicks(u32v(c)?),
            tag::OPAQUE => SnmpValue::Opaque(c.to_vec()),
            tag::COUNTER64 => SnmpValue::Counter64(ber::decode_uint(c)?),
            tag::NO_SUCH_OBJECT => SnmpValue::NoSuchObject,
            tag::NO_SUCH_INSTANCE => SnmpValue::NoSuchInstance,
            tag::END_OF_MIB_VIEW => SnmpValue::EndOfMibView,
            other => return Err(BerError::Tag(other)),
        })
    }

    /// Appends the value's TLV.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            SnmpValue::Integer(v) => ber::put_int(out, *v),
            SnmpValue::Octets(b) => ber::put(out, tag::OCTET_STRING, b),
            SnmpValue::Null => ber::put(out, tag::NULL, &[]),
            SnmpValue::Oid(o) => ber::put_oid(out, o),
            SnmpValue::IpAddress(a) => ber::put(out, tag::IP_ADDRESS, a),
            SnmpValue::Counter32(v) => ber::put_uint(out, tag::COUNTER32, u64::from(*v)),
            SnmpValue::Gauge32(v) => ber::put_uint(out, tag::GAUGE32, u64::from(*v)),
            SnmpValue::TimeTicks(v) => ber::put_uint(out, tag::TIMETICKS, u64::from(*v)),
            SnmpValue::Opaque(b) => ber::put(out, tag::OPAQUE, b),
            SnmpValue::Counter64(v) => ber::put_uint(out, tag::COUNTER64, *v),
            SnmpValue::NoSuchObject => ber::put(out, tag::NO_SUCH_OBJECT, &[]),
            SnmpValue::NoSuchInstance => ber::put(out, tag::NO_SUCH_INSTANCE, &[]),
            SnmpValue::EndOfMibView => ber::put(out, tag::END_OF_MIB_VIEW, &[]),
        }
    }

    /// The value for an event log: text as a string, other octets as `{"hex": ...}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            SnmpValue::Integer(v) => json!(v),
            SnmpValue::Octets(b) => match std::str::from_utf8(b) {
                Ok(s)
                    if s.chars()
                        .all(|c| !c.is_control() || c == '\n' || c == '\r' || c == '\t') =>
                {
                    json!(s)
                }
                // Not text: an object, so it can never be mistaken for a string value
                // that happens to read "0x...".
                _ => json!({"hex": conpot_core::hex::encode(b)}),
            },
            SnmpValue::Null => json!(null),
            SnmpValue::Oid(o) => json!(oid_string(o)),
            SnmpValue::IpAddress(a) => json!(format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])),
            SnmpValue::Counter32(v) | SnmpValue::Gauge32(v) | SnmpValue::TimeTicks(v) => json!(v),
            SnmpValue::Opaque(b) => json!(conpot_core::hex::encode(b)),
            SnmpValue::Counter64(v) => json!(v),
            SnmpValue::NoSuchObject => json!("noSuchObject"),
            SnmpValue::NoSuchInstance => json!("noSuchInstance"),
            SnmpValue::EndOfMibView => json!("endOfMibView"),
        }
    }
}

/// Dotted text of an OID.
pub fn oid_string(o: &[u32]) -> String {
    // Written into one string: every request's event names its OIDs, and a string per
    // arc joined afterwards was a fair share of an answer's allocations.
    let mut s = String::with_capacity(o.len() * 4);
    let mut digits = itoa::Buffer::new();
    for (i, arc) in o.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.push_str(digits.format(*arc));
    }
    s
}

/// Parses dotted OID text.
pub fn parse_oid(s: &str) -> Option<Vec<u32>> {
    let s = s.trim().trim_start_matches('.');
    if s.is_empty() {
        return None;
    }
    s.split('.').map(|p| p.parse::<u32>().ok()).collect()
}

/// A variable binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarBind {
    /// Name.
    pub oid: Vec<u32>,
    /// Value.
    pub value: SnmpValue,
}

/// A PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// PDU tag.
    pub kind: u8,
    /// Request id.
    pub request_id: i64,
    /// Error status (non-repeaters for GetBulk).
    pub error_status: i64,
    /// Error index (max-repetitions for GetBulk).
    pub error_index: i64,
    /// Variable bindings (at most [`MAX_VARBINDS`] are kept).
    pub varbinds: Vec<VarBind>,
    /// Well-formed bindings beyond [`MAX_VARBINDS`], checked but not kept: the agent
    /// answers such a request with tooBig, as an agent with a size limit does, instead of
    /// dropping it.
    pub dropped_varbinds: usize,
}

impl Pdu {
    /// Decodes a PDU (any tag 0xA0..0xA8 except the v1 trap).
    pub fn decode(r: &mut Reader<'_>) -> Result<Pdu, BerError> {
        let kind = r.peek_tag().ok_or(BerError::Truncated)?;
        if !(0xA0..=0xA8).contains(&kind) || kind == pdu_tag::TRAP_V1 {
            return Err(BerError::Tag(kind));
        }
        let mut p = r.nested(kind)?;
        let request_id = p.integer()?;
        let error_status = p.integer()?;
        let error_index = p.integer()?;
        let mut list = p.nested(tag::SEQUENCE)?;
        // Most requests name a handful of objects: room for them without growing.
        let mut varbinds = Vec::with_capacity(4);
        let mut dropped_varbinds = 0;
        while !list.is_empty() {
            let mut vb = list.nested(tag::SEQUENCE)?;
            let oid = vb.oid()?;
            let (t, c) = vb.any()?;
            let value = SnmpValue::decode(t, c)?;
            if varbinds.len() >= MAX_VARBINDS {
                dropped_varbinds += 1;
                continue;
            }
            varbinds.push(VarBind { oid, value });
        }
        Ok(Pdu {
            kind,
            request_id,
            error_status,
            error_index,
            varbinds,
            dropped_varbinds,
        })
    }

    /// The PDU's TLV.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Room for a typical answer (a few bindings), so that it is not grown and copied.
        let mut out = Vec::with_capacity(256);
        self.encode(&mut out);
        out
    }

    /// Appends the PDU's TLV.
    pub fn encode(&self, out: &mut Vec<u8>) {
        ber::put_seq(out, self.kind, |o| {
            ber::put_int(o, self.request_id);
            ber::put_int(o, self.error_status);
            ber::put_int(o, self.error_index);
            ber::put_seq(o, tag::SEQUENCE, |l| {
                for vb in &self.varbinds {
                    ber::put_seq(l, tag::SEQUENCE, |v| {
                        ber::put_oid(v, &vb.oid);
                        vb.value.encode(v);
                    });
                }
            });
        });
    }
}

/// USM security parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Usm {
    /// Authoritative engine id.
    pub engine_id: Vec<u8>,
    /// Engine boots.
    pub boots: i64,
    /// Engine time.
    pub time: i64,
    /// User name.
    pub user: Vec<u8>,
    /// Authentication parameters (the MAC).
    pub auth: Vec<u8>,
    /// Privacy parameters (the salt).
    pub privacy: Vec<u8>,
}

/// The scoped PDU of a v3 message, plain or encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scoped {
    /// In clear.
    Plain {
        /// Context engine id.
        context_engine_id: Vec<u8>,
        /// Context name.
        context_name: Vec<u8>,
        /// The PDU.
        pdu: Pdu,
    },
    /// Encrypted bytes.
    Encrypted(Vec<u8>),
}

/// A decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// SNMPv1 (version 0) or v2c (version 1).
    Community {
        /// 0 for v1, 1 for v2c.
        version: i64,
        /// Community string.
        community: Vec<u8>,
        /// The PDU.
        pdu: Pdu,
    },
    /// SNMPv3.
    V3 {
        /// Message id.
        msg_id: i64,
        /// Largest message the sender accepts.
        max_size: i64,
        /// Flags (1 auth, 2 priv, 4 reportable).
        flags: u8,
        /// Security model (3 = USM).
        security_model: i64,
        /// USM parameters.
        usm: Usm,
        /// Where the authentication parameters sit in the message bytes (for the MAC).
        auth_offset: usize,
        /// Scoped PDU.
        scoped: Scoped,
    },
}

fn scoped_plain(r: &mut Reader<'_>) -> Result<Scoped, BerError> {
    let mut s = r.nested(tag::SEQUENCE)?;
    let context_engine_id = s.octets()?.to_vec();
    let context_name = s.octets()?.to_vec();
    let pdu = Pdu::decode(&mut s)?;
    Ok(Scoped::Plain {
        context_engine_id,
        context_name,
        pdu,
    })
}

/// Decodes a scoped PDU from decrypted bytes.
pub fn decode_scoped(b: &[u8]) -> Result<Scoped, BerError> {
    scoped_plain(&mut Reader::new(b))
}

impl Message {
    /// Decodes a whole message.
    pub fn decode(buf: &[u8]) -> Result<Message, BerError> {
        let mut top = Reader::new(buf);
        let mut m = top.nested(tag::SEQUENCE)?;
        let version = m.integer()?;
        match version {
            0 | 1 => {
                let community = m.octets()?.to_vec();
                let pdu = Pdu::decode(&mut m)?;
                Ok(Message::Community {
                    version,
                    community,
                    pdu,
                })
            }
            3 => {
                let mut h = m.nested(tag::SEQUENCE)?;
                let msg_id = h.integer()?;
                let max_size = h.integer()?;
                let flags = h.octets()?.first().copied().unwrap_or(0);
                let security_model = h.integer()?;
                let sp = m.octets()?;
                let mut u = Reader::new(sp).nested(tag::SEQUENCE)?;
                let engine_id = u.octets()?.to_vec();
                let boots = u.integer()?;
                let time = u.integer()?;
                let user = u.octets()?.to_vec();
                let auth_slice = u.octets()?;
                let auth_offset = (auth_slice.as_ptr() as usize).saturating_sub(buf.as_ptr() as usize);
                let privacy = u.octets()?.to_vec();
                let usm = Usm {
                    engine_id,
                    boots,
                    time,
                    user,
                    auth: auth_slice.to_vec(),
                    privacy,
                };
                let scoped = if flags & 2 != 0 {
                    Scoped::Encrypted(m.octets()?.to_vec())
                } else {
                    scoped_plain(&mut m)?
                };
                Ok(Message::V3 {
                    msg_id,
                    max_size,
                    flags,
                    security_model,
                    usm,
                    auth_offset,
                    scoped,
                })
            }
            _ => Err(BerError::Value),
        }
    }
}

/// Encodes a v1/v2c message.
pub fn encode_community(version: i64, community: &[u8], pdu: &Pdu) -> Vec<u8> {
    encode_community_raw(version, community, &pdu.to_bytes())
}

/// Encodes a v1/v2c message around an already encoded PDU.
pub fn encode_community_raw(version: i64, community: &[u8], pdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pdu.len() + community.len() + 8);
    ber::put_seq(&mut out, tag::SEQUENCE, |m| {
        ber::put_int(m, version);
        ber::put(m, tag::OCTET_STRING, community);
        m.extend_from_slice(pdu);
    });
    out
}

/// Encodes a scoped PDU (for encryption or sending in clear).
pub fn encode_scoped(context_engine_id: &[u8], context_name: &[u8], pdu: &Pdu) -> Vec<u8> {
    encode_scoped_raw(context_engine_id, context_name, &pdu.to_bytes())
}

/// Encodes a scoped PDU around an already encoded PDU.
pub fn encode_scoped_raw(context_engine_id: &[u8], context_name: &[u8], pdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pdu.len() + context_engine_id.len() + context_name.len() + 8);
    ber::put_seq(&mut out, tag::SEQUENCE, |s| {
        ber::put(s, tag::OCTET_STRING, context_engine_id);
        ber::put(s, tag::OCTET_STRING, context_name);
        s.extend_from_slice(pdu);
    });
    out
}

/// Encodes a v3 message; `scoped` is the encoded scoped PDU, or the ciphertext when
/// `flags` has the privacy bit. Returns the bytes and the offset of the (zeroed)
/// authentication parameters, `usm.auth.len()` long.
pub fn encode_v3(msg_id: i64, max_size: i64, flags: u8, usm: &Usm, scoped: &[u8]) -> (Vec<u8>, usize) {
    let mut sp = Vec::new();
    let mut auth_in_sp = 0;
    // Offsets are taken from the start of each sequence's content (`put_seq` writes the
    // content in place after its header), then moved by the header's final size.
    ber::put_seq(&mut sp, tag::SEQUENCE, |u| {
        let base = u.len();
        ber::put(u, tag::OCTET_STRING, &usm.engine_id);
        ber::put_int(u, usm.boots);
        ber::put_int(u, usm.time);
        ber::put(u, tag::OCTET_STRING, &usm.user);
        u.push(tag::OCTET_STRING);
        u.push(usm.auth.len() as u8);
        auth_in_sp = u.len() - base;
        u.extend_from_slice(&usm.auth);
        ber::put(u, tag::OCTET_STRING, &usm.privacy);
    });
    // The USM sequence header moves the offset by its tag and length bytes.
    let seq_header = sp.len() - outer_content_len(&sp);
    let auth_in_sp = auth_in_sp + seq_header;
    let mut out = Vec::new();
    let mut offset = 0;
    ber::put_seq(&mut out, tag::SEQUENCE, |m| {
        let base = m.len();
        ber::put_int(m, 3);
        ber::put_seq(m, tag::SEQUENCE, |h| {
            ber::put_int(h, msg_id);
            ber::put_int(h, max_size);
            ber::put(h, tag::OCTET_STRING, &[flags]);
            ber::put_int(h, 3);
        });
        m.push(tag::OCTET_STRING);
        let mut lenb = Vec::new();
        ber::put(&mut lenb, 0, &sp);
        // `lenb` is tag(0) + length + content: copy the length bytes.
        let len_bytes = lenb.len() - sp.len() - 1;
        m.extend_from_slice(lenb.get(1..1 + len_bytes).unwrap_or_default());
        offset = m.len() - base + auth_in_sp;
        m.extend_from_slice(&sp);
        if flags & 2 != 0 {
            ber::put(m, tag::OCTET_STRING, scoped);
        } else {
            m.extend_from_slice(scoped);
        }
    });
    // The outer sequence header precedes `m`.
    let outer_header = out.len() - outer_content_len(&out);
    (out, offset + outer_header)
}

fn outer_content_len(tlv: &[u8]) -> usize {
    let mut r = Reader::new(tlv);
    r.any().map(|(_, c)| c.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_are_written_as_dotted_decimals_and_read_back() {
        for oid in [
            vec![],
            vec![0],
            vec![1, 3, 6, 1, 2, 1, 1, 1, 0],
            vec![0, 9, 10, 99, 100, 4_294_967_295],
        ] {
            let text = oid_string(&oid);
            let plain = oid.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
            assert_eq!(text, plain);
            if !oid.is_empty() {
                assert_eq!(parse_oid(&text), Some(oid));
            }
        }
    }

    #[test]
    fn v2c_round_trip() {
        let pdu = Pdu {
            kind: pdu_tag::GET,
            request_id: 1234,
            error_status: 0,
            error_index: 0,
            varbinds: vec![VarBind {
                oid: vec![1, 3, 6, 1, 2, 1, 1, 1, 0],
                value: SnmpValue::Null,
            }],
            dropped_varbinds: 0,
        };
        let bytes = encode_community(1, b"public", &pdu);
        assert_eq!(
            conpot_core::hex::encode(&bytes),
            "302702010104067075626c6963a01a020204d2020100020100300e300c06082b060102010101000500"
        );
        assert_eq!(
            Message::decode(&bytes),
            Ok(Message::Community {
                version: 1,
                community: b"public".to_vec(),
                pdu
            })
        );
    }

    #[test]
    fn v3_round_trip_and_auth_offset() {
        let usm = Usm {
            engine_id: vec![0x80, 0, 0x10, 0xE9, 3, 1, 2, 3, 4, 5, 6],
            boots: 1,
            time: 77,
            user: b"admin".to_vec(),
            auth: vec![0xAA; 12],
            privacy: vec![],
        };
        let pdu = Pdu {
            kind: pdu_tag::REPORT,
            request_id: 5,
            error_status: 0,
            error_index: 0,
            varbinds: vec![],
            dropped_varbinds: 0,
        };
        let scoped = encode_scoped(&usm.engine_id, b"", &pdu);
        let (bytes, off) = encode_v3(42, 1500, 1, &usm, &scoped);
        assert_eq!(&bytes[off..off + 12], &[0xAA; 12]);
        let Ok(Message::V3 {
            msg_id,
            usm: got,
            auth_offset,
            scoped: Scoped::Plain { pdu: p, .. },
            ..
        }) = Message::decode(&bytes)
        else {
            panic!()
        };
        assert_eq!(msg_id, 42);
        assert_eq!(got, usm);
        assert_eq!(auth_offset, off);
        assert_eq!(p, pdu);
    }
}
