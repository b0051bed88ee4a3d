//! `stix`: each event as a STIX 2.1 bundle, for threat-intelligence platforms (the TAXII
//! transport posts the objects to a collection). An event with a source address becomes an
//! `observed-data` object (its id is the event's, so a repeat is the same object) pointing
//! at the source's `ipv4-addr`/`ipv6-addr` and the `network-traffic` it sent; a captured
//! file adds a `file` object by its SHA-256. A session's first event (`session.open`) and a
//! captured file also give an `indicator` with the STIX pattern matching the address or the
//! hash, since those are what a consumer blocks or hunts for. Cyber-observable ids are the
//! deterministic UUIDv5 ids of the STIX specification (section 2.9), so every sensor names
//! the same address with the same id. A sink's loss report (`events.dropped`) becomes a
//! `note` on the sensor's `identity`, so a TAXII collection says what it is missing; other
//! events with neither source nor file (sensor events) give an empty bundle.

use std::net::SocketAddr;

use conpot_core::event::{Event, Transport};
use conpot_core::time::Iso8601;
use serde_json::{Map, Value as Json, json};
use sha1::{Digest, Sha1};
use uuid::Uuid;

/// The namespace of the STIX 2.1 deterministic ids of cyber-observable objects.
pub const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// The `spec_version` of every object.
pub const SPEC_VERSION: &str = "2.1";

/// A UUIDv5 (RFC 9562) of `name` in `namespace`.
fn uuid5(namespace: &Uuid, name: &[u8]) -> Uuid {
    let mut h = Sha1::new();
    h.update(namespace.as_bytes());
    h.update(name);
    let d: [u8; 20] = h.finalize().into();
    let mut b = [0u8; 16];
    b.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
    uuid::Builder::from_sha1_bytes(b).into_uuid()
}

/// A JSON string literal, as RFC 8785 canonical JSON writes it.
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The deterministic id of an SCO of `kind` from its canonical contributing properties.
fn sco_id(kind: &str, canonical: &str) -> String {
    format!("{kind}--{}", uuid5(&SCO_NAMESPACE, canonical.as_bytes()))
}

/// The `ipv4-addr`/`ipv6-addr` object of an address.
fn address(a: &SocketAddr) -> Json {
    let kind = if a.is_ipv4() { "ipv4-addr" } else { "ipv6-addr" };
    let value = a.ip().to_string();
    json!({
        "type": kind,
        "spec_version": SPEC_VERSION,
        "id": sco_id(kind, &format!("{{\"value\":{}}}", lit(&value))),
        "value": value,
    })
}

/// A STIX timestamp (RFC 3339, UTC, `Z`).
fn stamp(e: &Event) -> String {
    Iso8601 {
        time: e.timestamp,
        zone: true,
    }
    .to_string()
}

fn id_of(o: &Json) -> Json {
    o.get("id").cloned().unwrap_or(Json::Null)
}

/// The protocols of a session, outermost first, as STIX writes them (lower case).
fn protocols(e: &Event) -> Vec<String> {
    let mut p = Vec::new();
    if e.transport != Transport::None {
        p.push(e.transport.as_str().to_ascii_lowercase());
    }
    let proto = e.protocol.to_ascii_lowercase();
    if !proto.is_empty() && !p.contains(&proto) {
        p.push(proto);
    }
    p
}

/// The `network-traffic` object from `src` (whose SCO id is `src_ref`) to our port.
fn traffic(e: &Event, src: &SocketAddr, src_ref: &str) -> Json {
    let protocols = protocols(e);
    // Canonical JSON of the contributing properties, keys in order.
    let mut canonical = String::from("{");
    if let Some(d) = e.dst {
        canonical.push_str(&format!("\"dst_port\":{},", d.port()));
    }
    let names: Vec<String> = protocols.iter().map(|p| lit(p)).collect();
    canonical.push_str(&format!(
        "\"protocols\":[{}],\"src_port\":{},\"src_ref\":{}}}",
        names.join(","),
        src.port(),
        lit(src_ref)
    ));
    let mut t = Map::new();
    t.insert("type".into(), "network-traffic".into());
    t.insert("spec_version".into(), SPEC_VERSION.into());
    t.insert("id".into(), sco_id("network-traffic", &canonical).into());
    t.insert("src_ref".into(), src_ref.into());
    t.insert("src_port".into(), src.port().into());
    if let Some(d) = e.dst {
        t.insert("dst_port".into(), d.port().into());
    }
    t.insert("protocols".into(), protocols.into());
    Json::Object(t)
}

/// The `file` object of a `file.upload` event, when it names the content's hash.
fn file(e: &Event) -> Option<Json> {
    if e.event_type != "file.upload" {
        return None;
    }
    let sha = e.data.get("sha256").and_then(Json::as_str)?;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let sha = sha.to_ascii_lowercase();
    let name = e.data.get("name").and_then(Json::as_str).filter(|n| !n.is_empty());
    let mut canonical = format!("{{\"hashes\":{{\"SHA-256\":{}}}", lit(&sha));
    if let Some(n) = name {
        canonical.push_str(&format!(",\"name\":{}", lit(n)));
    }
    canonical.push('}');
    let mut f = Map::new();
    f.insert("type".into(), "file".into());
    f.insert("spec_version".into(), SPEC_VERSION.into());
    f.insert("id".into(), sco_id("file", &canonical).into());
    f.insert("hashes".into(), json!({"SHA-256": sha}));
    if let Some(n) = name {
        f.insert("name".into(), n.into());
    }
    if let Some(size) = e.data.get("size").and_then(Json::as_u64) {
        f.insert("size".into(), size.into());
    }
    Some(Json::Object(f))
}

/// An `indicator` with `pattern`, its id derived from the event's (a repeat is the same).
fn indicator(e: &Event, time: &str, name: String, pattern: String, kind: &str) -> Json {
    let id = uuid5(&SCO_NAMESPACE, format!("indicator:{kind}:{}", e.event_id).as_bytes());
    json!({
        "type": "indicator",
        "spec_version": SPEC_VERSION,
        "id": format!("indicator--{id}"),
        "created": time,
        "modified": time,
        "name": name,
        "description": format!("Seen by the ICS honeypot {} ({})", e.sensor_id, e.protocol),
        "indicator_types": ["malicious-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": time,
        "labels": ["honeypot", "ics"],
    })
}

/// Escapes a value for a STIX pattern's single-quoted string.
fn pattern_str(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The `identity` of the sensor (a system), its id derived from the sensor id so every
/// report of one sensor names the same identity.
fn sensor_identity(e: &Event, time: &str) -> Json {
    let id = uuid5(&SCO_NAMESPACE, format!("identity:sensor:{}", e.sensor_id).as_bytes());
    json!({
        "type": "identity",
        "spec_version": SPEC_VERSION,
        "id": format!("identity--{id}"),
        "created": time,
        "modified": time,
        "name": &*e.sensor_id,
        "identity_class": "system",
        "description": "An ICS honeypot sensor (conpot-rs)",
    })
}

/// The `note` of an `events.dropped` report: what a sink lost, with the report's counts
/// in `x_conpot_data` (`dropped`, `spool_full`, `queue_full`, ...).
fn dropped_note(e: &Event, time: &str, identity: &Json) -> Json {
    let n = e.data.get("dropped").and_then(Json::as_u64).unwrap_or(0);
    let sink = e.data.get("sink").and_then(Json::as_str).unwrap_or_default();
    json!({
        "type": "note",
        "spec_version": SPEC_VERSION,
        "id": format!("note--{}", e.event_id.hyphenated()),
        "created": time,
        "modified": time,
        "abstract": format!("{} dropped {n} events", e.sensor_id),
        "content": format!("The sink {sink} of sensor {} could not keep {n} events (queue or spool full).", e.sensor_id),
        "object_refs": [id_of(identity)],
        "x_conpot_event_type": &*e.event_type,
        "x_conpot_sensor_id": &*e.sensor_id,
        "x_conpot_data": &e.data,
    })
}

/// The STIX bundle of `event`.
pub(super) fn value(e: &Event) -> Json {
    let time = stamp(e);
    let mut objects = Vec::new();
    if e.event_type == "events.dropped" && e.src.is_none() {
        let identity = sensor_identity(e, &time);
        objects.push(dropped_note(e, &time, &identity));
        objects.push(identity);
    }
    let mut refs = Vec::new();
    if let Some(src) = &e.src {
        let a = address(src);
        let a_id = id_of(&a);
        let t = traffic(e, src, a_id.as_str().unwrap_or_default());
        refs.push(a_id);
        refs.push(id_of(&t));
        if e.event_type == "session.open" {
            let kind = if src.is_ipv4() { "ipv4-addr" } else { "ipv6-addr" };
            objects.push(indicator(
                e,
                &time,
                format!("{} contacted an ICS honeypot", src.ip()),
                format!("[{kind}:value = '{}']", pattern_str(&src.ip().to_string())),
                "source",
            ));
        }
        objects.push(a);
        objects.push(t);
    }
    if let Some(f) = file(e) {
        let sha = f.pointer("/hashes/SHA-256").and_then(Json::as_str).unwrap_or_default();
        objects.push(indicator(
            e,
            &time,
            format!("File handed to an ICS honeypot ({})", e.protocol),
            format!("[file:hashes.'SHA-256' = '{}']", pattern_str(sha)),
            "file",
        ));
        refs.push(id_of(&f));
        objects.push(f);
    }
    if !refs.is_empty() {
        let mut od = Map::new();
        od.insert("type".into(), "observed-data".into());
        od.insert("spec_version".into(), SPEC_VERSION.into());
        od.insert(
            "id".into(),
            format!("observed-data--{}", e.event_id.hyphenated()).into(),
        );
        od.insert("created".into(), time.clone().into());
        od.insert("modified".into(), time.clone().into());
        od.insert("first_observed".into(), time.clone().into());
        od.insert("last_observed".into(), time.clone().into());
        od.insert("number_observed".into(), 1.into());
        od.insert("object_refs".into(), refs.into());
        od.insert("labels".into(), json!(["honeypot", "ics"]));
        od.insert("x_conpot_event_type".into(), (*e.event_type).into());
        od.insert("x_conpot_protocol".into(), (*e.protocol).into());
        od.insert("x_conpot_sensor_id".into(), (*e.sensor_id).into());
        od.insert(
            "x_conpot_session_id".into(),
            e.session_id.hyphenated().to_string().into(),
        );
        objects.insert(0, Json::Object(od));
    }
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid5(&SCO_NAMESPACE, format!("bundle:{}", e.event_id).as_bytes())),
        "objects": objects,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn uuid5_matches_rfc_9562_example() {
        // RFC 9562 appendix A.4: UUIDv5 of "www.example.com" in the DNS namespace.
        let dns = Uuid::from_u128(0x6ba7_b810_9dad_11d1_80b4_00c0_4fd4_30c8);
        assert_eq!(
            uuid5(&dns, b"www.example.com").to_string(),
            "2ed6657d-e927-568b-95e1-2665a8aea6a2"
        );
    }

    #[test]
    fn addresses_get_the_deterministic_id_of_the_specification() {
        // The id the OASIS stix2 library gives ipv4-addr 198.51.100.3 (computed with it).
        let a = address(&"198.51.100.3:1".parse().unwrap());
        assert_eq!(a["type"], "ipv4-addr");
        assert_eq!(a["id"], "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4");
        let b = address(&"[2001:db8::1]:1".parse().unwrap());
        assert_eq!(b["type"], "ipv6-addr");
        assert_ne!(a["id"], b["id"]);
    }

    #[test]
    fn a_loss_report_is_a_note_on_the_sensor_identity() {
        use conpot_core::event::{EventDraft, Origin, SessionInfo};
        let o = Origin {
            sensor_id: "s1".into(),
            persona: "p".into(),
            public_ip: None,
            raw_limit: 0,
        };
        let sensor = SessionInfo::new("sensor".into(), Transport::None, None, None);
        let d = EventDraft::new("events.dropped")
            .with("sink", "taxii")
            .with("dropped", 7)
            .with("spool_full", 7);
        let e = Event::stamp(&o, &sensor, d, std::time::SystemTime::UNIX_EPOCH);
        let b = value(&e);
        let objs = b["objects"].as_array().unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0]["type"], "note");
        assert_eq!(objs[0]["id"], format!("note--{}", e.event_id.hyphenated()));
        assert_eq!(objs[0]["x_conpot_data"]["spool_full"], 7);
        assert_eq!(objs[0]["object_refs"][0], objs[1]["id"]);
        assert_eq!(
            (objs[1]["type"].as_str(), objs[1]["name"].as_str()),
            (Some("identity"), Some("s1"))
        );
        let other = Event::stamp(
            &o,
            &sensor,
            EventDraft::new("sensor.start"),
            std::time::SystemTime::UNIX_EPOCH,
        );
        assert_eq!(
            value(&other)["objects"],
            json!([]),
            "other sensor events give an empty bundle"
        );
    }

    #[test]
    fn patterns_escape_quotes() {
        assert_eq!(pattern_str("a'b\\c"), "a\\'b\\\\c");
    }
}
