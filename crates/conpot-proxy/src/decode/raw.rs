//! The decoders that do not frame: every chunk logged as bytes (`raw`), or as bytes and
//! text (`ascii`, as Conpot's `AsciiDecoder`). Also the raw event every decoder uses for
//! bytes it cannot frame.

use conpot_core::event::EventDraft;
use serde_json::json;

use super::{Decoder, Direction};

/// Bytes of one chunk kept in a raw event; the event says how many there were.
pub const MAX_RAW: usize = 4096;

/// The `proxy.data` event of `bytes` that passed in `dir`, cut to [`MAX_RAW`] with the
/// real length in `length`; `note` says why they are raw when a decoder gave up.
pub fn raw_event(dir: Direction, bytes: &[u8], note: Option<&str>) -> EventDraft {
    let mut d = EventDraft::new("proxy.data")
        .with("direction", dir.as_str())
        .with("length", bytes.len());
    if bytes.len() > MAX_RAW {
        d = d.with("truncated", true);
    }
    if let Some(n) = note {
        d.body.error = Some(n.to_owned());
    }
    let kept = bytes.get(..MAX_RAW).unwrap_or(bytes).to_vec();
    match dir {
        Direction::ToUpstream => d.body.raw = Some(kept),
        Direction::FromUpstream => d.body.raw_response = Some(kept),
    }
    d
}

/// Logs every chunk as bytes.
#[derive(Debug, Default)]
pub struct RawDecoder;

impl Decoder for RawDecoder {
    fn feed(&mut self, dir: Direction, bytes: &[u8], out: &mut Vec<EventDraft>) {
        out.push(raw_event(dir, bytes, None));
    }

    fn finish(&mut self, _out: &mut Vec<EventDraft>) {}
}

/// Logs every chunk as bytes and as text (invalid UTF-8 replaced).
#[derive(Debug, Default)]
pub struct AsciiDecoder;

impl Decoder for AsciiDecoder {
    fn feed(&mut self, dir: Direction, bytes: &[u8], out: &mut Vec<EventDraft>) {
        let mut d = raw_event(dir, bytes, None);
        let text = String::from_utf8_lossy(bytes.get(..MAX_RAW).unwrap_or(bytes)).into_owned();
        match dir {
            Direction::ToUpstream => d.body.request = Some(json!(text)),
            Direction::FromUpstream => d.body.response = Some(json!(text)),
        }
        out.push(d);
    }

    fn finish(&mut self, _out: &mut Vec<EventDraft>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_events_are_bounded_and_directed() {
        let big = vec![0x41u8; MAX_RAW + 10];
        let d = raw_event(Direction::FromUpstream, &big, None);
        assert_eq!(d.body.raw_response.as_ref().map(Vec::len), Some(MAX_RAW));
        assert!(d.body.raw.is_none());
        assert_eq!(d.body.data.get("length"), Some(&json!(MAX_RAW + 10)));
        assert_eq!(d.body.data.get("truncated"), Some(&json!(true)));
        let mut out = Vec::new();
        AsciiDecoder.feed(Direction::ToUpstream, &[0x80, b'a', b'b'], &mut out);
        assert_eq!(out[0].body.request, Some(json!("\u{FFFD}ab")));
        assert_eq!(out[0].body.raw.as_deref(), Some(&[0x80, b'a', b'b'][..]));
    }
}
