//! The text log's form of an event: one readable line, the way Conpot's own log shows
//! traffic ("New modbus session from ..."), for operators who read `conpot.log` rather than
//! a JSON log. Whatever came from the wire is JSON-quoted or hex, so a line never breaks in
//! two and never carries control characters.

use std::fmt::Write;

use conpot_core::event::Event;
use conpot_core::hex::Hex;
use serde_json::Value as Json;

use super::safe::SafeJson;

/// Longest line written; the rest of a larger event is cut (the JSON sinks keep it whole).
pub const MAX_LINE: usize = 8192;

/// Appends the one-line text form of `event` to `out` (no newline).
pub fn text_line(event: &Event, out: &mut String) {
    let start = out.len();
    let src = event.src.map(|a| a.to_string()).unwrap_or_else(|| "?".into());
    // `write!` into a String cannot fail.
    let _ = match &*event.event_type {
        "session.open" => write!(
            out,
            "New {} session from {src} to {} over {}",
            event.protocol,
            event.dst.map(|a| a.to_string()).unwrap_or_else(|| "?".into()),
            event.transport.as_str()
        ),
        "session.close" => write!(out, "{} session from {src} closed", event.protocol),
        t if event.src.is_none() => write!(out, "{t}"),
        t => write!(out, "{t} from {src}"),
    };
    let mut sep = ": ";
    let mut part = |out: &mut String, name: &str, value: &dyn std::fmt::Display| {
        let _ = write!(out, "{sep}{name}={value}");
        sep = " ";
    };
    if let Some(r) = &event.request {
        part(out, "request", &SafeJson(r));
    }
    if let Some(r) = &event.response {
        part(out, "response", &SafeJson(r));
    }
    if let Some(e) = &event.error {
        part(out, "error", &SafeJson(&Json::String(e.clone())));
    }
    for (k, v) in event.data.iter() {
        part(out, k, &Plain(v));
    }
    if let Some(r) = &event.raw {
        part(out, "raw", &Hex(&r.bytes));
    }
    if event.response.is_none()
        && let Some(r) = &event.raw_response
    {
        part(out, "raw_response", &Hex(&r.bytes));
    }
    if event.src.is_some() {
        let _ = write!(out, " ({})", event.session_id.hyphenated());
    }
    cut(out, start);
}

/// A data value: a plain word (no space, quote, `=` or backslash) as it is, anything
/// else as JSON.
struct Plain<'a>(&'a Json);

impl std::fmt::Display for Plain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Json::String(s)
                if !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'=' | b'\\')) =>
            {
                f.write_str(s)
            }
            other => write!(f, "{}", SafeJson(other)),
        }
    }
}

/// Cuts what was appended after `start` to [`MAX_LINE`] bytes, on a character boundary.
fn cut(out: &mut String, start: usize) {
    const MARK: &str = " ...(cut)";
    if out.len() - start <= MAX_LINE {
        return;
    }
    let mut end = start + MAX_LINE - MARK.len();
    while !out.is_char_boundary(end) {
        end -= 1;
    }
    out.truncate(end);
    out.push_str(MARK);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use conpot_core::event::{EventDraft, Origin, SessionInfo, Transport};
    use serde_json::json;
    use std::time::SystemTime;

    fn stamp(draft: EventDraft, src: bool) -> Event {
        let origin = Origin {
            sensor_id: "s".into(),
            persona: "p".into(),
            public_ip: None,
            raw_limit: 1 << 20,
        };
        let session = if src {
            SessionInfo::new(
                "modbus".into(),
                Transport::Tcp,
                Some("203.0.113.5:40122".parse().unwrap()),
                Some("10.0.0.1:502".parse().unwrap()),
            )
        } else {
            SessionInfo::new("sensor".into(), Transport::None, None, None)
        };
        Event::stamp(&origin, &session, draft, SystemTime::UNIX_EPOCH)
    }

    fn line(e: &Event) -> String {
        let mut s = String::new();
        text_line(e, &mut s);
        s
    }

    #[test]
    fn sessions_and_requests_read_like_conpots_log() {
        let open = stamp(EventDraft::new("session.open"), true);
        let id = open.session_id.hyphenated().to_string();
        assert_eq!(
            line(&open),
            format!("New modbus session from 203.0.113.5:40122 to 10.0.0.1:502 over tcp ({id})")
        );
        let mut d = EventDraft::new("modbus.request").with("unit_id", 1).with("note", "a b");
        d.body.request = Some(json!({"function": "read_coils", "quantity": 8}));
        d.body.response = Some(json!({"values": [1, 0]}));
        d.body.raw = Some(vec![0, 1, 0xff]);
        d.body.raw_response = Some(vec![9]);
        let l = line(&stamp(d, true));
        assert!(
            l.starts_with(
                "modbus.request from 203.0.113.5:40122: request={\"function\":\"read_coils\",\"quantity\":8} response={\"values\":[1,0]} unit_id=1 note=\"a b\" raw=0001ff ("
            ),
            "{l}"
        );
        assert!(
            !l.contains("raw_response"),
            "decoded responses are not repeated in hex: {l}"
        );
        let close = stamp(EventDraft::new("session.close").with("reason", "peer"), true);
        assert!(
            line(&close).starts_with("modbus session from 203.0.113.5:40122 closed: reason=peer ("),
            "{}",
            line(&close)
        );
        let start = stamp(EventDraft::new("sensor.start").with("ready_ms", 12.5), false);
        assert_eq!(line(&start), "sensor.start: ready_ms=12.5");
    }

    #[test]
    fn wire_text_stays_on_one_line_and_long_events_are_cut() {
        let mut d = EventDraft::new("s7.error").with("name", "x\ny\u{1b}[31m");
        d.body.error = Some("bad\r\nframe".into());
        let l = line(&stamp(d, true));
        assert!(!l.contains('\n') && !l.contains('\r') && !l.contains('\u{1b}'), "{l:?}");
        assert!(l.contains("error=\"bad\\r\\nframe\""), "{l}");
        let mut big = EventDraft::new("modbus.request");
        big.body.request = Some(json!("é".repeat(MAX_LINE)));
        let l = line(&stamp(big, true));
        assert!(l.len() <= MAX_LINE && l.ends_with("...(cut)"), "{}", l.len());
    }
}
