//! Modbus RTU framing: a slave address, the PDU, and a CRC-16 (polynomial 0xA001, low byte
//! first). On a serial line a frame ends with 3.5 characters of silence; inside TCP (what
//! serial gateways call "RTU over TCP") and in a buffer that silence is gone, so a frame's
//! end is found from its function code (every standard request and response has a length
//! its first bytes give) or, for others, as the shortest prefix whose CRC is right.

use conpot_core::wire::{WireResult, Writer, append};
use conpot_modbus::wire::MAX_PDU;

/// The largest RTU frame: address, PDU, CRC.
pub const MAX_FRAME: usize = 1 + MAX_PDU + 2;
/// The smallest: address, function code, CRC.
pub const MIN_FRAME: usize = 4;

/// CRC-16/MODBUS of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xA001 } else { crc >> 1 };
        }
    }
    crc
}

/// Which way a frame travels (requests and responses of one function differ in length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Master to slave.
    Request,
    /// Slave to master.
    Response,
}

/// What the framer found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed<'a> {
    /// More bytes are needed.
    Incomplete,
    /// A frame with a good CRC.
    Frame {
        /// Slave address (0: broadcast).
        unit: u8,
        /// The PDU (function code and data).
        pdu: &'a [u8],
        /// Bytes the frame takes, CRC included.
        size: usize,
    },
    /// A frame of known length whose CRC is wrong: a slave ignores it.
    BadCrc {
        /// Bytes it takes.
        size: usize,
    },
    /// No frame can start here within [`MAX_FRAME`] bytes: drop this many.
    Garbage(usize),
}

/// The length of the frame at the start of `buf` from its function code and the bytes
/// after it: `Some(Ok(n))` known, `Some(Err(()))` needs more bytes to tell, `None` a
/// function whose length only the CRC can tell.
fn expected(buf: &[u8], dir: Direction) -> Option<Result<usize, ()>> {
    let fc = *buf.get(1)?;
    let at = |i: usize| buf.get(i).map(|b| usize::from(*b)).ok_or(());
    let n = match (dir, fc) {
        (_, f) if f & 0x80 != 0 && dir == Direction::Response => Ok(5),
        (Direction::Request, 1..=6) => Ok(8),
        (Direction::Request, 7 | 11 | 12 | 17) => Ok(4),
        (Direction::Request, 8) => Ok(8),
        (Direction::Request, 15 | 16) => at(6).map(|c| 9 + c),
        (Direction::Request, 20 | 21) => at(2).map(|c| 5 + c),
        (Direction::Request, 22) => Ok(10),
        (Direction::Request, 23) => at(10).map(|c| 13 + c),
        (Direction::Request, 24) => Ok(6),
        (Direction::Request, 43) => Ok(7),
        (Direction::Response, 1..=4 | 12 | 17 | 20 | 21 | 23) => at(2).map(|c| 5 + c),
        (Direction::Response, 5 | 6 | 8 | 11 | 15 | 16) => Ok(8),
        (Direction::Response, 7) => Ok(5),
        (Direction::Response, 22) => Ok(10),
        (Direction::Response, 24) => buf
            .get(2)
            .zip(buf.get(3))
            .map(|(hi, lo)| 4 + usize::from(u16::from_be_bytes([*hi, *lo])))
            .ok_or(()),
        _ => return None,
    };
    Some(n)
}

fn crc_ok(frame: &[u8]) -> bool {
    match frame.len().checked_sub(2).map(|n| frame.split_at(n)) {
        Some((body, crc)) if body.len() >= 2 => crc16(body).to_le_bytes() == crc,
        _ => false,
    }
}

/// Finds the first frame in `buf`, travelling `dir`.
pub fn frame(buf: &[u8], dir: Direction) -> Framed<'_> {
    let found = |size: usize| -> Framed<'_> {
        let Some(f) = buf.get(..size) else {
            return Framed::Incomplete;
        };
        if !crc_ok(f) {
            return Framed::BadCrc { size };
        }
        Framed::Frame {
            unit: f.first().copied().unwrap_or(0),
            pdu: f.get(1..size - 2).unwrap_or_default(),
            size,
        }
    };
    match expected(buf, dir) {
        Some(Ok(n)) if n > MAX_FRAME => Framed::Garbage(buf.len().clamp(1, MAX_FRAME)),
        Some(Ok(n)) if buf.len() < n => Framed::Incomplete,
        Some(Ok(n)) => found(n),
        Some(Err(())) => Framed::Incomplete,
        None if buf.len() < MIN_FRAME => Framed::Incomplete,
        None => {
            let end = buf.len().min(MAX_FRAME);
            match (MIN_FRAME..=end).find(|&n| buf.get(..n).is_some_and(crc_ok)) {
                Some(n) => found(n),
                None if buf.len() >= MAX_FRAME => Framed::Garbage(MAX_FRAME),
                None => Framed::Incomplete,
            }
        }
    }
}

/// Appends the RTU frame of slave `unit` whose PDU `pdu` writes (at most [`MAX_PDU`]
/// bytes), with its CRC. Nothing is appended if the PDU does not fit.
pub fn emit(unit: u8, out: &mut Vec<u8>, pdu: impl FnOnce(&mut Writer<'_>) -> WireResult<()>) -> WireResult<()> {
    let start = out.len();
    append(out, MAX_FRAME - 2, |w| {
        w.put_u8(unit)?;
        pdu(w)
    })?;
    let crc = crc16(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The silence that ends a frame on a serial line at `baud` with `bits` per character
/// (start, data, parity, stop): 3.5 characters, and 1.75 ms above 19200 baud as the Modbus
/// serial line specification fixes it.
pub fn silence(baud: u32, bits: u32) -> std::time::Duration {
    if baud > 19_200 || baud == 0 {
        return std::time::Duration::from_micros(1750);
    }
    std::time::Duration::from_micros(u64::from(bits) * 3_500_000 / u64::from(baud))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_the_specification_example() {
        // Read holding registers 0x006B..0x006D of slave 17 (Modbus over serial line spec).
        assert_eq!(crc16(&[0x11, 0x03, 0x00, 0x6B, 0x00, 0x03]).to_le_bytes(), [0x76, 0x87]);
        assert_eq!(crc16(&[0x01, 0x03, 0x00, 0x00, 0x00, 0x0A]).to_le_bytes(), [0xC5, 0xCD]);
    }

    #[test]
    fn frames_by_function_and_crc() {
        let req = [0x11, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0x87];
        for cut in 0..req.len() {
            assert_eq!(frame(&req[..cut], Direction::Request), Framed::Incomplete, "cut {cut}");
        }
        let mut two = req.to_vec();
        two.extend_from_slice(&req);
        assert_eq!(
            frame(&two, Direction::Request),
            Framed::Frame {
                unit: 0x11,
                pdu: &req[1..6],
                size: 8
            }
        );
        let mut bad = req;
        bad[7] ^= 1;
        assert_eq!(frame(&bad, Direction::Request), Framed::BadCrc { size: 8 });
        // A write of multiple registers: length from its byte count.
        let mut w = Vec::new();
        emit(1, &mut w, |w| w.put_bytes(&[0x10, 0, 1, 0, 2, 4, 0, 10, 1, 2])).unwrap();
        assert_eq!(w.len(), 13);
        assert!(matches!(frame(&w, Direction::Request), Framed::Frame { size: 13, .. }));
        assert_eq!(frame(&w[..12], Direction::Request), Framed::Incomplete);
        // A response: byte count, and an exception.
        let mut r = Vec::new();
        emit(1, &mut r, |w| w.put_bytes(&[0x03, 4, 0, 1, 0, 2])).unwrap();
        assert!(matches!(frame(&r, Direction::Response), Framed::Frame { size: 9, .. }));
        let mut e = Vec::new();
        emit(1, &mut e, |w| w.put_bytes(&[0x83, 2])).unwrap();
        assert!(matches!(frame(&e, Direction::Response), Framed::Frame { size: 5, .. }));
        // An unknown function is found by its CRC.
        let mut u = Vec::new();
        emit(9, &mut u, |w| w.put_bytes(&[0x41, 1, 2, 3])).unwrap();
        u.push(0xEE);
        assert!(matches!(
            frame(&u, Direction::Request),
            Framed::Frame { unit: 9, size: 7, .. }
        ));
        assert_eq!(frame(&[0x01, 0x41, 0x00], Direction::Request), Framed::Incomplete);
        assert!(matches!(frame(&[0x55; 300], Direction::Request), Framed::Garbage(_)));
    }

    #[test]
    fn silence_times() {
        assert_eq!(silence(9600, 11).as_micros(), 4010);
        assert_eq!(silence(115_200, 11).as_micros(), 1750);
    }
}
