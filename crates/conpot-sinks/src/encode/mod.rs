//! Encoders: one event to one line of JSON, in each supported schema, or to one line of
//! text for the text log.

mod legacy;
mod native;
pub mod safe;
mod text;

use conpot_core::config::EventFormat;
use conpot_core::event::Event;

pub use legacy::legacy_event_type;
pub use text::{MAX_LINE, text_line};

/// Appends the JSON encoding of `event` in `format` to `out` (no newline), with the
/// escapes of [`safe`] so no string from the wire can disguise the line.
pub fn encode(format: EventFormat, event: &Event, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match format {
        EventFormat::Native => safe::to_writer(out, &native::Native(event)),
        EventFormat::ConpotLegacy => safe::to_writer(out, &legacy::Legacy(event)),
    }
}

/// Serializes anything displayable as a JSON string, formatting straight into the output.
pub(crate) struct AsStr<T>(pub T);

impl<T: std::fmt::Display> serde::Serialize for AsStr<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// Python's `repr()` of a bytes object holding `hex` as ASCII, as Conpot's JSON log
/// writes raw request and response data: `b'0001...'`.
pub(crate) fn python_bytes_repr(hex: &impl std::fmt::Display) -> String {
    format!("b'{hex}'")
}
