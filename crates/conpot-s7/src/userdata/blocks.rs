//! Block functions (group 3): how many blocks of each type, the numbers of one type, and
//! one block's info record.

use conpot_core::wire::{Reader, WireResult};

use super::Answer;
use crate::blocks::{self, Block};
use crate::context::{Ctx, ERR_NO_BLOCK};
use crate::memory::Area;

/// Subfunction: list the blocks of each type.
const LIST: u8 = 1;
/// Subfunction: list the blocks of one type.
const LIST_OF_TYPE: u8 = 2;
/// Subfunction: the info record of one block.
const INFO: u8 = 3;
/// The byte before a block type in requests and lists (ASCII '0').
const TYPE_PREFIX: u8 = 0x30;
/// How a block's entry in a list marks it (flags).
const LIST_FLAGS: u8 = 0x22;

/// Handles group 3 subfunction `sub`; `None` if it is not served.
pub(super) fn handle(cx: &mut Ctx<'_>, sub: u8, payload: &[u8]) -> WireResult<Option<Answer>> {
    let mut r = Reader::new(payload);
    Ok(Some(match sub {
        LIST => Answer::logged("s7.block_list", Ok(block_counts(cx))),
        LIST_OF_TYPE => {
            // '0', then the block type.
            r.skip(1)?;
            let kind = r.u8()?;
            Answer::logged("s7.block_list", Ok(blocks_of(cx, kind)))
        }
        INFO => {
            // '0', the block type, five ASCII digits, the filesystem ('A', 'P'...).
            r.skip(1)?;
            let kind = r.u8()?;
            let digits = r.take(5)?;
            r.skip(1)?;
            let number = std::str::from_utf8(digits).ok().and_then(|n| n.parse::<u16>().ok());
            let found = number.and_then(|n| info(cx, kind, n));
            Answer::logged("s7.block_info", found.ok_or(ERR_NO_BLOCK))
        }
        _ => return Ok(None),
    }))
}

/// The info record of block `kind` `number`; a DB's size is its memory's.
fn info(cx: &Ctx<'_>, kind: u8, number: u16) -> Option<Vec<u8>> {
    let blocks = cx.dev.blocks.read().ok()?;
    let b = blocks.iter().find(|b| b.kind == kind && b.number == number)?;
    if b.kind == blocks::KIND_DB
        && let Some(m) = cx.dev.config.memory.areas.get(&Area::Db(b.number))
    {
        let mut b = b.clone();
        b.code = vec![0; m.size];
        return Some(b.info());
    }
    Some(b.info())
}

fn block_counts(cx: &Ctx<'_>) -> Vec<u8> {
    let blocks = cx.dev.blocks.read().map(|b| b.clone()).unwrap_or_default();
    let mut v = Vec::with_capacity(4 * blocks::TYPES.len());
    for (code, _) in blocks::TYPES {
        let n = blocks.iter().filter(|b| b.kind == *code).count() as u16;
        v.push(TYPE_PREFIX);
        v.push(*code);
        v.extend(n.to_be_bytes());
    }
    v
}

fn blocks_of(cx: &Ctx<'_>, kind: u8) -> Vec<u8> {
    let blocks = cx.dev.blocks.read().map(|b| b.clone()).unwrap_or_default();
    let mut nums: Vec<&Block> = blocks.iter().filter(|b| b.kind == kind).collect();
    nums.sort_by_key(|b| b.number);
    let mut v = Vec::with_capacity(nums.len() * 4);
    for b in nums {
        v.extend(b.number.to_be_bytes());
        v.push(LIST_FLAGS);
        v.push(b.lang);
    }
    v
}
