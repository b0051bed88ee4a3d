//! `ecs`: Elastic Common Schema 8.x. The envelope goes to ECS fields (`@timestamp`,
//! `event.*`, `source.*`, `destination.*`, `network.*`, `observer.*`), so a stock
//! Elasticsearch or OpenSearch pipeline indexes the sensor without a custom mapping; what
//! ECS has no field for (the decoded request and response, protocol data) sits under
//! `conpot.*`.

use conpot_core::event::{Event, Raw};
use conpot_core::hex::Hex;
use conpot_core::time::Iso8601;
use serde_json::{Map, Value as Json, json};

/// The ECS version the field names follow.
pub const ECS_VERSION: &str = "8.11.0";

fn endpoint(a: Option<std::net::SocketAddr>) -> Option<Json> {
    a.map(|a| json!({"ip": a.ip().to_string(), "port": a.port(), "address": a.ip().to_string()}))
}

fn raw(m: &mut Map<String, Json>, name: &str, r: &Option<Raw>) {
    if let Some(r) = r {
        m.insert(
            name.into(),
            json!({"hex": Hex(&r.bytes).to_string(), "bytes": r.len, "truncated": r.truncated()}),
        );
    }
}

/// The ECS document of `event`.
pub(super) fn value(e: &Event) -> Json {
    let kind = if e.event_type.starts_with("session.") || e.src.is_some() {
        "event"
    } else {
        "state"
    };
    let mut doc = Map::new();
    doc.insert(
        "@timestamp".into(),
        Iso8601 {
            time: e.timestamp,
            zone: true,
        }
        .to_string()
        .into(),
    );
    doc.insert("ecs".into(), json!({"version": ECS_VERSION}));
    let mut event = json!({
        "id": e.event_id.hyphenated().to_string(),
        "kind": kind,
        "category": if e.src.is_some() { json!(["network", "intrusion_detection"]) } else { json!(["host"]) },
        "action": &*e.event_type,
        "dataset": format!("conpot.{}", e.protocol),
        "module": "conpot",
    });
    if e.error.is_some()
        && let Some(m) = event.as_object_mut()
    {
        m.insert("outcome".into(), "failure".into());
    }
    doc.insert("event".into(), event);
    if let Some(s) = endpoint(e.src) {
        doc.insert("source".into(), s);
    }
    if let Some(d) = endpoint(e.dst) {
        doc.insert("destination".into(), d);
    }
    doc.insert(
        "network".into(),
        json!({"protocol": &*e.protocol, "transport": e.transport.as_str()}),
    );
    let mut observer =
        json!({"name": &*e.sensor_id, "type": "honeypot", "product": "conpot-rs", "vendor": "conpot-rs"});
    if let (Some(ip), Some(m)) = (&e.public_ip, observer.as_object_mut()) {
        m.insert("ip".into(), json!([&**ip]));
    }
    doc.insert("observer".into(), observer);
    if let Some(err) = &e.error {
        doc.insert("error".into(), json!({"message": err}));
    }
    let mut conpot = Map::new();
    conpot.insert("session_id".into(), e.session_id.hyphenated().to_string().into());
    conpot.insert("persona".into(), (*e.persona).into());
    if let Some(r) = &e.request {
        conpot.insert("request".into(), r.clone());
    }
    if let Some(r) = &e.response {
        conpot.insert("response".into(), r.clone());
    }
    raw(&mut conpot, "raw", &e.raw);
    raw(&mut conpot, "raw_response", &e.raw_response);
    if !e.data.is_empty() {
        conpot.insert("data".into(), serde_json::to_value(&e.data).unwrap_or(Json::Null));
    }
    doc.insert("conpot".into(), Json::Object(conpot));
    Json::Object(doc)
}
