//! Modbus/TCP framing: the MBAP header and ADU boundaries.

use conpot_core::wire::{Reader, WireResult, Writer, append};

/// Length of the MBAP header (transaction, protocol, length, unit).
pub const MBAP_LEN: usize = 7;
/// Largest PDU (function code plus data).
pub const MAX_PDU: usize = 253;
/// Largest ADU.
pub const MAX_ADU: usize = MBAP_LEN + MAX_PDU;

/// The MBAP header of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mbap {
    /// Transaction identifier, echoed in the reply.
    pub transaction: u16,
    /// Protocol identifier (0 for Modbus).
    pub protocol: u16,
    /// Length of unit id plus PDU.
    pub length: u16,
    /// Unit identifier.
    pub unit: u8,
}

/// What the framer found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed<'a> {
    /// More bytes are needed.
    Incomplete,
    /// A whole frame: its header, PDU, and total size in the buffer.
    Frame {
        /// Header.
        mbap: Mbap,
        /// PDU bytes.
        pdu: &'a [u8],
        /// Bytes the frame takes.
        size: usize,
    },
    /// A length field no device accepts: framing is lost and the connection must close.
    BadLength(Mbap),
}

fn header(r: &mut Reader<'_>) -> WireResult<Mbap> {
    Ok(Mbap {
        transaction: r.u16_be()?,
        protocol: r.u16_be()?,
        length: r.u16_be()?,
        unit: r.u8()?,
    })
}

/// Finds the first frame in `buf`.
pub fn frame(buf: &[u8]) -> Framed<'_> {
    let mut r = Reader::new(buf);
    let Ok(mbap) = header(&mut r) else {
        return Framed::Incomplete;
    };
    // The length counts the unit id and the PDU.
    let len = usize::from(mbap.length);
    if !(2..=MAX_PDU + 1).contains(&len) {
        return Framed::BadLength(mbap);
    }
    match r.take(len - 1) {
        Ok(pdu) => Framed::Frame {
            mbap,
            pdu,
            size: MBAP_LEN - 1 + len,
        },
        Err(_) => Framed::Incomplete,
    }
}

/// Appends the ADU answering `req` whose PDU `pdu` writes (at most [`MAX_PDU`] bytes;
/// the MBAP length is patched from it). Nothing is appended if the PDU does not fit.
pub fn emit(req: &Mbap, out: &mut Vec<u8>, pdu: impl FnOnce(&mut Writer<'_>) -> WireResult<()>) -> WireResult<()> {
    append(out, MAX_ADU, |w| {
        w.put_u16_be(req.transaction)?;
        w.put_u16_be(req.protocol)?;
        let len = w.reserve_u16_be()?;
        w.put_u8(req.unit)?;
        pdu(w)?;
        w.patch_len(len).map(drop)
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let req = [0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x02];
        for cut in 0..req.len() {
            assert_eq!(frame(&req[..cut]), Framed::Incomplete, "cut at {cut}");
        }
        let mut two = req.to_vec();
        two.extend_from_slice(&req);
        match frame(&two) {
            Framed::Frame { mbap, pdu, size } => {
                assert_eq!(
                    mbap,
                    Mbap {
                        transaction: 1,
                        protocol: 0,
                        length: 6,
                        unit: 1
                    }
                );
                assert_eq!(pdu, &[0x03, 0x00, 0x00, 0x00, 0x02]);
                assert_eq!(size, 12);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(frame(&[0, 1, 0, 0, 0, 1, 1]), Framed::BadLength(_)));
        assert!(matches!(frame(&[0, 1, 0, 0, 0x01, 0x00, 1]), Framed::BadLength(_)));
        let req = Mbap {
            transaction: 7,
            protocol: 0,
            length: 0,
            unit: 9,
        };
        let mut out = vec![0xEE];
        emit(&req, &mut out, |w| w.put_bytes(&[0x83, 0x02])).unwrap();
        assert_eq!(out, [0xEE, 0, 7, 0, 0, 0, 3, 9, 0x83, 0x02]);
        // A PDU over the largest is not sent at all.
        assert!(emit(&req, &mut out, |w| w.put_bytes(&[0; MAX_PDU + 1])).is_err());
        assert_eq!(out.len(), 10);
    }
}
