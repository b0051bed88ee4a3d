//! Encoders: one event to one line of JSON, in each supported schema, or to one line of
//! text for the text log. Encoders know nothing of transports: any sink takes any encoder
//! its destination can hold.

mod ecs;
mod fast;
mod legacy;
// The serde form of the native encoding: the reference the hand-written `fast` encoder is
// tested against, byte for byte.
#[cfg(test)]
mod native;
pub mod safe;
pub mod stix;
mod text;
mod v1;

use conpot_core::event::Event;

pub use legacy::legacy_event_type;
pub use text::{MAX_LINE, text_line};

/// An event encoding, named in a sink's `format` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoder {
    /// Our canonical event (DESIGN.md section 3).
    Native,
    /// Exactly the fields of Conpot's JSON log.
    ConpotLegacy,
    /// Conpot's whole event record (what it hands to hpfeeds): the legacy fields plus
    /// `remote`, `local` and the event dictionary under `data`.
    ConpotV1,
    /// Elastic Common Schema 8.x field names, nested.
    Ecs,
    /// One readable line, as the text log shows events (not JSON).
    Text,
    /// A STIX 2.1 bundle (observed-data, indicators, addresses and files), for TAXII.
    Stix,
}

impl Encoder {
    /// Every encoder, for messages and tests.
    pub const ALL: [Encoder; 6] = [
        Encoder::Native,
        Encoder::ConpotLegacy,
        Encoder::ConpotV1,
        Encoder::Ecs,
        Encoder::Text,
        Encoder::Stix,
    ];

    /// The name a configuration gives it.
    pub fn name(self) -> &'static str {
        match self {
            Encoder::Native => "native",
            Encoder::ConpotLegacy => "conpot-legacy",
            Encoder::ConpotV1 => "conpot-v1",
            Encoder::Ecs => "ecs",
            Encoder::Text => "text",
            Encoder::Stix => "stix",
        }
    }

    /// Parses an encoder name (`conpot` and `legacy` are accepted for `conpot-legacy`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "conpot" | "legacy" => Some(Encoder::ConpotLegacy),
            _ => Encoder::ALL.into_iter().find(|e| e.name() == s),
        }
    }

    /// Whether the encoding reads an event's Conpot view (see
    /// [`conpot_core::event::conpot_view_wanted`]): Conpot's own record forms do.
    pub fn reads_conpot_view(self) -> bool {
        matches!(self, Encoder::ConpotLegacy | Encoder::ConpotV1)
    }

    /// Whether the encoding is a JSON object (databases store only those).
    pub fn is_json(self) -> bool {
        self != Encoder::Text
    }

    /// Appends the encoding of `event` to `out` (no newline). JSON is written with the
    /// escapes of [`safe`], so no string from the wire can disguise the line.
    pub fn encode(self, event: &Event, out: &mut Vec<u8>) -> serde_json::Result<()> {
        match self {
            Encoder::Native => {
                fast::native(event, out);
                Ok(())
            }
            Encoder::ConpotLegacy => safe::to_writer(out, &legacy::Legacy(event)),
            Encoder::ConpotV1 => safe::to_writer(out, &v1::value(event)),
            Encoder::Ecs => safe::to_writer(out, &ecs::value(event)),
            Encoder::Stix => safe::to_writer(out, &stix::value(event)),
            Encoder::Text => {
                let mut line = String::new();
                text_line(event, &mut line);
                out.extend_from_slice(line.as_bytes());
                Ok(())
            }
        }
    }
}

/// Shown as in the configuration, for messages to the operator.
impl std::fmt::Display for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Appends the encoding of `event` in `format` to `out` (no newline), with the escapes
/// of [`safe`] for JSON.
pub fn encode(format: Encoder, event: &Event, out: &mut Vec<u8>) -> serde_json::Result<()> {
    format.encode(event, out)
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
