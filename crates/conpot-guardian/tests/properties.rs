//! Property tests: whatever arrives, in whatever pieces, the console never panics, holds
//! at most one command's worth of input, answers only in whole `SOH` .. ETX frames, and
//! answers the same bytes however the stream was cut.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::drive::{Driver, device_and_section};
use conpot_guardian::GuardianService;
use conpot_guardian::command::{self, Framed, MAX_COMMAND};
use proptest::prelude::*;

const TEMPLATE: &str = include_str!("../../../templates/guardian_ast/template.toml");

fn service() -> GuardianService {
    let (device, section) = device_and_section(TEMPLATE, "guardian_ast").unwrap();
    GuardianService::build(&section, &device).unwrap()
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_583_200)
}

/// Streams made of commands, fragments of them and noise.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\x01I20100\r\n".to_vec()),
        Just(b"\x01i20100".to_vec()),
        Just(b"\x01I20500".to_vec()),
        Just(b"\x01S6020".to_vec()),
        Just(b"\x01S60201LABEL\n".to_vec()),
        Just(b"\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..40),
        (0u16..1000, 0u8..20).prop_map(|(f, t)| format!("\x01I{f:03}{t:02}").into_bytes()),
        prop::collection::vec(b'A'..=b'Z', 0..700).prop_map(|v| [b"\x01S60100".to_vec(), v].concat()),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

/// Checks `out` is a sequence of whole frames.
fn whole_frames(mut out: &[u8]) -> usize {
    let mut n = 0;
    while !out.is_empty() {
        assert_eq!(out[0], command::SOH, "{:?}", String::from_utf8_lossy(out));
        let end = out.iter().position(|&b| b == command::ETX).expect("an ETX");
        assert!(!out[1..end].contains(&command::SOH));
        out = &out[end + 1..];
        n += 1;
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_stream_any_cut(input in stream(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let svc = service();
        let (mut whole, _) = Driver::tcp(&svc, 10001, t0());
        let a = whole.input(&input, t0());
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        let (mut cut, _) = Driver::tcp(&svc, 10001, t0());
        let mut b = Vec::new();
        let mut last = 0;
        for p in points.into_iter().chain(std::iter::once(input.len())) {
            b.extend(cut.input(&input[last..p], t0()).bytes);
            prop_assert!(cut.buffered().len() < MAX_COMMAND);
            last = p;
        }
        // Set commands change the shared console: compare against a fresh service.
        prop_assume!(!input.windows(3).any(|w| w == b"\x01S6" || w == b"\x01S5" || w == b"\x01s6" || w == b"\x01s5"));
        prop_assert_eq!(&a.bytes, &b);
        whole_frames(&a.bytes);
        prop_assert!(a.events.len() <= input.len() + 1);
    }

    #[test]
    fn frame_never_overruns(input in prop::collection::vec(any::<u8>(), 0..1200)) {
        match command::frame(&input) {
            Framed::Incomplete => prop_assert!(input.len() < MAX_COMMAND),
            Framed::Noise { len, .. } => prop_assert!(len > 0 && len <= input.len()),
            Framed::Command { command, size } => {
                prop_assert!(size > 1 && size <= input.len() && size <= MAX_COMMAND);
                prop_assert!(command.code.len() <= command::CODE_LEN);
                prop_assert_eq!(command::parse(&input[..size]).map(|c| c.code), Ok(command.code));
            }
            Framed::TooLong { size } => prop_assert_eq!(size, MAX_COMMAND),
        }
        let _ = conpot_guardian::reply::parse(&input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The proxy's relay decoder, fed the client's stream and the console's answers in
    /// any pieces, logs each command with its answer as the console itself did.
    #[test]
    fn relay_decodes_what_the_console_logged(input in stream(), cut in any::<usize>(), scut in any::<usize>()) {
        let svc = service();
        let (mut d, _) = Driver::tcp(&svc, 10001, t0());
        let step = d.input(&input, t0());
        let own: Vec<_> = step.events.iter().filter(|e| e.event_type == "guardian_ast.command").collect();
        let mut relay = conpot_guardian::relay::Relay::new();
        let mut ev = Vec::new();
        let c = cut % (input.len() + 1);
        let s = scut % (step.bytes.len() + 1);
        // The gauge answers what it has received: the client's bytes go first.
        relay.client(&input[..c], &mut ev);
        relay.client(&input[c..], &mut ev);
        relay.server(&step.bytes[..s], &mut ev);
        relay.server(&step.bytes[s..], &mut ev);
        relay.close(&mut ev);
        let decoded: Vec<_> = ev.iter().filter(|e| e.event_type == "guardian_ast.command").collect();
        prop_assert_eq!(own.len(), decoded.len());
        for (a, b) in own.iter().zip(&decoded) {
            for k in ["code", "format", "kind", "function", "tank", "reply"] {
                prop_assert_eq!(a.body.data.get(k), b.body.data.get(k), "{}", k);
            }
            prop_assert_eq!(&a.body.request, &b.body.request);
            prop_assert_eq!(&a.body.response, &b.body.response);
            prop_assert_eq!(&a.body.raw, &b.body.raw);
        }
    }
}

/// A command over the limit that ends exactly where the next command starts: the next one is
/// answered at once (it used to wait for more input, as the cut consumed nothing).
#[test]
fn a_command_right_after_an_over_long_one_is_answered() {
    let mut input = vec![command::SOH];
    input.extend_from_slice(b"S60100");
    input.resize(MAX_COMMAND, b'Z');
    input.extend_from_slice(&[command::SOH, b'I', b'2', b'0', b'1', b'0', b'0']);
    let svc = service();
    let (mut d, _) = Driver::tcp(&svc, 10001, t0());
    let step = d.input(&input, t0());
    let codes: Vec<_> = step
        .events
        .iter()
        .filter(|e| e.event_type == "guardian_ast.command")
        .filter_map(|e| e.body.data.get("code"))
        .collect();
    assert_eq!(codes, [&serde_json::json!("I20100")]);
    assert!(
        String::from_utf8_lossy(&step.bytes).contains("IN-TANK INVENTORY"),
        "{:?}",
        step.bytes
    );
}
