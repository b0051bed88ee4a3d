//! Arbitrary lines through a logged-in Telnet console (command matching, modes, databus
//! writes, line editing), exactly as the listener drives a session.
#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use conpot_core::drive::Driver;
use conpot_telnet::TelnetService;
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = r#"
[template]
unit = "fuzz"
vendor = "fuzz"
[persona]
hostname = "h"
mac = "m"
serial = "s"
ip_address = "i"
[databus]
holding = [0, 0, 0, 0]
[[users]]
name = "a"
password = "b"
privilege = "operator"
[protocols.telnet]
port = 23
console = "scalance"
[[protocols.telnet.commands]]
command = "set reg"
args = 2
set = { key = "holding", index = "arg1", value = "{arg2}" }
output = "{databus.holding[arg1]} {args} {line}\n"
"#;

fn service() -> &'static TelnetService {
    static SVC: OnceLock<TelnetService> = OnceLock::new();
    SVC.get_or_init(|| {
        let (d, section) = conpot_core::drive::device_and_section(TEMPLATE, "telnet").unwrap();
        TelnetService::build(&section, &d).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::UNIX_EPOCH;
    let (mut d, _) = Driver::tcp(service(), 23, now);
    d.input(b"\xff\xfd\x01a\r\nb\r\nen\r\n", now);
    let s = d.input(data, now);
    assert!(d.buffered().is_empty());
    assert!(s.bytes.len() <= 64 * 1024 * (1 + data.len()));
    d.eof(now);
});
