//! Conpot's JSON log schema, field for field: `timestamp, sensorid, id, src_ip,
//! src_port, dst_ip, dst_port, public_ip, data_type, request, response, event_type`.

use conpot_core::event::{Event, Raw};
use conpot_core::hex;
use conpot_core::time::Iso8601;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value as Json;

use super::{AsStr, python_bytes_repr};

pub(super) struct Legacy<'a>(pub &'a Event);

/// The `event_type` Conpot would log for `event`: its lifecycle names for session
/// events, `null` for request/response records, our dotted type for the rest.
pub fn legacy_event_type(event: &Event) -> Option<String> {
    if let Some(view) = &event.conpot {
        return view.event_type.clone();
    }
    match &*event.event_type {
        "session.open" => Some("NEW_CONNECTION".into()),
        "session.close" => {
            let reason = event.data.get("reason").and_then(Json::as_str).unwrap_or("");
            Some(match reason {
                "peer" | "idle_timeout" | "error" => "CONNECTION_LOST".into(),
                _ => "CONNECTION_TERMINATED".into(),
            })
        }
        t if t.ends_with(".request") => None,
        t => Some(t.to_owned()),
    }
}

pub(super) fn payload(raw: &Option<Raw>, decoded: &Option<Json>) -> Json {
    match (raw, decoded) {
        (Some(r), _) => Json::String(python_bytes_repr(&hex::Hex(&r.bytes))),
        (None, Some(d)) => d.clone(),
        (None, None) => Json::Null,
    }
}

impl Serialize for Legacy<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(Some(12))?;
        m.serialize_entry(
            "timestamp",
            &AsStr(Iso8601 {
                time: e.timestamp,
                zone: false,
            }),
        )?;
        m.serialize_entry("sensorid", &*e.sensor_id)?;
        m.serialize_entry("id", &AsStr(e.session_id.hyphenated()))?;
        m.serialize_entry("src_ip", &e.src.map(|a| AsStr(a.ip())))?;
        m.serialize_entry("src_port", &e.src.map(|a| a.port()))?;
        m.serialize_entry("dst_ip", &e.dst.map(|a| AsStr(a.ip())))?;
        m.serialize_entry("dst_port", &e.dst.map(|a| a.port()))?;
        m.serialize_entry("public_ip", &e.public_ip.as_deref())?;
        m.serialize_entry("data_type", &*e.protocol)?;
        match &e.conpot {
            Some(view) => {
                m.serialize_entry("request", &view.request)?;
                m.serialize_entry("response", &view.response)?;
            }
            None => {
                m.serialize_entry("request", &payload(&e.raw, &e.request))?;
                m.serialize_entry("response", &payload(&e.raw_response, &e.response))?;
            }
        }
        m.serialize_entry("event_type", &legacy_event_type(e))?;
        m.end()
    }
}
