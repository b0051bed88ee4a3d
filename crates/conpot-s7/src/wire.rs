//! Frames of ISO-on-TCP: TPKT (RFC 1006), COTP class 0 (ISO 8073) and the S7 header.
//!
//! Parsed with the core's bounded [`Reader`] (a short frame is a
//! [`WireError`](conpot_core::wire::WireError), never
//! zeros) and written with its [`Writer`], which back-patches the TPKT length, the COTP
//! length indicator and the S7 parameter and data lengths from what was written.

use conpot_core::wire::{Reader, WireResult, Writer, append};

/// TPKT version.
pub const TPKT_VERSION: u8 = 3;
/// Largest TPKT accepted (the TPDU size is negotiated at most 1024; segmented data and
/// tools that ignore it get some headroom).
pub const MAX_TPKT: usize = 8192;
/// Smallest TPKT that can hold a TPDU (header, length indicator, type, one more byte).
pub const MIN_TPKT: usize = 7;
/// Most bytes one answer (a PDU split into DT TPDUs) may add to the output.
pub const MAX_ANSWER: usize = 1 << 17;
/// The S7 protocol id.
pub const S7_PROTOCOL: u8 = 0x32;
/// The S7CommPlus protocol id.
pub const S7PLUS_PROTOCOL: u8 = 0x72;

/// The TPKT header: version, reserved, length of the whole packet (header included).
pub mod tpkt_field {
    /// Offset of the version (3).
    pub const VERSION: usize = 0;
    /// Offset of the reserved byte.
    pub const RESERVED: usize = 1;
    /// Offset of the big-endian packet length.
    pub const LENGTH: usize = 2;
    /// Length of the header.
    pub const HEADER_LEN: usize = 4;
}

/// COTP TPDU codes (the high nibble of the byte after the length indicator).
pub mod tpdu {
    /// Connection Request.
    pub const CR: u8 = 0xE0;
    /// Connection Confirm.
    pub const CC: u8 = 0xD0;
    /// Disconnect Request.
    pub const DR: u8 = 0x80;
    /// Data.
    pub const DT: u8 = 0xF0;
    /// The end-of-TSDU mark in a DT TPDU's number byte.
    pub const EOT: u8 = 0x80;
    /// Codes of the variable-part parameters of a connection request or confirm.
    pub mod param {
        /// TPDU size (a power-of-two code).
        pub const TPDU_SIZE: u8 = 0xC0;
        /// Calling TSAP.
        pub const CALLING_TSAP: u8 = 0xC1;
        /// Called TSAP.
        pub const CALLED_TSAP: u8 = 0xC2;
    }
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
    let mut r = Reader::new(buf);
    match r.u8() {
        Err(_) => return Tpkt::Incomplete,
        // A wrong first byte is not TPKT, however few bytes came.
        Ok(v) if v != TPKT_VERSION => return Tpkt::Invalid,
        Ok(_) => {}
    }
    let Ok(len) = r.skip(1).and_then(|()| r.u16_be()) else {
        return Tpkt::Incomplete;
    };
    let size = usize::from(len);
    if !(MIN_TPKT..=MAX_TPKT).contains(&size) {
        return Tpkt::Invalid;
    }
    match r.take(size - tpkt_field::HEADER_LEN) {
        Ok(payload) => Tpkt::Packet { payload, size },
        Err(_) => Tpkt::Incomplete,
    }
}

/// Writes a TPKT whose TPDU `tpdu` writes; the length is patched in afterwards.
pub fn write_tpkt(w: &mut Writer<'_>, tpdu: impl FnOnce(&mut Writer<'_>) -> WireResult<()>) -> WireResult<()> {
    let start = w.position();
    w.put_u8(TPKT_VERSION)?;
    w.put_u8(0)?;
    let len = w.reserve_u16_be()?;
    tpdu(w)?;
    w.patch_len_from(len, start).map(drop)
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

/// Parses a COTP TPDU: a length indicator, a header of that length, then user data.
/// A header shorter than its type needs, or a parameter running past it, is an error.
pub fn cotp(tpdu_bytes: &[u8]) -> WireResult<Cotp<'_>> {
    let mut r = Reader::new(tpdu_bytes);
    let li = usize::from(r.u8()?);
    let mut h = r.sub(li)?;
    let kind = h.u8()?;
    match kind & 0xF0 {
        tpdu::CR => {
            // Destination reference (zero in a request), source reference, class.
            h.skip(2)?;
            let src_ref = h.u16_be()?;
            h.skip(1)?;
            let (mut tpdu_size, mut calling_tsap, mut called_tsap) = (None, &[][..], &[][..]);
            while !h.is_empty() {
                let code = h.u8()?;
                let len = usize::from(h.u8()?);
                let value = h.take(len)?;
                match code {
                    tpdu::param::TPDU_SIZE => tpdu_size = value.first().copied(),
                    tpdu::param::CALLING_TSAP => calling_tsap = value,
                    tpdu::param::CALLED_TSAP => called_tsap = value,
                    _ => {}
                }
            }
            Ok(Cotp::ConnectRequest {
                src_ref,
                tpdu_size,
                calling_tsap,
                called_tsap,
            })
        }
        tpdu::DT => {
            let nr = h.u8()?;
            Ok(Cotp::Data {
                eot: nr & tpdu::EOT != 0,
                payload: r.take_rest(),
            })
        }
        tpdu::DR => Ok(Cotp::DisconnectRequest),
        _ => Ok(Cotp::Other(kind)),
    }
}

/// Writes a COTP TPDU: the length indicator is patched from what `header` writes, then
/// `payload` follows it.
fn write_cotp(
    w: &mut Writer<'_>,
    header: impl FnOnce(&mut Writer<'_>) -> WireResult<()>,
    payload: &[u8],
) -> WireResult<()> {
    let li = w.reserve_u8()?;
    header(w)?;
    w.patch_len(li)?;
    w.put_bytes(payload)
}

/// Longest TSAP echoed in a Connection Confirm.
const MAX_TSAP: usize = 32;

/// Appends a Connection Confirm, wrapped in TPKT.
pub fn emit_cc(
    dst_ref: u16,
    src_ref: u16,
    tpdu_size: u8,
    calling: &[u8],
    called: &[u8],
    out: &mut Vec<u8>,
) -> WireResult<()> {
    append(out, MAX_TPKT, |w| {
        write_tpkt(w, |w| {
            let header = |w: &mut Writer<'_>| {
                w.put_u8(tpdu::CC)?;
                w.put_u16_be(dst_ref)?;
                w.put_u16_be(src_ref)?;
                // Class 0, no options.
                w.put_u8(0x00)?;
                w.put_u8(tpdu::param::TPDU_SIZE)?;
                w.put_u8(1)?;
                w.put_u8(tpdu_size)?;
                for (code, v) in [(tpdu::param::CALLING_TSAP, calling), (tpdu::param::CALLED_TSAP, called)] {
                    w.put_u8(code)?;
                    let len = w.reserve_u8()?;
                    w.put_bytes(v.get(..v.len().min(MAX_TSAP)).unwrap_or_default())?;
                    w.patch_len(len)?;
                }
                Ok(())
            };
            write_cotp(w, header, &[])
        })
    })
    .map(drop)
}

/// Appends a Disconnect Request with `reason` (0x80: normal), wrapped in TPKT.
pub fn emit_dr(dst_ref: u16, src_ref: u16, reason: u8, out: &mut Vec<u8>) -> WireResult<()> {
    append(out, MAX_TPKT, |w| {
        write_tpkt(w, |w| {
            let header = |w: &mut Writer<'_>| {
                w.put_u8(tpdu::DR)?;
                w.put_u16_be(dst_ref)?;
                w.put_u16_be(src_ref)?;
                w.put_u8(reason)
            };
            write_cotp(w, header, &[])
        })
    })
    .map(drop)
}

/// Appends `payload` as COTP DT TPDUs of at most `tpdu_max` bytes each, wrapped in TPKT;
/// the last one carries the end-of-TSDU mark. Nothing is appended if it does not fit.
pub fn emit_dt(payload: &[u8], tpdu_max: usize, out: &mut Vec<u8>) -> WireResult<()> {
    // A DT header is three bytes; a TPDU stays inside the largest TPKT.
    let room = tpdu_max.clamp(19, MAX_TPKT - tpkt_field::HEADER_LEN) - 3;
    append(out, MAX_ANSWER, |w| {
        let mut chunks = payload.chunks(room).peekable();
        if chunks.peek().is_none() {
            return write_tpkt(w, |w| write_cotp(w, |w| dt_header(w, true), &[]));
        }
        while let Some(c) = chunks.next() {
            let last = chunks.peek().is_none();
            write_tpkt(w, |w| write_cotp(w, |w| dt_header(w, last), c))?;
        }
        Ok(())
    })
    .map(drop)
}

fn dt_header(w: &mut Writer<'_>, last: bool) -> WireResult<()> {
    w.put_u8(tpdu::DT)?;
    w.put_u8(if last { tpdu::EOT } else { 0x00 })
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

/// The S7 header: protocol id, ROSCTR, redundancy id, PDU reference, parameter length,
/// data length, and in acknowledgements an error class and code.
pub mod header {
    /// Offset of the protocol id (0x32).
    pub const PROTOCOL: usize = 0;
    /// Offset of the ROSCTR.
    pub const ROSCTR: usize = 1;
    /// Offset of the redundancy identification (two bytes).
    pub const REDUNDANCY: usize = 2;
    /// Offset of the PDU reference.
    pub const PDU_REF: usize = 4;
    /// Offset of the parameter length.
    pub const PARAM_LEN: usize = 6;
    /// Offset of the data length.
    pub const DATA_LEN: usize = 8;
    /// Offset of the error class and code (ACK and ACK_DATA).
    pub const ERROR: usize = 10;
    /// Length of a job or userdata header.
    pub const JOB_LEN: usize = 10;
    /// Length of an acknowledgement header.
    pub const ACK_LEN: usize = 12;
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

/// Parses an S7 PDU. Not protocol id 0x32 is
/// [`WireError::Invalid`](conpot_core::wire::WireError::Invalid); a header or a part
/// shorter than declared is [`WireError::Truncated`](conpot_core::wire::WireError::Truncated). Bytes after the data part are
/// ignored.
pub fn s7(pdu: &[u8]) -> WireResult<S7Pdu<'_>> {
    let mut r = Reader::new(pdu);
    r.expect_u8(S7_PROTOCOL, "S7 protocol id 0x32")?;
    let rosctr = r.u8()?;
    r.skip(header::PDU_REF - header::REDUNDANCY)?;
    let pdu_ref = r.u16_be()?;
    let plen = usize::from(r.u16_be()?);
    let dlen = usize::from(r.u16_be()?);
    let error = if matches!(rosctr, rosctr::ACK | rosctr::ACK_DATA) {
        r.u16_be()?
    } else {
        0
    };
    let param = r.take(plen)?;
    let data = r.take(dlen)?;
    Ok(S7Pdu {
        rosctr,
        pdu_ref,
        error,
        param,
        data,
    })
}

/// The PDU reference of a PDU whose header may be malformed, if it got that far.
pub fn pdu_ref(pdu: &[u8]) -> Option<u16> {
    let mut r = Reader::new(pdu);
    r.skip(header::PDU_REF).and_then(|()| r.u16_be()).ok()
}

/// A part of an S7 PDU that writes nothing.
pub fn empty(_: &mut Writer<'_>) -> WireResult<()> {
    Ok(())
}

/// Writes an S7 PDU: the header (with the error field when `error` is given, as in
/// acknowledgements), then the parameter and data parts `param` and `data` write; both
/// lengths are patched from what they wrote.
pub fn write_s7(
    w: &mut Writer<'_>,
    rosctr: u8,
    pdu_ref: u16,
    error: Option<u16>,
    param: impl FnOnce(&mut Writer<'_>) -> WireResult<()>,
    data: impl FnOnce(&mut Writer<'_>) -> WireResult<()>,
) -> WireResult<()> {
    w.put_u8(S7_PROTOCOL)?;
    w.put_u8(rosctr)?;
    w.put_u16_be(0)?;
    w.put_u16_be(pdu_ref)?;
    let plen = w.reserve_u16_be()?;
    let dlen = w.reserve_u16_be()?;
    if let Some(e) = error {
        w.put_u16_be(e)?;
    }
    let start = w.position();
    param(w)?;
    w.patch_len_from(plen, start)?;
    let start = w.position();
    data(w)?;
    w.patch_len_from(dlen, start).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use conpot_core::wire::WireError;

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
        emit_cc(0x0014, 0x0044, 0x0A, &[1, 0], &[1, 2], &mut out).unwrap();
        assert_eq!(out, crate::hex("0300001611d00014004400c0010ac1020100c2020102"));
        for cut in 0..cr.len() {
            assert_eq!(tpkt(&cr[..cut]), Tpkt::Incomplete, "cut at {cut}");
        }
        assert_eq!(tpkt(&[4]), Tpkt::Invalid);
        assert_eq!(tpkt(&[4, 0, 0, 22]), Tpkt::Invalid);
        assert_eq!(tpkt(&[3, 0, 0, 3]), Tpkt::Invalid);
        // A connection request cut anywhere is an error: its length indicator points past
        // the end, and no field is read as zero.
        for cut in 0..payload.len() {
            assert!(
                matches!(cotp(&payload[..cut]), Err(WireError::Truncated { .. })),
                "cut at {cut}"
            );
        }
        // A consistent length indicator with a parameter cut short is an error too.
        assert!(matches!(
            cotp(&crate::hex("09e00000001400c10201")),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(cotp(&[]), Err(WireError::Truncated { .. })));
        assert!(matches!(cotp(&[6, 0xE0, 0, 0]), Err(WireError::Truncated { .. })));
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
        for cut in 0..payload.len() {
            assert!(
                matches!(s7(&payload[..cut]), Err(WireError::Truncated { .. })),
                "cut at {cut}"
            );
        }
        assert!(matches!(s7(&[0x72, 1]), Err(WireError::Invalid { at: 0, .. })));
        assert_eq!(pdu_ref(&payload[..6]), Some(0));
        assert_eq!(pdu_ref(&payload[..5]), None);
    }

    #[test]
    fn s7_lengths_are_patched() {
        let mut out = Vec::new();
        append(&mut out, 240, |w| {
            write_s7(
                w,
                rosctr::ACK_DATA,
                0x0102,
                Some(0),
                |w| w.put_bytes(&[0x04, 0x01]),
                |w| w.put_bytes(&[0xFF, 0x04, 0x00, 0x10, 0x12, 0x34]),
            )
        })
        .unwrap();
        assert_eq!(
            out,
            crate::hex("32030000010200020006000004 01ff0400101234".replace(' ', "").as_str())
        );
        let p = s7(&out).unwrap();
        assert_eq!((p.pdu_ref, p.param.len(), p.data.len()), (0x0102, 2, 6));
        // A PDU over the limit is refused whole.
        let mut out = vec![1];
        let r = append(&mut out, 13, |w| {
            write_s7(w, rosctr::ACK_DATA, 1, Some(0), |w| w.put_u16_be(0), empty)
        });
        assert!(matches!(r, Err(WireError::TooLong { .. })));
        assert_eq!(out, [1]);
    }

    #[test]
    fn dt_segmentation() {
        let mut out = Vec::new();
        emit_dt(&[7u8; 50], 23, &mut out).unwrap();
        // 50 bytes in chunks of 20: three TPDUs, the last marked EOT.
        assert_eq!(out.len(), 3 * 7 + 50);
        assert_eq!(out[6], 0x00);
        assert_eq!(out[7 + 20 + 6], 0x00);
        assert_eq!(out[2 * 27 + 6], 0x80);
        let mut out = Vec::new();
        emit_dt(&[], 1024, &mut out).unwrap();
        assert_eq!(out, [3, 0, 0, 7, 2, 0xF0, 0x80]);
        let mut out = Vec::new();
        emit_dr(0x0014, 0x0044, 0x80, &mut out).unwrap();
        assert_eq!(out, crate::hex("0300000b06800014004480"));
    }
}
