//! The CPU's memory areas (I, Q, M, DB, counters, timers) over the databus.
//!
//! Each area is a databus key in one of three layouts, so S7 and Modbus can share the
//! same values: `bytes` (one byte per element, or a bytes value), `bits` (one bit per
//! element, eight per byte, LSB first, like Modbus coils) and `words` (one 16-bit
//! big-endian word per element, like Modbus registers).

use std::collections::BTreeMap;
use std::time::SystemTime;

use conpot_core::Value;
use conpot_core::databus::Databus;

/// How an area's databus value maps to bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One byte per list element.
    Bytes,
    /// One bit per list element.
    Bits,
    /// One 16-bit word per list element.
    Words,
}

impl Layout {
    /// Parses a layout name.
    pub fn parse(s: &str) -> Option<Layout> {
        match s {
            "bytes" => Some(Layout::Bytes),
            "bits" => Some(Layout::Bits),
            "words" => Some(Layout::Words),
            _ => None,
        }
    }
}

/// An S7 memory area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Area {
    /// Process inputs (0x81).
    Inputs,
    /// Process outputs (0x82).
    Outputs,
    /// Flags / bit memory (0x83).
    Flags,
    /// A data block (0x84).
    Db(u16),
    /// Counters (0x1C).
    Counters,
    /// Timers (0x1D).
    Timers,
}

impl Area {
    /// The area of an S7ANY address (`area` byte and DB number).
    pub fn from_wire(area: u8, db: u16) -> Option<Area> {
        Some(match area {
            0x81 => Area::Inputs,
            0x82 => Area::Outputs,
            0x83 => Area::Flags,
            0x84 => Area::Db(db),
            0x1C => Area::Counters,
            0x1D => Area::Timers,
            _ => return None,
        })
    }

    /// Short name for events (`I`, `Q`, `M`, `DB1`, `C`, `T`).
    pub fn name(self) -> String {
        match self {
            Area::Inputs => "I".into(),
            Area::Outputs => "Q".into(),
            Area::Flags => "M".into(),
            Area::Db(n) => format!("DB{n}"),
            Area::Counters => "C".into(),
            Area::Timers => "T".into(),
        }
    }
}

/// One area's backing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backing {
    /// Databus key.
    pub key: String,
    /// Layout of its value.
    pub layout: Layout,
    /// Size in bytes.
    pub size: usize,
}

/// Errors of an item access, as S7 return codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemError {
    /// 0x0A: the object (area, DB) does not exist.
    NoObject = 0x0A,
    /// 0x05: the address is out of range.
    Address = 0x05,
    /// 0x06: the data type is not supported.
    Type = 0x06,
    /// 0x07: the data length does not match the type.
    Inconsistent = 0x07,
    /// 0x03: access is not allowed (protection).
    Access = 0x03,
}

impl ItemError {
    /// The error of return code `code`, if it is one of these.
    pub fn from_code(code: u8) -> Option<ItemError> {
        Some(match code {
            0x0A => ItemError::NoObject,
            0x05 => ItemError::Address,
            0x06 => ItemError::Type,
            0x07 => ItemError::Inconsistent,
            0x03 => ItemError::Access,
            _ => return None,
        })
    }
}

/// The CPU's memory map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    /// Areas and their backing.
    pub areas: BTreeMap<Area, Backing>,
}

fn byte_at(v: &Value, layout: Layout, i: usize) -> u8 {
    let list = match v {
        Value::Bytes(b) => return b.get(i).copied().unwrap_or(0),
        Value::List(l) => l,
        _ => return 0,
    };
    let num = |j: usize| list.get(j).and_then(Value::as_i128).unwrap_or(0);
    match layout {
        Layout::Bytes => num(i) as u8,
        Layout::Bits => (0..8).fold(0u8, |acc, b| acc | (u8::from(num(i * 8 + b) != 0) << b)),
        Layout::Words => {
            let w = num(i / 2) as u16;
            if i.is_multiple_of(2) { (w >> 8) as u8 } else { w as u8 }
        }
    }
}

fn set_byte(v: &mut Value, layout: Layout, i: usize, byte: u8) {
    if let Value::Bytes(b) = v {
        if let Some(x) = b.get_mut(i) {
            *x = byte;
        }
        return;
    }
    if !matches!(v, Value::List(_)) {
        *v = Value::List(Vec::new());
    }
    let Value::List(list) = v else { return };
    let need = match layout {
        Layout::Bytes => i + 1,
        Layout::Bits => i * 8 + 8,
        Layout::Words => i / 2 + 1,
    };
    if list.len() < need {
        list.resize(need, Value::Int(0));
    }
    match layout {
        Layout::Bytes => {
            if let Some(x) = list.get_mut(i) {
                *x = Value::Int(i128::from(byte));
            }
        }
        Layout::Bits => {
            for b in 0..8 {
                if let Some(x) = list.get_mut(i * 8 + b) {
                    *x = Value::Int(i128::from((byte >> b) & 1));
                }
            }
        }
        Layout::Words => {
            if let Some(x) = list.get_mut(i / 2) {
                let w = x.as_i128().unwrap_or(0) as u16;
                let w = if i.is_multiple_of(2) {
                    (w & 0x00FF) | (u16::from(byte) << 8)
                } else {
                    (w & 0xFF00) | u16::from(byte)
                };
                *x = Value::Int(i128::from(w));
            }
        }
    }
}

impl Memory {
    fn backing(&self, area: Area, start: usize, len: usize) -> Result<&Backing, ItemError> {
        let b = self.areas.get(&area).ok_or(ItemError::NoObject)?;
        if start.checked_add(len).is_none_or(|end| end > b.size) {
            return Err(ItemError::Address);
        }
        Ok(b)
    }

    /// Reads `len` bytes of `area` from byte `start`.
    pub fn read(
        &self,
        bus: &Databus,
        area: Area,
        start: usize,
        len: usize,
        now: SystemTime,
    ) -> Result<Vec<u8>, ItemError> {
        let b = self.backing(area, start, len)?;
        bus.with(&b.key, now, |v| {
            (start..start + len).map(|i| byte_at(v, b.layout, i)).collect()
        })
        .ok_or(ItemError::NoObject)
    }

    /// Writes `bytes` into `area` from byte `start`.
    pub fn write(
        &self,
        bus: &Databus,
        area: Area,
        start: usize,
        bytes: &[u8],
        now: SystemTime,
    ) -> Result<(), ItemError> {
        let b = self.backing(area, start, bytes.len())?;
        bus.update(&b.key, now, |v| {
            for (i, &byte) in bytes.iter().enumerate() {
                set_byte(v, b.layout, start + i, byte);
            }
        })
        .map_err(|_| ItemError::NoObject)
    }

    /// Sets or clears bit `bit` of byte `start` of `area`.
    pub fn write_bit(
        &self,
        bus: &Databus,
        area: Area,
        start: usize,
        bit: u8,
        on: bool,
        now: SystemTime,
    ) -> Result<(), ItemError> {
        let b = self.backing(area, start, 1)?;
        bus.update(&b.key, now, |v| {
            let cur = byte_at(v, b.layout, start);
            let mask = 1u8 << (bit & 7);
            set_byte(v, b.layout, start, if on { cur | mask } else { cur & !mask });
        })
        .map_err(|_| ItemError::NoObject)
    }

    /// Size of every DB, by number.
    pub fn dbs(&self) -> impl Iterator<Item = (u16, usize)> + '_ {
        self.areas.iter().filter_map(|(a, b)| match a {
            Area::Db(n) => Some((*n, b.size)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip_and_share_values() {
        let bus = Databus::new();
        let now = SystemTime::UNIX_EPOCH;
        bus.set("coils", Value::List(vec![Value::Int(1), Value::Int(0), Value::Int(1)]));
        bus.set("regs", Value::List(vec![Value::Int(0x1234), Value::Int(0xABCD)]));
        bus.set("m", Value::Bytes(vec![0; 4]));
        let mut mem = Memory::default();
        mem.areas.insert(
            Area::Outputs,
            Backing {
                key: "coils".into(),
                layout: Layout::Bits,
                size: 2,
            },
        );
        mem.areas.insert(
            Area::Db(1),
            Backing {
                key: "regs".into(),
                layout: Layout::Words,
                size: 4,
            },
        );
        mem.areas.insert(
            Area::Flags,
            Backing {
                key: "m".into(),
                layout: Layout::Bytes,
                size: 4,
            },
        );
        assert_eq!(mem.read(&bus, Area::Outputs, 0, 2, now), Ok(vec![0b101, 0]));
        assert_eq!(mem.read(&bus, Area::Db(1), 1, 3, now), Ok(vec![0x34, 0xAB, 0xCD]));
        mem.write(&bus, Area::Db(1), 1, &[0xFF, 0x00], now).unwrap();
        assert_eq!(
            bus.get("regs", now),
            Some(Value::List(vec![Value::Int(0x12FF), Value::Int(0x00CD)]))
        );
        mem.write_bit(&bus, Area::Outputs, 1, 2, true, now).unwrap();
        assert_eq!(mem.read(&bus, Area::Outputs, 1, 1, now), Ok(vec![0b100]));
        let Value::List(c) = bus.get("coils", now).unwrap() else {
            panic!()
        };
        assert_eq!(c[10], Value::Int(1));
        mem.write(&bus, Area::Flags, 3, &[9], now).unwrap();
        assert_eq!(bus.get("m", now), Some(Value::Bytes(vec![0, 0, 0, 9])));
        assert_eq!(mem.read(&bus, Area::Flags, 3, 2, now), Err(ItemError::Address));
        assert_eq!(mem.read(&bus, Area::Db(2), 0, 1, now), Err(ItemError::NoObject));
        assert_eq!(mem.read(&bus, Area::Flags, usize::MAX, 2, now), Err(ItemError::Address));
    }
}
