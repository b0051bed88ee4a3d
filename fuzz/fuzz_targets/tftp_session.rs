//! Arbitrary datagrams through a TFTP session, on the server's port and on transfer
//! ports, with the clock moving: the first byte of each chunk picks where it goes.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use conpot_core::drive::Driver;
use conpot_core::protocol::IoEvent;
use conpot_tftp::TftpService;
use libfuzzer_sys::fuzz_target;

const TEMPLATE: &str = r#"
[template]
unit = "fuzz"
vendor = "fuzz"
[filesystem]
dir_mode = 0o777
[[filesystem.entries]]
path = "/tftp/a.bin"
content = "0123456789abcdef0123456789abcdef"
[protocols.tftp]
port = 0
root = "/tftp"
max_blksize = 512
"#;

fn service() -> &'static TftpService {
    static SVC: OnceLock<TftpService> = OnceLock::new();
    SVC.get_or_init(|| {
        let (d, section) = conpot_core::drive::device_and_section(TEMPLATE, "tftp").unwrap();
        TftpService::build(&section, &d).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut now = SystemTime::UNIX_EPOCH;
    let (mut d, _) = Driver::udp(service(), 69, now);
    let local = SocketAddr::from(([192, 0, 2, 1], 50000));
    for chunk in data.split(|&b| b == 0xfe) {
        let Some((&sel, rest)) = chunk.split_first() else { continue };
        let channel = u32::from(sel & 0x07);
        match sel >> 5 {
            0 => drop(d.io(IoEvent::Listening { channel, local }, now)),
            1 | 2 => drop(d.io(IoEvent::Data { channel, bytes: rest.to_vec() }, now)),
            3 => drop(d.io(IoEvent::Closed { channel }, now)),
            4 => {
                now += Duration::from_millis(u64::from(sel & 0x1f) * 500);
                drop(d.advance(now));
            }
            _ => drop(d.input(rest, now)),
        }
    }
});
