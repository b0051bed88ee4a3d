//! Arbitrary bytes through the FTP line reader and command parser.
#![no_main]

use conpot_ftp::command::{Line, LineReader, MAX_LINE, MAX_VERB, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = LineReader::default();
    let mut rest = data;
    while !rest.is_empty() {
        match reader.next(rest) {
            Line::Complete(line, used) => {
                assert!(line.len() < MAX_LINE && used > 0 && used <= rest.len());
                if let Ok(c) = parse(line) {
                    assert!(c.verb.len() <= MAX_VERB);
                }
                rest = &rest[used..];
            }
            Line::TooLong(head, used) => {
                assert!(head.len() <= MAX_LINE && used > 0);
                rest = &rest[used..];
            }
            Line::Incomplete => break,
        }
    }
});
