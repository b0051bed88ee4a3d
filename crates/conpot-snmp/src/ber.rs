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
    // One arc per byte at most, plus the first byte's two: sized once, never grown.
    let mut arcs = Vec::with_capacity((b.len() + 1).min(MAX_OID_ARCS + 1));
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

/// The length octets of `len`: (bytes, how many of them are used).
fn len_octets(len: usize) -> ([u8; 5], usize) {
    let mut b = [0u8; 5];
    if len < 0x80 {
        b[0] = len as u8;
        return (b, 1);
    }
    let bytes = (len as u32).to_be_bytes();
    let skip = bytes.iter().take_while(|&&x| x == 0).count();
    let n = 4 - skip;
    b[0] = 0x80 | n as u8;
    for (d, s) in b.iter_mut().skip(1).zip(bytes.iter().skip(skip)) {
        *d = *s;
    }
    (b, n + 1)
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    let (b, n) = len_octets(len);
    out.extend_from_slice(b.get(..n).unwrap_or_default());
}

/// Appends a TLV.
pub fn put(out: &mut Vec<u8>, t: u8, content: &[u8]) {
    out.push(t);
    push_len(out, content.len());
    out.extend_from_slice(content);
}

/// Appends a constructed TLV whose content `f` writes. The content is written in place
/// after a one-byte length, which is widened afterwards if the content is 128 bytes or
/// more: no buffer of its own per level, no copy of a short one.
pub fn put_seq(out: &mut Vec<u8>, t: u8, f: impl FnOnce(&mut Vec<u8>)) {
    out.push(t);
    let at = out.len();
    out.push(0);
    f(out);
    let len = out.len() - at - 1;
    let (b, n) = len_octets(len);
    let octets = b.get(..n).unwrap_or_default();
    if n == 1 {
        if let Some(slot) = out.get_mut(at) {
            *slot = b[0];
        }
    } else {
        out.splice(at..=at, octets.iter().copied());
    }
}

/// The minimal two's complement bytes of `v`: the eight big-endian bytes and where the
/// content starts in them.
fn int_bytes(v: i64) -> ([u8; 8], usize) {
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
    (bytes, start)
}

/// The minimal unsigned content of `v` (a leading zero keeps it positive): nine bytes
/// and where the content starts in them.
fn uint_bytes(v: u64) -> ([u8; 9], usize) {
    let mut b = [0u8; 9];
    for (d, s) in b.iter_mut().skip(1).zip(v.to_be_bytes()) {
        *d = s;
    }
    let mut start = 1 + v.to_be_bytes().iter().take_while(|&&x| x == 0).count().min(7);
    if b.get(start).is_some_and(|x| x & 0x80 != 0) {
        start -= 1;
    }
    (b, start)
}

/// Appends an INTEGER.
pub fn put_int(out: &mut Vec<u8>, v: i64) {
    let (b, start) = int_bytes(v);
    put(out, tag::INTEGER, b.get(start..).unwrap_or_default());
}

/// Appends an unsigned value (Counter32, Gauge32, TimeTicks, Counter64) with tag `t`.
pub fn put_uint(out: &mut Vec<u8>, t: u8, v: u64) {
    let (b, start) = uint_bytes(v);
    put(out, t, b.get(start..).unwrap_or_default());
}

/// The sub-identifiers an OID is encoded as: the first two arcs make one.
fn oid_subs(arcs: &[u32]) -> impl Iterator<Item = u64> + '_ {
    let (a, b) = (arcs.first().copied().unwrap_or(0), arcs.get(1).copied().unwrap_or(0));
    std::iter::once(u64::from(a.min(2)) * 40 + u64::from(b)).chain(arcs.iter().skip(2).map(|&x| u64::from(x)))
}

/// Base-128 digits of one sub-identifier.
fn sub_len(s: u64) -> usize {
    let bits = 64 - s.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Appends the content of an OID.
fn push_oid_content(out: &mut Vec<u8>, arcs: &[u32]) {
    for s in oid_subs(arcs) {
        let n = sub_len(s);
        for i in (0..n).rev() {
            let d = ((s >> (7 * i)) & 0x7F) as u8;
            out.push(if i > 0 { d | 0x80 } else { d });
        }
    }
}

/// Appends an OBJECT IDENTIFIER, its content written in place.
pub fn put_oid(out: &mut Vec<u8>, arcs: &[u32]) {
    out.push(tag::OID);
    push_len(out, oid_subs(arcs).map(sub_len).sum());
    push_oid_content(out, arcs);
}

#[cfg(test)]
mod tests {
    use super::*;

    // The plain encodings, each content built on its own, that the in-place writers are
    // checked against.

    fn int_content(v: i64) -> Vec<u8> {
        let bytes = v.to_be_bytes();
        let mut start = 0;
        while start < 7
            && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
                || (bytes[start] == 0xFF && bytes[start + 1] & 0x80 != 0))
        {
            start += 1;
        }
        bytes[start..].to_vec()
    }

    fn uint_content(v: u64) -> Vec<u8> {
        let bytes = v.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
        let mut c = bytes[skip..].to_vec();
        if c[0] & 0x80 != 0 {
            c.insert(0, 0);
        }
        c
    }

    fn oid_content(arcs: &[u32]) -> Vec<u8> {
        let mut subs = vec![u64::from(arcs[0].min(2)) * 40 + u64::from(arcs[1])];
        subs.extend(arcs[2..].iter().map(|&x| u64::from(x)));
        let mut c = Vec::new();
        for mut v in subs {
            let mut digits = vec![(v & 0x7F) as u8];
            v >>= 7;
            while v > 0 {
                digits.push((v & 0x7F) as u8 | 0x80);
                v >>= 7;
            }
            c.extend(digits.iter().rev());
        }
        c
    }

    fn put_int_plain(out: &mut Vec<u8>, v: i64) {
        put(out, tag::INTEGER, &int_content(v));
    }

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
        assert_eq!(uint_content(0), vec![0]);
        assert_eq!(uint_content(0x80), vec![0, 0x80]);
        assert_eq!(
            uint_content(u64::MAX),
            vec![0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(int_content(-129), vec![0xFF, 0x7F]);
    }

    /// The writers that encode in place give the bytes of the plain TLV of their content.
    #[test]
    fn in_place_writers_match_the_plain_tlv() {
        for v in [0i64, 1, 127, 128, 255, 256, -1, -128, -129, i64::MAX, i64::MIN, 65535] {
            let mut a = Vec::new();
            put_int(&mut a, v);
            let mut b = Vec::new();
            put_int_plain(&mut b, v);
            assert_eq!(a, b, "{v}");
            assert_eq!(Reader::new(&a).integer(), Ok(v));
        }
        for v in [0u64, 1, 127, 128, 255, 256, 0xFFFF_FFFF, 1 << 40, u64::MAX] {
            let mut a = Vec::new();
            put_uint(&mut a, tag::COUNTER64, v);
            let mut b = Vec::new();
            put(&mut b, tag::COUNTER64, &uint_content(v));
            assert_eq!(a, b, "{v}");
            assert_eq!(decode_uint(a.get(2..).unwrap()), Ok(v));
        }
        for oid in [
            vec![1, 3],
            vec![0, 0],
            vec![2, 999, 3],
            vec![1, 3, 6, 1, 4, 1, u32::MAX, 0, 127, 128, 16384],
        ] {
            let mut a = Vec::new();
            put_oid(&mut a, &oid);
            let mut b = Vec::new();
            put(&mut b, tag::OID, &oid_content(&oid));
            assert_eq!(a, b, "{oid:?}");
            assert_eq!(decode_oid(a.get(2..).unwrap()), Ok(oid));
        }
        // Content on both sides of the short length form, and past 64 KiB.
        for n in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 70_000] {
            let mut a = vec![0xAA];
            put_seq(&mut a, tag::SEQUENCE, |o| o.extend(std::iter::repeat_n(7u8, n)));
            let mut b = vec![0xAA];
            put(&mut b, tag::SEQUENCE, &vec![7u8; n]);
            assert_eq!(a, b, "{n}");
        }
        // Nested levels that each cross the long form.
        let mut a = Vec::new();
        put_seq(&mut a, tag::SEQUENCE, |o| {
            put_seq(o, tag::SEQUENCE, |i| put(i, tag::OCTET_STRING, &[1u8; 200]));
            put_int(o, -5);
        });
        let mut inner = Vec::new();
        put(&mut inner, tag::OCTET_STRING, &[1u8; 200]);
        let mut mid = Vec::new();
        put(&mut mid, tag::SEQUENCE, &inner);
        put(&mut mid, tag::INTEGER, &int_content(-5));
        let mut b = Vec::new();
        put(&mut b, tag::SEQUENCE, &mid);
        assert_eq!(a, b);
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
