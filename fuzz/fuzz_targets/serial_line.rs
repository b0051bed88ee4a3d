//! Arbitrary bytes through the shared serial line's arbiter: the input is cut into
//! operations (a client's bytes, the line's bytes, time passing, a client leaving, the
//! link going down or up), in both the decoded and the raw mode. Whatever comes, the
//! arbiter never panics, keeps its queue bounded and puts only whole frames on the line.
#![no_main]

use std::time::{Duration, SystemTime};

use conpot_serial::line::{Arbiter, LineOutput, MAX_QUEUE};
use conpot_serial::rtu::{Direction, Framed, frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for decode in [true, false] {
        let mut a = Arbiter::new(decode, Duration::from_millis(5), Duration::from_millis(200));
        for c in 0..3 {
            a.attach(c);
        }
        let mut now = SystemTime::UNIX_EPOCH;
        let mut rest = data;
        while let [op, len, tail @ ..] = rest {
            let n = usize::from(*len).min(tail.len());
            let (chunk, after) = tail.split_at(n);
            rest = after;
            let mut out = LineOutput::default();
            match op % 6 {
                0 | 1 => a.client_bytes(u32::from(op / 6 % 3), chunk, now, &mut out),
                2 => a.line_bytes(chunk, now, &mut out),
                3 => {
                    now += Duration::from_millis(u64::from(*len) * 4);
                    a.on_timeout(now, &mut out);
                }
                4 => a.detach(u32::from(*len % 3)),
                _ => a.link(len % 2 == 0, now, &mut out),
            }
            assert!(a.queued() <= MAX_QUEUE);
            if decode {
                let mut line = out.to_line.as_slice();
                while !line.is_empty() {
                    match frame(line, Direction::Request) {
                        Framed::Frame { size, .. } => line = line.get(size..).unwrap_or_default(),
                        other => panic!("not a whole frame on the line: {other:?}"),
                    }
                }
            }
        }
    }
});
