//! APCI framing: the start byte 0x68, the length, and the four control octets of I
//! (numbered information), S (supervisory acknowledgement) and U (unnumbered control:
//! STARTDT, STOPDT, TESTFR) frames. Sequence numbers are 15 bits and wrap at 32768.

use conpot_core::wire::{WireResult, Writer};

/// The start byte.
pub const START: u8 = 0x68;
/// Largest APDU length (control octets plus ASDU).
pub const MAX_LEN: usize = 253;
/// Largest ASDU.
pub const MAX_ASDU: usize = MAX_LEN - 4;
/// Sequence numbers count modulo this.
pub const MODULO: u16 = 32768;

/// U-frame functions.
pub mod u {
    /// STARTDT act.
    pub const STARTDT_ACT: u8 = 0x07;
    /// STARTDT con.
    pub const STARTDT_CON: u8 = 0x0B;
    /// STOPDT act.
    pub const STOPDT_ACT: u8 = 0x13;
    /// STOPDT con.
    pub const STOPDT_CON: u8 = 0x23;
    /// TESTFR act.
    pub const TESTFR_ACT: u8 = 0x43;
    /// TESTFR con.
    pub const TESTFR_CON: u8 = 0x83;
}

/// The control field of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apci {
    /// Information: send and receive sequence numbers.
    I {
        /// N(S).
        send: u16,
        /// N(R).
        recv: u16,
    },
    /// Supervisory: receive sequence number.
    S {
        /// N(R).
        recv: u16,
    },
    /// Unnumbered control function (one of [`u`]).
    U(u8),
}

/// The outcome of framing a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed<'a> {
    /// Not a whole frame yet.
    Incomplete,
    /// Not IEC 104: framing is lost (what, for the log).
    Bad(&'static str),
    /// One frame.
    Frame {
        /// Its control field.
        apci: Apci,
        /// The ASDU (I frames; empty otherwise).
        asdu: &'a [u8],
        /// Bytes of the stream it took.
        size: usize,
    },
}

/// Frames the first APDU of `input`.
pub fn frame(input: &[u8]) -> Framed<'_> {
    match input.first() {
        None => return Framed::Incomplete,
        Some(&START) => {}
        Some(_) => return Framed::Bad("start byte is not 0x68"),
    }
    let Some(&len) = input.get(1) else {
        return Framed::Incomplete;
    };
    let len = usize::from(len);
    if !(4..=MAX_LEN).contains(&len) {
        return Framed::Bad("APDU length outside 4..=253");
    }
    let Some(body) = input.get(2..2 + len) else {
        return Framed::Incomplete;
    };
    let (Some(c), Some(asdu)) = (body.get(..4), body.get(4..)) else {
        return Framed::Bad("short control field");
    };
    let (c0, c1, c2, c3) = match *c {
        [a, b, c, d] => (a, b, c, d),
        _ => return Framed::Bad("short control field"),
    };
    let num = |lo: u8, hi: u8| (u16::from(lo) >> 1) | (u16::from(hi) << 7);
    let apci = if c0 & 1 == 0 {
        Apci::I {
            send: num(c0, c1),
            recv: num(c2, c3),
        }
    } else if c0 & 3 == 1 {
        if len != 4 {
            return Framed::Bad("S frame with an ASDU");
        }
        Apci::S { recv: num(c2, c3) }
    } else {
        if len != 4 {
            return Framed::Bad("U frame with an ASDU");
        }
        if ![
            u::STARTDT_ACT,
            u::STARTDT_CON,
            u::STOPDT_ACT,
            u::STOPDT_CON,
            u::TESTFR_ACT,
            u::TESTFR_CON,
        ]
        .contains(&c0)
        {
            return Framed::Bad("U frame with no single function");
        }
        Apci::U(c0)
    };
    if matches!(apci, Apci::I { .. }) && asdu.is_empty() {
        return Framed::Bad("I frame without an ASDU");
    }
    Framed::Frame {
        apci,
        asdu,
        size: 2 + len,
    }
}

fn put_num(w: &mut Writer<'_>, n: u16) -> WireResult<()> {
    w.put_u16_le((n % MODULO) << 1)
}

/// Appends an I frame.
pub fn put_i(out: &mut Vec<u8>, send: u16, recv: u16, asdu: &[u8]) -> WireResult<usize> {
    conpot_core::wire::append(out, 2 + MAX_LEN, |w| {
        w.put_u8(START)?;
        let len = w.reserve_u8()?;
        put_num(w, send)?;
        put_num(w, recv)?;
        w.put_bytes(asdu)?;
        w.patch_len(len).map(|_| ())
    })
}

/// Appends an S frame.
pub fn put_s(out: &mut Vec<u8>, recv: u16) {
    let r = (recv % MODULO) << 1;
    let [lo, hi] = r.to_le_bytes();
    out.extend_from_slice(&[START, 4, 0x01, 0x00, lo, hi]);
}

/// Appends a U frame.
pub fn put_u(out: &mut Vec<u8>, function: u8) {
    out.extend_from_slice(&[START, 4, function, 0, 0, 0]);
}

/// Whether `n` lies in the window `from..=to` modulo 32768 (an acknowledgement must
/// acknowledge something sent and not yet acknowledged, or nothing new).
pub fn in_window(from: u16, n: u16, to: u16) -> bool {
    let d_n = (n + MODULO - from) % MODULO;
    let d_to = (to + MODULO - from) % MODULO;
    d_n <= d_to
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_golden() {
        assert_eq!(
            frame(&[0x68, 4, 0x07, 0, 0, 0]),
            Framed::Frame {
                apci: Apci::U(u::STARTDT_ACT),
                asdu: &[],
                size: 6
            }
        );
        assert_eq!(
            frame(&[0x68, 4, 0x01, 0, 0x0a, 0]),
            Framed::Frame {
                apci: Apci::S { recv: 5 },
                asdu: &[],
                size: 6
            }
        );
        let f = frame(&[0x68, 5, 0xfe, 0xff, 0x02, 0x00, 0x64]);
        assert_eq!(
            f,
            Framed::Frame {
                apci: Apci::I { send: 32767, recv: 1 },
                asdu: &[0x64],
                size: 7
            }
        );
        assert_eq!(frame(&[0x68]), Framed::Incomplete);
        assert_eq!(frame(&[0x68, 4, 0x07]), Framed::Incomplete);
        assert!(matches!(frame(&[0x69]), Framed::Bad(_)));
        assert!(matches!(frame(&[0x68, 2]), Framed::Bad(_)));
        assert!(matches!(frame(&[0x68, 4, 0x0f, 0, 0, 0]), Framed::Bad(_)));
        let mut out = Vec::new();
        put_i(&mut out, 32767, 3, &[1, 2]).unwrap();
        assert_eq!(out, vec![0x68, 6, 0xfe, 0xff, 0x06, 0x00, 1, 2]);
    }

    #[test]
    fn windows_wrap() {
        assert!(in_window(32760, 2, 5));
        assert!(in_window(3, 3, 3));
        assert!(!in_window(3, 2, 5));
        assert!(!in_window(32760, 6, 5));
    }
}
