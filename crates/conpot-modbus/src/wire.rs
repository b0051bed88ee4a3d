//! Modbus/TCP framing: the MBAP header and ADU boundaries.

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

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Finds the first frame in `buf`.
pub fn frame(buf: &[u8]) -> Framed<'_> {
    let (Some(transaction), Some(protocol), Some(length), Some(&unit)) =
        (be16(buf, 0), be16(buf, 2), be16(buf, 4), buf.get(6))
    else {
        return Framed::Incomplete;
    };
    let mbap = Mbap {
        transaction,
        protocol,
        length,
        unit,
    };
    let len = usize::from(length);
    if !(2..=MAX_PDU + 1).contains(&len) {
        return Framed::BadLength(mbap);
    }
    let size = 6 + len;
    match buf.get(MBAP_LEN..size) {
        Some(pdu) => Framed::Frame { mbap, pdu, size },
        None => Framed::Incomplete,
    }
}

/// Appends the ADU for `pdu` answering `req` to `out`.
pub fn emit(req: &Mbap, pdu: &[u8], out: &mut Vec<u8>) {
    let len = (pdu.len().min(MAX_PDU) + 1) as u16;
    out.extend_from_slice(&req.transaction.to_be_bytes());
    out.extend_from_slice(&req.protocol.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.push(req.unit);
    out.extend_from_slice(pdu.get(..MAX_PDU.min(pdu.len())).unwrap_or_default());
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
        let mut out = Vec::new();
        emit(
            &Mbap {
                transaction: 7,
                protocol: 0,
                length: 0,
                unit: 9,
            },
            &[0x83, 0x02],
            &mut out,
        );
        assert_eq!(out, [0, 7, 0, 0, 0, 3, 9, 0x83, 0x02]);
    }
}
