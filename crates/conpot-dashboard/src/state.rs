//! What the dashboard remembers of the events it has seen, every part bounded: rings of the
//! newest rows, a capped table of open sessions and of sources, one rate series per protocol.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use conpot_core::event::Event;
use serde_json::{Value as Json, json};
use uuid::Uuid;

use crate::ring::{Rate, Ring};

/// Events listed on the page (and sent to a viewer that connects).
pub const RECENT_EVENTS: usize = 200;
/// Open sessions tracked; past it, new sessions are only counted.
pub const MAX_SESSIONS: usize = 2048;
/// Sources counted; past it, the least active is forgotten for a newcomer.
pub const MAX_SOURCES: usize = 4096;
/// Protocols with a rate series (the registry has a few dozen at most).
pub const MAX_PROTOCOLS: usize = 64;
/// Login attempts, captured files and limit hits listed.
pub const RECENT_ROWS: usize = 100;
/// Characters of an event's detail kept (the page is a summary; the sinks have everything).
pub const DETAIL_CHARS: usize = 300;
/// Characters kept of a short attacker-controlled field (user, password, file name).
pub const FIELD_CHARS: usize = 80;

/// Milliseconds since the epoch (0 before it).
pub fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or_default()),
        None => s.to_owned(),
    }
}

/// A JSON value as a short text: strings without their quotes, `null` as empty.
fn text(v: Option<&Json>, max: usize) -> String {
    match v {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => clip(s, max),
        Some(other) => clip(&other.to_string(), max),
    }
}

/// One event as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// When it happened (ms since the epoch).
    pub time_ms: u64,
    /// Its type (`modbus.request`).
    pub event_type: String,
    /// Protocol.
    pub protocol: String,
    /// Persona that served it.
    pub persona: String,
    /// Peer, if any.
    pub src: Option<SocketAddr>,
    /// The session's id, shortened.
    pub session: String,
    /// Request, data and error, as JSON text cut to [`DETAIL_CHARS`] (attacker-controlled).
    pub detail: String,
}

impl Row {
    /// The row of `e`.
    pub fn from_event(e: &Event) -> Row {
        let mut detail = String::new();
        if let Some(r) = &e.request {
            detail.push_str(&clip(&r.to_string(), DETAIL_CHARS));
        }
        if !e.data.is_empty() {
            if !detail.is_empty() {
                detail.push(' ');
            }
            detail.push_str(&clip(&serde_json::to_string(&e.data).unwrap_or_default(), DETAIL_CHARS));
        }
        if let Some(err) = &e.error {
            detail.push_str(" error: ");
            detail.push_str(&clip(err, FIELD_CHARS));
        }
        let id = e.session_id.simple().to_string();
        Row {
            time_ms: epoch_ms(e.timestamp),
            event_type: e.event_type.to_string(),
            protocol: clip(&e.protocol, FIELD_CHARS),
            persona: clip(&e.persona, FIELD_CHARS),
            src: e.src,
            session: id.get(id.len().saturating_sub(8)..).unwrap_or_default().to_owned(),
            detail: clip(&detail, DETAIL_CHARS),
        }
    }

    /// The row as the JSON a viewer's page receives over server-sent events; the page puts
    /// every field in with `textContent`, never as markup.
    pub fn to_json(&self) -> String {
        json!({
            "t": self.time_ms,
            "time": clock(self.time_ms),
            "type": self.event_type,
            "protocol": self.protocol,
            "persona": self.persona,
            "src": self.src.map(|a| a.to_string()).unwrap_or_default(),
            "session": self.session,
            "detail": self.detail,
        })
        .to_string()
    }
}

/// `HH:MM:SS` (UTC) of a time in ms since the epoch.
pub fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", (s / 3600) % 24, (s / 60) % 60, s % 60)
}

/// A session open now.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSession {
    /// Protocol.
    pub protocol: String,
    /// Persona serving it.
    pub persona: String,
    /// Peer.
    pub src: Option<SocketAddr>,
    /// When it opened (ms since the epoch).
    pub opened_ms: u64,
    /// Events of the session so far (its `session.open` included).
    pub events: u64,
}

/// One `auth.attempt`.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    /// When (ms since the epoch).
    pub time_ms: u64,
    /// Protocol.
    pub protocol: String,
    /// Peer.
    pub src: Option<SocketAddr>,
    /// User name tried (empty for none).
    pub username: String,
    /// Password tried (empty for challenge-response).
    pub password: String,
    /// How it was checked.
    pub method: String,
    /// Whether it logged in.
    pub success: bool,
}

/// One `file.upload`.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    /// When (ms since the epoch).
    pub time_ms: u64,
    /// Protocol.
    pub protocol: String,
    /// Peer.
    pub src: Option<SocketAddr>,
    /// Name the attacker gave it.
    pub name: String,
    /// SHA-256, lower-case hex (as the capture store names it).
    pub sha256: String,
    /// Bytes kept.
    pub size: u64,
    /// `stored`, `duplicate`, `quota_exceeded` or `error`.
    pub status: String,
}

impl Captured {
    /// Whether the capture store has its content (so the page links to it).
    pub fn downloadable(&self) -> bool {
        matches!(self.status.as_str(), "stored" | "duplicate") && is_sha256(&self.sha256)
    }
}

/// Whether `s` is 64 lower-case hex digits: a capture's name in the store, and nothing else.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether an event counts in its protocol's rate: what a protocol decoded (requests,
/// commands, logins, malformed frames; not every protocol names its events `.request`),
/// not the session's opening and closing nor the sensor's own events.
pub fn counts_as_activity(event_type: &str) -> bool {
    !matches!(event_type, "session.open" | "session.close" | "events.dropped") && !event_type.starts_with("sensor.")
}

/// Everything the dashboard keeps.
#[derive(Debug)]
pub struct State {
    /// Sessions open now, by id.
    pub sessions: HashMap<Uuid, OpenSession>,
    /// Sessions opened while [`MAX_SESSIONS`] were tracked (not listed).
    pub sessions_untracked: u64,
    /// The newest events.
    pub events: Ring<Row>,
    /// Events per source address.
    pub sources: HashMap<IpAddr, u64>,
    /// Activity per protocol over the last five minutes (see [`counts_as_activity`]).
    pub rates: BTreeMap<String, Rate>,
    /// The newest login attempts.
    pub logins: Ring<Login>,
    /// Login attempts seen, and how many succeeded.
    pub login_counts: (u64, u64),
    /// The newest captured files.
    pub captures: Ring<Captured>,
    /// The newest `limit.hit` events.
    pub limits: Ring<Row>,
    /// Events seen in all.
    pub seen: u64,
}

impl Default for State {
    fn default() -> Self {
        State {
            sessions: HashMap::new(),
            sessions_untracked: 0,
            events: Ring::new(RECENT_EVENTS),
            sources: HashMap::new(),
            rates: BTreeMap::new(),
            logins: Ring::new(RECENT_ROWS),
            login_counts: (0, 0),
            captures: Ring::new(RECENT_ROWS),
            limits: Ring::new(RECENT_ROWS),
            seen: 0,
        }
    }
}

impl State {
    /// Takes in one event; returns its row (for the live stream).
    pub fn record(&mut self, e: &Event) -> Row {
        self.seen += 1;
        let row = Row::from_event(e);
        match &*e.event_type {
            "session.open" => {
                if self.sessions.len() < MAX_SESSIONS {
                    self.sessions.insert(
                        e.session_id,
                        OpenSession {
                            protocol: row.protocol.clone(),
                            persona: row.persona.clone(),
                            src: e.src,
                            opened_ms: row.time_ms,
                            events: 0,
                        },
                    );
                } else {
                    self.sessions_untracked += 1;
                }
            }
            "session.close" => {
                self.sessions.remove(&e.session_id);
            }
            "auth.attempt" => {
                let success = e.data.get("success").and_then(Json::as_bool).unwrap_or(false);
                self.login_counts.0 += 1;
                if success {
                    self.login_counts.1 += 1;
                }
                self.logins.push(Login {
                    time_ms: row.time_ms,
                    protocol: row.protocol.clone(),
                    src: e.src,
                    username: text(e.data.get("username"), FIELD_CHARS),
                    password: text(e.data.get("password"), FIELD_CHARS),
                    method: text(e.data.get("method"), FIELD_CHARS),
                    success,
                });
            }
            "file.upload" => self.captures.push(Captured {
                time_ms: row.time_ms,
                protocol: row.protocol.clone(),
                src: e.src,
                name: text(e.data.get("name"), FIELD_CHARS),
                sha256: text(e.data.get("sha256"), 64),
                size: e.data.get("size").and_then(Json::as_u64).unwrap_or(0),
                status: text(e.data.get("status"), FIELD_CHARS),
            }),
            "limit.hit" => self.limits.push(row.clone()),
            _ => {}
        }
        if counts_as_activity(&e.event_type)
            && (self.rates.contains_key(&row.protocol) || self.rates.len() < MAX_PROTOCOLS)
        {
            self.rates
                .entry(row.protocol.clone())
                .or_default()
                .add(row.time_ms / 1000);
        }
        if let Some(s) = self.sessions.get_mut(&e.session_id) {
            s.events += 1;
        }
        if let Some(src) = e.src {
            self.count_source(src.ip());
        }
        self.events.push(row.clone());
        row
    }

    fn count_source(&mut self, ip: IpAddr) {
        if !self.sources.contains_key(&ip)
            && self.sources.len() >= MAX_SOURCES
            && let Some(least) = self.sources.iter().min_by_key(|(_, n)| **n).map(|(ip, _)| *ip)
        {
            self.sources.remove(&least);
        }
        *self.sources.entry(ip).or_insert(0) += 1;
    }

    /// The `n` busiest sources, busiest first (ties by address, so the order is stable).
    pub fn top_sources(&self, n: usize) -> Vec<(IpAddr, u64)> {
        let mut v: Vec<_> = self.sources.iter().map(|(ip, c)| (*ip, *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use conpot_core::event::{EventDraft, Origin, SessionInfo, Transport};
    use std::sync::Arc;
    use std::time::Duration;

    pub(crate) fn event(session: &SessionInfo, draft: EventDraft, secs: u64) -> Event {
        let origin = Origin {
            sensor_id: Arc::from("s"),
            persona: Arc::from("plc-1"),
            public_ip: None,
            raw_limit: 4096,
        };
        Event::stamp(&origin, session, draft, UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn session(src: &str) -> SessionInfo {
        SessionInfo::new("modbus".into(), Transport::Tcp, Some(src.parse().unwrap()), None)
    }

    #[test]
    fn sessions_open_and_close_and_count_their_events() {
        let mut st = State::default();
        let a = session("10.0.0.1:4000");
        st.record(&event(&a, EventDraft::new("session.open"), 100));
        st.record(&event(&a, EventDraft::new("modbus.request"), 101));
        st.record(&event(&a, EventDraft::new("modbus.request"), 101));
        let open = &st.sessions[&a.id];
        assert_eq!(
            (open.protocol.as_str(), open.persona.as_str(), open.events),
            ("modbus", "plc-1", 3),
            "its open included"
        );
        assert_eq!(
            st.rates["modbus"].series(101).iter().sum::<u32>(),
            2,
            "open and close not counted"
        );
        let sensor = SessionInfo::new("sensor".into(), Transport::None, None, None);
        st.record(&event(&sensor, EventDraft::new("sensor.start"), 101));
        assert!(!st.rates.contains_key("sensor"));
        st.record(&event(&a, EventDraft::new("session.close"), 102));
        assert!(st.sessions.is_empty());
        assert_eq!(st.seen, 5);
        assert_eq!(st.top_sources(5), vec![("10.0.0.1".parse().unwrap(), 4)]);
    }

    #[test]
    fn tables_stay_bounded_under_a_flood() {
        let mut st = State::default();
        for i in 0..(MAX_SESSIONS as u32 + 500) {
            let s = session(&format!("{}:1", std::net::Ipv4Addr::from(0x0a00_0000 + i)));
            st.record(&event(&s, EventDraft::new("session.open"), 1));
            st.record(&event(&s, EventDraft::new("x.request").with("n", i), 1));
        }
        for i in 0..(MAX_SOURCES as u32 + 10) {
            let s = session(&format!("{}:1", std::net::Ipv4Addr::from(0x0b00_0000 + i)));
            st.record(&event(&s, EventDraft::new("x.detail"), 1));
        }
        for p in 0..(MAX_PROTOCOLS + 10) {
            let s = SessionInfo::new(format!("p{p}").into(), Transport::Tcp, None, None);
            st.record(&event(&s, EventDraft::new("p.request"), 1));
        }
        assert_eq!(st.sessions.len(), MAX_SESSIONS);
        assert_eq!(st.sessions_untracked, 500);
        assert!(st.sources.len() <= MAX_SOURCES);
        assert_eq!(st.events.len(), RECENT_EVENTS);
        assert_eq!(st.rates.len(), MAX_PROTOCOLS);
    }

    #[test]
    fn logins_captures_and_limits_are_listed() {
        let mut st = State::default();
        let s = SessionInfo::new("ftp".into(), Transport::Tcp, Some("10.0.0.9:21".parse().unwrap()), None);
        st.record(&event(
            &s,
            EventDraft::new("auth.attempt")
                .with("username", "admin")
                .with("password", "x".repeat(500))
                .with("method", "password")
                .with("success", false),
            5,
        ));
        let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        st.record(&event(
            &s,
            EventDraft::new("file.upload")
                .with("name", "evil.bin")
                .with("sha256", sha)
                .with("size", 5u64)
                .with("status", "stored"),
            6,
        ));
        st.record(&event(&s, EventDraft::new("limit.hit").with("limit", "per_ip"), 7));
        let l = st.logins.newest_first().next().unwrap();
        assert_eq!((l.username.as_str(), l.success), ("admin", false));
        assert_eq!(l.password.chars().count(), FIELD_CHARS + 1, "cut, with the ellipsis");
        assert_eq!(st.login_counts, (1, 0));
        let c = st.captures.newest_first().next().unwrap();
        assert!(c.downloadable());
        assert_eq!(c.sha256, sha);
        assert!(st.limits.newest_first().next().unwrap().detail.contains("per_ip"));
        assert!(!is_sha256("../../etc/passwd"));
        assert!(!is_sha256(&sha.to_uppercase()));
    }

    #[test]
    fn rows_cut_long_details_on_character_boundaries() {
        let s = session("10.0.0.1:1");
        let r = Row::from_event(&event(
            &s,
            EventDraft::new("modbus.request").with("v", "é".repeat(1000)),
            3661,
        ));
        assert!(r.detail.chars().count() <= DETAIL_CHARS + 1);
        assert_eq!(clock(r.time_ms), "01:01:01");
        let j: Json = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(j["src"], "10.0.0.1:1");
        assert_eq!(j["type"], "modbus.request");
    }
}
