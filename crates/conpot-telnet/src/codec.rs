//! The Telnet byte stream (RFC 854/855): IAC commands, option verbs and subnegotiations
//! taken out of the data, across any segment boundary, and the end-of-line forms (CR LF,
//! CR NUL, a bare CR or LF) folded into one line end. The parser keeps its state between
//! calls, so a command split over two TCP segments is read as one.

/// Interpret As Command.
pub const IAC: u8 = 255;
/// Refuse to perform an option / ask the peer to stop.
pub const DONT: u8 = 254;
/// Ask the peer to perform an option.
pub const DO: u8 = 253;
/// Refuse to perform an option.
pub const WONT: u8 = 252;
/// Offer to perform an option.
pub const WILL: u8 = 251;
/// Start of a subnegotiation.
pub const SB: u8 = 250;
/// Go ahead.
pub const GA: u8 = 249;
/// Erase line.
pub const EL: u8 = 248;
/// Erase character.
pub const EC: u8 = 247;
/// Are you there.
pub const AYT: u8 = 246;
/// Abort output.
pub const AO: u8 = 245;
/// Interrupt process.
pub const IP: u8 = 244;
/// Break.
pub const BRK: u8 = 243;
/// Data mark (the end of urgent data).
pub const DM: u8 = 242;
/// No operation.
pub const NOP: u8 = 241;
/// End of a subnegotiation.
pub const SE: u8 = 240;

/// The largest subnegotiation kept (its option byte excluded); longer ones are read to
/// their end and reported as oversized, never buffered.
pub const MAX_SUBNEG: usize = 512;

/// One thing found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A data byte (an escaped IAC IAC gives 255). The end of a line is [`Item::Eol`].
    Data(u8),
    /// The end of a line: CR LF, CR NUL, a lone CR or a lone LF.
    Eol,
    /// A two-byte command (`IAC IP`, `IAC AYT`, `IAC NOP`, ...): the command byte.
    Command(u8),
    /// `IAC WILL|WONT|DO|DONT option`.
    Verb(u8, u8),
    /// `IAC SB option ... IAC SE`: the option and its parameters (IAC IAC unescaped).
    Sub(u8, Vec<u8>),
    /// A subnegotiation over [`MAX_SUBNEG`] bytes: its option and full length.
    SubTooLong(u8, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    Data,
    /// A CR was the last data byte: a following LF or NUL belongs to it.
    Cr,
    Iac,
    Verb(u8),
    SbOption,
    Sb,
    SbIac,
}

/// The stream parser of one connection.
#[derive(Debug, Default)]
pub struct Parser {
    state: State,
    sb_option: u8,
    sb: Vec<u8>,
    sb_len: usize,
    /// The peer sends binary (TRANSMIT-BINARY is on for its side): CR is plain data.
    pub binary: bool,
}

impl Parser {
    /// A parser at the start of a connection.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Whether the parser is inside a command or subnegotiation (a truncated one at EOF).
    pub fn in_command(&self) -> bool {
        !matches!(self.state, State::Data | State::Cr)
    }

    /// Reads every byte of `input`, calling `emit` for each item in order.
    pub fn feed(&mut self, input: &[u8], mut emit: impl FnMut(Item)) {
        for &b in input {
            self.byte(b, &mut emit);
        }
    }

    fn byte(&mut self, b: u8, emit: &mut impl FnMut(Item)) {
        match self.state {
            State::Data | State::Cr => {
                let after_cr = self.state == State::Cr;
                self.state = State::Data;
                match b {
                    IAC => self.state = State::Iac,
                    // The second half of CR LF or CR NUL.
                    b'\n' | 0 if after_cr => {}
                    b'\r' if !self.binary => {
                        self.state = State::Cr;
                        emit(Item::Eol);
                    }
                    b'\n' if !self.binary => emit(Item::Eol),
                    _ => emit(Item::Data(b)),
                }
            }
            State::Iac => {
                self.state = State::Data;
                match b {
                    IAC => emit(Item::Data(IAC)),
                    WILL | WONT | DO | DONT => self.state = State::Verb(b),
                    SB => self.state = State::SbOption,
                    other => emit(Item::Command(other)),
                }
            }
            State::Verb(v) => {
                self.state = State::Data;
                emit(Item::Verb(v, b));
            }
            State::SbOption => {
                self.sb_option = b;
                self.sb.clear();
                self.sb_len = 0;
                self.state = State::Sb;
            }
            State::Sb => match b {
                IAC => self.state = State::SbIac,
                _ => self.sb_push(b),
            },
            State::SbIac => match b {
                IAC => {
                    self.sb_push(IAC);
                    self.state = State::Sb;
                }
                SE => {
                    self.state = State::Data;
                    if self.sb_len > MAX_SUBNEG {
                        emit(Item::SubTooLong(self.sb_option, self.sb_len));
                    } else {
                        emit(Item::Sub(self.sb_option, std::mem::take(&mut self.sb)));
                    }
                    self.sb_len = 0;
                }
                // RFC 855 leaves IAC + anything else inside SB undefined; clients that
                // forget IAC SE are read as ending the subnegotiation here, so a lost SE
                // cannot swallow the rest of the session.
                other => {
                    self.state = State::Data;
                    if self.sb_len > MAX_SUBNEG {
                        emit(Item::SubTooLong(self.sb_option, self.sb_len));
                    } else {
                        emit(Item::Sub(self.sb_option, std::mem::take(&mut self.sb)));
                    }
                    self.sb_len = 0;
                    self.byte_after_iac(other, emit);
                }
            },
        }
    }

    fn byte_after_iac(&mut self, b: u8, emit: &mut impl FnMut(Item)) {
        self.state = State::Iac;
        self.byte(b, emit);
    }

    fn sb_push(&mut self, b: u8) {
        self.sb_len = self.sb_len.saturating_add(1);
        if self.sb_len <= MAX_SUBNEG {
            self.sb.push(b);
        } else if !self.sb.is_empty() {
            // Never keep more than the limit: drop what was kept of an oversized one.
            self.sb = Vec::new();
        }
    }
}

/// Appends `text` to `out` as Telnet data: every IAC doubled, every bare LF sent as CR LF
/// (a device's output lines end in CR LF on the wire), every lone CR as CR NUL.
pub fn put_text(out: &mut Vec<u8>, text: &[u8]) {
    let mut prev = 0u8;
    for (i, &b) in text.iter().enumerate() {
        match b {
            IAC => out.extend_from_slice(&[IAC, IAC]),
            b'\n' if prev != b'\r' => out.extend_from_slice(b"\r\n"),
            b'\r' if text.get(i + 1) != Some(&b'\n') => out.extend_from_slice(b"\r\0"),
            _ => out.push(b),
        }
        prev = b;
    }
}

/// Appends `IAC verb option`.
pub fn put_verb(out: &mut Vec<u8>, verb: u8, option: u8) {
    out.extend_from_slice(&[IAC, verb, option]);
}

/// Appends `IAC SB option params IAC SE`, with IAC in the parameters doubled.
pub fn put_sub(out: &mut Vec<u8>, option: u8, params: &[u8]) {
    out.extend_from_slice(&[IAC, SB, option]);
    for &b in params {
        if b == IAC {
            out.push(IAC);
        }
        out.push(b);
    }
    out.extend_from_slice(&[IAC, SE]);
}

/// The name of a verb byte, for events.
pub fn verb_name(verb: u8) -> &'static str {
    match verb {
        WILL => "WILL",
        WONT => "WONT",
        DO => "DO",
        DONT => "DONT",
        _ => "?",
    }
}

/// The name of a two-byte command, for events.
pub fn command_name(cmd: u8) -> &'static str {
    match cmd {
        GA => "GA",
        EL => "EL",
        EC => "EC",
        AYT => "AYT",
        AO => "AO",
        IP => "IP",
        BRK => "BRK",
        DM => "DM",
        NOP => "NOP",
        SE => "SE",
        _ => "unknown",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<Item> {
        let mut p = Parser::new();
        let mut items = Vec::new();
        for c in chunks {
            p.feed(c, |i| items.push(i));
        }
        items
    }

    #[test]
    fn commands_split_anywhere_read_the_same() {
        let stream: &[u8] = b"a\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0b\xff\xffc\r\nd\r\0e\nf\r";
        let whole = parse(&[stream]);
        assert_eq!(
            whole,
            vec![
                Item::Data(b'a'),
                Item::Verb(WILL, 31),
                Item::Sub(31, vec![0, 80, 0, 24]),
                Item::Data(b'b'),
                Item::Data(255),
                Item::Data(b'c'),
                Item::Eol,
                Item::Data(b'd'),
                Item::Eol,
                Item::Data(b'e'),
                Item::Eol,
                Item::Data(b'f'),
                Item::Eol,
            ]
        );
        for cut in 0..stream.len() {
            assert_eq!(parse(&[&stream[..cut], &stream[cut..]]), whole, "cut at {cut}");
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse(&bytes), whole);
    }

    #[test]
    fn subnegotiation_is_bounded() {
        let mut s = vec![IAC, SB, 24];
        s.extend(std::iter::repeat_n(b'x', MAX_SUBNEG + 10));
        s.extend_from_slice(&[IAC, SE, b'z']);
        let mut p = Parser::new();
        let mut items = Vec::new();
        p.feed(&s, |i| items.push(i));
        assert_eq!(items, vec![Item::SubTooLong(24, MAX_SUBNEG + 10), Item::Data(b'z')]);
        assert!(p.sb.capacity() <= MAX_SUBNEG * 2);
        // At the limit exactly it is kept.
        let mut s = vec![IAC, SB, 24];
        s.extend(std::iter::repeat_n(b'y', MAX_SUBNEG));
        s.extend_from_slice(&[IAC, SE]);
        assert_eq!(parse(&[&s]), vec![Item::Sub(24, vec![b'y'; MAX_SUBNEG])]);
    }

    #[test]
    fn missing_se_ends_the_subnegotiation() {
        assert_eq!(
            parse(&[b"\xff\xfa\x18\x00VT100\xff\xfd\x01x"]),
            vec![Item::Sub(24, b"\0VT100".to_vec()), Item::Verb(DO, 1), Item::Data(b'x')]
        );
    }

    #[test]
    fn binary_keeps_cr() {
        let mut p = Parser::new();
        p.binary = true;
        let mut items = Vec::new();
        p.feed(b"\r\0\n", |i| items.push(i));
        assert_eq!(items, vec![Item::Data(b'\r'), Item::Data(0), Item::Data(b'\n')]);
    }

    #[test]
    fn text_is_escaped() {
        let mut out = Vec::new();
        put_text(&mut out, b"a\nb\r\nc\rd\xff");
        assert_eq!(out, b"a\r\nb\r\nc\r\0d\xff\xff");
        let mut out = Vec::new();
        put_sub(&mut out, 24, &[1, 255]);
        assert_eq!(out, [IAC, SB, 24, 1, 255, 255, IAC, SE]);
    }
}
