//! Properties of the KMP codec and the meter session over arbitrary input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::drive::{Driver, device_and_section};
use conpot_kamstrup::MeterService;
use conpot_kamstrup::kmp::{self, Direction, Frame, Request};
use proptest::prelude::*;

const TEMPLATE: &str = include_str!("../../../templates/kamstrup_382/template.toml");

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_119_051)
}

fn service() -> MeterService {
    let (device, section) = device_and_section(TEMPLATE, "kamstrup_meter").unwrap();
    MeterService::build(&section, &device).unwrap()
}

proptest! {
    #[test]
    fn frames_round_trip(address in any::<u8>(), command in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..300), resp in any::<bool>()) {
        let f = Frame {
            direction: if resp { Direction::Response } else { Direction::Request },
            address,
            command,
            payload,
        };
        let bytes = kmp::encode_frame(&f);
        // Only the first and last bytes are start and stop bytes.
        for b in &bytes[1..bytes.len() - 1] {
            prop_assert!(!kmp::STUFFED.contains(b) || *b == kmp::ESCAPE);
        }
        prop_assert_eq!(kmp::decode_frame(&bytes).unwrap(), f.clone());
        prop_assert_eq!(kmp::scan(&bytes, f.direction), kmp::Scan::Frame { start: 0, end: bytes.len() });
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(f) = kmp::decode_frame(&bytes) {
            let _ = kmp::describe(&f);
            prop_assert_eq!(kmp::decode_frame(&kmp::encode_frame(&f)).unwrap(), f.clone());
        }
        for command in [0x01u8, 0x02, 0x09, 0x10, 0x11, 0xA0, 0xA1, 0xA2, 0xA3] {
            let _ = Request::parse(command, &bytes);
            let _ = kmp::Response::parse(command, &bytes);
        }
    }

    #[test]
    fn the_session_answers_well_formed_frames_and_splits_do_not_matter(
        ids in proptest::collection::vec(prop_oneof![Just(1u16), Just(13), Just(1001), Just(1054), Just(1205), any::<u16>()], 1..10),
        cut in 1usize..40,
        noise in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let svc = service();
        let frame = kmp::encode_frame(&Request::GetRegister(ids.clone()).to_frame(0x3F));
        let (mut whole, _) = Driver::tcp(&svc, 1025, t0());
        whole.input(&noise, t0());
        whole.eof(t0());
        let (mut whole, _) = Driver::tcp(&svc, 1025, t0());
        let a = whole.input(&frame, t0()).bytes;
        let reply = kmp::decode_frame(&a).unwrap();
        prop_assert_eq!(reply.direction, Direction::Response);
        let (mut split, _) = Driver::tcp(&svc, 1025, t0());
        let mut b = Vec::new();
        for chunk in frame.chunks(cut) {
            b.extend(split.input(chunk, t0()).bytes);
        }
        prop_assert_eq!(a, b);
    }

    #[test]
    fn arbitrary_streams_never_panic_and_stay_bounded(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..700), 0..8)) {
        let svc = service();
        let (mut d, _) = Driver::tcp(&svc, 1025, t0());
        for c in &chunks {
            let step = d.input(c, t0());
            prop_assert!(!step.close);
            if !step.bytes.is_empty() {
                prop_assert!(kmp::decode_frame(&step.bytes).is_ok() || step.bytes.starts_with(&[kmp::START_RESPONSE]));
            }
            prop_assert!(d.buffered().len() <= kmp::MAX_FRAME);
        }
        d.eof(t0());
    }
}
