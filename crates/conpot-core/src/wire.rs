//! Bounded reading and writing of binary frames, shared by every protocol crate.
//!
//! Frames come from hostile peers, so a short frame must never be read as if the missing
//! bytes were zeros: every read of the [`Reader`] either returns the bytes asked for or a
//! [`WireError::Truncated`] naming where it stopped, how much was needed and how much was
//! left. A failed read consumes nothing, so a caller may try another reading.
//!
//! The [`Writer`] appends to a `Vec<u8>` up to a byte limit and back-patches length fields:
//! [`Writer::reserve_u16_be`] (and its siblings) write a placeholder and return a
//! [`Reserved`] token; once the body is written, [`Writer::patch_len`] fills in its length,
//! checked to fit the field. TPKT, COTP, S7, CIP, BACnet, IPMI and IEC 104 frames all carry
//! such lengths ahead of what they measure.
//!
//! Protocol crates name their field offsets as constants (as smoltcp's `field` modules do)
//! and read them in order with a `Reader`, so the layout is written once and a missing
//! field is an error, not a guess.

use std::fmt;

/// Why a frame could not be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The input ended before a field: `need` bytes were asked for at offset `at`, only
    /// `have` were left.
    Truncated {
        /// Offset (from the start of the outermost reader) of the field that did not fit.
        at: usize,
        /// Bytes the read needed.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// A field holds a value the format does not allow (a wrong protocol id, a bad tag).
    Invalid {
        /// Offset of the field.
        at: usize,
        /// What was expected, for logs ("protocol id 0x32").
        what: &'static str,
    },
    /// A length is over its limit: a declared length over what is accepted, a write past
    /// the writer's limit, or a body too long for its length field.
    TooLong {
        /// Offset of the length (reader) or of the write (writer).
        at: usize,
        /// The length found or needed.
        len: usize,
        /// The largest allowed.
        max: usize,
    },
}

impl WireError {
    /// The offset the error refers to.
    pub fn at(&self) -> usize {
        match *self {
            WireError::Truncated { at, .. } | WireError::Invalid { at, .. } | WireError::TooLong { at, .. } => at,
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WireError::Truncated { at, need, have } => {
                write!(f, "truncated at byte {at}: {need} bytes needed, {have} left")
            }
            WireError::Invalid { at, what } => write!(f, "invalid field at byte {at}: expected {what}"),
            WireError::TooLong { at, len, max } => write!(f, "length {len} at byte {at} over the limit of {max}"),
        }
    }
}

impl std::error::Error for WireError {}

/// The result of a read or write.
pub type WireResult<T> = Result<T, WireError>;

/// A bounded reader over a byte slice.
///
/// Reads advance the reader; a read that does not fit returns [`WireError::Truncated`]
/// and leaves the reader where it was. Offsets in errors count from the start of the
/// outermost reader, also inside sub-readers, so a log names the byte of the frame.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
    /// Bytes read so far.
    pos: usize,
    /// Offset of this reader's first byte in the outermost reader.
    base: usize,
}

macro_rules! read_ints {
    ($($name:ident -> $t:ty, $n:literal, $from:ident, $order:literal;)*) => {
        $(
            #[doc = concat!("Reads a ", $order, " `", stringify!($t), "` (", stringify!($n), " bytes).")]
            pub fn $name(&mut self) -> WireResult<$t> {
                self.array::<$n>().map(<$t>::$from)
            }
        )*
    };
}

impl<'a> Reader<'a> {
    /// A reader over all of `buf`, at offset 0.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            rest: buf,
            pos: 0,
            base: 0,
        }
    }

    /// Bytes read so far (from this reader's start).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Offset of the next byte from the start of the outermost reader (what errors name).
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes left, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Consumes and returns every byte left (for a trailing payload).
    pub fn take_rest(&mut self) -> &'a [u8] {
        let all = self.rest;
        self.pos += all.len();
        self.rest = &[];
        all
    }

    fn truncated(&self, need: usize) -> WireError {
        WireError::Truncated {
            at: self.offset(),
            need,
            have: self.rest.len(),
        }
    }

    /// The next `n` bytes, consumed.
    pub fn take(&mut self, n: usize) -> WireResult<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or_else(|| self.truncated(n))?;
        self.rest = tail;
        self.pos += n;
        Ok(head)
    }

    /// The next `N` bytes as an array, consumed.
    pub fn array<const N: usize>(&mut self) -> WireResult<[u8; N]> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or_else(|| self.truncated(N))?;
        self.rest = tail;
        self.pos += N;
        Ok(*head)
    }

    /// Skips `n` bytes (reserved or ignored fields).
    pub fn skip(&mut self, n: usize) -> WireResult<()> {
        self.take(n).map(|_| ())
    }

    /// The next byte, not consumed.
    pub fn peek_u8(&self) -> WireResult<u8> {
        self.rest.first().copied().ok_or_else(|| self.truncated(1))
    }

    /// The next `n` bytes, not consumed.
    pub fn peek(&self, n: usize) -> WireResult<&'a [u8]> {
        self.rest.get(..n).ok_or_else(|| self.truncated(n))
    }

    /// A reader over the next `n` bytes (a length-delimited structure), which this reader
    /// skips. Reads inside cannot run past the `n` bytes.
    pub fn sub(&mut self, n: usize) -> WireResult<Reader<'a>> {
        let base = self.offset();
        let bytes = self.take(n)?;
        Ok(Reader {
            rest: bytes,
            pos: 0,
            base,
        })
    }

    /// Checks a length read from the frame against a limit: [`WireError::TooLong`] (at
    /// this reader's offset) if `len > max`, else `len`.
    pub fn limit(&self, len: usize, max: usize) -> WireResult<usize> {
        if len > max {
            return Err(WireError::TooLong {
                at: self.offset(),
                len,
                max,
            });
        }
        Ok(len)
    }

    /// Reads a byte that must be `value`; another value is [`WireError::Invalid`] with
    /// `what`, and consumes nothing.
    pub fn expect_u8(&mut self, value: u8, what: &'static str) -> WireResult<()> {
        if self.peek_u8()? != value {
            return Err(WireError::Invalid {
                at: self.offset(),
                what,
            });
        }
        self.skip(1)
    }

    /// Reads bytes that must equal `value` (a magic number, a fixed prefix).
    pub fn expect_bytes(&mut self, value: &[u8], what: &'static str) -> WireResult<()> {
        if self.peek(value.len())? != value {
            return Err(WireError::Invalid {
                at: self.offset(),
                what,
            });
        }
        self.skip(value.len())
    }

    /// Checks that every byte was read; bytes left are [`WireError::Invalid`] with `what`.
    pub fn expect_end(&self, what: &'static str) -> WireResult<()> {
        if !self.rest.is_empty() {
            return Err(WireError::Invalid {
                at: self.offset(),
                what,
            });
        }
        Ok(())
    }

    /// Reads a byte.
    pub fn u8(&mut self) -> WireResult<u8> {
        self.array::<1>().map(|[b]| b)
    }

    /// Reads a signed byte.
    pub fn i8(&mut self) -> WireResult<i8> {
        self.array::<1>().map(i8::from_be_bytes)
    }

    /// Reads a big-endian 24-bit unsigned integer (S7 bit addresses).
    pub fn u24_be(&mut self) -> WireResult<u32> {
        self.array::<3>().map(|[a, b, c]| u32::from_be_bytes([0, a, b, c]))
    }

    /// Reads a little-endian 24-bit unsigned integer (IEC 104 object addresses).
    pub fn u24_le(&mut self) -> WireResult<u32> {
        self.array::<3>().map(|[a, b, c]| u32::from_le_bytes([a, b, c, 0]))
    }

    read_ints! {
        u16_be -> u16, 2, from_be_bytes, "big-endian";
        u16_le -> u16, 2, from_le_bytes, "little-endian";
        u32_be -> u32, 4, from_be_bytes, "big-endian";
        u32_le -> u32, 4, from_le_bytes, "little-endian";
        u64_be -> u64, 8, from_be_bytes, "big-endian";
        u64_le -> u64, 8, from_le_bytes, "little-endian";
        i16_be -> i16, 2, from_be_bytes, "big-endian";
        i16_le -> i16, 2, from_le_bytes, "little-endian";
        i32_be -> i32, 4, from_be_bytes, "big-endian";
        i32_le -> i32, 4, from_le_bytes, "little-endian";
    }
}

/// The width and byte order of a reserved length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Width {
    U8,
    U16Be,
    U16Le,
    U32Be,
    U32Le,
}

impl Width {
    fn bytes(self) -> usize {
        match self {
            Width::U8 => 1,
            Width::U16Be | Width::U16Le => 2,
            Width::U32Be | Width::U32Le => 4,
        }
    }

    fn max(self) -> usize {
        match self {
            Width::U8 => usize::from(u8::MAX),
            Width::U16Be | Width::U16Le => usize::from(u16::MAX),
            Width::U32Be | Width::U32Le => u32::MAX as usize,
        }
    }
}

/// A length field written as a placeholder, to be filled by [`Writer::patch_len`],
/// [`Writer::patch_len_from`] or [`Writer::patch`]. Patching consumes it, so each field
/// is filled once.
#[must_use = "a reserved length field must be patched"]
#[derive(Debug)]
pub struct Reserved {
    /// Position of the field (from the writer's start).
    at: usize,
    width: Width,
}

impl Reserved {
    /// Position of the field from the writer's start.
    pub fn position(&self) -> usize {
        self.at
    }

    /// Position just after the field: where the body it measures usually starts.
    pub fn end(&self) -> usize {
        self.at + self.width.bytes()
    }
}

/// A writer appending to a `Vec<u8>`, at most `limit` bytes, with length back-patching.
///
/// A write that would pass the limit writes nothing and returns [`WireError::TooLong`].
/// Positions count from where the writer started in the vector, so a writer can append
/// to a buffer that already holds earlier frames.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    limit: usize,
}

macro_rules! put_ints {
    ($($name:ident($t:ty) = $to:ident, $order:literal;)*) => {
        $(
            #[doc = concat!("Appends a ", $order, " `", stringify!($t), "`.")]
            pub fn $name(&mut self, v: $t) -> WireResult<()> {
                self.put_bytes(&v.$to())
            }
        )*
    };
}

macro_rules! reserve_fields {
    ($($name:ident = $width:ident, $desc:literal;)*) => {
        $(
            #[doc = concat!("Reserves a ", $desc, " length field (written as zero) to be patched later.")]
            pub fn $name(&mut self) -> WireResult<Reserved> {
                self.reserve(Width::$width)
            }
        )*
    };
}

impl<'a> Writer<'a> {
    /// A writer appending to `buf`, which may add at most `limit` bytes.
    pub fn new(buf: &'a mut Vec<u8>, limit: usize) -> Self {
        let start = buf.len();
        Writer { buf, start, limit }
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }

    /// Bytes that may still be written.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.position())
    }

    /// The bytes this writer wrote.
    pub fn written(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    fn fits(&self, n: usize) -> WireResult<()> {
        if n > self.room() {
            return Err(WireError::TooLong {
                at: self.position(),
                len: self.position().saturating_add(n),
                max: self.limit,
            });
        }
        Ok(())
    }

    /// Appends `bytes`.
    pub fn put_bytes(&mut self, bytes: &[u8]) -> WireResult<()> {
        self.fits(bytes.len())?;
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Appends `n` copies of `byte` (padding, fill).
    pub fn put_fill(&mut self, byte: u8, n: usize) -> WireResult<()> {
        self.fits(n)?;
        self.buf.resize(self.buf.len() + n, byte);
        Ok(())
    }

    /// Appends a byte.
    pub fn put_u8(&mut self, v: u8) -> WireResult<()> {
        self.put_bytes(&[v])
    }

    /// Appends a big-endian 24-bit integer; values over 24 bits are [`WireError::TooLong`].
    pub fn put_u24_be(&mut self, v: u32) -> WireResult<()> {
        let [top, a, b, c] = v.to_be_bytes();
        if top != 0 {
            return Err(WireError::TooLong {
                at: self.position(),
                len: v as usize,
                max: 0x00FF_FFFF,
            });
        }
        self.put_bytes(&[a, b, c])
    }

    /// Appends a little-endian 24-bit integer; values over 24 bits are [`WireError::TooLong`].
    pub fn put_u24_le(&mut self, v: u32) -> WireResult<()> {
        let [a, b, c, top] = v.to_le_bytes();
        if top != 0 {
            return Err(WireError::TooLong {
                at: self.position(),
                len: v as usize,
                max: 0x00FF_FFFF,
            });
        }
        self.put_bytes(&[a, b, c])
    }

    put_ints! {
        put_u16_be(u16) = to_be_bytes, "big-endian";
        put_u16_le(u16) = to_le_bytes, "little-endian";
        put_u32_be(u32) = to_be_bytes, "big-endian";
        put_u32_le(u32) = to_le_bytes, "little-endian";
        put_u64_be(u64) = to_be_bytes, "big-endian";
        put_u64_le(u64) = to_le_bytes, "little-endian";
        put_i16_be(i16) = to_be_bytes, "big-endian";
        put_i16_le(i16) = to_le_bytes, "little-endian";
        put_i32_be(i32) = to_be_bytes, "big-endian";
        put_i32_le(i32) = to_le_bytes, "little-endian";
    }

    fn reserve(&mut self, width: Width) -> WireResult<Reserved> {
        let at = self.position();
        self.put_fill(0, width.bytes())?;
        Ok(Reserved { at, width })
    }

    reserve_fields! {
        reserve_u8 = U8, "one-byte";
        reserve_u16_be = U16Be, "big-endian two-byte";
        reserve_u16_le = U16Le, "little-endian two-byte";
        reserve_u32_be = U32Be, "big-endian four-byte";
        reserve_u32_le = U32Le, "little-endian four-byte";
    }

    /// Fills a reserved field with the number of bytes written after it; returns that
    /// length. A length that does not fit the field is [`WireError::TooLong`] and leaves
    /// the field as it was.
    pub fn patch_len(&mut self, field: Reserved) -> WireResult<usize> {
        let from = field.end();
        self.patch_len_from(field, from)
    }

    /// Fills a reserved field with the number of bytes written since position `from`
    /// (for lengths that count their own header, as TPKT's does, or that start later, as
    /// S7's data length does); returns that length.
    pub fn patch_len_from(&mut self, field: Reserved, from: usize) -> WireResult<usize> {
        let len = self.position().checked_sub(from).ok_or(WireError::Invalid {
            at: from,
            what: "a length measured from a position already written",
        })?;
        self.patch(field, len)?;
        Ok(len)
    }

    /// Fills a reserved field with `value` (a count or length known only at the end).
    pub fn patch(&mut self, field: Reserved, value: usize) -> WireResult<()> {
        let Reserved { at, width } = field;
        if value > width.max() {
            return Err(WireError::TooLong {
                at,
                len: value,
                max: width.max(),
            });
        }
        let v = value as u32;
        let bytes: &[u8] = match width {
            Width::U8 => &[v as u8],
            Width::U16Be => &(v as u16).to_be_bytes(),
            Width::U16Le => &(v as u16).to_le_bytes(),
            Width::U32Be => &v.to_be_bytes(),
            Width::U32Le => &v.to_le_bytes(),
        };
        let start = self.start + at;
        let slot = self.buf.get_mut(start..start + bytes.len()).ok_or(WireError::Invalid {
            at,
            what: "a reserved field inside what this writer wrote",
        })?;
        slot.copy_from_slice(bytes);
        Ok(())
    }
}

/// Appends to `out` what `f` writes, at most `limit` bytes; if `f` fails, `out` is left
/// as it was (no half frame is ever sent). Returns the number of bytes appended.
pub fn append(out: &mut Vec<u8>, limit: usize, f: impl FnOnce(&mut Writer<'_>) -> WireResult<()>) -> WireResult<usize> {
    let start = out.len();
    let mut w = Writer::new(out, limit);
    match f(&mut w) {
        Ok(()) => Ok(w.position()),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn reads_in_both_orders() {
        let b = [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0];
        let mut r = Reader::new(&b);
        assert_eq!(r.u16_be(), Ok(0x1234));
        assert_eq!(r.u16_le(), Ok(0x7856));
        assert_eq!(r.u32_be(), Ok(0x9ABC_DEF0));
        assert!(r.is_empty());
        assert_eq!(Reader::new(&b).u64_le(), Ok(0xF0DE_BC9A_7856_3412));
        assert_eq!(Reader::new(&b).u64_be(), Ok(0x1234_5678_9ABC_DEF0));
        assert_eq!(Reader::new(&b).u32_le(), Ok(0x7856_3412));
        assert_eq!(Reader::new(&[0xFF, 0xFE]).i16_be(), Ok(-2));
        assert_eq!(Reader::new(&[0xFE, 0xFF]).i16_le(), Ok(-2));
        assert_eq!(Reader::new(&[0xFF, 0xFF, 0xFF, 0xFD]).i32_be(), Ok(-3));
        assert_eq!(Reader::new(&[0xFD, 0xFF, 0xFF, 0xFF]).i32_le(), Ok(-3));
        assert_eq!(Reader::new(&[0x80]).i8(), Ok(-128));
        assert_eq!(Reader::new(&[0x01, 0x02, 0x03]).u24_be(), Ok(0x01_0203));
        assert_eq!(Reader::new(&[0x01, 0x02, 0x03]).u24_le(), Ok(0x03_0201));
    }

    #[test]
    fn a_short_read_is_truncated_and_consumes_nothing() {
        let b = [1, 2, 3];
        let mut r = Reader::new(&b);
        r.skip(1).unwrap();
        assert_eq!(
            r.u32_be(),
            Err(WireError::Truncated {
                at: 1,
                need: 4,
                have: 2
            })
        );
        assert_eq!(r.position(), 1);
        assert_eq!(r.u16_be(), Ok(0x0203));
        assert_eq!(
            r.u8(),
            Err(WireError::Truncated {
                at: 3,
                need: 1,
                have: 0
            })
        );
        assert_eq!(r.take(usize::MAX).unwrap_err().at(), 3);
        assert_eq!(
            r.peek_u8(),
            Err(WireError::Truncated {
                at: 3,
                need: 1,
                have: 0
            })
        );
    }

    #[test]
    fn sub_readers_are_bounded_and_name_outer_offsets() {
        // A TLV: tag, length, value; then a trailer.
        let b = [0xAA, 3, 1, 2, 3, 0xEE];
        let mut r = Reader::new(&b);
        r.expect_u8(0xAA, "tag 0xAA").unwrap();
        let n = usize::from(r.u8().unwrap());
        let mut v = r.sub(n).unwrap();
        assert_eq!(v.u16_be(), Ok(0x0102));
        assert_eq!(
            v.u16_be(),
            Err(WireError::Truncated {
                at: 4,
                need: 2,
                have: 1
            })
        );
        assert_eq!(v.take_rest(), &[3]);
        assert_eq!(r.u8(), Ok(0xEE));
        assert_eq!(r.expect_end("end"), Ok(()));
        assert_eq!(
            Reader::new(&b).expect_u8(0xAB, "tag 0xAB"),
            Err(WireError::Invalid {
                at: 0,
                what: "tag 0xAB"
            })
        );
        let mut r = Reader::new(&b);
        assert!(r.expect_bytes(&[0xAA, 3], "prefix").is_ok());
        assert_eq!(r.peek(2), Ok(&[1u8, 2][..]));
        assert_eq!(r.limit(9, 8), Err(WireError::TooLong { at: 2, len: 9, max: 8 }));
        assert_eq!(r.expect_end("end").unwrap_err().at(), 2);
    }

    #[test]
    fn writer_limits_and_back_patches() {
        let mut out = vec![0xFF];
        let mut w = Writer::new(&mut out, 8);
        let total = w.reserve_u16_be().unwrap();
        let body = w.reserve_u8().unwrap();
        w.put_bytes(&[1, 2, 3]).unwrap();
        assert_eq!(w.patch_len(body), Ok(3));
        assert_eq!(w.patch_len_from(total, 0), Ok(6));
        assert_eq!(w.put_bytes(&[0; 3]), Err(WireError::TooLong { at: 6, len: 9, max: 8 }));
        assert_eq!(w.room(), 2);
        w.put_u16_le(0x0102).unwrap();
        assert_eq!(w.put_u8(0), Err(WireError::TooLong { at: 8, len: 9, max: 8 }));
        assert_eq!(out, [0xFF, 0, 6, 3, 1, 2, 3, 2, 1]);
    }

    #[test]
    fn a_length_that_does_not_fit_its_field_is_an_error() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, 1024);
        let f = w.reserve_u8().unwrap();
        w.put_fill(7, 256).unwrap();
        assert_eq!(
            w.patch_len(f),
            Err(WireError::TooLong {
                at: 0,
                len: 256,
                max: 255
            })
        );
        assert_eq!(out[0], 0, "left as it was");
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, 16);
        assert!(w.put_u24_be(0x0100_0000).is_err());
        w.put_u24_be(0x0A_0B0C).unwrap();
        w.put_u24_le(0x0A_0B0C).unwrap();
        let le = w.reserve_u16_le().unwrap();
        let be32 = w.reserve_u32_be().unwrap();
        let le32 = w.reserve_u32_le().unwrap();
        w.patch(le, 0x0102).unwrap();
        w.patch(be32, 0x0304).unwrap();
        w.patch(le32, 0x0506).unwrap();
        assert_eq!(out, [0x0A, 0x0B, 0x0C, 0x0C, 0x0B, 0x0A, 2, 1, 0, 0, 3, 4, 6, 5, 0, 0]);
    }

    #[test]
    fn append_leaves_no_half_frame() {
        let mut out = vec![9];
        let r = append(&mut out, 4, |w| {
            w.put_u32_be(1)?;
            w.put_u8(2)
        });
        assert!(matches!(r, Err(WireError::TooLong { .. })));
        assert_eq!(out, [9]);
        assert_eq!(append(&mut out, 4, |w| w.put_u16_be(0x0102)), Ok(2));
        assert_eq!(out, [9, 1, 2]);
    }

    #[test]
    fn errors_read_as_sentences() {
        let e = WireError::Truncated {
            at: 4,
            need: 2,
            have: 1,
        };
        assert_eq!(e.to_string(), "truncated at byte 4: 2 bytes needed, 1 left");
        let e = WireError::Invalid {
            at: 0,
            what: "protocol id 0x32",
        };
        assert_eq!(e.to_string(), "invalid field at byte 0: expected protocol id 0x32");
    }
}
