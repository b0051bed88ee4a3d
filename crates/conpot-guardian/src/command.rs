//! TLS-350 commands as a tank gauge reads them from its RS-232 or TCP port: the public
//! decoder that the emulated console and the proxy's decoder both use, so relayed and
//! emulated traffic are logged alike.
//!
//! A command is `SOH`, a six-character function code and, for set commands, data up to a
//! line end. The code is a letter (`I` inquiry and `S` set in display format, `i` and `s`
//! in computer format), a three-digit function number and a two-digit tank number (`00`:
//! all tanks). Bytes outside a command (no `SOH` in front) are not commands: the console
//! ignores them, as the real one ignores line noise.

/// Start of a command and of every reply.
pub const SOH: u8 = 0x01;
/// End of every reply.
pub const ETX: u8 = 0x03;
/// Length of a function code.
pub const CODE_LEN: usize = 6;
/// Longest command, `SOH` and line end included: a product label or station name fits
/// many times over; anything longer is cut ([`Framed::TooLong`]).
pub const MAX_COMMAND: usize = 512;

/// Which form of answer a command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Upper-case letter: the printable report a technician reads.
    Display,
    /// Lower-case letter: packed data with hex floats and a checksum, for point-of-sale
    /// and tank-management software.
    Computer,
}

/// What a command does, from its first letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `I` / `i`: a report.
    Inquiry,
    /// `S` / `s`: a setting, with data.
    Set,
    /// Any other letter (the console answers it with an error).
    Other,
}

/// One decoded command. Borrowed from the input, so decoding allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    /// The function code as sent (at most [`CODE_LEN`] bytes; fewer when the command
    /// ended early, as in `S6020\r\n`).
    pub code: &'a [u8],
    /// Display or computer format.
    pub format: Format,
    /// Inquiry, set or other.
    pub kind: Kind,
    /// The three-digit function number (`201` of `I20100`), when the code has one.
    pub function: Option<u16>,
    /// The two-digit tank number (`00` of `I20100`), when the code has one.
    pub tank: Option<u8>,
    /// Data after the code, line end excluded (a set command's value).
    pub data: &'a [u8],
}

impl Command<'_> {
    /// The code as text (non-ASCII bytes escaped).
    pub fn code_text(&self) -> String {
        escape(self.code)
    }

    /// The data as text (trimmed, non-ASCII bytes escaped).
    pub fn data_text(&self) -> String {
        escape(self.data.trim_ascii())
    }

    /// Whether the code has its six characters: a letter and five digits.
    pub fn is_complete(&self) -> bool {
        self.function.is_some() && self.tank.is_some()
    }
}

/// What the start of a byte stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framed<'a> {
    /// Not enough bytes for a command yet.
    Incomplete,
    /// `len` bytes before the next `SOH` (or all of them): not a command. `filler` when
    /// they are only line ends, spaces, NULs or ETX, what clients put between commands.
    Noise {
        /// Bytes to skip.
        len: usize,
        /// Only separators.
        filler: bool,
    },
    /// A complete command of `size` bytes (its line end included).
    Command {
        /// The command.
        command: Command<'a>,
        /// Bytes it took.
        size: usize,
    },
    /// A command still open after [`MAX_COMMAND`] bytes: the first `size` bytes are to
    /// be dropped, and what follows up to the next line end or `SOH` with them.
    TooLong {
        /// Bytes to drop now.
        size: usize,
    },
}

/// Whether `b` ends a command's data.
pub fn is_terminator(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | ETX)
}

fn is_filler(b: u8) -> bool {
    is_terminator(b) || matches!(b, b' ' | b'\t' | 0)
}

/// Finds the command at the start of `input`, a TCP stream as received.
///
/// An inquiry is complete with its six-character code (the console answers at once, as
/// the real one does over its serial port); whatever follows up to the next `SOH` is
/// noise or filler. A set command runs to its line end (CR, LF or ETX) or the next `SOH`.
/// A code cut short by any other byte ends the command there (`S6020\r\n`).
pub fn frame(input: &[u8]) -> Framed<'_> {
    let Some((&first, body)) = input.split_first() else {
        return Framed::Incomplete;
    };
    if first != SOH {
        let len = input.iter().position(|&b| b == SOH).unwrap_or(input.len());
        let filler = input.iter().take(len).all(|&b| is_filler(b));
        return Framed::Noise { len, filler };
    }
    let code_len = body
        .iter()
        .take(CODE_LEN)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let kind = body.first().map_or(Kind::Other, |&b| kind_of(b));
    if code_len == CODE_LEN && kind != Kind::Set {
        return whole(input, 1 + CODE_LEN, 1 + CODE_LEN);
    }
    if code_len == body.len() && code_len < CODE_LEN {
        // Every byte so far belongs to the code: wait for the rest.
        return Framed::Incomplete;
    }
    // Data runs to the line end (consumed) or the next SOH (left for the next command).
    let data_start = 1 + code_len;
    let rest = input.get(data_start..).unwrap_or_default();
    let room = MAX_COMMAND.saturating_sub(data_start);
    match rest.iter().take(room).position(|&b| is_terminator(b) || b == SOH) {
        Some(i) => {
            let end = data_start + i;
            let size = if input.get(end) == Some(&SOH) { end } else { end + 1 };
            whole(input, end, size)
        }
        None if input.len() >= MAX_COMMAND => Framed::TooLong { size: MAX_COMMAND },
        None => Framed::Incomplete,
    }
}

/// The command of `input[..end]` (SOH first), `size` bytes consumed.
fn whole(input: &[u8], end: usize, size: usize) -> Framed<'_> {
    match input.get(..end).map(parse) {
        Some(Ok(command)) => Framed::Command { command, size },
        // `frame` only calls this on a frame that starts with SOH and has a byte after it.
        _ => Framed::Noise {
            len: size,
            filler: false,
        },
    }
}

fn kind_of(letter: u8) -> Kind {
    match letter {
        b'I' | b'i' => Kind::Inquiry,
        b'S' | b's' => Kind::Set,
        _ => Kind::Other,
    }
}

/// Why bytes are not a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    /// The first byte is not `SOH`.
    NoSoh,
    /// Nothing after `SOH`.
    Empty,
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CommandError::NoSoh => "no SOH before the command",
            CommandError::Empty => "nothing after SOH",
        })
    }
}

impl std::error::Error for CommandError {}

/// Decodes one command: `SOH`, its code and data, with or without its line end (as
/// [`frame`] cut it, or as a proxy received it whole). Never panics, whatever the bytes.
pub fn parse(frame: &[u8]) -> Result<Command<'_>, CommandError> {
    let Some((&SOH, body)) = frame.split_first() else {
        return Err(CommandError::NoSoh);
    };
    let Some(&letter) = body.first() else {
        return Err(CommandError::Empty);
    };
    let body = match body.last() {
        Some(&b) if is_terminator(b) => body.get(..body.len() - 1).unwrap_or_default(),
        _ => body,
    };
    let code_len = body
        .iter()
        .take(CODE_LEN)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let code = body.get(..code_len).unwrap_or_default();
    let data = body.get(code_len..).unwrap_or_default();
    let digits = |r: std::ops::Range<usize>| -> Option<u16> {
        let d = code.get(r)?;
        d.iter().all(u8::is_ascii_digit).then(|| {
            d.iter().fold(0u16, |acc, &b| {
                acc.saturating_mul(10).saturating_add(u16::from(b - b'0'))
            })
        })
    };
    Ok(Command {
        code,
        format: if letter.is_ascii_lowercase() {
            Format::Computer
        } else {
            Format::Display
        },
        kind: kind_of(letter),
        function: digits(1..4),
        tank: digits(4..6).and_then(|t| u8::try_from(t).ok()),
        data,
    })
}

/// Bytes as text: printable ASCII kept, anything else as `\xNN` (CR, LF as `\r`, `\n`).
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn cmd(input: &[u8]) -> (Command<'_>, usize) {
        match frame(input) {
            Framed::Command { command, size } => (command, size),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inquiry_is_complete_with_its_code() {
        let (c, size) = cmd(b"\x01I20100\r\n");
        assert_eq!(size, 7);
        assert_eq!(c.code, b"I20100");
        assert_eq!(
            (c.format, c.kind, c.function, c.tank),
            (Format::Display, Kind::Inquiry, Some(201), Some(0))
        );
        assert_eq!(frame(b"\r\n"), Framed::Noise { len: 2, filler: true });
        let (c, _) = cmd(b"\x01i20103");
        assert_eq!((c.format, c.tank), (Format::Computer, Some(3)));
    }

    #[test]
    fn a_code_cut_at_every_byte_waits() {
        let full = b"\x01I20100";
        for n in 0..full.len() {
            assert_eq!(frame(&full[..n]), Framed::Incomplete, "{n}");
        }
        let set = b"\x01S60201UNLEADED\n";
        for n in 0..set.len() {
            assert_eq!(frame(&set[..n]), Framed::Incomplete, "{n}");
        }
        let (c, size) = cmd(set);
        assert_eq!(
            (size, c.data, c.kind, c.tank),
            (set.len(), &b"UNLEADED"[..], Kind::Set, Some(1))
        );
    }

    #[test]
    fn short_codes_end_at_their_line_end() {
        let (c, size) = cmd(b"\x01S6020\r\n");
        assert_eq!((c.code, size, c.is_complete()), (&b"S6020"[..], 7, false));
        let (c, size) = cmd(b"\x01I2\x01I20100");
        assert_eq!((c.code, size), (&b"I2"[..], 3));
    }

    #[test]
    fn set_data_stops_before_the_next_command() {
        let (c, size) = cmd(b"\x01S60100NEW NAME\x01I20100");
        assert_eq!((c.data, size), (&b"NEW NAME"[..], 15));
    }

    #[test]
    fn noise_and_long_lines() {
        assert_eq!(
            frame(b"GET / HTTP/1.0\r\n\x01"),
            Framed::Noise { len: 16, filler: false }
        );
        let mut long = b"\x01S60201".to_vec();
        long.resize(MAX_COMMAND, b'A');
        assert_eq!(frame(&long), Framed::TooLong { size: MAX_COMMAND });
        long.push(b'\n');
        assert_eq!(
            frame(&long),
            Framed::TooLong { size: MAX_COMMAND },
            "a line end too late"
        );
        long.truncate(MAX_COMMAND - 1);
        assert_eq!(frame(&long), Framed::Incomplete);
        long.push(b'\n');
        assert!(matches!(frame(&long), Framed::Command { size: MAX_COMMAND, .. }));
    }

    #[test]
    fn parse_takes_a_whole_frame() {
        let c = parse(b"\x01S60202PREMIUM\r").unwrap();
        assert_eq!((c.data_text(), c.code_text()), ("PREMIUM".into(), "S60202".into()));
        assert_eq!(parse(b"I20100"), Err(CommandError::NoSoh));
        assert_eq!(parse(b"\x01"), Err(CommandError::Empty));
        assert_eq!(escape(b"a\x01\r\n"), "a\\x01\\r\\n");
    }
}
