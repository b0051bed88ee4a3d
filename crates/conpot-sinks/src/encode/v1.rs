//! `conpot-v1`: the whole event record Conpot builds for each event (the form it hands to
//! hpfeeds), rather than the flattened JSON-log line: the legacy fields, `remote` and
//! `local` as `[ip, port]` pairs, and the event dictionary under `data` (`type`,
//! `request`, `response` and the protocol's own keys). Our event id and event time are
//! added, since Conpot's `timestamp` is the session's start.

use conpot_core::event::Event;
use conpot_core::time::Iso8601;
use serde_json::{Map, Value as Json, json};

use super::legacy::{legacy_event_type, payload};

fn pair(a: Option<std::net::SocketAddr>) -> Json {
    match a {
        Some(a) => json!([a.ip().to_string(), a.port()]),
        None => Json::Null,
    }
}

/// The `conpot-v1` object of `event`.
pub(super) fn value(e: &Event) -> Json {
    let mut data = Map::new();
    if let Some(t) = legacy_event_type(e) {
        data.insert("type".into(), t.into());
    }
    let (request, response) = match &e.conpot {
        Some(view) => (view.request.clone(), view.response.clone()),
        None => (payload(&e.raw, &e.request), payload(&e.raw_response, &e.response)),
    };
    if !request.is_null() {
        data.insert("request".into(), request);
    }
    if !response.is_null() {
        data.insert("response".into(), response);
    }
    for (k, v) in e.data.iter() {
        data.entry(k.to_string()).or_insert_with(|| v.clone());
    }
    if let Some(err) = &e.error {
        data.entry("error").or_insert_with(|| err.clone().into());
    }
    let time = Iso8601 {
        time: e.timestamp,
        zone: false,
    }
    .to_string();
    json!({
        "id": e.session_id.hyphenated().to_string(),
        "event_id": e.event_id.hyphenated().to_string(),
        "sensorid": &*e.sensor_id,
        "timestamp": time,
        "data_type": &*e.protocol,
        "remote": pair(e.src),
        "src_ip": e.src.map(|a| a.ip().to_string()),
        "src_port": e.src.map(|a| a.port()),
        "local": pair(e.dst),
        "dst_ip": e.dst.map(|a| a.ip().to_string()),
        "dst_port": e.dst.map(|a| a.port()),
        "public_ip": e.public_ip.as_deref(),
        "data": data,
    })
}
