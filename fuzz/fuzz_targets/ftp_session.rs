//! Arbitrary command bytes and data-channel outcomes through an FTP session: the first
//! byte of each chunk picks what happens (control input, or a listener's report).
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use conpot_core::drive::Driver;
use conpot_core::protocol::IoEvent;
use conpot_ftp::FtpService;
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = r#"
[template]
unit = "fuzz"
vendor = "fuzz"
[[users]]
name = "ftp"
anonymous = true
privilege = "operator"
[filesystem]
dir_mode = 0o777
file_mode = 0o666
[[filesystem.entries]]
path = "/ftp/a.txt"
content = "hello\n"
[protocols.ftp]
port = 0
root = "/ftp"
"#;

fn service() -> &'static FtpService {
    static SVC: OnceLock<FtpService> = OnceLock::new();
    SVC.get_or_init(|| {
        let (d, section) = conpot_core::drive::device_and_section(TEMPLATE, "ftp").unwrap();
        FtpService::build(&section, &d).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut now = SystemTime::UNIX_EPOCH;
    let (mut d, _) = Driver::tcp(service(), 21, now);
    d.input(b"USER anonymous\r\nPASS x\r\n", now);
    let local = SocketAddr::from(([192, 0, 2, 1], 60000));
    let peer = SocketAddr::from(([192, 0, 2, 10], 50000));
    for chunk in data.split(|&b| b == 0xfe) {
        let Some((&sel, rest)) = chunk.split_first() else { continue };
        let channel = u32::from(sel & 0x07);
        match sel >> 4 {
            0 => drop(d.io(IoEvent::Listening { channel, local }, now)),
            1 => drop(d.io(IoEvent::Connected { channel, peer }, now)),
            2 => drop(d.io(IoEvent::Data { channel, bytes: rest.to_vec() }, now)),
            3 => drop(d.io(IoEvent::Drained { channel }, now)),
            4 => drop(d.io(IoEvent::Closed { channel }, now)),
            5 => drop(d.io(IoEvent::Failed { channel, reason: "io" }, now)),
            6 => {
                now += Duration::from_secs(u64::from(sel & 0x0f) * 10);
                drop(d.advance(now));
            }
            _ => drop(d.input(rest, now)),
        }
        if d.closed {
            break;
        }
    }
    d.eof(now);
});
