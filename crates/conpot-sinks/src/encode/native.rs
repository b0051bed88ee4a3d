//! Our native schema: the canonical event as it is (DESIGN.md section 3).

use conpot_core::event::{Event, Raw};
use conpot_core::hex;
use conpot_core::time::Iso8601;

use super::AsStr;
use serde::ser::{Serialize, SerializeMap, Serializer};

pub(super) struct Native<'a>(pub &'a Event);

/// Writes a raw field as hex with its length and truncation flag; `names` are the three
/// keys (`raw`, `raw_len`, `raw_truncated`).
fn raw_fields<M: SerializeMap>(m: &mut M, names: [&str; 3], raw: &Option<Raw>) -> Result<(), M::Error> {
    if let Some(r) = raw {
        m.serialize_entry(names[0], &AsStr(hex::Hex(&r.bytes)))?;
        m.serialize_entry(names[1], &r.len)?;
        if r.truncated() {
            m.serialize_entry(names[2], &true)?;
        }
    }
    Ok(())
}

impl Serialize for Native<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("event_id", &AsStr(e.event_id.hyphenated()))?;
        m.serialize_entry(
            "timestamp",
            &AsStr(Iso8601 {
                time: e.timestamp,
                zone: true,
            }),
        )?;
        m.serialize_entry("sensor_id", &*e.sensor_id)?;
        m.serialize_entry("persona", &*e.persona)?;
        m.serialize_entry("session_id", &AsStr(e.session_id.hyphenated()))?;
        m.serialize_entry("protocol", &*e.protocol)?;
        m.serialize_entry("transport", e.transport.as_str())?;
        m.serialize_entry("src_ip", &e.src.map(|a| AsStr(a.ip())))?;
        m.serialize_entry("src_port", &e.src.map(|a| a.port()))?;
        m.serialize_entry("dst_ip", &e.dst.map(|a| AsStr(a.ip())))?;
        m.serialize_entry("dst_port", &e.dst.map(|a| a.port()))?;
        if let Some(ip) = &e.public_ip {
            m.serialize_entry("public_ip", &**ip)?;
        }
        m.serialize_entry("event_type", &*e.event_type)?;
        if let Some(r) = &e.request {
            m.serialize_entry("request", r)?;
        }
        if let Some(r) = &e.response {
            m.serialize_entry("response", r)?;
        }
        raw_fields(&mut m, ["raw", "raw_len", "raw_truncated"], &e.raw)?;
        raw_fields(
            &mut m,
            ["raw_response", "raw_response_len", "raw_response_truncated"],
            &e.raw_response,
        )?;
        if !e.data.is_empty() {
            m.serialize_entry("data", &e.data)?;
        }
        if let Some(err) = &e.error {
            m.serialize_entry("error", err)?;
        }
        m.end()
    }
}
