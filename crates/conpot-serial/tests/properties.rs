//! The RTU framer over any bytes: never panics, consumes within bounds, finds every frame
//! the emitter writes however the stream is cut.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use conpot_core::drive::{Driver, device_and_section};
use conpot_serial::SerialService;
use conpot_serial::rtu::{Direction, Framed, MAX_FRAME, emit, frame};
use proptest::prelude::*;
use std::time::SystemTime;

proptest! {
    #[test]
    fn framer_is_total(data in prop::collection::vec(any::<u8>(), 0..600)) {
        for dir in [Direction::Request, Direction::Response] {
            match frame(&data, dir) {
                Framed::Incomplete => prop_assert!(data.len() < 2 * MAX_FRAME),
                Framed::Frame { size, pdu, .. } => {
                    prop_assert!(size <= data.len() && size <= MAX_FRAME);
                    prop_assert_eq!(pdu.len() + 3, size);
                }
                Framed::BadCrc { size } => prop_assert!(size <= data.len()),
                Framed::Garbage(n) => prop_assert!(n >= 1 && n <= data.len().max(1)),
            }
        }
    }

    #[test]
    fn emitted_frames_are_found(unit in any::<u8>(), regs in prop::collection::vec(any::<u16>(), 1..60), addr in any::<u16>()) {
        // A write multiple registers request, then read request, back to back.
        let mut stream = Vec::new();
        let mut pdu = vec![0x10];
        pdu.extend_from_slice(&addr.to_be_bytes());
        pdu.extend_from_slice(&(regs.len() as u16).to_be_bytes());
        pdu.push((regs.len() * 2) as u8);
        for r in &regs {
            pdu.extend_from_slice(&r.to_be_bytes());
        }
        emit(unit, &mut stream, |w| w.put_bytes(&pdu)).unwrap();
        let first = stream.len();
        emit(unit, &mut stream, |w| w.put_bytes(&[3, 0, 0, 0, 1])).unwrap();
        match frame(&stream, Direction::Request) {
            Framed::Frame { unit: u, pdu: p, size } => {
                prop_assert_eq!(u, unit);
                prop_assert_eq!(p, &pdu[..]);
                prop_assert_eq!(size, first);
            }
            other => prop_assert!(false, "{:?}", other),
        }
        let second = matches!(frame(&stream[first..], Direction::Request), Framed::Frame { size: 8, .. });
        prop_assert!(second);
    }

    #[test]
    fn emulated_sessions_survive_anything(data in prop::collection::vec(any::<u8>(), 0..800), cut in any::<prop::sample::Index>()) {
        let t = r#"
[template]
unit = "t"
vendor = "v"
[databus]
holding = [1, 2, 3, 4]
[protocols.serial]
port = 1
[[protocols.serial.modbus.slaves]]
id = 1
blocks = [{ table = "holding_registers", start = 0, size = 4, key = "holding" }]
"#;
        let (dev, s) = device_and_section(t, "serial").unwrap();
        let svc = SerialService::build(&s, &dev).unwrap();
        let now = SystemTime::UNIX_EPOCH;
        let (mut d, _) = Driver::tcp(&svc, 1, now);
        let at = cut.index(data.len() + 1);
        for part in [&data[..at], &data[at..]] {
            let s = d.input(part, now);
            prop_assert!(d.buffered().is_empty());
            prop_assert!(s.bytes.len() <= (part.len() / 4 + 1) * MAX_FRAME);
        }
        d.eof(now);
    }
}

mod arbiter {
    use conpot_serial::line::{Arbiter, LineOutput, MAX_QUEUE};
    use conpot_serial::rtu::{Direction, Framed, emit, frame};
    use proptest::prelude::*;
    use std::time::{Duration, SystemTime};

    #[derive(Debug, Clone)]
    enum Op {
        Client(u32, Vec<u8>),
        Request(u32, u8, u16),
        Answer(u8),
        Line(Vec<u8>),
        Time(u64),
        Detach(u32),
        Link(bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..4, prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(c, b)| Op::Client(c, b)),
            (0u32..4, 0u8..4, any::<u16>()).prop_map(|(c, u, a)| Op::Request(c, u, a)),
            (0u8..4).prop_map(Op::Answer),
            prop::collection::vec(any::<u8>(), 0..40).prop_map(Op::Line),
            (0u64..800).prop_map(Op::Time),
            (0u32..4).prop_map(Op::Detach),
            any::<bool>().prop_map(Op::Link),
        ]
    }

    /// Whether `bytes` are whole request frames with good CRCs, back to back.
    fn whole_frames(mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match frame(bytes, Direction::Request) {
                Framed::Frame { size, .. } => bytes = &bytes[size..],
                _ => return false,
            }
        }
        true
    }

    proptest! {
        #[test]
        fn the_line_carries_whole_frames_one_transaction_at_a_time(ops in prop::collection::vec(op(), 0..80)) {
            let mut a = Arbiter::new(true, Duration::from_millis(5), Duration::from_millis(300));
            let mut now = SystemTime::UNIX_EPOCH;
            let mut attached = [false; 4];
            for c in 0..4u32 {
                attached[c as usize] = a.attach(c);
            }
            // The request last put on the line: its client (when the op tells) and unit.
            let mut on_line: Option<(Option<u32>, u8)> = None;
            for op in ops {
                let mut out = LineOutput::default();
                let owner = match &op {
                    Op::Client(c, _) | Op::Request(c, ..) => Some(*c),
                    _ => None,
                };
                let going_down = matches!(op, Op::Link(false));
                match op {
                    Op::Client(c, b) => a.client_bytes(c, &b, now, &mut out),
                    Op::Request(c, u, addr) => {
                        let mut f = Vec::new();
                        let [hi, lo] = addr.to_be_bytes();
                        emit(u, &mut f, |w| w.put_bytes(&[3, hi, lo, 0, 1])).unwrap();
                        a.client_bytes(c, &f, now, &mut out);
                    }
                    Op::Answer(u) => {
                        let mut f = Vec::new();
                        emit(u, &mut f, |w| w.put_bytes(&[3, 2, 0, 1])).unwrap();
                        a.line_bytes(&f, now, &mut out);
                    }
                    Op::Line(b) => a.line_bytes(&b, now, &mut out),
                    Op::Time(ms) => {
                        now += Duration::from_millis(ms);
                        a.on_timeout(now, &mut out);
                    }
                    Op::Detach(c) => {
                        a.detach(c);
                        attached[c as usize] = false;
                    }
                    Op::Link(up) => a.link(up, now, &mut out),
                }
                prop_assert!(a.queued() <= MAX_QUEUE);
                prop_assert!(whole_frames(&out.to_line));
                // Every answer goes to an attached client, and only as a whole frame.
                for (c, b) in &out.to_clients {
                    prop_assert!(attached[*c as usize]);
                    let whole = matches!(frame(b, Direction::Response), Framed::Frame { size, .. } if size == b.len());
                    prop_assert!(whole);
                    let (asker, unit) = on_line.unwrap();
                    prop_assert_eq!(b[0], unit);
                    if let Some(asker) = asker {
                        prop_assert_eq!(*c, asker);
                    }
                }
                if !out.to_line.is_empty() {
                    // One request at a time: a call puts at most one frame on the line.
                    let one = matches!(frame(&out.to_line, Direction::Request), Framed::Frame { size, .. } if size == out.to_line.len());
                    prop_assert!(one);
                    on_line = Some((owner, out.to_line[0]));
                }
                if going_down {
                    on_line = None;
                }
            }
        }
    }
}
