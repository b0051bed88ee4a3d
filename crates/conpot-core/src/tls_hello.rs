//! The TLS ClientHello, read sans-IO from the first bytes of a connection: what a
//! scanner's TLS stack says about itself before any key is exchanged (SNI, ALPN, the
//! versions, cipher suites and extensions it offers) and the JA3 and JA4-style
//! fingerprints made of them. Bounded: the hello is reassembled from at most
//! [`MAX_HELLO`] bytes of handshake records, and every list it holds is as long as the
//! input allows and no longer.

use md5::{Digest as _, Md5};
use sha2::Sha256;

use crate::wire::Reader;

/// Largest ClientHello read (handshake body bytes, across records): a hello with
/// post-quantum key shares is under 2 KiB, and no client sends more than one record's
/// worth (16 KiB).
pub const MAX_HELLO: usize = 16 * 1024;
/// Most ALPN protocol names kept.
const MAX_ALPN: usize = 16;
/// Record header: content type, version, length.
const RECORD_HEADER: usize = 5;
/// Content type of a handshake record.
const HANDSHAKE: u8 = 22;
/// Handshake type of a ClientHello.
const CLIENT_HELLO: u8 = 1;

/// What the first bytes of a connection are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// A ClientHello may still be arriving: read more and scan again.
    NeedMore,
    /// A complete ClientHello.
    Hello(Box<ClientHello>),
    /// Not a TLS handshake at all (plain HTTP, a port scanner's probe): the first byte.
    NotTls(u8),
    /// A TLS handshake record whose hello cannot be read, and why.
    Malformed(&'static str),
}

/// What a client offered in its ClientHello. Lists keep the order of the wire, GREASE
/// values included (the fingerprints leave them out).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// The record layer's version.
    pub record_version: u16,
    /// The hello's legacy version (0x0303 for TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
    /// Length of the session id (a TLS 1.3 client sends 32 random bytes for middleboxes).
    pub session_id_len: u8,
    /// Cipher suites.
    pub ciphers: Vec<u16>,
    /// Extension types.
    pub extensions: Vec<u16>,
    /// Server name (`server_name` extension, a host name), if sent and readable as text.
    pub sni: Option<String>,
    /// ALPN protocol names (`h2`, `http/1.1`), lossily as text, at most 16.
    pub alpn: Vec<String>,
    /// `supported_versions`: the versions a TLS 1.3 client offers.
    pub versions: Vec<u16>,
    /// `supported_groups` (elliptic curves).
    pub groups: Vec<u16>,
    /// `ec_point_formats`.
    pub point_formats: Vec<u8>,
    /// `signature_algorithms`.
    pub signature_algorithms: Vec<u16>,
}

/// Whether `v` is a GREASE value (RFC 8701): `0x?a?a` with both bytes equal.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// A TLS version as text: `TLSv1.3`, `TLSv1.2`, ..., `SSLv3`, else its hex value.
pub fn version_name(v: u16) -> String {
    match v {
        0x0304 => "TLSv1.3".into(),
        0x0303 => "TLSv1.2".into(),
        0x0302 => "TLSv1.1".into(),
        0x0301 => "TLSv1.0".into(),
        0x0300 => "SSLv3".into(),
        0x0002 => "SSLv2".into(),
        _ => format!("0x{v:04x}"),
    }
}

/// Scans `buf`, the bytes a connection sent so far, for its ClientHello.
pub fn scan(buf: &[u8]) -> Scan {
    let Some(&first) = buf.first() else {
        return Scan::NeedMore;
    };
    if first != HANDSHAKE {
        return Scan::NotTls(first);
    }
    // Gather the handshake bytes of consecutive handshake records.
    let mut body: Vec<u8> = Vec::new();
    let mut rest = buf;
    let mut record_version = 0u16;
    loop {
        let Some(&[kind, major, minor, hi, lo]) = rest.get(..RECORD_HEADER).and_then(|h| <&[u8; 5]>::try_from(h).ok())
        else {
            return Scan::NeedMore;
        };
        if kind != HANDSHAKE {
            return Scan::Malformed("hello split by a non-handshake record");
        }
        if major != 3 {
            return Scan::Malformed("record version not 3.x");
        }
        if record_version == 0 {
            record_version = u16::from_be_bytes([major, minor]);
        }
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len == 0 {
            return Scan::Malformed("empty handshake record");
        }
        let Some(fragment) = rest.get(RECORD_HEADER..RECORD_HEADER + len) else {
            return Scan::NeedMore;
        };
        if body.len() + fragment.len() > MAX_HELLO + 4 {
            return Scan::Malformed("hello too long");
        }
        body.extend_from_slice(fragment);
        rest = rest.get(RECORD_HEADER + len..).unwrap_or_default();
        // Handshake header: type, 24-bit length.
        if let Some(&[t, a, b, c]) = body.get(..4).and_then(|h| <&[u8; 4]>::try_from(h).ok()) {
            if t != CLIENT_HELLO {
                return Scan::Malformed("first handshake message not a ClientHello");
            }
            let want = u32::from_be_bytes([0, a, b, c]) as usize;
            if want > MAX_HELLO {
                return Scan::Malformed("hello too long");
            }
            if let Some(hello) = body.get(4..4 + want) {
                return match parse_body(hello, record_version) {
                    Some(h) => Scan::Hello(Box::new(h)),
                    None => Scan::Malformed("bad ClientHello"),
                };
            }
        }
    }
}

/// Reads the ClientHello body (after its handshake header).
fn parse_body(body: &[u8], record_version: u16) -> Option<ClientHello> {
    let mut r = Reader::new(body);
    let mut h = ClientHello {
        record_version,
        legacy_version: r.u16_be().ok()?,
        ..ClientHello::default()
    };
    r.skip(32).ok()?; // random
    let sid = r.u8().ok()?;
    if sid > 32 {
        return None;
    }
    h.session_id_len = sid;
    r.skip(usize::from(sid)).ok()?;
    let n = usize::from(r.u16_be().ok()?);
    if !n.is_multiple_of(2) {
        return None;
    }
    h.ciphers = u16_list(r.take(n).ok()?)?;
    let n = usize::from(r.u8().ok()?);
    if n == 0 {
        return None;
    }
    r.skip(n).ok()?; // compression methods
    if r.is_empty() {
        return Some(h);
    }
    let n = usize::from(r.u16_be().ok()?);
    let mut ext = r.sub(n).ok()?;
    while !ext.is_empty() {
        let kind = ext.u16_be().ok()?;
        let len = usize::from(ext.u16_be().ok()?);
        let data = ext.take(len).ok()?;
        h.extensions.push(kind);
        read_extension(&mut h, kind, data);
    }
    Some(h)
}

/// Fills what one extension says; an extension that cannot be read is only listed.
fn read_extension(h: &mut ClientHello, kind: u16, data: &[u8]) {
    let mut r = Reader::new(data);
    match kind {
        0 => {
            // server_name: a list of (type, name); type 0 is a host name.
            let Ok(n) = r.u16_be() else { return };
            let Ok(mut list) = r.sub(usize::from(n)) else { return };
            while let (Ok(t), Ok(len)) = (list.u8(), list.u16_be()) {
                let Ok(name) = list.take(usize::from(len)) else { return };
                if t == 0 && h.sni.is_none() {
                    h.sni = std::str::from_utf8(name).ok().map(str::to_owned);
                }
            }
        }
        16 => {
            let Ok(n) = r.u16_be() else { return };
            let Ok(mut list) = r.sub(usize::from(n)) else { return };
            while let Ok(len) = list.u8() {
                let Ok(name) = list.take(usize::from(len)) else { return };
                if h.alpn.len() < MAX_ALPN {
                    h.alpn.push(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
        43 => {
            let Ok(n) = r.u8() else { return };
            if let Some(v) = r.take(usize::from(n)).ok().and_then(u16_list) {
                h.versions = v;
            }
        }
        10 | 13 => {
            let Ok(n) = r.u16_be() else { return };
            if let Some(v) = r.take(usize::from(n)).ok().and_then(u16_list) {
                if kind == 10 {
                    h.groups = v;
                } else {
                    h.signature_algorithms = v;
                }
            }
        }
        11 => {
            let Ok(n) = r.u8() else { return };
            if let Ok(v) = r.take(usize::from(n)) {
                h.point_formats = v.to_vec();
            }
        }
        _ => {}
    }
}

/// Big-endian 16-bit values; `None` for an odd length.
fn u16_list(b: &[u8]) -> Option<Vec<u16>> {
    if !b.len().is_multiple_of(2) {
        return None;
    }
    Some(
        b.chunks_exact(2)
            .map(|c| u16::from_be_bytes([c.first().copied().unwrap_or(0), c.get(1).copied().unwrap_or(0)]))
            .collect(),
    )
}

fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>, sep: &str) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(sep)
}

fn hex_of(bytes: &[u8]) -> String {
    crate::hex::encode(bytes)
}

impl ClientHello {
    /// The highest version offered: from `supported_versions` if sent, else the legacy
    /// version (GREASE left out).
    pub fn max_version(&self) -> u16 {
        self.versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.legacy_version)
    }

    /// The JA3 string: legacy version, ciphers, extensions, groups and point formats in
    /// decimal, GREASE left out.
    pub fn ja3_text(&self) -> String {
        let list = |v: &[u16]| join(v.iter().filter(|x| !is_grease(**x)), "-");
        format!(
            "{},{},{},{},{}",
            self.legacy_version,
            list(&self.ciphers),
            list(&self.extensions),
            list(&self.groups),
            join(self.point_formats.iter(), "-")
        )
    }

    /// The JA3 fingerprint: the MD5 of [`ClientHello::ja3_text`] in hex.
    pub fn ja3(&self) -> String {
        hex_of(&Md5::digest(self.ja3_text().as_bytes()))
    }

    /// A JA4-style fingerprint (`t13d1516h2_8daaf6152771_e5627efa2ab1`): transport (TCP),
    /// highest version, whether a server name was sent, the counts of ciphers and
    /// extensions, the first ALPN's first and last character; then truncated SHA-256s of
    /// the sorted ciphers and of the sorted extensions (without SNI and ALPN) followed by
    /// the signature algorithms in their order.
    pub fn ja4(&self) -> String {
        let version = match self.max_version() {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            _ => "00",
        };
        let sni = if self.sni.is_some() { 'd' } else { 'i' };
        let mut ciphers: Vec<u16> = self.ciphers.iter().copied().filter(|c| !is_grease(*c)).collect();
        let mut exts: Vec<u16> = self.extensions.iter().copied().filter(|e| !is_grease(*e)).collect();
        let alpn = self
            .alpn
            .first()
            .map_or_else(|| "00".to_owned(), |a| alpn_chars(a.as_bytes()));
        let head = format!(
            "t{version}{sni}{:02}{:02}{alpn}",
            ciphers.len().min(99),
            exts.len().min(99)
        );
        ciphers.sort_unstable();
        exts.retain(|e| *e != 0 && *e != 16);
        exts.sort_unstable();
        let hex4 = |v: &[u16]| join(v.iter().map(|x| format!("{x:04x}")), ",");
        let mut ext_text = hex4(&exts);
        let sigs: Vec<u16> = self
            .signature_algorithms
            .iter()
            .copied()
            .filter(|s| !is_grease(*s))
            .collect();
        if !sigs.is_empty() {
            ext_text.push('_');
            ext_text.push_str(&hex4(&sigs));
        }
        format!(
            "{head}_{}_{}",
            short_hash(&hex4(&ciphers)),
            short_hash_if(&ext_text, exts.is_empty())
        )
    }
}

/// The first and last character of an ALPN name, or hex digits for a byte that is not
/// alphanumeric.
fn alpn_chars(a: &[u8]) -> String {
    let (Some(&f), Some(&l)) = (a.first(), a.last()) else {
        return "00".into();
    };
    if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
        format!("{}{}", f as char, l as char)
    } else {
        let hf = format!("{f:02x}");
        let hl = format!("{l:02x}");
        format!(
            "{}{}",
            hf.chars().next().unwrap_or('0'),
            hl.chars().last().unwrap_or('0')
        )
    }
}

fn short_hash(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".into();
    }
    let mut h = hex_of(&Sha256::digest(text.as_bytes()));
    h.truncate(12);
    h
}

fn short_hash_if(text: &str, empty: bool) -> String {
    if empty { "000000000000".into() } else { short_hash(text) }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds a ClientHello record: `exts` are (type, data).
    pub(super) fn hello(version: u16, ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&[7u8; 32]);
        body.push(32);
        body.extend_from_slice(&[9u8; 32]);
        body.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            body.extend_from_slice(&c.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        let mut e = Vec::new();
        for (t, d) in exts {
            e.extend_from_slice(&t.to_be_bytes());
            e.extend_from_slice(&(d.len() as u16).to_be_bytes());
            e.extend_from_slice(d);
        }
        body.extend_from_slice(&(e.len() as u16).to_be_bytes());
        body.extend_from_slice(&e);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    fn sni(name: &str) -> Vec<u8> {
        let mut d = ((name.len() + 3) as u16).to_be_bytes().to_vec();
        d.push(0);
        d.extend_from_slice(&(name.len() as u16).to_be_bytes());
        d.extend_from_slice(name.as_bytes());
        d
    }

    fn alpn(names: &[&str]) -> Vec<u8> {
        let mut l = Vec::new();
        for n in names {
            l.push(n.len() as u8);
            l.extend_from_slice(n.as_bytes());
        }
        let mut d = (l.len() as u16).to_be_bytes().to_vec();
        d.extend_from_slice(&l);
        d
    }

    fn sample() -> Vec<u8> {
        hello(
            0x0303,
            &[0x0a0a, 0x1301, 0x1302, 0xc02f],
            &[
                (0x1a1a, vec![]),
                (0, sni("plc-101.local")),
                (16, alpn(&["h2", "http/1.1"])),
                (43, vec![4, 0x03, 0x04, 0x03, 0x03]),
                (10, vec![0, 4, 0x00, 0x1d, 0x00, 0x17]),
                (11, vec![1, 0]),
                (13, vec![0, 4, 0x04, 0x03, 0x08, 0x04]),
            ],
        )
    }

    #[test]
    fn reads_the_offer() {
        let Scan::Hello(h) = scan(&sample()) else { panic!() };
        assert_eq!(h.sni.as_deref(), Some("plc-101.local"));
        assert_eq!(h.alpn, ["h2", "http/1.1"]);
        assert_eq!(h.versions, [0x0304, 0x0303]);
        assert_eq!(h.max_version(), 0x0304);
        assert_eq!(h.ciphers, [0x0a0a, 0x1301, 0x1302, 0xc02f]);
        assert_eq!(h.extensions, [0x1a1a, 0, 16, 43, 10, 11, 13]);
        assert_eq!(h.ja3_text(), "771,4865-4866-49199,0-16-43-10-11-13,29-23,0");
        assert_eq!(h.ja3().len(), 32);
        let ja4 = h.ja4();
        assert!(ja4.starts_with("t13d0306h2_"), "{ja4}");
        assert_eq!(ja4.len(), "t13d0306h2_".len() + 12 + 1 + 12);
        // The cipher part is the hash of the sorted list, whatever the wire order.
        assert_eq!(&ja4[11..23], short_hash("1301,1302,c02f"));
        assert_eq!(&ja4[24..], short_hash("000a,000b,000d,002b_0403,0804"));
    }

    #[test]
    fn grease() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301));
    }

    #[test]
    fn partial_hellos_need_more_at_every_cut() {
        let rec = sample();
        for cut in 0..rec.len() {
            assert_eq!(scan(&rec[..cut]), Scan::NeedMore, "cut at {cut}");
        }
    }

    #[test]
    fn hello_split_across_records() {
        let rec = sample();
        let hs = &rec[5..];
        let (a, b) = hs.split_at(20);
        let mut two = vec![22, 3, 1];
        two.extend_from_slice(&(a.len() as u16).to_be_bytes());
        two.extend_from_slice(a);
        two.extend_from_slice(&[22, 3, 1]);
        two.extend_from_slice(&(b.len() as u16).to_be_bytes());
        two.extend_from_slice(b);
        assert_eq!(scan(&two), scan(&rec));
    }

    #[test]
    fn not_tls_and_malformed() {
        assert_eq!(scan(b"GET / HTTP/1.1\r\n"), Scan::NotTls(b'G'));
        assert_eq!(scan(&[22, 2, 0, 0, 1, 1]), Scan::Malformed("record version not 3.x"));
        assert_eq!(
            scan(&[22, 3, 1, 0, 4, 2, 0, 0, 0]),
            Scan::Malformed("first handshake message not a ClientHello")
        );
        let mut bad = sample();
        bad[5 + 4 + 2 + 32] = 33; // session id longer than 32
        assert_eq!(scan(&bad), Scan::Malformed("bad ClientHello"));
    }

    #[test]
    fn no_extensions_no_alpn() {
        let Scan::Hello(h) = scan(&hello(0x0301, &[0x002f], &[])) else {
            panic!()
        };
        assert_eq!(h.max_version(), 0x0301);
        assert!(h.ja4().starts_with("t10i010000_"), "{}", h.ja4());
        assert!(h.ja4().ends_with("_000000000000"));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut b = bytes.clone();
            if let Some(f) = b.first_mut() { *f = 22; }
            let _ = scan(&b);
            let _ = scan(&bytes);
        }

        #[test]
        fn ciphers_round_trip(ciphers in proptest::collection::vec(any::<u16>(), 0..64), name in "[a-z0-9.-]{1,40}") {
            let Scan::Hello(h) = scan(&hello(0x0303, &ciphers, &[(0, sni(&name))])) else { panic!() };
            prop_assert_eq!(&h.ciphers, &ciphers);
            prop_assert_eq!(h.sni.as_deref(), Some(name.as_str()));
        }
    }
}
