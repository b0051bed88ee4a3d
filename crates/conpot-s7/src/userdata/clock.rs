//! Time functions (group 7): the CPU's clock, read and set in BCD as a CPU sends it; a
//! set clock is kept as an offset every connection sees.

use conpot_core::wire::WireResult;

use super::Answer;
use crate::context::{Ctx, ERR_PROTECTED};
use crate::device::{bcd_time, parse_bcd_time};

/// Subfunction: read the clock.
const READ: u8 = 1;
/// Subfunction: set the clock.
const SET: u8 = 2;
/// Subfunction: read the clock (following).
const READ_FOLLOWING: u8 = 3;
/// Subfunction: set the clock (following).
const SET_FOLLOWING: u8 = 4;
/// Error: the time given is not a valid BCD time.
const ERR_BAD_TIME: u16 = 0xD003;

/// Handles group 7 subfunction `sub`; `None` if it is not served.
pub(super) fn handle(cx: &mut Ctx<'_>, sub: u8, payload: &[u8]) -> WireResult<Option<Answer>> {
    Ok(Some(match sub {
        READ | READ_FOLLOWING => Answer::logged("s7.clock", Ok(bcd_time(cx.dev.clock(cx.now)).to_vec())),
        SET | SET_FOLLOWING => {
            let r = if cx.protected_write() {
                Err(ERR_PROTECTED)
            } else {
                match parse_bcd_time(payload) {
                    Some(t) => {
                        cx.dev.set_clock(t, cx.now);
                        Ok(Vec::new())
                    }
                    None => Err(ERR_BAD_TIME),
                }
            };
            Answer::logged("s7.clock", r)
        }
        _ => return Ok(None),
    }))
}
