//! Frames of ISO-on-TCP: TPKT (RFC 1006), COTP class 0 (ISO 8073) and the S7 header.

/// TPKT version.
pub const TPKT_VERSION: u8 = 3;
/// Largest TPKT accepted (the TPDU size is negotiated at most 1024; segmented data and
/// tools that ignore it get some headroom).
pub const MAX_TPKT: usize = 8192;
/// The S7 protocol id.
pub const S7_PROTOCOL: u8 = 0x32;
/// The S7CommPlus protocol id.
pub const S7PLUS_PROTOCOL: u8 = 0x72;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// What the TPKT framer found.
#[derive(Debug, PartialEq, Eq)]
pub enum Tpkt<'a> {
    /// More bytes needed.
    Incomplete,
    /// A TPKT: its payload (the COTP TPDU) and total size.
    Packet {
        /// COTP bytes.
        payload: &'a [u8],
        /// Bytes the packet takes.
        size: usize,
    },
    /// Not a TPKT (wrong version or length): the stream cannot be followed.
    Invalid,
}

/// Finds the first TPKT in `buf`.
pub fn tpkt(buf: &[u8]) -> Tpkt<'_> {
    let (Some(&version), Some(len)) = (buf.first(), be16(buf, 2)) else {
        return match buf.first() {
            Some(&v) if v != TPKT_VERSION => Tpkt::Invalid,
            _ => Tpkt::Incomplete,
        };
    };
    let len = usize::from(len);
    if version != TPKT_VERSION || !(7..=MAX_TPKT).contains(&len) {
        return Tpkt::Invalid;
    }
    match buf.get(4..len) {
        Some(payload) => Tpkt::Packet { payload, size: len },
        None => Tpkt::Incomplete,
    }
}

/// Wraps `tpdu` in a TPKT header and appends it to `out`.
pub fn emit_tpkt(tpdu: &[u8], out: &mut Vec<u8>) {
    let len = (tpdu.len() + 4).min(usize::from(u16::MAX)) as u16;
    out.extend_from_slice(&[TPKT_VERSION, 0]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(tpdu);
}

/// A COTP TPDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cotp<'a> {
    /// Connection Request.
    ConnectRequest {
        /// Caller's reference.
        src_ref: u16,
        /// Requested TPDU size code (7 = 128 ... 10 = 1024 ... 13 = 8192), if given.
        tpdu_size: Option<u8>,
        /// Calling TSAP.
        calling_tsap: &'a [u8],
        /// Called TSAP.
        called_tsap: &'a [u8],
    },
    /// Data, with the end-of-TSDU mark.
    Data {
        /// Whether this is the last TPDU of the TSDU.
        eot: bool,
        /// User data.
        payload: &'a [u8],
    },
    /// Disconnect Request.
    DisconnectRequest,
    /// Any other TPDU type.
    Other(u8),
}

/// Why a COTP TPDU is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CotpError {
    /// The length indicator points past the TPDU or is too small for its type.
    Length,
    /// A parameter runs past the header.
    Parameter,
}

/// Parses a COTP TPDU.
pub fn cotp(tpdu: &[u8]) -> Result<Cotp<'_>, CotpError> {
    let li = usize::from(*tpdu.first().ok_or(CotpError::Length)?);
    let header = tpdu.get(1..=li).ok_or(CotpError::Length)?;
    let kind = *header.first().ok_or(CotpError::Length)?;
    match kind & 0xF0 {
        0xE0 => {
            if header.len() < 6 {
                return Err(CotpError::Length);
            }
            let src_ref = be16(header, 3).ok_or(CotpError::Length)?;
            let (mut tpdu_size, mut calling_tsap, mut called_tsap) = (None, &[][..], &[][..]);
            let mut params = header.get(6..).unwrap_or_default();
            while let Some((&code, rest)) = params.split_first() {
                let (&len, rest) = rest.split_first().ok_or(CotpError::Parameter)?;
                let value = rest.get(..usize::from(len)).ok_or(CotpError::Parameter)?;
                match code {
                    0xC0 => tpdu_size = value.first().copied(),
                    0xC1 => calling_tsap = value,
                    0xC2 => called_tsap = value,
                    _ => {}
                }
                params = rest.get(usize::from(len)..).unwrap_or_default();
            }
            Ok(Cotp::ConnectRequest {
                src_ref,
                tpdu_size,
                calling_tsap,
                called_tsap,
            })
        }
        0xF0 => {
            let nr = *header.get(1).ok_or(CotpError::Length)?;
            Ok(Cotp::Data {
                eot: nr & 0x80 != 0,
                payload: tpdu.get(li + 1..).unwrap_or_default(),
            })
        }
        0x80 => Ok(Cotp::DisconnectRequest),
        _ => Ok(Cotp::Other(kind)),
    }
}

/// Appends a Connection Confirm, wrapped in TPKT.
pub fn emit_cc(dst_ref: u16, src_ref: u16, tpdu_size: u8, calling: &[u8], called: &[u8], out: &mut Vec<u8>) {
    let mut t = vec![0, 0xD0];
    t.extend_from_slice(&dst_ref.to_be_bytes());
    t.extend_from_slice(&src_ref.to_be_bytes());
    t.push(0x00);
    t.extend_from_slice(&[0xC0, 1, tpdu_size]);
    for (code, v) in [(0xC1u8, calling), (0xC2, called)] {
        let v = v.get(..v.len().min(32)).unwrap_or_default();
        t.push(code);
        t.push(v.len() as u8);
        t.extend_from_slice(v);
    }
    let li = (t.len() - 1) as u8;
    if let Some(first) = t.first_mut() {
        *first = li;
    }
    emit_tpkt(&t, out);
}

/// Appends a Disconnect Request (reason 0x80: normal), wrapped in TPKT.
pub fn emit_dr(dst_ref: u16, src_ref: u16, reason: u8, out: &mut Vec<u8>) {
    let mut t = vec![6, 0x80];
    t.extend_from_slice(&dst_ref.to_be_bytes());
    t.extend_from_slice(&src_ref.to_be_bytes());
    t.push(reason);
    emit_tpkt(&t, out);
}

/// Appends `payload` as COTP DT TPDUs of at most `tpdu_max` bytes each, wrapped in TPKT.
pub fn emit_dt(payload: &[u8], tpdu_max: usize, out: &mut Vec<u8>) {
    let room = tpdu_max.saturating_sub(3).max(16);
    let mut chunks = payload.chunks(room).peekable();
    if chunks.peek().is_none() {
        emit_tpkt(&[2, 0xF0, 0x80], out);
    }
    while let Some(c) = chunks.next() {
        let eot = if chunks.peek().is_none() { 0x80 } else { 0x00 };
        let mut t = Vec::with_capacity(c.len() + 3);
        t.extend_from_slice(&[2, 0xF0, eot]);
        t.extend_from_slice(c);
        emit_tpkt(&t, out);
    }
}

/// S7 PDU types (ROSCTR).
pub mod rosctr {
    /// Job request.
    pub const JOB: u8 = 0x01;
    /// Acknowledgement without data.
    pub const ACK: u8 = 0x02;
    /// Acknowledgement with data.
    pub const ACK_DATA: u8 = 0x03;
    /// User data (SZL, blocks, clock, security...).
    pub const USERDATA: u8 = 0x07;
}

/// A parsed S7 PDU: header fields and its parameter and data parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S7Pdu<'a> {
    /// ROSCTR.
    pub rosctr: u8,
    /// PDU reference, echoed in the answer.
    pub pdu_ref: u16,
    /// Error class and code (ACK / ACK_DATA only).
    pub error: u16,
    /// Parameter part.
    pub param: &'a [u8],
    /// Data part.
    pub data: &'a [u8],
}

/// Why an S7 PDU is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S7Error {
    /// Not protocol id 0x32.
    Protocol,
    /// Shorter than its header or than its declared parts.
    Length,
}

/// Parses an S7 PDU.
pub fn s7(pdu: &[u8]) -> Result<S7Pdu<'_>, S7Error> {
    if pdu.first() != Some(&S7_PROTOCOL) {
        return Err(S7Error::Protocol);
    }
    let rosctr = *pdu.get(1).ok_or(S7Error::Length)?;
    let pdu_ref = be16(pdu, 4).ok_or(S7Error::Length)?;
    let plen = usize::from(be16(pdu, 6).ok_or(S7Error::Length)?);
    let dlen = usize::from(be16(pdu, 8).ok_or(S7Error::Length)?);
    let (hlen, error) = if matches!(rosctr, rosctr::ACK | rosctr::ACK_DATA) {
        (12, be16(pdu, 10).ok_or(S7Error::Length)?)
    } else {
        (10, 0)
    };
    let param = pdu.get(hlen..hlen + plen).ok_or(S7Error::Length)?;
    let data = pdu.get(hlen + plen..hlen + plen + dlen).ok_or(S7Error::Length)?;
    Ok(S7Pdu {
        rosctr,
        pdu_ref,
        error,
        param,
        data,
    })
}

/// Builds an S7 PDU.
pub fn emit_s7(rosctr: u8, pdu_ref: u16, error: Option<u16>, param: &[u8], data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + param.len() + data.len());
    p.extend_from_slice(&[S7_PROTOCOL, rosctr, 0, 0]);
    p.extend_from_slice(&pdu_ref.to_be_bytes());
    p.extend_from_slice(&(param.len() as u16).to_be_bytes());
    p.extend_from_slice(&(data.len() as u16).to_be_bytes());
    if let Some(e) = error {
        p.extend_from_slice(&e.to_be_bytes());
    }
    p.extend_from_slice(param);
    p.extend_from_slice(data);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmap_connect_request() {
        let cr = crate::hex("0300001611e00000001400c1020100c2020102c0010a");
        let Tpkt::Packet { payload, size } = tpkt(&cr) else {
            panic!()
        };
        assert_eq!(size, 22);
        assert_eq!(
            cotp(payload),
            Ok(Cotp::ConnectRequest {
                src_ref: 0x0014,
                tpdu_size: Some(0x0A),
                calling_tsap: &[1, 0],
                called_tsap: &[1, 2]
            })
        );
        let mut out = Vec::new();
        emit_cc(0x0014, 0x0044, 0x0A, &[1, 0], &[1, 2], &mut out);
        assert_eq!(out, crate::hex("0300001611d00014004400c0010ac1020100c2020102"));
        assert_eq!(tpkt(&cr[..10]), Tpkt::Incomplete);
        assert_eq!(tpkt(&[4, 0, 0, 22]), Tpkt::Invalid);
        assert_eq!(tpkt(&[3, 0, 0, 3]), Tpkt::Invalid);
    }

    #[test]
    fn setup_communication() {
        let req = crate::hex("0300001902f08032010000000000080000f0000001000101e0");
        let Tpkt::Packet { payload, .. } = tpkt(&req) else {
            panic!()
        };
        let Ok(Cotp::Data { eot: true, payload }) = cotp(payload) else {
            panic!()
        };
        let p = s7(payload).unwrap();
        assert_eq!(p.rosctr, rosctr::JOB);
        assert_eq!(p.param, crate::hex("f0000001000101e0"));
        assert!(p.data.is_empty());
        assert_eq!(s7(&payload[..12]), Err(S7Error::Length));
    }

    #[test]
    fn dt_segmentation() {
        let mut out = Vec::new();
        emit_dt(&[7u8; 50], 23, &mut out);
        // 50 bytes in chunks of 20: three TPDUs, the last marked EOT.
        assert_eq!(out.len(), 3 * 7 + 50);
        assert_eq!(out[6], 0x00);
        assert_eq!(out[7 + 20 + 6], 0x00);
        assert_eq!(out[2 * 27 + 6], 0x80);
    }
}
