//! SZL reads (group 4): the system status lists the CPU builds from the persona.

use conpot_core::wire::{Reader, WireResult};
use serde_json::json;

use super::Answer;
use crate::context::Ctx;

/// Subfunction: read an SZL.
const READ: u8 = 1;

/// Handles group 4 subfunction `sub`; `None` if it is not served.
pub(super) fn handle(cx: &mut Ctx<'_>, sub: u8, payload: &[u8]) -> WireResult<Option<Answer>> {
    if sub != READ {
        return Ok(None);
    }
    // The SZL id and index asked for.
    let mut r = Reader::new(payload);
    let id = r.u16_be()?;
    let index = r.u16_be()?;
    let result = crate::szl::read(&cx.dev.config.identity, &cx.dev.state(cx.now), id, index).map_err(|e| e.code());
    let mut d = cx.event("s7.szl_read");
    d.body.request = Some(json!({"szl_id": format!("{id:#06x}"), "index": format!("{index:#06x}")}));
    d.body.response = Some(match &result {
        Ok(v) => json!({"length": v.len()}),
        Err(code) => json!({"error": format!("{code:#06x}")}),
    });
    cx.log(d);
    Ok(Some(Answer::silent(result)))
}
