//! BACnet's tagged encoding (ASHRAE 135 clause 20.2): application and context tags,
//! opening and closing tags, and the primitive values they carry.

use conpot_core::wire::{Reader, WireError, WireResult};

/// Longest value accepted in a request (names, octet strings).
pub const MAX_VALUE: usize = 1024;

/// Application tag numbers.
pub mod app {
    /// Null.
    pub const NULL: u8 = 0;
    /// Boolean.
    pub const BOOLEAN: u8 = 1;
    /// Unsigned integer.
    pub const UNSIGNED: u8 = 2;
    /// Signed integer.
    pub const SIGNED: u8 = 3;
    /// IEEE-754 single.
    pub const REAL: u8 = 4;
    /// IEEE-754 double.
    pub const DOUBLE: u8 = 5;
    /// Octet string.
    pub const OCTETS: u8 = 6;
    /// Character string.
    pub const TEXT: u8 = 7;
    /// Bit string.
    pub const BITS: u8 = 8;
    /// Enumerated.
    pub const ENUMERATED: u8 = 9;
    /// Date.
    pub const DATE: u8 = 10;
    /// Time.
    pub const TIME: u8 = 11;
    /// Object identifier.
    pub const OBJECT_ID: u8 = 12;
}

/// A primitive or constructed value as the device holds and encodes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Null (relinquishes a priority slot).
    Null,
    /// Boolean.
    Bool(bool),
    /// Unsigned.
    Unsigned(u64),
    /// Signed.
    Signed(i64),
    /// Real.
    Real(f32),
    /// Double.
    Double(f64),
    /// Octet string.
    Octets(Vec<u8>),
    /// Character string (UTF-8).
    Text(String),
    /// Bit string.
    Bits(Vec<bool>),
    /// Enumerated.
    Enum(u32),
    /// Date: year-1900, month, day, weekday.
    Date([u8; 4]),
    /// Time: hour, minute, second, hundredths.
    Time([u8; 4]),
    /// Object identifier: type and instance.
    ObjectId(u16, u32),
    /// A BACnetARRAY or list: the elements, one after the other.
    List(Vec<Value>),
}

/// A decoded tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// Tag number.
    pub number: u8,
    /// Context-specific (else application).
    pub context: bool,
    /// Opening tag.
    pub opening: bool,
    /// Closing tag.
    pub closing: bool,
    /// Length of the content (for application booleans: the value).
    pub len: usize,
}

fn invalid(r: &Reader<'_>, what: &'static str) -> WireError {
    WireError::Invalid { at: r.offset(), what }
}

/// Reads a tag header.
pub fn read_tag(r: &mut Reader<'_>) -> WireResult<Tag> {
    let b = r.u8()?;
    let mut number = b >> 4;
    if number == 0x0F {
        number = r.u8()?;
    }
    let context = b & 0x08 != 0;
    let lvt = b & 0x07;
    if context && lvt == 6 {
        return Ok(Tag {
            number,
            context,
            opening: true,
            closing: false,
            len: 0,
        });
    }
    if context && lvt == 7 {
        return Ok(Tag {
            number,
            context,
            opening: false,
            closing: true,
            len: 0,
        });
    }
    let len = if lvt == 5 {
        match r.u8()? {
            254 => usize::from(r.u16_be()?),
            255 => usize::try_from(r.u32_be()?).unwrap_or(usize::MAX),
            n => usize::from(n),
        }
    } else {
        usize::from(lvt)
    };
    Ok(Tag {
        number,
        context,
        opening: false,
        closing: false,
        len: r.limit(len, MAX_VALUE)?,
    })
}

/// Peeks at the next tag without consuming it.
pub fn peek_tag(r: &Reader<'_>) -> Option<Tag> {
    let mut c = r.clone();
    read_tag(&mut c).ok()
}

/// Reads an unsigned of `len` bytes.
pub fn read_unsigned(r: &mut Reader<'_>, len: usize) -> WireResult<u64> {
    if len == 0 || len > 8 {
        return Err(invalid(r, "unsigned length"));
    }
    Ok(r.take(len)?.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)))
}

/// Reads a context tag `number` holding an unsigned (or enumerated).
pub fn context_unsigned(r: &mut Reader<'_>, number: u8) -> WireResult<u64> {
    let t = read_tag(r)?;
    if !t.context || t.number != number || t.opening || t.closing {
        return Err(invalid(r, "context tag"));
    }
    read_unsigned(r, t.len)
}

/// Reads a context tag `number` holding an object identifier.
pub fn context_object_id(r: &mut Reader<'_>, number: u8) -> WireResult<(u16, u32)> {
    let t = read_tag(r)?;
    if !t.context || t.number != number || t.len != 4 {
        return Err(invalid(r, "object identifier"));
    }
    Ok(split_object_id(r.u32_be()?))
}

/// Reads an opening (or closing) context tag `number`.
pub fn expect_bracket(r: &mut Reader<'_>, number: u8, opening: bool) -> WireResult<()> {
    let t = read_tag(r)?;
    if t.context && t.number == number && (if opening { t.opening } else { t.closing }) {
        Ok(())
    } else {
        Err(invalid(r, "opening or closing tag"))
    }
}

/// Whether the next tag is context tag `number` (not opening or closing).
pub fn next_is(r: &Reader<'_>, number: u8) -> bool {
    peek_tag(r).is_some_and(|t| t.context && t.number == number && !t.opening && !t.closing)
}

/// Type and instance of an encoded object identifier.
pub fn split_object_id(v: u32) -> (u16, u32) {
    ((v >> 22) as u16, v & 0x3F_FFFF)
}

/// Encoded object identifier.
pub fn object_id(ty: u16, instance: u32) -> u32 {
    (u32::from(ty) << 22) | (instance & 0x3F_FFFF)
}

/// Reads one application-tagged value.
pub fn read_app_value(r: &mut Reader<'_>) -> WireResult<Value> {
    let t = read_tag(r)?;
    if t.context || t.opening || t.closing {
        return Err(invalid(r, "application tag"));
    }
    Ok(match t.number {
        app::NULL => Value::Null,
        app::BOOLEAN => Value::Bool(t.len != 0),
        app::UNSIGNED => Value::Unsigned(read_unsigned(r, t.len)?),
        app::SIGNED => {
            let raw = read_unsigned(r, t.len)?;
            let shift = 64 - 8 * t.len as u32;
            Value::Signed(((raw << shift) as i64) >> shift)
        }
        app::REAL if t.len == 4 => Value::Real(f32::from_be_bytes(r.array()?)),
        app::DOUBLE if t.len == 8 => Value::Double(f64::from_be_bytes(r.array()?)),
        app::OCTETS => Value::Octets(r.take(t.len)?.to_vec()),
        app::TEXT => {
            let b = r.take(t.len)?;
            let (charset, text) = b.split_first().ok_or_else(|| invalid(r, "character set"))?;
            if *charset != 0 {
                return Err(invalid(r, "UTF-8 character set"));
            }
            Value::Text(String::from_utf8_lossy(text).into_owned())
        }
        app::BITS => {
            let b = r.take(t.len)?;
            let (unused, bytes) = b.split_first().ok_or_else(|| invalid(r, "bit string"))?;
            let n = (bytes.len() * 8).saturating_sub(usize::from(*unused).min(7));
            Value::Bits(
                (0..n)
                    .map(|i| bytes.get(i / 8).is_some_and(|x| x & (0x80 >> (i % 8)) != 0))
                    .collect(),
            )
        }
        app::ENUMERATED => Value::Enum(u32::try_from(read_unsigned(r, t.len)?).unwrap_or(u32::MAX)),
        app::DATE if t.len == 4 => Value::Date(r.array()?),
        app::TIME if t.len == 4 => Value::Time(r.array()?),
        app::OBJECT_ID if t.len == 4 => {
            let (ty, i) = split_object_id(r.u32_be()?);
            Value::ObjectId(ty, i)
        }
        _ => return Err(invalid(r, "application value")),
    })
}

/// Writes a tag header.
pub fn put_tag(out: &mut Vec<u8>, number: u8, context: bool, len: usize) {
    let class = if context { 0x08 } else { 0 };
    let (first, ext) = if number <= 14 {
        (number << 4, None)
    } else {
        (0xF0, Some(number))
    };
    let lvt = if len <= 4 { len as u8 } else { 5 };
    out.push(first | class | lvt);
    if let Some(n) = ext {
        out.push(n);
    }
    if len > 4 {
        if len <= 253 {
            out.push(len as u8);
        } else if len <= 0xFFFF {
            out.push(254);
            out.extend((len as u16).to_be_bytes());
        } else {
            out.push(255);
            out.extend((len as u32).to_be_bytes());
        }
    }
}

/// Writes an opening or closing context tag.
pub fn put_bracket(out: &mut Vec<u8>, number: u8, opening: bool) {
    let lvt = if opening { 6 } else { 7 };
    if number <= 14 {
        out.push((number << 4) | 0x08 | lvt);
    } else {
        out.extend([0xF8 | lvt, number]);
    }
}

fn unsigned_bytes(v: u64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().take(7).take_while(|x| **x == 0).count();
    b.get(skip..).unwrap_or_default().to_vec()
}

/// Writes a context-tagged unsigned.
pub fn put_context_unsigned(out: &mut Vec<u8>, number: u8, v: u64) {
    let b = unsigned_bytes(v);
    put_tag(out, number, true, b.len());
    out.extend(b);
}

/// Writes a context-tagged object identifier.
pub fn put_context_object_id(out: &mut Vec<u8>, number: u8, ty: u16, instance: u32) {
    put_tag(out, number, true, 4);
    out.extend(object_id(ty, instance).to_be_bytes());
}

/// Writes a value with application tags.
pub fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0x00),
        Value::Bool(b) => out.push(0x10 | u8::from(*b)),
        Value::Unsigned(u) => {
            let b = unsigned_bytes(*u);
            put_tag(out, app::UNSIGNED, false, b.len());
            out.extend(b);
        }
        Value::Signed(s) => {
            let b = s.to_be_bytes();
            let mut skip = 0;
            while skip < 7 {
                let (Some(x), Some(next)) = (b.get(skip), b.get(skip + 1)) else {
                    break;
                };
                let redundant = (*x == 0 && next & 0x80 == 0) || (*x == 0xFF && next & 0x80 != 0);
                if !redundant {
                    break;
                }
                skip += 1;
            }
            let b = b.get(skip..).unwrap_or_default();
            put_tag(out, app::SIGNED, false, b.len());
            out.extend(b);
        }
        Value::Real(f) => {
            put_tag(out, app::REAL, false, 4);
            out.extend(f.to_be_bytes());
        }
        Value::Double(f) => {
            put_tag(out, app::DOUBLE, false, 8);
            out.extend(f.to_be_bytes());
        }
        Value::Octets(b) => {
            put_tag(out, app::OCTETS, false, b.len());
            out.extend(b);
        }
        Value::Text(s) => {
            put_tag(out, app::TEXT, false, s.len() + 1);
            out.push(0);
            out.extend(s.as_bytes());
        }
        Value::Bits(bits) => {
            let n = bits.len().div_ceil(8);
            let mut bytes = vec![0u8; n];
            for (i, on) in bits.iter().enumerate() {
                if *on && let Some(b) = bytes.get_mut(i / 8) {
                    *b |= 0x80 >> (i % 8);
                }
            }
            put_tag(out, app::BITS, false, n + 1);
            out.push(((n * 8 - bits.len()) % 8) as u8);
            out.extend(bytes);
        }
        Value::Enum(e) => {
            let b = unsigned_bytes(u64::from(*e));
            put_tag(out, app::ENUMERATED, false, b.len());
            out.extend(b);
        }
        Value::Date(d) => {
            put_tag(out, app::DATE, false, 4);
            out.extend(d);
        }
        Value::Time(t) => {
            put_tag(out, app::TIME, false, 4);
            out.extend(t);
        }
        Value::ObjectId(ty, i) => {
            put_tag(out, app::OBJECT_ID, false, 4);
            out.extend(object_id(*ty, *i).to_be_bytes());
        }
        Value::List(items) => {
            for i in items {
                put_value(out, i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn round(v: Value) {
        let mut b = Vec::new();
        put_value(&mut b, &v);
        assert_eq!(read_app_value(&mut Reader::new(&b)).unwrap(), v, "{b:02x?}");
    }

    #[test]
    fn values_round_trip_as_clause_20_encodes_them() {
        for v in [
            Value::Null,
            Value::Bool(true),
            Value::Unsigned(0),
            Value::Unsigned(1476),
            Value::Unsigned(u64::from(u32::MAX)),
            Value::Signed(-1),
            Value::Signed(-129),
            Value::Signed(127),
            Value::Real(68.0),
            Value::Double(-2.5),
            Value::Octets(vec![1, 2, 3, 4, 5, 6]),
            Value::Text("VAV-DD Controller".into()),
            Value::Bits(vec![true, false, true, true, false]),
            Value::Enum(3),
            Value::ObjectId(8, 4_194_303),
        ] {
            round(v);
        }
        // Clause 20.2.6: REAL 68.0 is 44 42 88 00 00.
        let mut b = Vec::new();
        put_value(&mut b, &Value::Real(68.0));
        assert_eq!(b, [0x44, 0x42, 0x88, 0, 0]);
        let mut b = Vec::new();
        put_context_object_id(&mut b, 0, 8, 36113);
        assert_eq!(b, [0x0C, 0x02, 0x00, 0x8D, 0x11]);
    }
}
