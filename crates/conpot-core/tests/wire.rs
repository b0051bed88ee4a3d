//! Properties of the wire reader and writer: reads over arbitrary bytes never panic and
//! never invent bytes, what is written reads back, and back-patched lengths are the
//! lengths of their bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use conpot_core::wire::{Reader, WireError, Writer, append};
use proptest::prelude::*;

/// One read, as the property tests drive them.
#[derive(Debug, Clone, Copy)]
enum Read {
    U8,
    U16Be,
    U16Le,
    U24Be,
    U24Le,
    U32Be,
    U32Le,
    U64Be,
    U64Le,
    I16Be,
    I32Le,
    Take(usize),
    Skip(usize),
    Peek(usize),
    Sub(usize),
}

impl Read {
    /// Bytes the read consumes when it succeeds (a peek consumes none).
    fn size(self) -> usize {
        match self {
            Read::U8 => 1,
            Read::U16Be | Read::U16Le | Read::I16Be => 2,
            Read::U24Be | Read::U24Le => 3,
            Read::U32Be | Read::U32Le | Read::I32Le => 4,
            Read::U64Be | Read::U64Le => 8,
            Read::Take(n) | Read::Skip(n) | Read::Sub(n) | Read::Peek(n) => n,
        }
    }

    /// Runs the read; the bytes it returned, if any.
    fn run(self, r: &mut Reader<'_>) -> Result<Vec<u8>, WireError> {
        Ok(match self {
            Read::U8 => vec![r.u8()?],
            Read::U16Be => r.u16_be()?.to_be_bytes().to_vec(),
            Read::U16Le => r.u16_le()?.to_le_bytes().to_vec(),
            Read::U24Be => r.u24_be()?.to_be_bytes()[1..].to_vec(),
            Read::U24Le => r.u24_le()?.to_le_bytes()[..3].to_vec(),
            Read::U32Be => r.u32_be()?.to_be_bytes().to_vec(),
            Read::U32Le => r.u32_le()?.to_le_bytes().to_vec(),
            Read::U64Be => r.u64_be()?.to_be_bytes().to_vec(),
            Read::U64Le => r.u64_le()?.to_le_bytes().to_vec(),
            Read::I16Be => r.i16_be()?.to_be_bytes().to_vec(),
            Read::I32Le => r.i32_le()?.to_le_bytes().to_vec(),
            Read::Take(n) => r.take(n)?.to_vec(),
            Read::Skip(n) => {
                let before = r.rest();
                r.skip(n)?;
                before[..n].to_vec()
            }
            Read::Peek(n) => r.peek(n)?.to_vec(),
            Read::Sub(n) => {
                let mut s = r.sub(n)?;
                assert_eq!(s.remaining(), n);
                s.take_rest().to_vec()
            }
        })
    }
}

fn read() -> impl Strategy<Value = Read> {
    prop_oneof![
        Just(Read::U8),
        Just(Read::U16Be),
        Just(Read::U16Le),
        Just(Read::U24Be),
        Just(Read::U24Le),
        Just(Read::U32Be),
        Just(Read::U32Le),
        Just(Read::U64Be),
        Just(Read::U64Le),
        Just(Read::I16Be),
        Just(Read::I32Le),
        (0usize..40).prop_map(Read::Take),
        (0usize..40).prop_map(Read::Skip),
        (0usize..40).prop_map(Read::Peek),
        (0usize..40).prop_map(Read::Sub),
        Just(Read::Take(usize::MAX)),
    ]
}

/// A value written and read back.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    U8(u8),
    U16Be(u16),
    U16Le(u16),
    U24Be(u32),
    U24Le(u32),
    U32Be(u32),
    U32Le(u32),
    U64Be(u64),
    U64Le(u64),
    I16Le(i16),
    I32Be(i32),
    Bytes(Vec<u8>),
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        any::<u8>().prop_map(Field::U8),
        any::<u16>().prop_map(Field::U16Be),
        any::<u16>().prop_map(Field::U16Le),
        (0u32..=0x00FF_FFFF).prop_map(Field::U24Be),
        (0u32..=0x00FF_FFFF).prop_map(Field::U24Le),
        any::<u32>().prop_map(Field::U32Be),
        any::<u32>().prop_map(Field::U32Le),
        any::<u64>().prop_map(Field::U64Be),
        any::<u64>().prop_map(Field::U64Le),
        any::<i16>().prop_map(Field::I16Le),
        any::<i32>().prop_map(Field::I32Be),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Field::Bytes),
    ]
}

fn write(w: &mut Writer<'_>, f: &Field) -> Result<(), WireError> {
    match f {
        Field::U8(v) => w.put_u8(*v),
        Field::U16Be(v) => w.put_u16_be(*v),
        Field::U16Le(v) => w.put_u16_le(*v),
        Field::U24Be(v) => w.put_u24_be(*v),
        Field::U24Le(v) => w.put_u24_le(*v),
        Field::U32Be(v) => w.put_u32_be(*v),
        Field::U32Le(v) => w.put_u32_le(*v),
        Field::U64Be(v) => w.put_u64_be(*v),
        Field::U64Le(v) => w.put_u64_le(*v),
        Field::I16Le(v) => w.put_i16_le(*v),
        Field::I32Be(v) => w.put_i32_be(*v),
        Field::Bytes(b) => {
            // Length-prefixed, so the reader knows how much to take.
            let len = w.reserve_u8()?;
            w.put_bytes(b)?;
            w.patch_len(len).map(|_| ())
        }
    }
}

fn read_back(r: &mut Reader<'_>, like: &Field) -> Result<Field, WireError> {
    Ok(match like {
        Field::U8(_) => Field::U8(r.u8()?),
        Field::U16Be(_) => Field::U16Be(r.u16_be()?),
        Field::U16Le(_) => Field::U16Le(r.u16_le()?),
        Field::U24Be(_) => Field::U24Be(r.u24_be()?),
        Field::U24Le(_) => Field::U24Le(r.u24_le()?),
        Field::U32Be(_) => Field::U32Be(r.u32_be()?),
        Field::U32Le(_) => Field::U32Le(r.u32_le()?),
        Field::U64Be(_) => Field::U64Be(r.u64_be()?),
        Field::U64Le(_) => Field::U64Le(r.u64_le()?),
        Field::I16Le(_) => Field::I16Le(r.i16_le()?),
        Field::I32Be(_) => Field::I32Be(r.i32_be()?),
        Field::Bytes(_) => {
            let n = usize::from(r.u8()?);
            Field::Bytes(r.take(n)?.to_vec())
        }
    })
}

/// A tree of length-delimited structures: each node a u16 (big- or little-endian) or u8
/// length, then its leaf bytes, then its children.
#[derive(Debug, Clone)]
struct Node {
    width: u8,
    leaf: Vec<u8>,
    children: Vec<Node>,
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = (0u8..3, proptest::collection::vec(any::<u8>(), 0..30)).prop_map(|(width, leaf)| Node {
        width,
        leaf,
        children: Vec::new(),
    });
    leaf.prop_recursive(4, 40, 4, |inner| {
        (
            0u8..3,
            proptest::collection::vec(any::<u8>(), 0..8),
            proptest::collection::vec(inner, 0..4),
        )
            .prop_map(|(width, leaf, children)| Node { width, leaf, children })
    })
}

impl Node {
    /// Bytes the node takes, its length field included.
    fn size(&self) -> usize {
        self.field() + self.body()
    }

    fn field(&self) -> usize {
        if self.width == 0 { 1 } else { 2 }
    }

    /// Bytes after the length field: the leaf's count byte, the leaf, the children.
    fn body(&self) -> usize {
        1 + self.leaf.len() + self.children.iter().map(Node::size).sum::<usize>()
    }

    /// Whether every body fits its length field.
    fn fits(&self) -> bool {
        self.body() <= if self.width == 0 { 255 } else { 65_535 } && self.children.iter().all(Node::fits)
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<usize, WireError> {
        let len = match self.width {
            0 => w.reserve_u8()?,
            1 => w.reserve_u16_be()?,
            _ => w.reserve_u16_le()?,
        };
        w.put_u8(self.leaf.len() as u8)?;
        w.put_bytes(&self.leaf)?;
        for c in &self.children {
            c.write(w)?;
        }
        w.patch_len(len)
    }

    /// Reads the node back and checks it against `self`.
    fn check(&self, r: &mut Reader<'_>) {
        let len = match self.width {
            0 => usize::from(r.u8().unwrap()),
            1 => usize::from(r.u16_be().unwrap()),
            _ => usize::from(r.u16_le().unwrap()),
        };
        assert_eq!(len, self.body());
        let mut body = r.sub(len).unwrap();
        let n = usize::from(body.u8().unwrap());
        assert_eq!(body.take(n).unwrap(), &self.leaf[..]);
        for c in &self.children {
            c.check(&mut body);
        }
        body.expect_end("end of node").unwrap();
    }
}

proptest! {
    #[test]
    fn reads_never_panic_and_never_invent_bytes(
        input in proptest::collection::vec(any::<u8>(), 0..64),
        reads in proptest::collection::vec(read(), 0..24),
    ) {
        let mut r = Reader::new(&input);
        for op in reads {
            let (pos, left, at) = (r.position(), r.remaining(), r.offset());
            let rest = r.rest();
            match op.run(&mut r) {
                Ok(bytes) => {
                    prop_assert!(op.size() <= left);
                    prop_assert_eq!(&bytes[..], &rest[..op.size()], "the bytes of the input, in order");
                    let consumed = if matches!(op, Read::Peek(_)) { 0 } else { op.size() };
                    prop_assert_eq!(r.position(), pos + consumed);
                    prop_assert_eq!(r.remaining(), left - consumed);
                }
                Err(e) => {
                    prop_assert!(op.size() > left, "{op:?} failed with {left} left");
                    prop_assert_eq!(e, WireError::Truncated { at, need: op.size(), have: left });
                    prop_assert_eq!(r.position(), pos, "a failed read consumes nothing");
                }
            }
            prop_assert_eq!(r.position() + r.remaining(), input.len());
        }
    }

    #[test]
    fn a_read_longer_than_the_buffer_is_truncated(
        input in proptest::collection::vec(any::<u8>(), 0..16),
        extra in 1usize..16,
        op in 0u8..4,
    ) {
        let need = input.len() + extra;
        let mut r = Reader::new(&input);
        let got = match op {
            0 => r.take(need).map(|_| ()),
            1 => r.skip(need),
            2 => r.peek(need).map(|_| ()),
            _ => r.sub(need).map(|_| ()),
        };
        prop_assert_eq!(got, Err(WireError::Truncated { at: 0, need, have: input.len() }));
        prop_assert_eq!(r.remaining(), input.len());
    }

    #[test]
    fn a_fixed_width_read_from_fewer_bytes_is_truncated(
        input in proptest::collection::vec(any::<u8>(), 0..8),
        op in 0u8..5,
    ) {
        let mut r = Reader::new(&input);
        let (need, got) = match op {
            0 => (2, r.u16_be().map(|_| ())),
            1 => (3, r.u24_le().map(|_| ())),
            2 => (4, r.u32_le().map(|_| ())),
            3 => (4, r.i32_be().map(|_| ())),
            _ => (8, r.u64_be().map(|_| ())),
        };
        if need > input.len() {
            prop_assert_eq!(got, Err(WireError::Truncated { at: 0, need, have: input.len() }));
        } else {
            prop_assert!(got.is_ok());
        }
    }

    #[test]
    fn what_is_written_reads_back(fields in proptest::collection::vec(field(), 0..30)) {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, 4096);
        for f in &fields {
            write(&mut w, f).unwrap();
        }
        let mut r = Reader::new(&out);
        for f in &fields {
            prop_assert_eq!(&read_back(&mut r, f).unwrap(), f);
        }
        prop_assert!(r.is_empty());
    }

    #[test]
    fn back_patched_lengths_equal_body_lengths(tree in node()) {
        let mut out = vec![0xEE];
        let written = append(&mut out, 1 << 16, |w| tree.write(w).map(|_| ()));
        if !tree.fits() {
            prop_assert!(matches!(written, Err(WireError::TooLong { max: 255, .. })), "{written:?}");
            prop_assert_eq!(&out[..], &[0xEE][..]);
            return Ok(());
        }
        prop_assert_eq!(written, Ok(tree.size()));
        prop_assert_eq!(out.len(), 1 + tree.size());
        let mut r = Reader::new(&out);
        r.expect_u8(0xEE, "the byte before the writer").unwrap();
        tree.check(&mut r);
        prop_assert!(r.is_empty());
    }

    #[test]
    fn the_limit_is_never_passed(
        limit in 0usize..64,
        fields in proptest::collection::vec(field(), 0..30),
    ) {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, limit);
        for f in &fields {
            let before = w.position();
            if write(&mut w, f).is_err() && !matches!(f, Field::Bytes(_)) {
                // A failed put writes nothing (a length-prefixed body may leave its
                // placeholder, still under the limit).
                prop_assert_eq!(w.position(), before);
            }
        }
        prop_assert!(out.len() <= limit);
        let mut out = vec![1, 2];
        let r = append(&mut out, limit, |w| fields.iter().try_for_each(|f| write(w, f)));
        match r {
            Ok(n) => prop_assert_eq!(out.len(), 2 + n),
            Err(WireError::TooLong { max, .. }) => {
                prop_assert_eq!(max, limit);
                prop_assert_eq!(&out[..], &[1u8, 2][..], "nothing of a failed frame stays");
            }
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }
}
