//! The hot path of the native encoding, written by hand: the same bytes serde_json with the
//! [`super::safe`] escapes writes (the tests below and in `tests/encoders.rs` compare the two
//! on every kind of value), without serde's per-value machinery. Every Modbus or SNMP
//! request becomes one native event, encoded on the thread that served it, so this encoder
//! is on the request's path; the measurements are in docs/performance.md ("The throughput
//! gap").
//!
//! Strings are copied in runs of plain bytes, found eight bytes at a time; only the bytes
//! JSON or [`super::safe`] escapes are looked at one by one. Fields whose text can only be
//! plain ASCII (ids, times, addresses, hex, our own key names) are written between quotes
//! without a scan. What every event of a session shares (ids, names, addresses) and of a
//! second (the date and time) is encoded once per thread and copied after that.

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use conpot_core::event::{Event, Raw, Transport};
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

/// The length of the run of plain bytes (see [`plain`]) at the start of `bytes`. Eight
/// bytes are tested at once (the usual SWAR tests for a zero byte and for a byte below
/// 0x20); a word with any byte that may not be plain ends the run there and the caller
/// looks at its bytes one by one, so a false alarm costs speed, never a missed escape.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let mut at = 0;
    for chunk in bytes.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let w = u64::from_le_bytes(word);
        let suspect = (w & HIGH)
            | has_zero(w ^ (ONES * u64::from(b'"')))
            | has_zero(w ^ (ONES * u64::from(b'\\')))
            | has_zero(w ^ (ONES * 0x7f))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if suspect != 0 {
            break;
        }
        at += 8;
    }
    while bytes.get(at).is_some_and(|&b| plain(b)) {
        at += 1;
    }
    at
}

/// Appends `s` as a JSON string (quotes included), escaped as [`super::safe`] escapes.
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    loop {
        i += plain_run(bytes.get(i..).unwrap_or_default());
        let Some(&b) = bytes.get(i) else {
            break;
        };
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

/// The date and time to the second, `YYYY-MM-DDTHH:MM:SS`: what events of the same second
/// share.
const SECOND_LEN: usize = 19;

thread_local! {
    /// The last second this thread wrote, and its text.
    static SECOND: std::cell::Cell<(u64, [u8; SECOND_LEN])> =
        const { std::cell::Cell::new((u64::MAX, [0; SECOND_LEN])) };
}

/// The text of `c` to the second (for a year of four digits).
fn second_text(c: &Civil, year: u32) -> [u8; SECOND_LEN] {
    let mut v = Vec::with_capacity(SECOND_LEN);
    push_digits(&mut v, year, 4);
    v.push(b'-');
    push_digits(&mut v, c.month, 2);
    v.push(b'-');
    push_digits(&mut v, c.day, 2);
    v.push(b'T');
    push_digits(&mut v, c.hour, 2);
    v.push(b':');
    push_digits(&mut v, c.minute, 2);
    v.push(b':');
    push_digits(&mut v, c.second, 2);
    let mut text = [0; SECOND_LEN];
    text.copy_from_slice(v.get(..SECOND_LEN).unwrap_or(&[0; SECOND_LEN]));
    text
}

/// Appends the event time as [`Iso8601`] with the zone writes it, quoted. The text to the
/// second is kept per thread: a busy sensor writes thousands of events in each.
fn push_time(out: &mut Vec<u8>, time: std::time::SystemTime) {
    let since = time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (last, text) = SECOND.get();
    let text = if last == secs {
        Some(text)
    } else {
        let c = Civil::from_system(time);
        match u32::try_from(c.year) {
            Ok(year) if year <= 9999 => {
                let text = second_text(&c, year);
                SECOND.set((secs, text));
                Some(text)
            }
            _ => None,
        }
    };
    out.push(b'"');
    match text {
        Some(text) => {
            out.extend_from_slice(&text);
            out.push(b'.');
            push_digits(out, since.subsec_micros(), 6);
            out.push(b'Z');
        }
        // Outside four digits: the general formatter.
        None => {
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

/// Appends `,"key":` for one of the encoder's own key names (plain ASCII, so not scanned).
fn push_key(out: &mut Vec<u8>, key: &str) {
    out.push(b',');
    push_plain(out, key.as_bytes());
    out.push(b':');
}

/// Appends an address (or null); an address's text is digits, hex, `.` and `:` only.
fn push_ip(out: &mut Vec<u8>, addr: Option<SocketAddr>) {
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

fn push_port(out: &mut Vec<u8>, addr: Option<SocketAddr>) {
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

/// What the session part of a native line is written from: everything between the
/// timestamp and the event type, the same for every event of one session. The strings are
/// held (not only compared by address) so that a cached entry can never be matched by a
/// new string that took a freed one's place.
struct SessionKey {
    session_id: uuid::Uuid,
    sensor_id: Arc<str>,
    persona: Arc<str>,
    protocol: Arc<str>,
    transport: Transport,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    public_ip: Option<Arc<str>>,
}

impl SessionKey {
    fn of(e: &Event) -> Self {
        SessionKey {
            session_id: e.session_id,
            sensor_id: Arc::clone(&e.sensor_id),
            persona: Arc::clone(&e.persona),
            protocol: Arc::clone(&e.protocol),
            transport: e.transport,
            src: e.src,
            dst: e.dst,
            public_ip: e.public_ip.clone(),
        }
    }

    /// Whether `e` belongs to this session, as cheaply as it can be told: the id first, the
    /// strings by address before their text.
    fn matches(&self, e: &Event) -> bool {
        let same = |a: &Arc<str>, b: &Arc<str>| Arc::ptr_eq(a, b) || a == b;
        self.session_id == e.session_id
            && self.transport == e.transport
            && self.src == e.src
            && self.dst == e.dst
            && same(&self.sensor_id, &e.sensor_id)
            && same(&self.persona, &e.persona)
            && same(&self.protocol, &e.protocol)
            && match (&self.public_ip, &e.public_ip) {
                (None, None) => true,
                (Some(a), Some(b)) => same(a, b),
                _ => false,
            }
    }
}

/// Sessions whose encoded part each thread keeps: a connection sends many events, and
/// encoding the same ids, names and addresses again for each was a fifth of the line's
/// cost. Direct-mapped by the session id's random tail.
const SESSION_SLOTS: usize = 64;

/// A session and its encoded part.
type CachedSession = Option<(SessionKey, Vec<u8>)>;

thread_local! {
    static SESSIONS: RefCell<Vec<CachedSession>> =
        RefCell::new((0..SESSION_SLOTS).map(|_| None).collect());
}

/// Writes the session part of `e` (from `,"sensor_id":` to the destination port, and the
/// public address when there is one) as [`native`] places it.
fn push_session_part(out: &mut Vec<u8>, e: &Event) {
    out.extend_from_slice(b",\"sensor_id\":");
    push_str(out, &e.sensor_id);
    out.extend_from_slice(b",\"persona\":");
    push_str(out, &e.persona);
    out.extend_from_slice(b",\"session_id\":");
    push_uuid(out, &e.session_id);
    out.extend_from_slice(b",\"protocol\":");
    push_str(out, &e.protocol);
    out.extend_from_slice(b",\"transport\":");
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
}

/// [`push_session_part`] through this thread's cache of recent sessions.
fn push_session(out: &mut Vec<u8>, e: &Event) {
    let slot = (e.session_id.as_u128() as usize) % SESSION_SLOTS;
    let cached = SESSIONS.try_with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return false;
        };
        let Some(entry) = cache.get_mut(slot) else {
            return false;
        };
        match entry {
            Some((key, part)) if key.matches(e) => out.extend_from_slice(part),
            _ => {
                let mut part = Vec::with_capacity(256);
                push_session_part(&mut part, e);
                out.extend_from_slice(&part);
                *entry = Some((SessionKey::of(e), part));
            }
        }
        true
    });
    if cached != Ok(true) {
        push_session_part(out, e);
    }
}

/// Appends the native encoding of `event`: the fields and order of `native::Native`.
pub(crate) fn native(event: &Event, out: &mut Vec<u8>) {
    let e = event;
    out.extend_from_slice(b"{\"event_id\":");
    push_uuid(out, &e.event_id);
    out.extend_from_slice(b",\"timestamp\":");
    push_time(out, e.timestamp);
    push_session(out, e);
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
            let mut reference = Vec::new();
            super::super::safe::to_writer(&mut reference, &super::super::native::Native(&e)).unwrap();
            let reference = String::from_utf8(reference).unwrap();
            // Once with the session part encoded, once from the thread's cache of it.
            for _ in 0..2 {
                let mut fast = Vec::new();
                native(&e, &mut fast);
                prop_assert_eq!(String::from_utf8(fast).unwrap(), reference.clone());
            }
        }
    }

    fn reference(e: &Event) -> String {
        let mut out = Vec::new();
        super::super::safe::to_writer(&mut out, &super::super::native::Native(e)).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn fast(e: &Event) -> String {
        let mut out = Vec::new();
        native(e, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_session_cache_never_lends_one_session_s_part_to_another() {
        use conpot_core::event::{EventDraft, Origin, SessionInfo};
        let origin = |persona: &str| Origin {
            sensor_id: "s1".into(),
            persona: persona.into(),
            public_ip: None,
            raw_limit: 16,
        };
        let (a, b) = (origin("plc-a"), origin("plc-b"));
        let one = SessionInfo::new(
            "modbus".into(),
            Transport::Tcp,
            Some("10.0.0.1:1000".parse().unwrap()),
            None,
        );
        // Another session in the same slot of the cache: ids that differ only above the
        // bits the slot is taken from.
        let mut two = one.clone();
        two.id = uuid::Uuid::from_u128(one.id.as_u128() ^ (1 << 100));
        // The same id with another source (no real session does that; the key must hold).
        let mut moved = one.clone();
        moved.src = Some("10.0.0.2:2000".parse().unwrap());
        let now = std::time::SystemTime::now();
        let cases = [(&a, &one), (&a, &two), (&a, &one), (&a, &moved), (&b, &one), (&a, &one)];
        for (i, (origin, session)) in cases.into_iter().enumerate() {
            let e = Event::stamp(origin, session, EventDraft::new("modbus.request").with("n", i), now);
            assert_eq!(fast(&e), reference(&e), "case {i}");
        }
    }

    #[test]
    fn escapes_are_found_at_every_place_in_a_word() {
        for len in [1, 7, 8, 9, 15, 16, 17, 31] {
            for at in 0..len {
                for c in ['"', '\\', '\u{0}', '\u{1f}', '\u{7f}', '\u{80}', 'é', '\u{2028}', '\n'] {
                    let mut s: String = "a".repeat(len);
                    s.replace_range(at..=at, &c.to_string());
                    let mut out = Vec::new();
                    push_str(&mut out, &s);
                    assert_eq!(out, serde_way(&Json::String(s.clone())), "{s:?}");
                }
            }
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
