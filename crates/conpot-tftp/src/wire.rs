//! TFTP packets (RFC 1350) with option extension (RFC 2347): parsing every packet a
//! client may send, bounded, and building the ones a server sends.

/// Largest block size a client may ask for (RFC 2348).
pub const MAX_BLKSIZE: u16 = 65_464;
/// Smallest block size (RFC 2348).
pub const MIN_BLKSIZE: u16 = 8;
/// Most options read from one request.
pub const MAX_OPTIONS: usize = 16;
/// Longest option name or value read.
pub const MAX_OPTION_LEN: usize = 64;

/// Opcodes.
pub mod op {
    /// Read request.
    pub const RRQ: u16 = 1;
    /// Write request.
    pub const WRQ: u16 = 2;
    /// Data.
    pub const DATA: u16 = 3;
    /// Acknowledgment.
    pub const ACK: u16 = 4;
    /// Error.
    pub const ERROR: u16 = 5;
    /// Option acknowledgment (RFC 2347).
    pub const OACK: u16 = 6;
}

/// Error codes (RFC 1350, 2347).
pub mod code {
    /// Not defined, see the message.
    pub const UNDEFINED: u16 = 0;
    /// File not found.
    pub const NOT_FOUND: u16 = 1;
    /// Access violation.
    pub const ACCESS: u16 = 2;
    /// Disk full or allocation exceeded.
    pub const DISK_FULL: u16 = 3;
    /// Illegal TFTP operation.
    pub const ILLEGAL: u16 = 4;
    /// Unknown transfer ID.
    pub const UNKNOWN_TID: u16 = 5;
    /// File already exists.
    pub const EXISTS: u16 = 6;
    /// No such user.
    pub const NO_USER: u16 = 7;
    /// Option negotiation refused (RFC 2347).
    pub const OPTIONS: u16 = 8;
}

/// Transfer mode of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bytes as they are.
    Octet,
    /// Text with CR LF line ends (NVT ASCII).
    Netascii,
    /// RFC 1350's obsolete mail mode.
    Mail,
}

impl Mode {
    /// The mode's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Octet => "octet",
            Mode::Netascii => "netascii",
            Mode::Mail => "mail",
        }
    }
}

/// A read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The file name as sent.
    pub filename: &'a [u8],
    /// The mode.
    pub mode: Mode,
    /// Options in the order sent: names lower-cased, values as sent.
    pub options: Vec<(String, String)>,
}

/// A packet a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Read request.
    Rrq(Request<'a>),
    /// Write request.
    Wrq(Request<'a>),
    /// Data block.
    Data {
        /// Block number.
        block: u16,
        /// Its bytes.
        data: &'a [u8],
    },
    /// Acknowledgment of a block.
    Ack {
        /// Block number.
        block: u16,
    },
    /// Error.
    Error {
        /// Error code.
        code: u16,
        /// Message (NUL-terminated text on the wire).
        message: &'a [u8],
    },
    /// Option acknowledgment (a client never sends it to a server).
    Oack,
}

/// Why a datagram is not a TFTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than an opcode and its fixed fields.
    Short,
    /// An opcode TFTP does not have.
    Opcode(u16),
    /// A request's file name or mode is not NUL-terminated.
    Unterminated,
    /// The mode is none of octet, netascii, mail.
    Mode,
    /// Too many options, or one too long or not terminated.
    Options,
}

impl WireError {
    /// A stable name for events.
    pub fn as_str(self) -> &'static str {
        match self {
            WireError::Short => "short_packet",
            WireError::Opcode(_) => "unknown_opcode",
            WireError::Unterminated => "unterminated_string",
            WireError::Mode => "unknown_mode",
            WireError::Options => "bad_options",
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// Splits `bytes` at the first NUL: the string and what follows.
fn cstr(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|&b| b == 0)?;
    Some((bytes.get(..end)?, bytes.get(end + 1..)?))
}

/// Parses one datagram.
pub fn parse(bytes: &[u8]) -> Result<Packet<'_>, WireError> {
    let opcode = u16_at(bytes, 0).ok_or(WireError::Short)?;
    let body = bytes.get(2..).unwrap_or_default();
    match opcode {
        op::RRQ | op::WRQ => {
            let req = request(body)?;
            Ok(if opcode == op::RRQ {
                Packet::Rrq(req)
            } else {
                Packet::Wrq(req)
            })
        }
        op::DATA => Ok(Packet::Data {
            block: u16_at(body, 0).ok_or(WireError::Short)?,
            data: body.get(2..).unwrap_or_default(),
        }),
        op::ACK => Ok(Packet::Ack {
            block: u16_at(body, 0).ok_or(WireError::Short)?,
        }),
        op::ERROR => {
            let code = u16_at(body, 0).ok_or(WireError::Short)?;
            let rest = body.get(2..).unwrap_or_default();
            let message = cstr(rest).map_or(rest, |(m, _)| m);
            Ok(Packet::Error { code, message })
        }
        op::OACK => Ok(Packet::Oack),
        other => Err(WireError::Opcode(other)),
    }
}

fn request(body: &[u8]) -> Result<Request<'_>, WireError> {
    let (filename, rest) = cstr(body).ok_or(WireError::Unterminated)?;
    let (mode, mut rest) = cstr(rest).ok_or(WireError::Unterminated)?;
    let mode = match mode.to_ascii_lowercase().as_slice() {
        b"octet" => Mode::Octet,
        b"netascii" => Mode::Netascii,
        b"mail" => Mode::Mail,
        _ => return Err(WireError::Mode),
    };
    let mut options = Vec::new();
    while !rest.is_empty() {
        if options.len() >= MAX_OPTIONS {
            return Err(WireError::Options);
        }
        let (name, r) = cstr(rest).ok_or(WireError::Options)?;
        let (value, r) = cstr(r).ok_or(WireError::Options)?;
        if name.len() > MAX_OPTION_LEN || value.len() > MAX_OPTION_LEN {
            return Err(WireError::Options);
        }
        options.push((
            String::from_utf8_lossy(name).to_ascii_lowercase(),
            String::from_utf8_lossy(value).into_owned(),
        ));
        rest = r;
    }
    Ok(Request {
        filename,
        mode,
        options,
    })
}

/// Appends a DATA packet.
pub fn data(out: &mut Vec<u8>, block: u16, bytes: &[u8]) {
    out.extend_from_slice(&op::DATA.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends an ACK packet.
pub fn ack(out: &mut Vec<u8>, block: u16) {
    out.extend_from_slice(&op::ACK.to_be_bytes());
    out.extend_from_slice(&block.to_be_bytes());
}

/// Appends an ERROR packet (the message without NUL bytes).
pub fn error(out: &mut Vec<u8>, code: u16, message: &str) {
    out.extend_from_slice(&op::ERROR.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend(message.bytes().filter(|&b| b != 0));
    out.push(0);
}

/// Appends an OACK packet with `options`.
pub fn oack(out: &mut Vec<u8>, options: &[(&str, String)]) {
    out.extend_from_slice(&op::OACK.to_be_bytes());
    for (name, value) in options {
        out.extend(name.bytes().filter(|&b| b != 0));
        out.push(0);
        out.extend(value.bytes().filter(|&b| b != 0));
        out.push(0);
    }
}

/// Netascii out (RFC 764 as RFC 1350 uses it): LF becomes CR LF, a lone CR becomes CR NUL.
pub fn to_netascii(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for &b in data {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            b => out.push(b),
        }
    }
    out
}

/// Netascii in: CR LF becomes LF, CR NUL becomes CR.
pub fn from_netascii(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut it = data.iter().peekable();
    while let Some(&b) = it.next() {
        if b == b'\r' {
            match it.peek() {
                Some(&&b'\n') => {
                    it.next();
                    out.push(b'\n');
                    continue;
                }
                Some(&&0) => {
                    it.next();
                    out.push(b'\r');
                    continue;
                }
                _ => {}
            }
        }
        out.push(b);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_and_options() {
        let p = parse(b"\0\x01fw.bin\0OCTET\0blksize\x001428\0TSize\x000\0").unwrap();
        let Packet::Rrq(r) = p else { panic!() };
        assert_eq!(r.filename, b"fw.bin");
        assert_eq!(r.mode, Mode::Octet);
        assert_eq!(
            r.options,
            vec![("blksize".into(), "1428".into()), ("tsize".into(), "0".into())]
        );
        assert_eq!(
            parse(b"\0\x02x\0netascii\0").unwrap(),
            Packet::Wrq(Request {
                filename: b"x",
                mode: Mode::Netascii,
                options: vec![]
            })
        );
        assert_eq!(parse(b"\0\x01x\0bogus\0"), Err(WireError::Mode));
        assert_eq!(parse(b"\0\x01x"), Err(WireError::Unterminated));
        assert_eq!(parse(b"\0\x01x\0octet\0blksize\0"), Err(WireError::Options));
        assert_eq!(parse(b"\0\x04\0\x07").unwrap(), Packet::Ack { block: 7 });
        assert_eq!(
            parse(b"\0\x03\0\x01hi").unwrap(),
            Packet::Data { block: 1, data: b"hi" }
        );
        assert_eq!(parse(b"\0\x09"), Err(WireError::Opcode(9)));
        assert_eq!(parse(b"\0"), Err(WireError::Short));
        let mut out = Vec::new();
        error(&mut out, code::NOT_FOUND, "File not found");
        assert_eq!(out, b"\0\x05\0\x01File not found\0");
    }

    #[test]
    fn netascii() {
        assert_eq!(to_netascii(b"a\nb\rc"), b"a\r\nb\r\0c");
        assert_eq!(from_netascii(b"a\r\nb\r\0c"), b"a\nb\rc");
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(Packet::Rrq(r) | Packet::Wrq(r)) = parse(&bytes) {
                prop_assert!(r.options.len() <= MAX_OPTIONS);
            }
        }

        #[test]
        fn data_and_ack_round_trip(block in any::<u16>(), bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut out = Vec::new();
            data(&mut out, block, &bytes);
            prop_assert_eq!(parse(&out).unwrap(), Packet::Data { block, data: &bytes });
            out.clear();
            ack(&mut out, block);
            prop_assert_eq!(parse(&out).unwrap(), Packet::Ack { block });
        }

        #[test]
        fn netascii_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(from_netascii(&to_netascii(&bytes)), bytes);
        }
    }
}
