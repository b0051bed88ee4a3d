//! The control connection's input: lines cut at a bounded length, and each line parsed
//! into a verb and its argument.
//!
//! A line ends at LF (a CR before it is dropped, as every server tolerates bare LF).
//! A line longer than [`MAX_LINE`] is never buffered whole: the reader reports it once
//! as [`Line::TooLong`] and drops everything up to its end. Telnet control sequences a
//! client may put before `ABOR` (IAC IP IAC DM, RFC 959 section 4.1.3) are skipped.

/// Longest command line kept, its end included: a path of 1024 bytes and a verb fit.
pub const MAX_LINE: usize = 2048;
/// Longest verb (RFC 959 verbs have 3 or 4 letters; `SITE` subcommands are arguments).
pub const MAX_VERB: usize = 8;

/// What the line reader found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line without its end, and how many input bytes it took.
    Complete(&'a [u8], usize),
    /// A line longer than [`MAX_LINE`]: its start (for the event), and how many bytes
    /// were consumed (up to its end, or all of the input when the end is not there yet).
    TooLong(&'a [u8], usize),
    /// No complete line yet.
    Incomplete,
}

/// Cuts lines out of the stream; remembers whether it is inside an overlong line.
#[derive(Debug, Default, Clone)]
pub struct LineReader {
    discarding: bool,
}

impl LineReader {
    /// The next line of `input` (the bytes not consumed yet). Never looks at more than
    /// [`MAX_LINE`] bytes: an overlong line is reported with its first [`MAX_LINE`] bytes,
    /// and its rest is consumed (and dropped) up to its end by the following calls.
    pub fn next<'a>(&mut self, input: &'a [u8]) -> Line<'a> {
        let window = input.get(..input.len().min(MAX_LINE)).unwrap_or_default();
        match window.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let used = end + 1;
                if std::mem::take(&mut self.discarding) {
                    // The tail of an overlong line: dropped, already reported.
                    return Line::TooLong(&[], used);
                }
                let mut line = input.get(..end).unwrap_or_default();
                if let Some(stripped) = line.strip_suffix(b"\r") {
                    line = stripped;
                }
                Line::Complete(line, used)
            }
            None if self.discarding && !window.is_empty() => Line::TooLong(&[], window.len()),
            None if input.len() >= MAX_LINE => {
                self.discarding = true;
                Line::TooLong(window, window.len())
            }
            None => Line::Incomplete,
        }
    }

    /// Whether the reader is dropping the rest of an overlong line.
    pub fn discarding(&self) -> bool {
        self.discarding
    }
}

/// A parsed command line: the verb upper-cased and the argument as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// The verb, upper-case ASCII letters only, at most [`MAX_VERB`].
    pub verb: String,
    /// Everything after the first space (may be empty or hold spaces); `None` when the
    /// line has no space after the verb.
    pub arg: Option<&'a [u8]>,
}

/// Why a line is not a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but whitespace or Telnet controls.
    Empty,
    /// The verb holds something other than ASCII letters, or is too long.
    BadVerb,
}

impl ParseError {
    /// A stable name for events.
    pub fn as_str(self) -> &'static str {
        match self {
            ParseError::Empty => "empty_line",
            ParseError::BadVerb => "bad_verb",
        }
    }
}

/// Parses one line (without its end).
pub fn parse(line: &[u8]) -> Result<Command<'_>, ParseError> {
    let line = skip_telnet(line);
    let (verb, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (line.get(..i).unwrap_or_default(), line.get(i + 1..)),
        None => (line, None),
    };
    if verb.is_empty() {
        return Err(ParseError::Empty);
    }
    if verb.len() > MAX_VERB || !verb.iter().all(u8::is_ascii_alphabetic) {
        return Err(ParseError::BadVerb);
    }
    let verb = verb.iter().map(|b| char::from(b.to_ascii_uppercase())).collect();
    Ok(Command { verb, arg })
}

/// The line without leading Telnet commands (IAC and the byte after it), other bytes
/// above ASCII before the verb, and leading spaces.
fn skip_telnet(mut line: &[u8]) -> &[u8] {
    loop {
        match line {
            [0xff, _, rest @ ..] => line = rest,
            [b, rest @ ..] if *b >= 0x80 || *b == b' ' || *b == b'\t' || *b == 0 => line = rest,
            _ => return line,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_and_verbs() {
        let mut r = LineReader::default();
        assert_eq!(r.next(b"USER bob\r\nPASS"), Line::Complete(b"USER bob", 10));
        assert_eq!(r.next(b"PASS"), Line::Incomplete);
        assert_eq!(r.next(b"NOOP\n"), Line::Complete(b"NOOP", 5));
        let c = parse(b"retr my file.txt ").unwrap();
        assert_eq!(c.verb, "RETR");
        assert_eq!(c.arg, Some(&b"my file.txt "[..]));
        assert_eq!(parse(b"PWD").unwrap().arg, None);
        assert_eq!(parse(b"\xff\xf4\xff\xf2ABOR").unwrap().verb, "ABOR");
        assert_eq!(parse(b"").unwrap_err(), ParseError::Empty);
        assert_eq!(parse(b"RE/TR x").unwrap_err(), ParseError::BadVerb);
        assert_eq!(parse(b"ABCDEFGHI").unwrap_err(), ParseError::BadVerb);
    }

    #[test]
    fn overlong_lines_are_dropped_to_their_end() {
        let mut r = LineReader::default();
        let long = vec![b'A'; MAX_LINE + 10];
        match r.next(&long) {
            Line::TooLong(head, used) => {
                assert_eq!(head.len(), MAX_LINE);
                assert_eq!(used, MAX_LINE, "no more than the limit is looked at");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.next(&long[MAX_LINE..]), Line::TooLong(&[], 10));
        assert_eq!(r.next(b""), Line::Incomplete);
        assert!(r.discarding());
        assert_eq!(r.next(b"AAA\r\nNOOP\r\n"), Line::TooLong(&[], 5));
        assert_eq!(r.next(b"NOOP\r\n"), Line::Complete(b"NOOP", 6));
        // An overlong line followed by more in the same input: the rest is kept.
        let mut r = LineReader::default();
        let mut input = vec![b'B'; 3000];
        input.extend_from_slice(b"\r\nPWD\r\n");
        let Line::TooLong(_, used) = r.next(&input) else {
            panic!()
        };
        let Line::TooLong(head, used2) = r.next(&input[used..]) else {
            panic!()
        };
        assert!(head.is_empty());
        assert_eq!(r.next(&input[used + used2..]), Line::Complete(b"PWD", 5));
    }

    proptest! {
        #[test]
        fn reader_and_parser_never_panic_and_stay_bounded(input in proptest::collection::vec(any::<u8>(), 0..6000)) {
            let mut r = LineReader::default();
            let mut rest = &input[..];
            let mut rounds = 0;
            while !rest.is_empty() && rounds < 10_000 {
                rounds += 1;
                match r.next(rest) {
                    Line::Complete(l, used) => {
                        prop_assert!(l.len() < MAX_LINE && used <= rest.len() && used > 0);
                        if let Ok(c) = parse(l) {
                            prop_assert!(c.verb.len() <= MAX_VERB);
                            prop_assert!(c.verb.bytes().all(|b| b.is_ascii_uppercase()));
                        }
                        rest = &rest[used..];
                    }
                    Line::TooLong(h, used) => {
                        prop_assert!(h.len() <= MAX_LINE && used > 0);
                        rest = &rest[used..];
                    }
                    Line::Incomplete => break,
                }
            }
        }

        #[test]
        fn verb_and_argument_round_trip(verb in "[A-Za-z]{1,8}", arg in proptest::option::of("[ -~]{0,200}")) {
            let line = match &arg {
                Some(a) => format!("{verb} {a}"),
                None => verb.clone(),
            };
            let c = parse(line.as_bytes()).unwrap();
            prop_assert_eq!(c.verb, verb.to_ascii_uppercase());
            prop_assert_eq!(c.arg, arg.as_deref().map(str::as_bytes));
        }
    }
}
