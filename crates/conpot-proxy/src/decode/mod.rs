//! Decoders: the relayed bytes, both directions, turned into events. A decoder reassembles
//! each direction's stream across reads, frames it with the protocol crate's own wire
//! parser, pairs requests with their responses and logs them in the schemas the emulated
//! protocol uses; bytes it cannot frame are logged raw (bounded). Adding a protocol is a
//! variant of [`DecoderKind`] and a type implementing [`Decoder`].

mod guardian;
mod kamstrup;
mod modbus;
mod raw;
mod s7;
mod stream;

pub use guardian::GuardianDecoder;
pub use kamstrup::KamstrupDecoder;
pub use modbus::ModbusDecoder;
pub use raw::{AsciiDecoder, MAX_RAW, RawDecoder, raw_event};
pub use s7::S7Decoder;
pub use stream::Stream;

use conpot_core::event::EventDraft;

/// Which way bytes travel through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the upstream device (requests).
    ToUpstream,
    /// From the upstream device to the client (responses).
    FromUpstream,
}

impl Direction {
    /// The name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ToUpstream => "to_upstream",
            Direction::FromUpstream => "from_upstream",
        }
    }
}

/// Turns one connection's relayed bytes into events. Sans-IO: bytes in, events out.
pub trait Decoder: Send {
    /// Bytes that passed in `dir` (any split: a frame may span calls, a call may hold
    /// several frames).
    fn feed(&mut self, dir: Direction, bytes: &[u8], out: &mut Vec<EventDraft>);

    /// The connection ended: requests still waiting for an answer and partial frames are
    /// logged.
    fn finish(&mut self, out: &mut Vec<EventDraft>);
}

/// The decoders a proxy can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecoderKind {
    /// Every chunk logged as bytes (`proxy.data`).
    Raw,
    /// Every chunk logged as bytes and as text (Conpot's `AsciiDecoder`).
    Ascii,
    /// Modbus/TCP, logged as the Modbus server logs (`modbus.request`).
    Modbus,
    /// S7comm over ISO-on-TCP, logged as the S7 CPU logs (`s7.setup`, `s7.read_var`...).
    S7,
    /// Kamstrup KMP (Conpot's `Decoder382`), logged as the meter logs (`kamstrup.request`).
    Kamstrup,
    /// Guardian AST / Veeder-Root TLS-350, logged as the tank gauge logs (`guardian_ast.command`).
    Guardian,
}

impl DecoderKind {
    /// The names [`DecoderKind::parse`] accepts, for messages.
    pub const NAMES: &'static str = "raw, ascii, modbus, s7comm, kamstrup_meter or guardian_ast";

    /// The decoder named `name` in a native template.
    pub fn parse(name: &str) -> Option<DecoderKind> {
        Some(match name.trim() {
            "raw" | "" => DecoderKind::Raw,
            "ascii" => DecoderKind::Ascii,
            "modbus" => DecoderKind::Modbus,
            "s7comm" | "s7" => DecoderKind::S7,
            "kamstrup_meter" | "kamstrup" => DecoderKind::Kamstrup,
            "guardian_ast" | "guardian" => DecoderKind::Guardian,
            _ => return None,
        })
    }

    /// The decoder of one of Conpot's decoder class paths (or one of our names); an
    /// empty path is [`DecoderKind::Raw`], as Conpot logs raw bytes without a decoder.
    pub fn from_conpot(class: &str) -> Option<DecoderKind> {
        let short = class.trim().rsplit('.').next().unwrap_or_default();
        match short {
            "AsciiDecoder" => Some(DecoderKind::Ascii),
            "Decoder382" => Some(DecoderKind::Kamstrup),
            _ => DecoderKind::parse(class),
        }
    }

    /// The protocol whose events this decoder writes (`None`: the proxy's own).
    pub fn protocol(self) -> Option<&'static str> {
        match self {
            DecoderKind::Raw | DecoderKind::Ascii => None,
            DecoderKind::Modbus => Some("modbus"),
            DecoderKind::S7 => Some("s7comm"),
            DecoderKind::Kamstrup => Some("kamstrup_meter"),
            DecoderKind::Guardian => Some("guardian_ast"),
        }
    }

    /// A fresh decoder for one connection.
    pub fn build(self) -> Box<dyn Decoder> {
        match self {
            DecoderKind::Raw => Box::new(RawDecoder),
            DecoderKind::Ascii => Box::new(AsciiDecoder),
            DecoderKind::Modbus => Box::new(ModbusDecoder::default()),
            DecoderKind::S7 => Box::new(S7Decoder::default()),
            DecoderKind::Kamstrup => Box::new(KamstrupDecoder::default()),
            DecoderKind::Guardian => Box::new(GuardianDecoder::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conpot_classes_and_our_names() {
        let k = DecoderKind::from_conpot;
        assert_eq!(
            k("conpot.protocols.proxy.ascii_decoder.AsciiDecoder"),
            Some(DecoderKind::Ascii)
        );
        assert_eq!(
            k("conpot.protocols.kamstrup_meter.decoder_382.Decoder382"),
            Some(DecoderKind::Kamstrup)
        );
        assert_eq!(k(""), Some(DecoderKind::Raw));
        assert_eq!(k("modbus"), Some(DecoderKind::Modbus));
        assert_eq!(k("s7comm"), Some(DecoderKind::S7));
        assert_eq!(k("some.other.Class"), None);
        assert_eq!(k("guardian_ast"), Some(DecoderKind::Guardian));
        assert_eq!(DecoderKind::parse("telnet"), None);
    }
}
