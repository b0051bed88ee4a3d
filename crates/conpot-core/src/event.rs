//! The canonical event (DESIGN.md section 3): an envelope that says who, where and when,
//! and a body that says what was asked and answered.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value as Json;
use uuid::Uuid;

/// Transport of the session an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// Not tied to a connection (sensor-level events).
    None,
}

impl Transport {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::None => "none",
        }
    }
}

/// Raw bytes kept in an event: at most the configured limit, with the original length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    /// The kept bytes.
    pub bytes: Vec<u8>,
    /// Length of the original data.
    pub len: usize,
}

impl Raw {
    /// Keeps at most `limit` bytes of `data`, reusing its allocation.
    pub fn from_vec(mut data: Vec<u8>, limit: usize) -> Raw {
        let len = data.len();
        data.truncate(limit);
        Raw { bytes: data, len }
    }

    /// Whether bytes were cut.
    pub fn truncated(&self) -> bool {
        self.bytes.len() < self.len
    }
}

/// What a protocol reports; the session adds the envelope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventBody {
    /// Decoded request, human-readable where the protocol allows.
    pub request: Option<Json>,
    /// Decoded response.
    pub response: Option<Json>,
    /// Request bytes as received (uncapped here; capped when the event is stamped).
    pub raw: Option<Vec<u8>>,
    /// Response bytes as sent.
    pub raw_response: Option<Vec<u8>>,
    /// Protocol-specific fields.
    pub data: crate::fields::Fields,
    /// What went wrong, for malformed input or failures.
    pub error: Option<String>,
    /// How Conpot itself logged this kind of event, for the `conpot-legacy` encoding.
    pub conpot: Option<ConpotView>,
}

/// The `event_type`, `request` and `response` Conpot wrote for an event, where they
/// differ from what the generic legacy mapping gives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConpotView {
    /// Conpot's `event_type` (e.g. `SNMPv2 Get`).
    pub event_type: Option<String>,
    /// Conpot's `request`.
    pub request: Json,
    /// Conpot's `response`.
    pub response: Json,
}

/// Whether a sink of this process writes Conpot's own records (the `conpot-legacy` and
/// `conpot-v1` encoders), the only readers of [`ConpotView`]. Building the view costs an SNMP
/// request as much as a fifth of its serving, so protocols skip it when nothing would read
/// it. On until the process says otherwise (once, when its sinks are known, before it
/// serves), so a protocol core under test builds it.
static CONPOT_VIEW_WANTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Sets whether any sink reads [`ConpotView`]s (see [`conpot_view_wanted`]).
pub fn set_conpot_view_wanted(wanted: bool) {
    CONPOT_VIEW_WANTED.store(wanted, std::sync::atomic::Ordering::Relaxed);
}

/// Whether protocols should build [`ConpotView`]s: some sink of the process writes
/// Conpot's records.
pub fn conpot_view_wanted() -> bool {
    CONPOT_VIEW_WANTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// An event as a protocol core emits it: a type and a body.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    /// Dotted, stable type (`modbus.request`, `session.open`, ...).
    pub event_type: Cow<'static, str>,
    /// Content.
    pub body: EventBody,
}

impl EventDraft {
    /// A draft of `event_type` with an empty body.
    pub fn new(event_type: impl Into<Cow<'static, str>>) -> Self {
        EventDraft {
            event_type: event_type.into(),
            body: EventBody::default(),
        }
    }

    /// Sets a data field.
    pub fn with(mut self, key: &'static str, value: impl Into<Json>) -> Self {
        self.body.data.insert(key, value.into());
        self
    }
}

/// A complete event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique id (UUIDv7, time-ordered).
    pub event_id: Uuid,
    /// When it happened.
    pub timestamp: SystemTime,
    /// Sensor that saw it.
    pub sensor_id: Arc<str>,
    /// Persona label.
    pub persona: Arc<str>,
    /// Session (one TCP connection or one UDP source); nil for sensor events.
    pub session_id: Uuid,
    /// Protocol name.
    pub protocol: Arc<str>,
    /// Transport.
    pub transport: Transport,
    /// Attacker's address.
    pub src: Option<SocketAddr>,
    /// Our address.
    pub dst: Option<SocketAddr>,
    /// The sensor's public address, when configured.
    pub public_ip: Option<Arc<str>>,
    /// Dotted type.
    pub event_type: Cow<'static, str>,
    /// Decoded request.
    pub request: Option<Json>,
    /// Decoded response.
    pub response: Option<Json>,
    /// Request bytes (capped).
    pub raw: Option<Raw>,
    /// Response bytes (capped).
    pub raw_response: Option<Raw>,
    /// Protocol-specific fields.
    pub data: crate::fields::Fields,
    /// Error text.
    pub error: Option<String>,
    /// Conpot's own view of the event (legacy encoding).
    pub conpot: Option<ConpotView>,
}

/// A time-ordered UUIDv7 for `now`, with its random bits from this thread's generator
/// (no system call per id).
pub fn new_id(now: SystemTime) -> Uuid {
    let ms = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let (a, b) = crate::rng::with_thread_rng(|r| (r.next_u64(), r.next_u64()));
    let hi = (ms & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | (a & 0x0FFF);
    let lo = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    Uuid::from_u64_pair(hi, lo)
}

/// Who the events of one sensor come from (shared by all its sessions).
#[derive(Debug, Clone)]
pub struct Origin {
    /// Sensor id.
    pub sensor_id: Arc<str>,
    /// Persona label.
    pub persona: Arc<str>,
    /// Public address, if configured.
    pub public_ip: Option<Arc<str>>,
    /// Raw bytes kept per event.
    pub raw_limit: usize,
}

/// The envelope fields of one session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Session id.
    pub id: Uuid,
    /// Protocol name.
    pub protocol: Arc<str>,
    /// Transport.
    pub transport: Transport,
    /// Attacker's address.
    pub src: Option<SocketAddr>,
    /// Our address.
    pub dst: Option<SocketAddr>,
}

impl SessionInfo {
    /// A new session with a fresh id.
    pub fn new(protocol: Arc<str>, transport: Transport, src: Option<SocketAddr>, dst: Option<SocketAddr>) -> Self {
        SessionInfo {
            id: new_id(SystemTime::now()),
            protocol,
            transport,
            src,
            dst,
        }
    }
}

impl Event {
    /// Stamps `draft` with the envelope of `session` at time `now`.
    pub fn stamp(origin: &Origin, session: &SessionInfo, draft: EventDraft, now: SystemTime) -> Event {
        let b = draft.body;
        Event {
            event_id: new_id(now),
            timestamp: now,
            sensor_id: Arc::clone(&origin.sensor_id),
            persona: Arc::clone(&origin.persona),
            session_id: session.id,
            protocol: Arc::clone(&session.protocol),
            transport: session.transport,
            src: session.src,
            dst: session.dst,
            public_ip: origin.public_ip.clone(),
            event_type: draft.event_type,
            request: b.request,
            response: b.response,
            raw: b.raw.map(|r| Raw::from_vec(r, origin.raw_limit)),
            raw_response: b.raw_response.map(|r| Raw::from_vec(r, origin.raw_limit)),
            data: b.data,
            error: b.error,
            conpot: b.conpot,
        }
    }
}

/// Names of cut fields listed in `truncated_fields`, at most.
const MAX_TRUNCATED_NAMES: usize = 16;

/// Bounds every decoded value of `draft` (request, response, data fields): a string keeps
/// at most `limit` bytes (cut on a character boundary), an array at most `limit` elements,
/// nesting at most 32 levels. A protocol decodes what the attacker sent, so without this a
/// 60 kB community string or a 1,000-entry varbind list would be logged whole. The names of
/// what was cut go in the data field `truncated_fields` (as `raw` carries its own flag).
/// Returns how many values were cut.
pub fn bound_fields(draft: &mut EventDraft, limit: usize) -> usize {
    let mut cut: Vec<String> = Vec::new();
    let body = &mut draft.body;
    let walk = |v: &mut Json, name: &str, cut: &mut Vec<String>| {
        bound_value(v, limit, &Path { parent: None, name }, 0, cut);
    };
    if let Some(v) = &mut body.request {
        walk(v, "request", &mut cut);
    }
    if let Some(v) = &mut body.response {
        walk(v, "response", &mut cut);
    }
    for (k, v) in body.data.iter_mut() {
        walk(v, k, &mut cut);
    }
    if let Some(e) = &mut body.error
        && cut_string(e, limit)
    {
        cut.push("error".into());
    }
    let n = cut.len();
    if n > 0 {
        cut.truncate(MAX_TRUNCATED_NAMES);
        body.data.insert(
            "truncated_fields",
            Json::Array(cut.into_iter().map(Json::String).collect()),
        );
    }
    n
}

/// Cuts `s` to at most `limit` bytes on a character boundary; true if it was cut.
fn cut_string(s: &mut String, limit: usize) -> bool {
    if s.len() <= limit {
        return false;
    }
    let mut end = limit;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    true
}

/// Where a value sits in an event (`response.varbinds.value`): a chain of names on the
/// walk's stack, made into text only for a value that is cut, so that walking an event
/// with nothing to cut builds no string.
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    name: &'a str,
}

impl Path<'_> {
    fn render(&self) -> String {
        let mut names = vec![self.name];
        let mut at = self.parent;
        while let Some(p) = at {
            names.push(p.name);
            at = p.parent;
        }
        names.reverse();
        names.join(".")
    }
}

/// Bounds `v`, whose place is `path` (named in `cut` if something of it is cut).
fn bound_value(v: &mut Json, limit: usize, path: &Path<'_>, depth: usize, cut: &mut Vec<String>) {
    const MAX_DEPTH: usize = 32;
    let note = |path: &Path<'_>, cut: &mut Vec<String>| {
        if cut.len() >= MAX_TRUNCATED_NAMES {
            // Counted, not named.
            cut.push(String::new());
            return;
        }
        let text = path.render();
        if !cut.contains(&text) {
            cut.push(text);
        }
    };
    match v {
        Json::String(s) => {
            if cut_string(s, limit) {
                note(path, cut);
            }
        }
        Json::Array(a) => {
            if depth >= MAX_DEPTH {
                a.clear();
                note(path, cut);
                return;
            }
            if a.len() > limit {
                a.truncate(limit);
                note(path, cut);
            }
            for x in a.iter_mut() {
                bound_value(x, limit, path, depth + 1, cut);
            }
        }
        Json::Object(m) => {
            if depth >= MAX_DEPTH {
                m.clear();
                note(path, cut);
                return;
            }
            if m.len() > limit {
                let keep: Vec<String> = m.keys().take(limit).cloned().collect();
                m.retain(|k, _| keep.contains(k));
                note(path, cut);
            }
            for (k, x) in m.iter_mut() {
                let here = Path {
                    parent: Some(path),
                    name: k,
                };
                bound_value(x, limit, &here, depth + 1, cut);
            }
        }
        Json::Null | Json::Bool(_) | Json::Number(_) => {}
    }
}

/// A rough size in bytes of a JSON value in memory (what a queued event costs).
fn json_size(v: &Json) -> usize {
    match v {
        Json::String(s) => 32 + s.len(),
        Json::Array(a) => 32 + a.iter().map(json_size).sum::<usize>(),
        Json::Object(m) => 32 + m.iter().map(|(k, x)| 48 + k.len() + json_size(x)).sum::<usize>(),
        Json::Null | Json::Bool(_) | Json::Number(_) => 32,
    }
}

impl Event {
    /// A rough size in bytes of this event in memory: what the bus counts against a sink
    /// queue's byte bound.
    pub fn approx_size(&self) -> usize {
        let raw = |r: &Option<Raw>| r.as_ref().map_or(0, |r| r.bytes.capacity());
        std::mem::size_of::<Event>()
            + raw(&self.raw)
            + raw(&self.raw_response)
            + self.request.as_ref().map_or(0, json_size)
            + self.response.as_ref().map_or(0, json_size)
            + self
                .data
                .iter()
                .map(|(k, v)| 24 + k.len() + json_size(v))
                .sum::<usize>()
            + self.error.as_ref().map_or(0, String::len)
            + self
                .conpot
                .as_ref()
                .map_or(0, |c| json_size(&c.request) + json_size(&c.response) + 64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_fields_are_bounded_and_flagged() {
        let mut d = EventDraft::new("snmp.request")
            .with("community", "c".repeat(60_000))
            .with("version", 2);
        d.body.request = Some(serde_json::json!({
            "varbinds": (0..1000).map(|i| format!("1.3.6.1.{i}")).collect::<Vec<_>>(),
            "name": "é".repeat(10),
        }));
        let n = bound_fields(&mut d, 9);
        assert_eq!(d.body.data["community"].as_str().unwrap().len(), 9);
        assert_eq!(d.body.data["version"], 2);
        let req = d.body.request.as_ref().unwrap();
        assert_eq!(req["varbinds"].as_array().unwrap().len(), 9);
        assert_eq!(req["name"].as_str().unwrap(), "éééé", "cut on a character boundary");
        let flagged = d.body.data["truncated_fields"].as_array().unwrap();
        assert!(flagged.contains(&Json::from("community")), "{flagged:?}");
        assert!(flagged.contains(&Json::from("request.varbinds")), "{flagged:?}");
        assert!(n >= 3);
        // A cut deep down is named by its whole path (arrays add no name).
        let mut deep = EventDraft::new("x");
        deep.body.response = Some(serde_json::json!({"a": {"b": [{"c": "long value"}, {"d": 1}]}, "e": "ok"}));
        assert_eq!(bound_fields(&mut deep, 4), 1);
        assert_eq!(
            deep.body.data["truncated_fields"],
            serde_json::json!(["response.a.b.c"])
        );
        assert_eq!(deep.body.response.as_ref().unwrap()["a"]["b"][0]["c"], "long");
        // Nothing to cut: nothing flagged.
        let mut small = EventDraft::new("x").with("a", "short");
        assert_eq!(bound_fields(&mut small, 9), 0);
        assert!(small.body.data.get("truncated_fields").is_none());
    }

    #[test]
    fn ids_are_v7_and_ordered() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_795_611_702_444);
        let a = new_id(t);
        let b = new_id(t + std::time::Duration::from_millis(1));
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert!(a < b);
        assert_ne!(new_id(t), new_id(t));
        let (secs, _) = a.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_795_611_702);
    }

    #[test]
    fn stamping_caps_raw() {
        let origin = Origin {
            sensor_id: "s".into(),
            persona: "p".into(),
            public_ip: None,
            raw_limit: 4,
        };
        let session = SessionInfo::new("modbus".into(), Transport::Tcp, None, None);
        let mut d = EventDraft::new("modbus.request").with("unit", 1);
        d.body.raw = Some(vec![1, 2, 3, 4, 5, 6]);
        let e = Event::stamp(&origin, &session, d, SystemTime::UNIX_EPOCH);
        let raw = e.raw.unwrap();
        assert_eq!(raw.bytes, vec![1, 2, 3, 4]);
        assert!(raw.truncated());
        assert_eq!(raw.len, 6);
        assert_eq!(e.session_id, session.id);
        assert_eq!(e.data["unit"], 1);
    }
}
