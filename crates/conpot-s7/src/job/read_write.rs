//! Read Var and Write Var: lists of S7ANY items over the CPU's memory areas.

use std::time::SystemTime;

use conpot_core::hex;
use conpot_core::wire::{Reader, WireError, WireResult, Writer};
use serde_json::{Value as Json, json};

use super::function;
use crate::context::{Ctx, ERR_CONTEXT};
use crate::device::S7Device;
use crate::memory::{Area, ItemError};

/// Most items one read or write job may carry (as an S7-300 accepts).
const MAX_ITEMS: usize = 20;
/// Bytes of one item specification.
const ITEM_LEN: usize = 12;
/// First byte of an item specification ("variable specification").
const SPEC_TYPE: u8 = 0x12;
/// Syntax id of an S7ANY address.
const SYNTAX_S7ANY: u8 = 0x10;
/// Return code of an item read or written.
pub(crate) const ITEM_OK: u8 = 0xFF;

/// Transport sizes of a request item.
mod ts {
    /// BIT.
    pub const BIT: u8 = 0x01;
    /// BYTE.
    pub const BYTE: u8 = 0x02;
    /// CHAR.
    pub const CHAR: u8 = 0x03;
    /// WORD.
    pub const WORD: u8 = 0x04;
    /// INT.
    pub const INT: u8 = 0x05;
    /// DWORD.
    pub const DWORD: u8 = 0x06;
    /// DINT.
    pub const DINT: u8 = 0x07;
    /// REAL.
    pub const REAL: u8 = 0x08;
    /// COUNTER.
    pub const COUNTER: u8 = 0x1C;
    /// TIMER.
    pub const TIMER: u8 = 0x1D;
}

/// Transport sizes of a data item (answers and written values).
pub(crate) mod data_ts {
    /// BIT: length in bits.
    pub const BIT: u8 = 0x03;
    /// BYTE/WORD/DWORD: length in bits.
    pub const BYTE: u8 = 0x04;
    /// INTEGER: length in bits.
    pub const INT: u8 = 0x05;
    /// REAL: length in bytes.
    pub const REAL: u8 = 0x07;
    /// OCTET STRING: length in bytes.
    pub const OCTETS: u8 = 0x09;

    /// Whether the length of a data item of transport size `t` counts bits.
    pub fn in_bits(t: u8) -> bool {
        matches!(t, BYTE | INT)
    }

    /// Bytes a data item of transport size `t` and length `len` carries.
    pub fn byte_len(t: u8, len: usize) -> usize {
        if matches!(t, BIT | REAL | OCTETS) {
            len
        } else {
            len.div_ceil(8)
        }
    }
}

/// One S7ANY item of a read or write job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item {
    ts: u8,
    count: u16,
    db: u16,
    area: u8,
    addr: u32,
}

/// Parses the item list of a read or write job parameter: function, item count, then
/// the items. A count over [`MAX_ITEMS`] is [`WireError::TooLong`].
pub(crate) fn parse_items(param: &[u8]) -> WireResult<Vec<Item>> {
    let mut r = Reader::new(param);
    r.skip(1)?;
    let count = usize::from(r.u8()?);
    let count = r.limit(count, MAX_ITEMS)?;
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let mut s = r.sub(ITEM_LEN)?;
        s.expect_u8(SPEC_TYPE, "variable specification 0x12")?;
        s.skip(1)?;
        s.expect_u8(SYNTAX_S7ANY, "syntax id S7ANY 0x10")?;
        items.push(Item {
            ts: s.u8()?,
            count: s.u16_be()?,
            db: s.u16_be()?,
            area: s.u8()?,
            addr: s.u24_be()?,
        });
    }
    Ok(items)
}

impl Item {
    fn element_size(&self) -> Option<usize> {
        Some(match self.ts {
            ts::BIT | ts::BYTE | ts::CHAR => 1,
            ts::WORD | ts::INT | ts::COUNTER | ts::TIMER => 2,
            ts::DWORD | ts::DINT | ts::REAL => 4,
            _ => return None,
        })
    }

    fn area(&self) -> Option<Area> {
        Area::from_wire(self.area, self.db)
    }

    /// The return transport size for the answer.
    fn return_ts(&self) -> u8 {
        match self.ts {
            ts::BIT => data_ts::BIT,
            ts::CHAR | ts::COUNTER | ts::TIMER => data_ts::OCTETS,
            ts::REAL => data_ts::REAL,
            _ => data_ts::BYTE,
        }
    }

    fn read(&self, dev: &S7Device, now: SystemTime) -> Result<(u8, Vec<u8>), ItemError> {
        let size = self.element_size().ok_or(ItemError::Type)?;
        let area = self.area().ok_or(ItemError::NoObject)?;
        let (start, len) = self.span(size)?;
        let bytes = dev.config.memory.read(&dev.databus, area, start, len, now)?;
        if self.ts == ts::BIT {
            let bit = (self.addr & 7) as u8;
            let v = bytes.first().map_or(0, |b| (b >> bit) & 1);
            return Ok((self.return_ts(), vec![v]));
        }
        Ok((self.return_ts(), bytes))
    }

    fn span(&self, size: usize) -> Result<(usize, usize), ItemError> {
        let count = usize::from(self.count);
        if self.ts == ts::BIT {
            if count != 1 {
                return Err(ItemError::Inconsistent);
            }
            return Ok(((self.addr >> 3) as usize, 1));
        }
        if matches!(self.ts, ts::COUNTER | ts::TIMER) {
            return Ok((self.addr as usize * 2, count * 2));
        }
        Ok((
            (self.addr >> 3) as usize,
            count.checked_mul(size).ok_or(ItemError::Address)?,
        ))
    }

    fn write(&self, dev: &S7Device, value: &[u8], now: SystemTime) -> Result<(), ItemError> {
        let size = self.element_size().ok_or(ItemError::Type)?;
        let area = self.area().ok_or(ItemError::NoObject)?;
        let (start, len) = self.span(size)?;
        let mem = &dev.config.memory;
        if self.ts == ts::BIT {
            let on = value.first().is_some_and(|b| b & 1 == 1);
            return mem.write_bit(&dev.databus, area, start, (self.addr & 7) as u8, on, now);
        }
        if value.len() != len {
            return Err(ItemError::Inconsistent);
        }
        mem.write(&dev.databus, area, start, value, now)
    }

    pub(crate) fn describe(&self, value: Option<&[u8]>, error: Option<ItemError>) -> Json {
        let area = self.area().map_or_else(|| format!("{:#04x}", self.area), Area::name);
        let mut j = json!({
            "area": area,
            "transport_size": self.ts,
            "count": self.count,
            "byte": self.addr >> 3,
            "bit": self.addr & 7,
        });
        if let Some(obj) = j.as_object_mut() {
            if let Some(v) = value {
                obj.insert("value".into(), hex::encode(v).into());
            }
            if let Some(e) = error {
                obj.insert("return_code".into(), (e as u8).into());
            }
        }
        j
    }
}

/// Writes one data item of a read answer: return code, transport size, length, value,
/// and a fill byte after an odd value that is not the last.
fn put_read_item(w: &mut Writer<'_>, result: &Result<(u8, Vec<u8>), ItemError>, last: bool) -> WireResult<()> {
    match result {
        Ok((t, bytes)) => {
            w.put_u8(ITEM_OK)?;
            w.put_u8(*t)?;
            let len = if data_ts::in_bits(*t) {
                bytes.len().saturating_mul(8)
            } else {
                bytes.len()
            };
            let len = u16::try_from(len).map_err(|_| WireError::TooLong {
                at: w.position(),
                len,
                max: usize::from(u16::MAX),
            })?;
            w.put_u16_be(len)?;
            w.put_bytes(bytes)?;
            if bytes.len() % 2 == 1 && !last {
                w.put_u8(0)?;
            }
            Ok(())
        }
        Err(e) => w.put_bytes(&[*e as u8, 0x00, 0x00, 0x00]),
    }
}

/// Answers Read Var. Items the CPU cannot serve get their return code; an answer over the
/// PDU size gets header error 0x8500.
pub(super) fn read_var(cx: &mut Ctx<'_>, param: &[u8]) {
    // python-snap7 probes the CPU state with a Read Var of the function byte alone: a read
    // of nothing, answered as a count of zero is.
    let items = if param.len() == 1 {
        Ok(Vec::new())
    } else {
        parse_items(param)
    };
    let items = match items {
        Ok(items) => items,
        Err(e) => {
            cx.reply_error(ERR_CONTEXT);
            let mut d = cx.event("s7.read_var");
            d.body.error = Some(format!("malformed item list: {e}"));
            return cx.log(d);
        }
    };
    if items.is_empty() {
        // A read of no items: an empty result, as the job asked for nothing.
        cx.reply(0, |w| w.put_bytes(&[function::READ_VAR, 0]), crate::wire::empty);
        let mut d = cx.event("s7.read_var");
        d.body.request = Some(json!({"items": []}));
        return cx.log(d);
    }
    let protected = cx.protected_read();
    let results: Vec<_> = items
        .iter()
        .map(|it| {
            if protected {
                Err(ItemError::Access)
            } else {
                it.read(cx.dev, cx.now)
            }
        })
        .collect();
    let logged: Vec<Json> = items
        .iter()
        .zip(&results)
        .map(|(it, r)| it.describe(r.as_ref().ok().map(|(_, b)| b.as_slice()), r.as_ref().err().copied()))
        .collect();
    let n = items.len();
    cx.reply(
        0,
        |w| w.put_bytes(&[function::READ_VAR, n as u8]),
        |w| {
            results
                .iter()
                .enumerate()
                .try_for_each(|(i, r)| put_read_item(w, r, i + 1 == n))
        },
    );
    let mut d = cx.event("s7.read_var");
    d.body.request = Some(json!({"items": logged}));
    cx.log(d);
}

/// Reads the value of one data item of a Write Var: return code (reserved), transport
/// size, length, value, and the fill byte after an odd value that is not the last.
pub(crate) fn take_value<'a>(r: &mut Reader<'a>, last: bool) -> WireResult<&'a [u8]> {
    r.skip(1)?;
    let t = r.u8()?;
    let len = usize::from(r.u16_be()?);
    let value = r.take(data_ts::byte_len(t, len))?;
    if value.len() % 2 == 1 && !last {
        r.skip(1)?;
    }
    Ok(value)
}

/// Answers Write Var: each item written or refused with its return code.
pub(super) fn write_var(cx: &mut Ctx<'_>, param: &[u8], data: &[u8]) {
    let items = match parse_items(param) {
        Ok(items) if !items.is_empty() => items,
        other => {
            cx.reply_error(ERR_CONTEXT);
            let mut d = cx.event("s7.write_var");
            d.body.error = Some(match other {
                Err(e) => format!("malformed item list: {e}"),
                Ok(_) => "malformed item list: no items".into(),
            });
            return cx.log(d);
        }
    };
    let mut codes = Vec::with_capacity(items.len());
    let mut logged = Vec::with_capacity(items.len());
    let mut values = Reader::new(data);
    let mut lost = false;
    let n = items.len();
    for (i, it) in items.iter().enumerate() {
        // Once a value is cut short the items after it cannot be found: none is written.
        let value = if lost {
            None
        } else {
            take_value(&mut values, i + 1 == n).ok()
        };
        lost |= value.is_none();
        let result = match value {
            None => Err(ItemError::Inconsistent),
            Some(_) if cx.protected_write() => Err(ItemError::Access),
            Some(v) => it.write(cx.dev, v, cx.now),
        };
        codes.push(match result {
            Ok(()) => ITEM_OK,
            Err(e) => e as u8,
        });
        let mut desc = it.describe(None, result.err());
        if let (Some(obj), Some(v)) = (desc.as_object_mut(), value) {
            obj.insert("value".into(), hex::encode(v).into());
        }
        logged.push(desc);
    }
    cx.reply(
        0,
        |w| w.put_bytes(&[function::WRITE_VAR, n as u8]),
        |w| w.put_bytes(&codes),
    );
    let mut d = cx.event("s7.write_var");
    d.body.request = Some(json!({"items": logged}));
    cx.log(d);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn item_lists_cut_anywhere_are_errors() {
        let param = crate::hex("0402120a10020003000184000020120a10010001000083000001");
        let items = parse_items(&param).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            (items[0].ts, items[0].count, items[0].db, items[0].area),
            (2, 3, 1, 0x84)
        );
        assert_eq!(items[0].addr, 0x20);
        assert_eq!(items[1].addr, 1);
        for cut in 0..param.len() {
            assert!(parse_items(&param[..cut]).is_err(), "cut at {cut}");
        }
        let mut many = param.clone();
        many[1] = 21;
        assert!(matches!(parse_items(&many), Err(WireError::TooLong { max: 20, .. })));
        let mut bad = param.clone();
        bad[4] = 0xB2;
        assert!(matches!(parse_items(&bad), Err(WireError::Invalid { at: 4, .. })));
    }

    #[test]
    fn write_values_are_bounded_by_their_lengths() {
        // BYTE value of 3 bytes (24 bits), padded, then a BIT value.
        let data = crate::hex("00040018123456000003000101");
        let mut r = Reader::new(&data);
        assert_eq!(take_value(&mut r, false).unwrap(), &[0x12, 0x34, 0x56]);
        assert_eq!(take_value(&mut r, true).unwrap(), &[0x01]);
        for cut in 0..8 {
            assert!(
                take_value(&mut Reader::new(&data[..cut]), false).is_err(),
                "cut at {cut}"
            );
        }
    }
}
