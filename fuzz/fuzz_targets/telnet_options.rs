//! Arbitrary bytes through the Telnet stream parser and the RFC 1143 negotiation: no
//! panic, no answer to an answer, subnegotiations bounded.
#![no_main]

use conpot_telnet::codec::{Item, MAX_SUBNEG, Parser};
use conpot_telnet::options::Options;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut opts = Options::default();
    for o in [0u8, 1, 3, 24, 31] {
        opts.accept_us[usize::from(o)] = o < 4;
        opts.accept_him[usize::from(o)] = o != 1;
    }
    let mut p = Parser::new();
    let (first, second) = data.split_at(data.len() / 2);
    for part in [first, second] {
        p.feed(part, |item| match item {
            Item::Verb(v, o) => {
                let before = (opts.us(o), opts.him(o));
                let r = opts.receive(v, o);
                // Whatever was answered, a second identical verb is never answered again.
                if r.answer.is_some() && r.changed.is_some() {
                    assert!(opts.receive(v, o).answer.is_none(), "{before:?}");
                }
            }
            Item::Sub(_, params) => assert!(params.len() <= MAX_SUBNEG),
            _ => {}
        });
    }
});
