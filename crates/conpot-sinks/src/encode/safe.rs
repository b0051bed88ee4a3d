//! JSON written so that what came from the wire can never disguise a log line: besides
//! the escapes JSON requires (controls below U+0020, quote, backslash), DEL, the C1
//! controls, the bidirectional overrides and isolates (U+202A..U+202E, U+2066..U+2069,
//! U+200E, U+200F, U+061C), the line and paragraph separators and the byte-order mark are
//! written as `\uXXXX` escapes. A terminal or viewer then shows them as text instead of
//! reordering or hiding what follows.

use std::io;

use serde_json::ser::{CompactFormatter, Formatter};

/// Whether `c` is written escaped.
pub fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{7f}'..='\u{9f}'
        | '\u{061c}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}' | '\u{2029}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

/// serde_json's compact output with the extra escapes above.
#[derive(Debug, Clone, Copy, Default)]
pub struct SafeFormatter;

impl Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        // Nearly every fragment is plain ASCII, where nothing is escaped: one copy.
        if fragment.bytes().all(|b| b < 0x7f) {
            return w.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if needs_escape(c) {
                w.write_all(fragment.get(start..i).unwrap_or_default().as_bytes())?;
                write!(w, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(fragment.get(start..).unwrap_or_default().as_bytes())
    }

    // Everything else as the compact formatter writes it.
    fn begin_string<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        CompactFormatter.begin_string(w)
    }
}

/// Serializes `value` as safe JSON into `out`.
pub fn to_writer<T: ?Sized + serde::Serialize>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, SafeFormatter);
    value.serialize(&mut ser)
}

/// A JSON value shown as safe JSON (for the text log).
pub struct SafeJson<'a>(pub &'a serde_json::Value);

impl std::fmt::Display for SafeJson<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = Vec::new();
        to_writer(&mut buf, self.0).map_err(|_| std::fmt::Error)?;
        f.write_str(&String::from_utf8_lossy(&buf))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_controls_are_escaped() {
        let v = serde_json::json!({"name": "evil\u{202e}txt.exe\u{7f}\u{85}\u{2066}ok\n", "plain": "é"});
        let mut out = Vec::new();
        to_writer(&mut out, &v).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"name":"evil\u202etxt.exe\u007f\u0085\u2066ok\n","plain":"é"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v, "still the same JSON");
        assert_eq!(
            SafeJson(&v["name"]).to_string(),
            r#""evil\u202etxt.exe\u007f\u0085\u2066ok\n""#
        );
    }
}
