//! The hot path of the native encoding, written by hand: the same bytes serde_json with the
//! [`super::safe`] escapes writes (the tests below and in `tests/encoders.rs` compare the two
//! on every kind of value), without serde's per-value machinery. Every Modbus or SNMP
//! request becomes one native event, so at 100,000 requests/s this encoder is where the sink
//! thread spends its time; the measurements are in docs/performance.md ("The throughput
//! gap").
//!
//! Strings are copied in runs of plain bytes; only the bytes JSON or [`super::safe`] escapes
//! are looked at one by one. Fields whose text can only be plain ASCII (ids, times, addresses,
//! hex) are written between quotes without a scan.

use std::io::Write;

use conpot_core::event::{Event, Raw};
use conpot_core::fields::Fields;
use conpot_core::time::{Civil, Iso8601};
use serde_json::Value as Json;

use super::safe::needs_escape;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether a byte is copied as it is: printable ASCII other than quote and backslash.
fn plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'
}

/// `\u` and four lower-case hex digits, as serde_json and [`super::safe`] write them.
fn push_u_escape(out: &mut Vec<u8>, c: u32) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX.get(((c >> shift) & 0xf) as usize).copied().unwrap_or(b'0'));
    }
}

/// Appends `s` as a JSON string (quotes included), escaped as [`super::safe`] escapes.
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if plain(b) {
            i += 1;
            continue;
        }
        if b < 0x80 {
            out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x09 => out.extend_from_slice(b"\\t"),
                0x0a => out.extend_from_slice(b"\\n"),
                0x0c => out.extend_from_slice(b"\\f"),
                0x0d => out.extend_from_slice(b"\\r"),
                _ => push_u_escape(out, u32::from(b)),
            }
            i += 1;
            start = i;
            continue;
        }
        // A multi-byte character: `i` is on a boundary (every byte before it was ASCII or a
        // whole character), so the character is there to decode.
        let Some(c) = s.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        if needs_escape(c) {
            out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
            push_u_escape(out, u32::from(c));
            i += c.len_utf8();
            start = i;
        } else {
            i += c.len_utf8();
        }
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Appends text known to need no escape (ASCII letters, digits, `-.:`) between quotes.
fn push_plain(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(s);
    out.push(b'"');
}

/// Appends an unsigned integer.
fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut n = n;
    loop {
        at -= 1;
        if let Some(slot) = buf.get_mut(at) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    out.extend_from_slice(buf.get(at..).unwrap_or_default());
}

/// Appends a JSON number as serde_json writes it.
fn push_number(out: &mut Vec<u8>, n: &serde_json::Number) {
    if let Some(u) = n.as_u64() {
        push_u64(out, u);
    } else if let Some(i) = n.as_i64() {
        out.push(b'-');
        push_u64(out, i.unsigned_abs());
    } else {
        // Floats (rare in events): serde_json's own shortest form.
        let _ = serde_json::to_writer(&mut *out, n);
    }
}

/// Appends `v` as compact, safely escaped JSON (what `safe::to_writer` writes for it).
pub(crate) fn push_value(out: &mut Vec<u8>, v: &Json) {
    match v {
        Json::Null => out.extend_from_slice(b"null"),
        Json::Bool(true) => out.extend_from_slice(b"true"),
        Json::Bool(false) => out.extend_from_slice(b"false"),
        Json::Number(n) => push_number(out, n),
        Json::String(s) => push_str(out, s),
        Json::Array(a) => {
            out.push(b'[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_value(out, item);
            }
            out.push(b']');
        }
        Json::Object(m) => {
            out.push(b'{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_str(out, k);
                out.push(b':');
                push_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// Appends the fields as one JSON object, in their order.
fn push_fields(out: &mut Vec<u8>, f: &Fields) {
    out.push(b'{');
    for (i, (k, v)) in f.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, k);
        out.push(b':');
        push_value(out, v);
    }
    out.push(b'}');
}

/// Appends `n` as exactly `width` decimal digits (`n` below 10^width).
fn push_digits(out: &mut Vec<u8>, n: u32, width: usize) {
    let mut buf = [b'0'; 6];
    let mut n = n;
    for slot in buf.iter_mut().take(width).rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(buf.get(..width).unwrap_or_default());
}

/// Appends the event time as [`Iso8601`] with the zone writes it, quoted.
fn push_time(out: &mut Vec<u8>, time: std::time::SystemTime) {
    let c = Civil::from_system(time);
    out.push(b'"');
    match u32::try_from(c.year) {
        Ok(year) if year <= 9999 => {
            push_digits(out, year, 4);
            out.push(b'-');
            push_digits(out, c.month, 2);
            out.push(b'-');
            push_digits(out, c.day, 2);
            out.push(b'T');
            push_digits(out, c.hour, 2);
            out.push(b':');
            push_digits(out, c.minute, 2);
            out.push(b':');
            push_digits(out, c.second, 2);
            out.push(b'.');
            push_digits(out, c.micros, 6);
            out.push(b'Z');
        }
        // Outside four digits: the general formatter.
        _ => {
            let _ = write!(out, "{}", Iso8601 { time, zone: true });
        }
    }
    out.push(b'"');
}

/// Appends a UUID, hyphenated and quoted.
fn push_uuid(out: &mut Vec<u8>, id: &uuid::Uuid) {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    push_plain(out, id.hyphenated().encode_lower(&mut buf).as_bytes());
}

/// Appends `"key":`.
fn push_key(out: &mut Vec<u8>, key: &str) {
    out.push(b',');
    push_str(out, key);
    out.push(b':');
}

/// Appends an address (or null); an address's text is digits, hex, `.` and `:` only.
fn push_ip(out: &mut Vec<u8>, addr: Option<std::net::SocketAddr>) {
    match addr {
        Some(std::net::SocketAddr::V4(a)) => {
            // Dotted quad by hand: `Display` goes through `fmt` for every octet.
            out.push(b'"');
            for (i, octet) in a.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_u64(out, u64::from(octet));
            }
            out.push(b'"');
        }
        Some(a) => {
            out.push(b'"');
            let _ = write!(out, "{}", a.ip());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

fn push_port(out: &mut Vec<u8>, addr: Option<std::net::SocketAddr>) {
    match addr {
        Some(a) => push_u64(out, u64::from(a.port())),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends bytes as quoted lower-case hex.
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() * 2 + 2);
    out.push(b'"');
    for &b in bytes {
        out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
        out.push(HEX.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0'));
    }
    out.push(b'"');
}

fn push_raw(out: &mut Vec<u8>, names: [&str; 3], raw: &Option<Raw>) {
    if let Some(r) = raw {
        push_key(out, names[0]);
        push_hex(out, &r.bytes);
        push_key(out, names[1]);
        push_u64(out, r.len as u64);
        if r.truncated() {
            push_key(out, names[2]);
            out.extend_from_slice(b"true");
        }
    }
}

/// Appends the native encoding of `event`: the fields and order of `native::Native`.
pub(crate) fn native(event: &Event, out: &mut Vec<u8>) {
    let e = event;
    out.extend_from_slice(b"{\"event_id\":");
    push_uuid(out, &e.event_id);
    out.extend_from_slice(b",\"timestamp\":");
    push_time(out, e.timestamp);
    push_key(out, "sensor_id");
    push_str(out, &e.sensor_id);
    push_key(out, "persona");
    push_str(out, &e.persona);
    out.extend_from_slice(b",\"session_id\":");
    push_uuid(out, &e.session_id);
    push_key(out, "protocol");
    push_str(out, &e.protocol);
    push_key(out, "transport");
    push_str(out, e.transport.as_str());
    out.extend_from_slice(b",\"src_ip\":");
    push_ip(out, e.src);
    out.extend_from_slice(b",\"src_port\":");
    push_port(out, e.src);
    out.extend_from_slice(b",\"dst_ip\":");
    push_ip(out, e.dst);
    out.extend_from_slice(b",\"dst_port\":");
    push_port(out, e.dst);
    if let Some(ip) = &e.public_ip {
        push_key(out, "public_ip");
        push_str(out, ip);
    }
    push_key(out, "event_type");
    push_str(out, &e.event_type);
    if let Some(r) = &e.request {
        push_key(out, "request");
        push_value(out, r);
    }
    if let Some(r) = &e.response {
        push_key(out, "response");
        push_value(out, r);
    }
    push_raw(out, ["raw", "raw_len", "raw_truncated"], &e.raw);
    push_raw(
        out,
        ["raw_response", "raw_response_len", "raw_response_truncated"],
        &e.raw_response,
    );
    if !e.data.is_empty() {
        push_key(out, "data");
        push_fields(out, &e.data);
    }
    if let Some(err) = &e.error {
        push_key(out, "error");
        push_str(out, err);
    }
    out.push(b'}');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn serde_way(v: &Json) -> Vec<u8> {
        let mut out = Vec::new();
        super::super::safe::to_writer(&mut out, v).unwrap();
        out
    }

    fn value() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<u64>().prop_map(Json::from),
            any::<i64>().prop_map(Json::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Json::from),
            any::<String>().prop_map(Json::String),
            // The characters the escapes are about, densely.
            proptest::collection::vec(
                prop_oneof![
                    (0u32..0x30).prop_map(|c| char::from_u32(c).unwrap()),
                    (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).unwrap()),
                    Just('\\'),
                    Just('"'),
                    Just('\u{61c}'),
                    Just('\u{200e}'),
                    Just('\u{2029}'),
                    Just('\u{202c}'),
                    Just('\u{2067}'),
                    Just('\u{feff}'),
                    Just('é'),
                    Just('😀'),
                    Just('a'),
                ],
                0..24
            )
            .prop_map(|cs| Json::String(cs.into_iter().collect())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Json::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn same_bytes_as_serde_json(v in value()) {
            let mut out = Vec::new();
            push_value(&mut out, &v);
            prop_assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(serde_way(&v)).unwrap());
        }

        #[test]
        fn times_as_iso8601(secs in 0u64..253_402_300_799, micros in 0u32..1_000_000) {
            let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs, micros * 1000);
            let mut out = Vec::new();
            push_time(&mut out, t);
            prop_assert_eq!(String::from_utf8(out).unwrap(), format!("\"{}\"", Iso8601 { time: t, zone: true }));
        }
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9._-]{0,12}",
            any::<String>(),
            Just("evil\u{202e}txt\u{7f}\u{85}\n\"\\".to_owned()),
        ]
    }

    fn addr() -> impl Strategy<Value = Option<std::net::SocketAddr>> {
        prop_oneof![
            Just(None),
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| Some((std::net::Ipv4Addr::from(ip), port).into())),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| Some((std::net::Ipv6Addr::from(ip), port).into())),
        ]
    }

    prop_compose! {
        fn event()(
            sensor in text(), persona in text(), protocol in text(), event_type in text(),
            src in addr(), dst in addr(), public_ip in proptest::option::of(text()),
            request in proptest::option::of(value()), response in proptest::option::of(value()),
            raw in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            raw_response in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            data in proptest::collection::vec(value(), 0..4),
            error in proptest::option::of(text()),
            secs in 0u64..4_000_000_000, micros in 0u32..1_000_000,
            udp in any::<bool>(),
        ) -> Event {
            use conpot_core::event::{EventDraft, Origin, SessionInfo, Transport};
            let origin = Origin { sensor_id: sensor.into(), persona: persona.into(), public_ip: public_ip.map(Into::into), raw_limit: 16 };
            let session = SessionInfo::new(protocol.into(), if udp { Transport::Udp } else { Transport::Tcp }, src, dst);
            let mut d = EventDraft::new(event_type);
            const KEYS: [&str; 4] = ["unit_id", "community", "odd\"key\u{2028}", "n"];
            for (k, v) in KEYS.into_iter().zip(data) {
                d = d.with(k, v);
            }
            d.body.request = request;
            d.body.response = response;
            d.body.raw = raw;
            d.body.raw_response = raw_response;
            d.body.error = error;
            let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs, micros * 1000);
            Event::stamp(&origin, &session, d, t)
        }
    }

    proptest! {
        #[test]
        fn native_events_as_the_serde_encoder_writes_them(e in event()) {
            let mut fast = Vec::new();
            native(&e, &mut fast);
            let mut reference = Vec::new();
            super::super::safe::to_writer(&mut reference, &super::super::native::Native(&e)).unwrap();
            prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(reference).unwrap());
        }
    }

    #[test]
    fn integers_at_the_edges() {
        for v in [
            Json::from(0u64),
            Json::from(u64::MAX),
            Json::from(i64::MIN),
            Json::from(-1),
            Json::from(1.5),
        ] {
            let mut out = Vec::new();
            push_value(&mut out, &v);
            assert_eq!(out, serde_way(&v));
        }
    }
}
