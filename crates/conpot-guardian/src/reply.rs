//! The console's answers as a listener on the wire sees them: `SOH` .. ETX frames, told
//! apart as a display report, a computer-format answer (with its checksum checked) or
//! the error answer. The proxy decodes an upstream gauge's answers with this.

use crate::command::{CODE_LEN, ETX, SOH};
use crate::computer::checksum_ok;
use crate::console::ERROR_CODE;

/// What kind of answer a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// A printable report.
    Display,
    /// A computer-format answer; whether its checksum is right.
    Computer {
        /// The checksum matched.
        checksum_ok: bool,
    },
    /// `9999FF1B`: the console refused the command.
    Error,
    /// Bytes that are not a console frame.
    Unframed,
}

impl ReplyKind {
    /// Stable name for events.
    pub fn name(self) -> &'static str {
        match self {
            ReplyKind::Display => "display",
            ReplyKind::Computer { .. } => "computer",
            ReplyKind::Error => "error",
            ReplyKind::Unframed => "unframed",
        }
    }
}

/// One decoded answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    /// Its kind.
    pub kind: ReplyKind,
    /// The command code it answers, when it names one.
    pub code: Option<&'a [u8]>,
    /// The text between `SOH` and ETX.
    pub body: &'a [u8],
}

/// Length of the first complete `SOH` .. ETX frame at the start of `input`, if there is
/// one (bytes before its `SOH` included).
pub fn frame(input: &[u8]) -> Option<usize> {
    let start = input.iter().position(|&b| b == SOH)?;
    let end = input.get(start..)?.iter().position(|&b| b == ETX)?;
    Some(start + end + 1)
}

/// Decodes one answer (as [`frame`] cut it). Never panics, whatever the bytes.
pub fn parse(answer: &[u8]) -> Reply<'_> {
    let unframed = Reply {
        kind: ReplyKind::Unframed,
        code: None,
        body: answer,
    };
    let Some(start) = answer.iter().position(|&b| b == SOH) else {
        return unframed;
    };
    let framed = answer.get(start..).unwrap_or_default();
    let body = framed.get(1..).unwrap_or_default();
    let body = match body.iter().position(|&b| b == ETX) {
        Some(e) => body.get(..e).unwrap_or_default(),
        None => return unframed,
    };
    if body == ERROR_CODE.as_bytes() {
        return Reply {
            kind: ReplyKind::Error,
            code: None,
            body,
        };
    }
    if let Some(rest) = body.strip_prefix(b"\r\n") {
        let line = rest.iter().position(|&b| b == b'\r').unwrap_or(rest.len());
        return Reply {
            kind: ReplyKind::Display,
            code: rest.get(..line.min(CODE_LEN)),
            body,
        };
    }
    let code = body.get(..CODE_LEN);
    if code.is_some_and(|c| c.first().is_some_and(u8::is_ascii_lowercase)) {
        let whole = framed.get(..body.len() + 2).unwrap_or_default();
        return Reply {
            kind: ReplyKind::Computer {
                checksum_ok: checksum_ok(whole),
            },
            code,
            body,
        };
    }
    Reply {
        kind: ReplyKind::Unframed,
        code: None,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(parse(b"\x019999FF1B\x03").kind, ReplyKind::Error);
        let d = parse(b"\x01\r\nI20100\r\nDEC 1, 2026\r\n\x03");
        assert_eq!((d.kind, d.code), (ReplyKind::Display, Some(&b"I20100"[..])));
        let c = crate::computer::acknowledge(b"s60201", std::time::SystemTime::UNIX_EPOCH);
        assert_eq!(parse(&c).kind, ReplyKind::Computer { checksum_ok: true });
        assert_eq!(parse(b"hello").kind, ReplyKind::Unframed);
        assert_eq!(parse(b"\x01open").kind, ReplyKind::Unframed);
        assert_eq!(frame(b"x\x01ab\x03rest"), Some(5));
        assert_eq!(frame(b"\x01ab"), None);
    }
}
