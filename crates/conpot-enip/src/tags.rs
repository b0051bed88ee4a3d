//! Tags: named values of atomic CIP types kept on the databus, so a tag written over CIP
//! is the value another protocol serves. Logix Read/Write Tag (and their fragmented
//! forms) reach them by symbol; Conpot's templates also gave each a class/instance/
//! attribute address, which Get/Set_Attribute_Single reach.

use std::time::SystemTime;

use conpot_core::Value;
use conpot_core::databus::Databus;
use conpot_core::wire::{Reader, WireResult, Writer};

/// Largest number of elements a tag holds.
pub const MAX_ELEMENTS: u16 = 1024;

/// Largest SSTRING.
pub const MAX_STRING: usize = 255;

/// The atomic types a tag may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagType {
    /// BOOL (one byte, 0xFF when set, as Logix sends it).
    Bool,
    /// SINT (8-bit signed).
    Sint,
    /// INT (16-bit signed).
    Int,
    /// DINT (32-bit signed).
    Dint,
    /// REAL (IEEE 754 single).
    Real,
    /// SSTRING (one length byte, then the characters).
    Sstring,
}

impl TagType {
    /// Parses a type name as templates write it.
    pub fn from_name(name: &str) -> Option<TagType> {
        Some(match name.to_ascii_uppercase().as_str() {
            "BOOL" => TagType::Bool,
            "SINT" => TagType::Sint,
            "INT" => TagType::Int,
            "DINT" => TagType::Dint,
            "REAL" => TagType::Real,
            "SSTRING" | "STRING" => TagType::Sstring,
            _ => return None,
        })
    }

    /// The CIP data type code.
    pub fn code(self) -> u16 {
        match self {
            TagType::Bool => 0xC1,
            TagType::Sint => 0xC2,
            TagType::Int => 0xC3,
            TagType::Dint => 0xC4,
            TagType::Real => 0xCA,
            TagType::Sstring => 0xDA,
        }
    }

    /// The type name for events.
    pub fn name(self) -> &'static str {
        match self {
            TagType::Bool => "BOOL",
            TagType::Sint => "SINT",
            TagType::Int => "INT",
            TagType::Dint => "DINT",
            TagType::Real => "REAL",
            TagType::Sstring => "SSTRING",
        }
    }

    /// Encodes one element (a value of the wrong kind is sent as zero, as an
    /// uninitialised tag reads).
    pub fn encode(self, v: &Value, w: &mut Writer<'_>) -> WireResult<()> {
        let int = || v.as_i128().or_else(|| float(v).map(|f| f as i128)).unwrap_or(0);
        match self {
            TagType::Bool => w.put_u8(if v.as_bit().unwrap_or(false) { 0xFF } else { 0 }),
            TagType::Sint => w.put_u8(int() as i8 as u8),
            TagType::Int => w.put_i16_le(int() as i16),
            TagType::Dint => w.put_i32_le(int() as i32),
            TagType::Real => w.put_bytes(&(float(v).unwrap_or(0.0) as f32).to_le_bytes()),
            TagType::Sstring => {
                let s = match v {
                    Value::Str(s) => s.as_bytes(),
                    Value::Bytes(b) => b,
                    _ => &[],
                };
                let s = s.get(..s.len().min(MAX_STRING)).unwrap_or_default();
                w.put_u8(s.len() as u8)?;
                w.put_bytes(s)
            }
        }
    }

    /// Decodes one element.
    pub fn decode(self, r: &mut Reader<'_>) -> WireResult<Value> {
        Ok(match self {
            TagType::Bool => Value::Bool(r.u8()? != 0),
            TagType::Sint => Value::Int(i128::from(r.i8()?)),
            TagType::Int => Value::Int(i128::from(r.u16_le()? as i16)),
            TagType::Dint => Value::Int(i128::from(r.u32_le()? as i32)),
            TagType::Real => Value::Float(f64::from(f32::from_le_bytes(r.array::<4>()?))),
            TagType::Sstring => {
                let n = usize::from(r.u8()?);
                Value::Str(String::from_utf8_lossy(r.take(n)?).into_owned())
            }
        })
    }
}

fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        other => other.as_i128().map(|i| i as f64),
    }
}

/// One tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// Its symbol.
    pub name: String,
    /// Its type.
    pub ty: TagType,
    /// Elements (1 for a scalar; a string tag holds one string).
    pub elements: u16,
    /// The databus key holding its value (a list for an array).
    pub key: String,
    /// Conpot's class/instance/attribute address, if any.
    pub address: Option<(u32, u32, u32)>,
    /// The template instance of its structure type (STRING or a user-defined type), for
    /// a structured tag; then `ty` is not used and the tag is one structure.
    pub structure: Option<u16>,
}

impl Tag {
    /// The tag's elements now (missing ones read as zero).
    pub fn values(&self, bus: &Databus, now: SystemTime) -> Vec<Value> {
        let n = usize::from(self.elements.max(1));
        let v = bus.get(&self.key, now).unwrap_or(Value::Int(0));
        let mut list = match v {
            Value::List(l) => l,
            other => vec![other],
        };
        list.resize(n, Value::Int(0));
        list.truncate(n);
        list
    }

    /// Encodes elements `from..from+count` (without the type code).
    pub fn encode_range(&self, bus: &Databus, now: SystemTime, from: usize, count: usize) -> Option<Vec<u8>> {
        let values = self.values(bus, now);
        let slice = values.get(from..from.checked_add(count)?)?;
        let mut out = Vec::new();
        conpot_core::wire::append(&mut out, 64 * 1024, |w| {
            slice.iter().try_for_each(|v| self.ty.encode(v, w))
        })
        .ok()?;
        Some(out)
    }

    /// Decodes `count` elements from `bytes` and stores them from element `from`; `None`
    /// when the bytes do not hold them or they reach past the tag.
    pub fn store(&self, bus: &Databus, now: SystemTime, from: usize, count: usize, bytes: &[u8]) -> Option<Vec<Value>> {
        let mut values = self.values(bus, now);
        if from.checked_add(count)? > values.len() {
            return None;
        }
        let mut r = Reader::new(bytes);
        let mut written = Vec::with_capacity(count);
        for slot in values.iter_mut().skip(from).take(count) {
            let v = self.ty.decode(&mut r).ok()?;
            *slot = v.clone();
            written.push(v);
        }
        let stored = if self.elements <= 1 {
            values.into_iter().next().unwrap_or(Value::Int(0))
        } else {
            Value::List(values)
        };
        bus.set(&self.key, stored);
        Some(written)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips() {
        for (ty, v) in [
            (TagType::Bool, Value::Bool(true)),
            (TagType::Sint, Value::Int(-5)),
            (TagType::Int, Value::Int(-300)),
            (TagType::Dint, Value::Int(70_000)),
            (TagType::Real, Value::Float(0.5)),
            (TagType::Sstring, Value::Str("pump".into())),
        ] {
            let mut out = Vec::new();
            conpot_core::wire::append(&mut out, 300, |w| ty.encode(&v, w)).unwrap();
            assert_eq!(ty.decode(&mut Reader::new(&out)).unwrap(), v, "{ty:?}");
        }
    }

    #[test]
    fn arrays_are_stored_element_by_element() {
        let bus = Databus::new();
        bus.set("arr", Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)]));
        let tag = Tag {
            name: "ARR".into(),
            ty: TagType::Int,
            elements: 3,
            key: "arr".into(),
            address: None,
            structure: None,
        };
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(tag.encode_range(&bus, now, 1, 2).unwrap(), vec![2, 0, 3, 0]);
        assert!(tag.encode_range(&bus, now, 2, 2).is_none());
        tag.store(&bus, now, 2, 1, &[9, 0]).unwrap();
        assert_eq!(
            bus.get("arr", now),
            Some(Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(9)]))
        );
        assert!(tag.store(&bus, now, 2, 2, &[9, 0, 9, 0]).is_none());
    }
}
