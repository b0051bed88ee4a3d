//! Properties of the Telnet codec, the negotiation and the console over any input.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::VecDeque;
use std::time::SystemTime;

use conpot_core::drive::{Driver, device_and_section};
use conpot_telnet::TelnetService;
use conpot_telnet::codec::{DO, DONT, Item, Parser, WILL, WONT};
use conpot_telnet::options::{Options, Side};
use proptest::prelude::*;

const TEMPLATE: &str = r#"
[template]
unit = "t"
vendor = "v"
[persona]
hostname = "h"
mac = "m"
serial = "s"
ip_address = "i"
[databus]
holding = [0, 0, 0, 0]
[[users]]
name = "admin"
password = "pw"
privilege = "operator"
[protocols.telnet]
port = 23
console = "hirschmann"
accept_after = 3
[[protocols.telnet.commands]]
command = "set reg"
modes = ["config"]
args = 2
set = { key = "holding", index = "arg1", value = "{arg2}" }
"#;

fn items(chunks: &[&[u8]]) -> Vec<Item> {
    let mut p = Parser::new();
    let mut v = Vec::new();
    for c in chunks {
        p.feed(c, |i| v.push(i));
    }
    v
}

/// Bytes rich in Telnet structure: IAC, verbs, SB/SE, CR, LF, NUL.
fn telnetish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(255u8),
            Just(250u8),
            Just(240u8),
            Just(251u8),
            Just(253u8),
            Just(b'\r'),
            Just(b'\n'),
            Just(0u8),
            Just(8u8),
            Just(3u8),
            any::<u8>(),
            b'a'..=b'z',
            Just(b' '),
        ],
        0..600,
    )
}

proptest! {
    #[test]
    fn parsing_does_not_depend_on_segments(data in telnetish(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let whole = items(&[&data]);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&data[last..p]);
            last = p;
        }
        chunks.push(&data[last..]);
        prop_assert_eq!(items(&chunks), whole);
    }

    #[test]
    fn text_round_trips(data in prop::collection::vec(any::<u8>(), 0..300)) {
        // Console output parses back to the same data, lines as line ends.
        let clean: Vec<u8> = data.iter().copied().filter(|b| *b != b'\r').collect();
        let mut wire = Vec::new();
        conpot_telnet::codec::put_text(&mut wire, &clean);
        let back: Vec<u8> = items(&[&wire])
            .into_iter()
            .map(|i| match i {
                Item::Data(b) => b,
                Item::Eol => b'\n',
                other => panic!("{other:?}"),
            })
            .collect();
        prop_assert_eq!(back, clean);
    }

    #[test]
    fn sessions_survive_anything(data in telnetish(), split in any::<prop::sample::Index>()) {
        let (dev, s) = device_and_section(TEMPLATE, "telnet").unwrap();
        let svc = TelnetService::build(&s, &dev).unwrap();
        let now = SystemTime::UNIX_EPOCH;
        let (mut d, _) = Driver::tcp(&svc, 23, now);
        let at = split.index(data.len() + 1);
        let mut sent = 0;
        let mut events = 0;
        for part in [&data[..at], &data[at..]] {
            let s = d.input(part, now);
            sent += s.bytes.len();
            events += s.events.len();
            prop_assert!(d.buffered().is_empty());
        }
        // Output is bounded by what came in (menus and help are a few KiB per line at most).
        prop_assert!(sent <= 16 * 1024 + data.len() * 3 + 16 * 1024 * data.iter().filter(|b| **b == b'\r' || **b == b'\n').count());
        prop_assert!(events <= data.len() + 1);
        d.eof(now);
    }

    #[test]
    fn negotiation_always_settles(
        wants in prop::collection::vec((any::<bool>(), 0u8..8, any::<bool>(), any::<bool>()), 0..40),
        accept_a in prop::collection::vec(any::<bool>(), 16),
        accept_b in prop::collection::vec(any::<bool>(), 16),
    ) {
        // Two Q-method peers with arbitrary requests and policies exchange verbs until
        // quiet: they settle, and each side's view of an option agrees with the other's.
        let mut peers = [Options::default(), Options::default()];
        peers[0].accept_us[..8].copy_from_slice(&accept_a[..8]);
        peers[0].accept_him[..8].copy_from_slice(&accept_a[8..]);
        peers[1].accept_us[..8].copy_from_slice(&accept_b[..8]);
        peers[1].accept_him[..8].copy_from_slice(&accept_b[8..]);
        let mut wire: [VecDeque<(u8, u8)>; 2] = [VecDeque::new(), VecDeque::new()];
        let mut messages = 0;
        for (who, option, us, enable) in wants {
            let from = usize::from(who);
            let side = if us { Side::Us } else { Side::Him };
            if let Some(v) = peers[from].request(side, option, enable) {
                wire[1 - from].push_back((v, option));
            }
            // Deliver some traffic in between, as a network would.
            for to in 0..2 {
                if let Some((v, o)) = wire[to].pop_front() {
                    messages += 1;
                    if let Some(a) = peers[to].receive(v, o).answer {
                        wire[1 - to].push_back((a, o));
                    }
                }
            }
        }
        while let Some(to) = (0..2).find(|t| !wire[*t].is_empty()) {
            let (v, o) = wire[to].pop_front().unwrap();
            messages += 1;
            prop_assert!(messages < 10_000, "negotiation loops");
            if let Some(a) = peers[to].receive(v, o).answer {
                prop_assert!(matches!(a, WILL | WONT | DO | DONT));
                wire[1 - to].push_back((a, o));
            }
        }
        for o in 0..8u8 {
            prop_assert_eq!(peers[0].us(o).on(), peers[1].him(o).on(), "option {}", o);
            prop_assert_eq!(peers[0].him(o).on(), peers[1].us(o).on(), "option {}", o);
        }
    }

    #[test]
    fn any_line_matches_or_is_refused(line in "[ a-z?0-9-]{0,80}") {
        let (dev, s) = device_and_section(TEMPLATE, "telnet").unwrap();
        let svc = TelnetService::build(&s, &dev).unwrap();
        let c = svc.console();
        for m in ["user", "enable", "config"] {
            let _ = c.find(m, &line);
        }
        // Every command's own words find it (or another with the same words).
        for cmd in &c.commands {
            let mode = cmd.modes.first().map_or("user", String::as_str);
            let words = cmd.words.join(" ");
            let args: Vec<&str> = std::iter::repeat_n("1", cmd.args.0).collect();
            let typed = format!("{words} {}", args.join(" "));
            match c.find(mode, &typed) {
                conpot_telnet::console::Found::Command(found, _) => prop_assert_eq!(&found.words, &cmd.words),
                other => prop_assert!(false, "{typed} in {mode}: {other:?}"),
            }
        }
    }
}
