//! BER (ASN.1 Basic Encoding Rules) as SNMP uses it: a bounded reader over bytes and a
//! writer. Every length and the nesting depth are checked.

/// Deepest nesting accepted (SNMP messages nest about five levels).
pub const MAX_DEPTH: usize = 8;
/// Most sub-identifiers in an OID.
pub const MAX_OID_ARCS: usize = 128;

/// ASN.1 and SNMP tags.
pub mod tag {
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL.
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// SEQUENCE.
    pub const SEQUENCE: u8 = 0x30;
    /// IpAddress.
    pub const IP_ADDRESS: u8 = 0x40;
    /// Counter32.
    pub const COUNTER32: u8 = 0x41;
    /// Gauge32 / Unsigned32.
    pub const GAUGE32: u8 = 0x42;
    /// TimeTicks.
    pub const TIMETICKS: u8 = 0x43;
    /// Opaque.
    pub const OPAQUE: u8 = 0x44;
    /// Counter64.
    pub const COUNTER64: u8 = 0x46;
    /// noSuchObject.
    pub const NO_SUCH_OBJECT: u8 = 0x80;
    /// noSuchInstance.
    pub const NO_SUCH_INSTANCE: u8 = 0x81;
    /// endOfMibView.
    pub const END_OF_MIB_VIEW: u8 = 0x82;
}

/// A decoding error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BerError {
    /// The input ended early or a length points past it.
    Truncated,
    /// A length form BER allows but SNMP does not (indefinite, over 4 bytes).
    Length,
    /// Another tag than the one expected.
    Tag(u8),
    /// A value that does not fit (integer too long, OID too long).
    Value,
    /// Nested too deep.
    Depth,
}

/// A reader over one level of BER content.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf` at nesting depth 0.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, depth: 0 }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// The tag of the next element.
    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// Reads any element: its tag and content.
    pub fn any(&mut self) -> Result<(u8, &'a [u8]), BerError> {
        let (&t, rest) = self.buf.split_first().ok_or(BerError::Truncated)?;
        let (&first, mut rest) = rest.split_first().ok_or(BerError::Truncated)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 {
                return Err(BerError::Length);
            }
            let bytes = rest.get(..n).ok_or(BerError::Truncated)?;
            rest = rest.get(n..).unwrap_or_default();
            bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        let content = rest.get(..len).ok_or(BerError::Truncated)?;
        self.buf = rest.get(len..).unwrap_or_default();
        Ok((t, content))
    }

    /// Reads an element that must have tag `t`.
    pub fn expect(&mut self, t: u8) -> Result<&'a [u8], BerError> {
        let (got, content) = self.any()?;
        if got != t {
            return Err(BerError::Tag(got));
        }
        Ok(content)
    }

    /// Enters a constructed element with tag `t`.
    pub fn nested(&mut self, t: u8) -> Result<Reader<'a>, BerError> {
        if self.depth + 1 > MAX_DEPTH {
            return Err(BerError::Depth);
        }
        let content = self.expect(t)?;
        Ok(Reader {
            buf: content,
            depth: self.depth + 1,
        })
    }

    /// Reads an INTEGER (at most 64 bits, signed).
    pub fn integer(&mut self) -> Result<i64, BerError> {
        decode_int(self.expect(tag::INTEGER)?)
    }

    /// Reads an OCTET STRING.
    pub fn octets(&mut self) -> Result<&'a [u8], BerError> {
        self.expect(tag::OCTET_STRING)
    }

    /// Reads an OBJECT IDENTIFIER.
    pub fn oid(&mut self) -> Result<Vec<u32>, BerError> {
        decode_oid(self.expect(tag::OID)?)
    }
}

/// Decodes a two's complement integer of up to 8 bytes (9 with a leading zero).
pub fn decode_int(b: &[u8]) -> Result<i64, BerError> {
    if b.is_empty() || b.len() > 9 || (b.len() == 9 && b.first() != Some(&0)) {
        return Err(BerError::Value);
    }
    let neg = b.first().is_some_and(|x| x & 0x80 != 0);
    let mut v: i128 = if neg { -1 } else { 0 };
    for &x in b {
        v = (v << 8) | i128::from(x);
    }
    i64::try_from(v)
        .or_else(|_| u64::try_from(v).map(|u| u as i64))
        .map_err(|_| BerError::Value)
}

/// Decodes an unsigned integer of up to 64 bits.
pub fn decode_uint(b: &[u8]) -> Result<u64, BerError> {
    if b.is_empty() || b.len() > 9 || (b.len() == 9 && b.first() != Some(&0)) {
        return Err(BerError::Value);
    }
    Ok(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

/// Decodes OID content.
pub fn decode_oid(b: &[u8]) -> Result<Vec<u32>, BerError> {
    let mut arcs = Vec::new();
    let mut cur: u64 = 0;
    let mut first = true;
    for (i, &x) in b.iter().enumerate() {
        cur = (cur << 7) | u64::from(x & 0x7F);
        if cur > u64::from(u32::MAX) {
            return Err(BerError::Value);
        }
        if x & 0x80 == 0 {
            if first {
                let (a, c) = if cur < 40 {
                    (0, cur)
                } else if cur < 80 {
                    (1, cur - 40)
                } else {
                    (2, cur - 80)
                };
                arcs.push(a as u32);
                arcs.push(c as u32);
                first = false;
            } else {
                arcs.push(cur as u32);
            }
            cur = 0;
            if arcs.len() > MAX_OID_ARCS {
                return Err(BerError::Value);
            }
        } else if i + 1 == b.len() {
            return Err(BerError::Truncated);
        }
    }
    if first {
        return Err(BerError::Value);
    }
    Ok(arcs)
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(bytes.get(skip..).unwrap_or_default());
    }
}

/// Appends a TLV.
pub fn put(out: &mut Vec<u8>, t: u8, content: &[u8]) {
    out.push(t);
    push_len(out, content.len());
    out.extend_from_slice(content);
}

/// Appends a constructed TLV whose content `f` writes.
pub fn put_seq(out: &mut Vec<u8>, t: u8, f: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    f(&mut inner);
    put(out, t, &inner);
}

/// The minimal two's complement content of `v`.
pub fn int_content(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (Some(&a), Some(&b)) = (bytes.get(start), bytes.get(start + 1)) else {
            break;
        };
        if (a == 0 && b & 0x80 == 0) || (a == 0xFF && b & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes.get(start..).unwrap_or_default().to_vec()
}

/// The minimal unsigned content of `v` (a leading zero keeps it positive).
pub fn uint_content(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    let mut c = bytes.get(skip..).unwrap_or_default().to_vec();
    if c.first().is_some_and(|b| b & 0x80 != 0) {
        c.insert(0, 0);
    }
    c
}

/// Appends an INTEGER.
pub fn put_int(out: &mut Vec<u8>, v: i64) {
    put(out, tag::INTEGER, &int_content(v));
}

/// The content of an OID.
pub fn oid_content(arcs: &[u32]) -> Vec<u8> {
    let mut c = Vec::with_capacity(arcs.len() + 2);
    let (a, b) = (arcs.first().copied().unwrap_or(0), arcs.get(1).copied().unwrap_or(0));
    let mut subs = vec![u64::from(a.min(2)) * 40 + u64::from(b)];
    subs.extend(arcs.iter().skip(2).map(|&x| u64::from(x)));
    for s in subs {
        let mut tmp = [0u8; 10];
        let mut n = 0;
        let mut v = s;
        loop {
            if let Some(slot) = tmp.get_mut(n) {
                *slot = (v & 0x7F) as u8;
            }
            n += 1;
            v >>= 7;
            if v == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            let b = tmp.get(i).copied().unwrap_or(0);
            c.push(if i > 0 { b | 0x80 } else { b });
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_oids() {
        for v in [0i64, 1, 127, 128, 255, 256, -1, -128, -129, i64::MAX, i64::MIN, 65535] {
            assert_eq!(decode_int(&int_content(v)), Ok(v), "{v}");
        }
        assert_eq!(int_content(128), vec![0x00, 0x80]);
        assert_eq!(uint_content(0xFFFF_FFFF), vec![0x00, 0xFF, 0xFF, 0xFF, 0xFF]);
        let oid = vec![1, 3, 6, 1, 4, 1, 4329, 6, 1, 2];
        let c = oid_content(&oid);
        assert_eq!(c, vec![0x2B, 6, 1, 4, 1, 0xA1, 0x69, 6, 1, 2]);
        assert_eq!(decode_oid(&c), Ok(oid));
        assert_eq!(decode_oid(&[0x2B, 0x86]), Err(BerError::Truncated));
        assert_eq!(decode_oid(&[]), Err(BerError::Value));
        assert_eq!(decode_oid(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), Err(BerError::Value));
    }

    #[test]
    fn lengths_and_depth() {
        let mut out = Vec::new();
        put(&mut out, tag::OCTET_STRING, &[7u8; 300]);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2C]);
        let mut r = Reader::new(&out);
        assert_eq!(r.octets().unwrap().len(), 300);
        assert!(r.is_empty());
        assert_eq!(Reader::new(&[0x04, 0x80]).any(), Err(BerError::Length));
        assert_eq!(Reader::new(&[0x04, 0x05, 1]).any(), Err(BerError::Truncated));
        assert_eq!(Reader::new(&[0xA0, 0x00]).integer(), Err(BerError::Tag(0xA0)));
        let mut deep = vec![0x30, 0x00];
        for _ in 0..20 {
            let mut o = Vec::new();
            put(&mut o, 0x30, &deep);
            deep = o;
        }
        let mut r = Reader::new(&deep);
        let mut d = 0;
        let err = loop {
            match r.nested(0x30) {
                Ok(n) => {
                    r = n;
                    d += 1;
                }
                Err(e) => break e,
            }
        };
        assert_eq!(err, BerError::Depth);
        assert_eq!(d, MAX_DEPTH);
    }
}
