//! Events of S7 traffic this crate did not answer itself: a proxy relays a client to a real
//! CPU and logs each request with the CPU's answer in the schemas the emulated CPU uses
//! (`s7.setup`, `s7.read_var`, `s7.write_var`, `s7.szl_read`), read with this crate's own
//! parsers so the two never disagree on what a telegram means. PDUs the emulated CPU logs
//! under other names (block transfers, PLC control, other userdata) are logged as
//! `s7.pdu` with their header fields.

use conpot_core::event::EventDraft;
use conpot_core::hex;
use conpot_core::wire::Reader;
use serde_json::{Value as Json, json};

use crate::job::function;
use crate::job::read_write::{self, ITEM_OK, data_ts};
use crate::job::setup;
use crate::memory::ItemError;
use crate::userdata;
use crate::wire::{self, rosctr};

/// Userdata function group of system status lists.
const GROUP_SZL: u8 = 4;
/// SZL subfunction: read.
const SZL_READ: u8 = 1;
/// Userdata method of answers and of a client's follow-ups.
const METHOD_RESPONSE: u8 = 0x12;

fn event(kind: &'static str, raw: &[u8]) -> EventDraft {
    let mut d = EventDraft::new(kind);
    d.body.raw = Some(raw.to_vec());
    d
}

/// The PDU reference of an S7 PDU, which pairs a request with its answer (`None` if the
/// header is cut short).
pub fn reference(pdu: &[u8]) -> Option<u16> {
    wire::pdu_ref(pdu)
}

/// Whether `pdu`, coming from the client, is an answer (ACK or ACK_DATA to a job of the
/// CPU's own, as in a download) rather than a request.
pub fn is_answer(pdu: &[u8]) -> bool {
    matches!(wire::s7(pdu), Ok(p) if matches!(p.rosctr, rosctr::ACK | rosctr::ACK_DATA))
}

/// Whether `pdu`, coming from the CPU, is a job of its own (download requests) rather than
/// an answer.
pub fn is_cpu_job(pdu: &[u8]) -> bool {
    matches!(wire::s7(pdu), Ok(p) if p.rosctr == rosctr::JOB)
}

/// Whether a userdata request asks for the rest of a long answer (its method is the
/// response method, as a client's follow-up is).
pub fn is_follow_up(pdu: &[u8]) -> bool {
    matches!(wire::s7(pdu), Ok(p) if p.rosctr == rosctr::USERDATA
        && userdata::parse_head(p.param).is_ok_and(|h| h.method == METHOD_RESPONSE))
}

/// Whether a userdata answer says more data units follow (the client asks for them).
pub fn continues(pdu: &[u8]) -> bool {
    let Ok(p) = wire::s7(pdu) else { return false };
    // Head (8 bytes), data unit reference, then the last-data-unit flag.
    p.rosctr == rosctr::USERDATA && p.param.get(9).is_some_and(|&more| more != 0)
}

/// The event of one S7 PDU `request` (the whole PDU, as carried in COTP data) sent to a
/// CPU, with the CPU's `response` PDU if one came.
pub fn pdu_event(request: &[u8], response: Option<&[u8]>) -> EventDraft {
    pdu_event_parts(request, response.as_slice())
}

/// [`pdu_event`] for an answer the CPU sent in parts (a long SZL answer continued on the
/// client's follow-ups): the answer is the first part, its length that of all parts.
pub fn pdu_event_parts(request: &[u8], parts: &[&[u8]]) -> EventDraft {
    let response = parts.first().copied();
    let Ok(req) = wire::s7(request) else {
        let mut d = event("s7.malformed", request);
        d.body.error = Some("S7 header cannot be read".into());
        return d;
    };
    let resp = response.and_then(|r| wire::s7(r).ok());
    let fun = req.param.first().copied();
    let built = match (req.rosctr, fun) {
        (rosctr::JOB, Some(function::SETUP)) => setup_event(request, req.param, resp.as_ref()),
        (rosctr::JOB, Some(function::READ_VAR)) => read_event(request, req.param, resp.as_ref()),
        (rosctr::JOB, Some(function::WRITE_VAR)) => write_event(request, req.param, req.data, resp.as_ref()),
        (rosctr::USERDATA, _) => szl_event(request, req.param, req.data, parts),
        _ => None,
    };
    built.unwrap_or_else(|| {
        let mut d = event("s7.pdu", request);
        d.body.request = Some(json!({"rosctr": req.rosctr, "function": fun, "pdu_ref": req.pdu_ref}));
        d.body.response = Some(match &resp {
            Some(r) => json!({"rosctr": r.rosctr, "error": format!("{:#06x}", r.error)}),
            None => json!({"reply": "none"}),
        });
        d
    })
}

fn setup_event(raw: &[u8], param: &[u8], resp: Option<&wire::S7Pdu<'_>>) -> Option<EventDraft> {
    let req = setup::parse(param).ok()?;
    let mut d = event("s7.setup", raw);
    d.body.request = Some(json!({
        "pdu_size": req.pdu_size,
        "max_amq_calling": req.amq_calling,
        "max_amq_called": req.amq_called,
    }));
    d.body.response = resp.map(|r| match setup::parse(r.param) {
        Ok(a) if r.error == 0 => json!({"pdu_size": a.pdu_size, "max_amq": a.amq_calling}),
        _ => json!({"error": format!("{:#06x}", r.error)}),
    });
    Some(d)
}

/// The data items of a read answer: each a value or a return code.
fn read_results(data: &[u8], n: usize) -> Vec<Result<&[u8], u8>> {
    let mut r = Reader::new(data);
    let mut out = Vec::with_capacity(n.min(data.len()));
    for i in 0..n {
        let Ok(code) = r.u8() else { break };
        let (Ok(t), Ok(len)) = (r.u8(), r.u16_be()) else { break };
        if code != ITEM_OK {
            out.push(Err(code));
            continue;
        }
        let Ok(value) = r.take(data_ts::byte_len(t, usize::from(len))) else {
            break;
        };
        out.push(Ok(value));
        if value.len() % 2 == 1 && i + 1 < n {
            let _ = r.skip(1);
        }
    }
    out
}

fn read_event(raw: &[u8], param: &[u8], resp: Option<&wire::S7Pdu<'_>>) -> Option<EventDraft> {
    let mut d = event("s7.read_var", raw);
    if param.len() == 1 {
        d.body.request = Some(json!({"items": []}));
        return Some(d);
    }
    let items = match read_write::parse_items(param) {
        Ok(items) => items,
        Err(e) => {
            d.body.error = Some(format!("malformed item list: {e}"));
            return Some(d);
        }
    };
    let results = resp.map(|r| read_results(r.data, items.len())).unwrap_or_default();
    let logged: Vec<Json> = items
        .iter()
        .enumerate()
        .map(|(i, it)| match results.get(i) {
            Some(Ok(v)) => it.describe(Some(v), None),
            Some(Err(code)) => with_code(it.describe(None, ItemError::from_code(*code)), *code),
            None => it.describe(None, None),
        })
        .collect();
    d.body.request = Some(json!({"items": logged}));
    Some(d)
}

/// An item's description with its return code, also when it is one this crate does not
/// name.
fn with_code(mut j: Json, code: u8) -> Json {
    if let Some(obj) = j.as_object_mut() {
        obj.insert("return_code".into(), code.into());
    }
    j
}

fn write_event(raw: &[u8], param: &[u8], data: &[u8], resp: Option<&wire::S7Pdu<'_>>) -> Option<EventDraft> {
    let mut d = event("s7.write_var", raw);
    let items = match read_write::parse_items(param) {
        Ok(items) if !items.is_empty() => items,
        Ok(_) => {
            d.body.error = Some("malformed item list: no items".into());
            return Some(d);
        }
        Err(e) => {
            d.body.error = Some(format!("malformed item list: {e}"));
            return Some(d);
        }
    };
    let codes = resp.map_or(&[][..], |r| r.data);
    let mut values = Reader::new(data);
    let n = items.len();
    let mut lost = false;
    let logged: Vec<Json> = items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let value = if lost {
                None
            } else {
                read_write::take_value(&mut values, i + 1 == n).ok()
            };
            lost |= value.is_none();
            let code = codes.get(i).copied().filter(|&c| c != ITEM_OK);
            let mut j = it.describe(None, code.and_then(ItemError::from_code));
            if let Some(c) = code {
                j = with_code(j, c);
            }
            if let (Some(obj), Some(v)) = (j.as_object_mut(), value) {
                obj.insert("value".into(), hex::encode(v).into());
            }
            j
        })
        .collect();
    d.body.request = Some(json!({"items": logged}));
    Some(d)
}

fn szl_event(raw: &[u8], param: &[u8], data: &[u8], parts: &[&[u8]]) -> Option<EventDraft> {
    let head = userdata::parse_head(param).ok()?;
    if head.group != GROUP_SZL || head.sub != SZL_READ {
        return None;
    }
    let payload = userdata::parse_payload(data).ok()?;
    let mut r = Reader::new(payload);
    let (id, index) = (r.u16_be().ok()?, r.u16_be().ok()?);
    let mut d = event("s7.szl_read", raw);
    d.body.request = Some(json!({"szl_id": format!("{id:#06x}"), "index": format!("{index:#06x}")}));
    let answers: Vec<wire::S7Pdu<'_>> = parts.iter().filter_map(|p| wire::s7(p).ok()).collect();
    d.body.response = answers.first().map(|a| {
        // The answer's parameter ends with the error code (zero when the list came).
        let error = a
            .param
            .len()
            .checked_sub(2)
            .and_then(|at| a.param.get(at..))
            .map_or(0, |b| b.iter().fold(0u16, |acc, &x| (acc << 8) | u16::from(x)));
        let lengths: Result<Vec<usize>, _> = answers
            .iter()
            .map(|a| userdata::parse_payload(a.data).map(<[u8]>::len))
            .collect();
        match lengths {
            Ok(v) if error == 0 => json!({"length": v.iter().sum::<usize>()}),
            _ => json!({"error": format!("{error:#06x}")}),
        }
    });
    Some(d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn setup_is_logged_with_the_negotiated_size() {
        let req = crate::hex("32010000000000080000f0000001000103c0");
        let resp = crate::hex("320300000000000800000000f0000001000100f0");
        let d = pdu_event(&req, Some(&resp));
        assert_eq!(d.event_type, "s7.setup");
        assert_eq!(
            d.body.request,
            Some(json!({"pdu_size": 960, "max_amq_calling": 1, "max_amq_called": 1}))
        );
        assert_eq!(d.body.response, Some(json!({"pdu_size": 240, "max_amq": 1})));
        assert!(!is_answer(&req) && is_answer(&resp));
        assert!(!is_cpu_job(&resp) && is_cpu_job(&req));
        assert!(!continues(&resp) && !is_follow_up(&req));
        assert_eq!(reference(&req), Some(0));
    }

    const READ: &str = "320100000005001a00000402120a10020002000184000020120a10010001000083000001";
    const READ_ANSWER: &str = "32030000000500020009000004020a000000ff03000101";

    #[test]
    fn read_var_values_come_from_the_answer() {
        // Read 2 bytes of DB1 at byte 4 (answered: no such object) and the bit M0.1.
        let (req, resp) = (crate::hex(READ), crate::hex(READ_ANSWER));
        let d = pdu_event(&req, Some(&resp));
        assert_eq!(d.event_type, "s7.read_var");
        let items = d.body.request.unwrap()["items"].clone();
        assert_eq!(items[0]["return_code"], json!(0x0A));
        assert_eq!(items[0]["byte"], json!(4));
        assert_eq!(items[0]["count"], json!(2));
        assert_eq!(items[1]["value"], json!("01"));
        assert_eq!(items[1]["bit"], json!(1));
        assert!(items[1].get("return_code").is_none());
        // No answer: the items without values.
        let d = pdu_event(&req, None);
        assert!(d.body.request.unwrap()["items"][1].get("value").is_none());
    }

    #[test]
    fn write_var_logs_values_and_codes() {
        let req = crate::hex("320100000007000e00060501120a1002000200018400002000040010abcd");
        let d = pdu_event(&req, Some(&crate::hex("3203000000070002000100000501ff")));
        assert_eq!(d.event_type, "s7.write_var");
        let item = d.body.request.unwrap()["items"][0].clone();
        assert_eq!(item["value"], json!("abcd"));
        assert_eq!(item["byte"], json!(4));
        assert!(item.get("return_code").is_none());
        let d = pdu_event(
            &req,
            Some(&crate::hex("3203000000070002000100000501 03".replace(' ', "").as_str())),
        );
        assert_eq!(d.body.request.unwrap()["items"][0]["return_code"], json!(3));
    }

    #[test]
    fn cut_pdus_still_give_an_event() {
        let (req, resp) = (crate::hex(READ), crate::hex(READ_ANSWER));
        for cut in 0..=req.len() {
            let d = pdu_event(&req[..cut], Some(&resp[..cut.min(resp.len())]));
            assert!(d.event_type.starts_with("s7."));
        }
    }
}
