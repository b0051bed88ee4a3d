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
