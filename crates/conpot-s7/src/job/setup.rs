//! Setup Communication: the PDU size and the number of parallel jobs (AmQ), negotiated
//! down to what the CPU family allows.

use conpot_core::wire::{Reader, WireResult};
use serde_json::json;

use super::function;
use crate::context::{Ctx, ERR_CONTEXT};

/// A Setup Communication parameter: function, reserved, AmQ calling, AmQ called, PDU size.
pub(crate) struct Setup {
    pub amq_calling: u16,
    pub amq_called: u16,
    pub pdu_size: u16,
}

pub(crate) fn parse(param: &[u8]) -> WireResult<Setup> {
    let mut r = Reader::new(param);
    r.skip(2)?;
    Ok(Setup {
        amq_calling: r.u16_be()?,
        amq_called: r.u16_be()?,
        pdu_size: r.u16_be()?,
    })
}

/// Answers Setup Communication; the connection is ready for other jobs after it.
pub(super) fn handle(cx: &mut Ctx<'_>, param: &[u8]) {
    let req = match parse(param) {
        Ok(req) => req,
        Err(e) => {
            cx.reply_error(ERR_CONTEXT);
            return cx.malformed(format!("setup communication: {e}"));
        }
    };
    let fam = cx.dev.config.identity.family;
    let pdu_size = req.pdu_size.clamp(64, fam.max_pdu());
    let amq = |v: u16| v.clamp(1, fam.max_amq());
    cx.conn.pdu_size = pdu_size;
    cx.reply(
        0,
        |w| {
            w.put_u8(function::SETUP)?;
            w.put_u8(0x00)?;
            w.put_u16_be(amq(req.amq_calling))?;
            w.put_u16_be(amq(req.amq_called))?;
            w.put_u16_be(pdu_size)
        },
        crate::wire::empty,
    );
    cx.conn.ready = true;
    let mut d = cx.event("s7.setup");
    d.body.request = Some(json!({
        "pdu_size": req.pdu_size,
        "max_amq_calling": req.amq_calling,
        "max_amq_called": req.amq_called,
    }));
    d.body.response = Some(json!({"pdu_size": pdu_size, "max_amq": amq(req.amq_calling)}));
    cx.log(d);
}
