//! The TLS-350 command and reply decoders on arbitrary bytes, then the same bytes through a
//! console session in two pieces: nothing may panic, every answer is whole `SOH` .. ETX
//! frames and the session never holds more than one command's worth of input; and the
//! proxy's relay decoder on the same bytes as both directions.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::drive::{Driver, device_and_section};
use conpot_guardian::GuardianService;
use conpot_guardian::command::{self, Framed, MAX_COMMAND};
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = include_str!("../../templates/guardian_ast/template.toml");

fn service() -> &'static GuardianService {
    static SVC: OnceLock<GuardianService> = OnceLock::new();
    SVC.get_or_init(|| {
        let (device, section) =
            device_and_section(TEMPLATE, "guardian_ast").unwrap_or_else(|_| std::process::abort());
        GuardianService::build(&section, &device).unwrap_or_else(|_| std::process::abort())
    })
}

fuzz_target!(|data: &[u8]| {
    if let Framed::Command { size, .. } = command::frame(data)
        && (size > data.len() || size > MAX_COMMAND)
    {
        std::process::abort();
    }
    let _ = command::parse(data);
    let _ = conpot_guardian::reply::parse(data);
    let now = SystemTime::UNIX_EPOCH;
    let (mut d, _) = Driver::tcp(service(), 10001, now);
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (a, b) = data.split_at(cut);
    let mut out = d.input(a, now).bytes;
    out.extend(d.input(b, now).bytes);
    if d.buffered().len() >= MAX_COMMAND {
        std::process::abort();
    }
    let mut rest = &out[..];
    while let Some(end) = conpot_guardian::reply::frame(rest) {
        if rest.first() != Some(&command::SOH) {
            std::process::abort();
        }
        rest = rest.get(end..).unwrap_or_default();
    }
    if !rest.is_empty() {
        std::process::abort();
    }
    d.eof(now);
    // The proxy's decoder: the first part as the client's bytes, the rest as the gauge's.
    let mut relay = conpot_guardian::relay::Relay::new();
    let mut events = Vec::new();
    relay.client(a, &mut events);
    relay.server(b, &mut events);
    relay.client(b, &mut events);
    relay.server(a, &mut events);
    relay.close(&mut events);
});
