//! The FTP session driven in memory as the listener drives it: login, commands, data
//! channels (the listener's side played by the test), uploads, escapes, quota.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use conpot_core::drive::{Driver, Step, device_and_section};
use conpot_core::protocol::{IoEvent, IoRequest};
use conpot_core::vfs::VfsLimits;
use conpot_ftp::FtpService;
use conpot_ftp::reply::codes;

const TEMPLATE: &str = r#"
[template]
unit = "S7-300"
vendor = "Siemens"
[persona]
vendor = "Siemens"
hostname = "plc-042"

[[users]]
name = "admin"
password = "secret"
privilege = "operator"
groups = ["eng"]
uid = 1000

[[users]]
name = "viewer"
password = "look"
privilege = "user"

[[users]]
name = "ftp"
anonymous = true
scope = ["ftp"]
privilege = "operator"
groups = ["eng"]

[[groups]]
name = "eng"
gid = 45

[filesystem]
owner = "root"
group = "root"
date = "2021-06-03T08:14:00Z"

[[filesystem.entries]]
path = "/data/ftp"
owner = "admin"
group = "eng"
mode = 0o775

[[filesystem.entries]]
path = "/data/ftp/readme.txt"
content = "Station {persona.hostname}\nline two\n"
owner = "admin"
group = "eng"

[[filesystem.entries]]
path = "/data/ftp/logs"
owner = "admin"
group = "eng"
mode = 0o775

[[filesystem.entries]]
path = "/etc/passwd"
content = "root:x:0:0::/root:/bin/sh\n"

[protocols.ftp]
enabled = true
port = 2121
banner = "{persona.hostname} FTP server ready."
root = "/data/ftp"
motd = "Authorized personnel only"
data_ports = [60000, 60010]
max_login_attempts = 2
idle_timeout = 30
transfer_timeout = 10
"#;

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn service() -> FtpService {
    let (device, section) = device_and_section(TEMPLATE, "ftp").unwrap();
    FtpService::build(&section, &device).unwrap()
}

fn text(s: &Step) -> String {
    String::from_utf8_lossy(&s.bytes).into_owned()
}

fn cmd(d: &mut Driver, line: &str) -> Step {
    d.input(format!("{line}\r\n").as_bytes(), t0())
}

fn login(svc: &FtpService, user: &str, pw: &str) -> Driver {
    let (mut d, greet) = Driver::tcp(svc, 2121, t0());
    assert_eq!(text(&greet), "220 plc-042 FTP server ready.\r\n");
    assert_eq!(codes(&cmd(&mut d, &format!("USER {user}")).bytes), vec![331]);
    let s = cmd(&mut d, &format!("PASS {pw}"));
    assert_eq!(codes(&s.bytes), vec![230], "{}", text(&s));
    d
}

/// PASV: the session asks for a listener; the test answers as the listener would.
fn pasv(d: &mut Driver, local_port: u16) -> u32 {
    let s = cmd(d, "PASV");
    assert!(s.bytes.is_empty(), "PASV waits for the listener");
    let [IoRequest::OpenDataListener { channel, ports }] = s.requests.as_slice() else {
        panic!("{:?}", s.requests)
    };
    assert_eq!(*ports, (60000, 60010));
    let ch = *channel;
    let local = SocketAddr::from(([192, 0, 2, 1], local_port));
    let s = d.io(IoEvent::Listening { channel: ch, local }, t0());
    let p1 = local_port >> 8;
    let p2 = local_port & 0xff;
    assert_eq!(
        text(&s),
        format!("227 Entering Passive Mode (192,0,2,1,{p1},{p2}).\r\n")
    );
    assert_eq!(s.event("ftp.command").unwrap().body.data["command"], "PASV");
    let peer = SocketAddr::from(([192, 0, 2, 10], 40001));
    d.io(IoEvent::Connected { channel: ch, peer }, t0());
    ch
}

/// Plays the data connection of a download: collects the sends, acknowledges each, and
/// returns the bytes and the final control replies.
fn download(d: &mut Driver, ch: u32, first: Step) -> (Vec<u8>, String) {
    let mut data = Vec::new();
    let mut control = text(&first);
    let mut step = first;
    loop {
        let mut next = None;
        for r in &step.requests {
            match r {
                IoRequest::Send { channel, bytes } if *channel == ch => {
                    data.extend_from_slice(bytes);
                    next = Some(IoEvent::Drained { channel: ch });
                }
                IoRequest::Close { channel } if *channel == ch => next = Some(IoEvent::Closed { channel: ch }),
                _ => {}
            }
        }
        let Some(ev) = next else { break };
        step = d.io(ev, t0());
        control.push_str(&text(&step));
    }
    (data, control)
}

#[test]
fn greeting_login_and_events() {
    let svc = service();
    let (mut d, greet) = Driver::tcp(&svc, 2121, t0());
    assert!(text(&greet).starts_with("220 "));
    assert_eq!(codes(&cmd(&mut d, "PWD").bytes), vec![530]);
    assert_eq!(codes(&cmd(&mut d, "SYST").bytes), vec![215]);
    cmd(&mut d, "USER admin");
    let s = cmd(&mut d, "PASS wrong");
    assert_eq!(codes(&s.bytes), vec![530]);
    let ev = s.event("auth.attempt").unwrap();
    assert_eq!(ev.body.data["password"], "wrong");
    assert_eq!(ev.body.data["success"], false);
    let c = s.event("ftp.command").unwrap();
    assert_eq!(c.body.data["command"], "PASS");
    assert_eq!(c.body.data["argument"], "wrong");
    assert_eq!(c.body.data["code"], 530);
    cmd(&mut d, "USER admin");
    let s = cmd(&mut d, "PASS secret");
    assert_eq!(text(&s), "230-Authorized personnel only\r\n230 Login successful.\r\n");
    assert_eq!(s.event("auth.attempt").unwrap().body.data["success"], true);
    assert_eq!(text(&cmd(&mut d, "PWD")), "257 \"/\" is the current directory\r\n");
    let s = cmd(&mut d, "FEAT");
    assert!(text(&s).starts_with("211-Features:\r\n EPRT\r\n"));
    assert!(text(&s).ends_with("211 End\r\n"));
    assert_eq!(codes(&cmd(&mut d, "BOGUS").bytes), vec![500]);
    assert_eq!(codes(&cmd(&mut d, "AUTH TLS").bytes), vec![534]);
    let s = cmd(&mut d, "QUIT");
    assert_eq!(codes(&s.bytes), vec![221]);
    assert!(s.close);
}

#[test]
fn too_many_failures_close_the_connection() {
    let svc = service();
    let (mut d, _) = Driver::tcp(&svc, 2121, t0());
    cmd(&mut d, "USER admin");
    assert!(!cmd(&mut d, "PASS a").close);
    cmd(&mut d, "USER admin");
    let s = cmd(&mut d, "PASS b");
    assert!(s.close);
    assert!(s.event("ftp.login_limit").is_some());
}

#[test]
fn anonymous_login_and_listing() {
    let svc = service();
    let mut d = login(&svc, "anonymous", "guest@example.com");
    let ch = pasv(&mut d, 60005);
    let s = cmd(&mut d, "LIST -la");
    let (data, control) = download(&mut d, ch, s);
    let listing = String::from_utf8(data).unwrap();
    assert!(
        listing.contains("drwxrwxr-x    2 admin    eng          4096 Jun 03  2021 logs\r\n"),
        "{listing}"
    );
    assert!(listing.contains("-rw-r--r--    1 admin    eng            25 Jun 03  2021 readme.txt\r\n"));
    assert_eq!(codes(control.as_bytes()), vec![150, 226]);
}

#[test]
fn retr_ascii_and_binary_and_rest() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    assert_eq!(text(&cmd(&mut d, "SIZE readme.txt")), "213 27\r\n"); // ASCII: CRLF
    cmd(&mut d, "TYPE I");
    assert_eq!(text(&cmd(&mut d, "SIZE readme.txt")), "213 25\r\n");
    assert_eq!(text(&cmd(&mut d, "MDTM readme.txt")), "213 20210603081400\r\n");
    let ch = pasv(&mut d, 60001);
    let s = cmd(&mut d, "RETR readme.txt");
    let (data, control) = download(&mut d, ch, s);
    assert_eq!(data, b"Station plc-042\nline two\n");
    assert!(control.starts_with("150 Opening BINARY mode data connection for readme.txt (25 bytes).\r\n"));
    assert!(control.ends_with("226 Transfer complete.\r\n"));
    cmd(&mut d, "REST 8");
    let ch = pasv(&mut d, 60002);
    let s = cmd(&mut d, "RETR readme.txt");
    assert_eq!(download(&mut d, ch, s).0, b"plc-042\nline two\n");
    cmd(&mut d, "TYPE A");
    let ch = pasv(&mut d, 60003);
    let s = cmd(&mut d, "RETR readme.txt");
    let (data, _) = download(&mut d, ch, s);
    assert_eq!(data, b"Station plc-042\r\nline two\r\n");
}

#[test]
fn download_is_an_event() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    cmd(&mut d, "TYPE I");
    let ch = pasv(&mut d, 60001);
    let s = cmd(&mut d, "RETR readme.txt");
    let mut s2 = d.io(IoEvent::Drained { channel: ch }, t0());
    assert!(s2.requests.iter().any(|r| matches!(r, IoRequest::Close { .. })));
    assert!(s.requests.iter().any(|r| matches!(r, IoRequest::Send { .. })));
    s2 = d.io(IoEvent::Closed { channel: ch }, t0());
    let ev = s2.event("file.download").unwrap();
    assert_eq!(ev.body.data["path"], "/readme.txt");
    assert_eq!(ev.body.data["size"], 25);
    assert_eq!(ev.body.data["user"], "admin");
    let tr = s2.event("ftp.transfer").unwrap();
    assert_eq!(tr.body.data["bytes"], 25);
    assert_eq!(tr.body.data["direction"], "download");
}

/// Plays an upload: the client's bytes arrive, then it closes.
fn upload(d: &mut Driver, ch: u32, line: &str, data: &[u8]) -> Step {
    let s = cmd(d, line);
    assert_eq!(codes(&s.bytes), vec![150], "{}", text(&s));
    for part in data.chunks(1000) {
        d.io(
            IoEvent::Data {
                channel: ch,
                bytes: part.to_vec(),
            },
            t0(),
        );
    }
    d.io(IoEvent::Closed { channel: ch }, t0())
}

#[test]
fn stor_appe_then_retr_back_and_capture() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    cmd(&mut d, "TYPE I");
    let ch = pasv(&mut d, 60001);
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let s = upload(&mut d, ch, "STOR logs/fw.bin", &payload);
    assert_eq!(codes(&s.bytes), vec![226]);
    let cap = &s.files[0];
    assert_eq!(cap.bytes, payload);
    assert_eq!(cap.data["protocol"], "ftp");
    assert_eq!(cap.data["user"], "admin");
    assert_eq!(cap.data["vfs_path"], "/data/ftp/logs/fw.bin");
    let ch = pasv(&mut d, 60002);
    let s = upload(&mut d, ch, "APPE logs/fw.bin", b"tail");
    assert_eq!(s.files[0].bytes.len(), 5004);
    let ch = pasv(&mut d, 60003);
    let s = cmd(&mut d, "RETR /logs/fw.bin");
    let (back, _) = download(&mut d, ch, s);
    assert_eq!(&back[..5000], &payload[..]);
    assert_eq!(&back[5000..], b"tail");
    // The file is in the device's tree, where TFTP would find it.
    let v = svc.shared().device.vfs.view("/").unwrap();
    let p = conpot_core::vfs::VPath::new("/data/ftp/logs/fw.bin").unwrap();
    assert_eq!(
        v.stat(&conpot_core::vfs::Principal::root(), &p, t0()).unwrap().size,
        5004
    );
}

#[test]
fn stou_makes_a_unique_name() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    let ch = pasv(&mut d, 60001);
    let s = cmd(&mut d, "STOU");
    let t = text(&s);
    assert!(t.starts_with("150 FILE: "), "{t}");
    let s = d.io(IoEvent::Closed { channel: ch }, t0());
    assert_eq!(codes(&s.bytes), vec![226]);
    assert_eq!(s.files.len(), 1);
}

#[test]
fn directories_and_renames() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    assert_eq!(text(&cmd(&mut d, "MKD backup")), "257 \"/backup\" created\r\n");
    assert_eq!(codes(&cmd(&mut d, "CWD backup").bytes), vec![250]);
    assert_eq!(
        text(&cmd(&mut d, "PWD")),
        "257 \"/backup\" is the current directory\r\n"
    );
    assert_eq!(codes(&cmd(&mut d, "CDUP").bytes), vec![250]);
    assert_eq!(codes(&cmd(&mut d, "RNFR readme.txt").bytes), vec![350]);
    assert_eq!(codes(&cmd(&mut d, "RNTO backup/readme.old").bytes), vec![250]);
    assert_eq!(codes(&cmd(&mut d, "RNTO x").bytes), vec![503]);
    assert_eq!(codes(&cmd(&mut d, "SIZE readme.txt").bytes), vec![550]);
    assert_eq!(codes(&cmd(&mut d, "RMD backup").bytes), vec![550]); // not empty
    assert_eq!(codes(&cmd(&mut d, "DELE backup/readme.old").bytes), vec![250]);
    assert_eq!(codes(&cmd(&mut d, "RMD backup").bytes), vec![250]);
    assert_eq!(codes(&cmd(&mut d, "SITE CHMOD 600 logs").bytes), vec![200]);
    assert_eq!(codes(&cmd(&mut d, "SITE CHMOD 99 logs").bytes), vec![501]);
    assert_eq!(codes(&cmd(&mut d, "SITE HELP").bytes), vec![214]);
    let s = cmd(&mut d, "MLST logs");
    assert!(text(&s).contains("type=dir;"), "{}", text(&s));
    assert!(text(&s).contains("unix.mode=0600;"));
}

#[test]
fn a_read_only_user_cannot_write() {
    let svc = service();
    let mut d = login(&svc, "viewer", "look");
    assert_eq!(codes(&cmd(&mut d, "MKD x").bytes), vec![550]);
    assert_eq!(codes(&cmd(&mut d, "STOR x").bytes), vec![550]);
    assert_eq!(codes(&cmd(&mut d, "DELE readme.txt").bytes), vec![550]);
}

#[test]
fn escapes_are_refused_or_jailed_with_events() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    // `..` above the root stays at the root: the device's /etc/passwd is not reachable.
    let s = cmd(&mut d, "SIZE ../../etc/passwd");
    assert_eq!(codes(&s.bytes), vec![550]);
    assert!(s.event("fs.escape").is_some());
    let s = cmd(&mut d, "CWD ../../..");
    assert_eq!(codes(&s.bytes), vec![250]);
    assert!(s.event("fs.escape").is_some());
    assert_eq!(text(&cmd(&mut d, "PWD")), "257 \"/\" is the current directory\r\n");
    assert_eq!(codes(&cmd(&mut d, "SIZE /etc/passwd").bytes), vec![550]);
    let s = d.input(b"RETR a\0b\r\n", t0());
    assert_eq!(codes(&s.bytes), vec![550]);
    assert_eq!(s.event("fs.refused").unwrap().body.data["reason"], "nul_byte");
    let long = "x".repeat(300);
    let s = cmd(&mut d, &format!("MKD {long}"));
    assert_eq!(codes(&s.bytes), vec![550]);
    assert_eq!(s.event("fs.refused").unwrap().body.data["reason"], "name_too_long");
    let s = cmd(&mut d, "DELE a\\b");
    assert_eq!(s.event("fs.refused").unwrap().body.data["reason"], "backslash");
}

#[test]
fn bounce_port_is_refused() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    let s = cmd(&mut d, "PORT 203,0,113,5,0,25");
    assert_eq!(codes(&s.bytes), vec![500]);
    assert!(s.requests.is_empty());
    let ev = s.event("ftp.bounce").unwrap();
    assert_eq!(ev.body.data["target"], "203.0.113.5:25");
    let s = cmd(&mut d, "EPRT |1|198.51.100.1|6000|");
    assert_eq!(codes(&s.bytes), vec![500]);
    assert_eq!(codes(&cmd(&mut d, "LIST").bytes), vec![425]);
}

#[test]
fn active_mode_connects_back_to_the_peer() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    assert_eq!(codes(&cmd(&mut d, "PORT 192,0,2,10,195,80").bytes), vec![200]);
    let s = cmd(&mut d, "NLST");
    assert!(s.bytes.is_empty(), "150 waits for the connection");
    let [IoRequest::ConnectBack { channel, addr }] = s.requests.as_slice() else {
        panic!("{:?}", s.requests)
    };
    assert_eq!(*addr, SocketAddr::from(([192, 0, 2, 10], 50000)));
    let ch = *channel;
    let s = d.io(
        IoEvent::Connected {
            channel: ch,
            peer: *addr,
        },
        t0(),
    );
    let (data, control) = download(&mut d, ch, s);
    assert_eq!(data, b"logs\r\nreadme.txt\r\n");
    assert_eq!(codes(control.as_bytes()), vec![150, 226]);
    // A failed connection is a 425.
    cmd(&mut d, "EPRT |1|192.0.2.10|50001|");
    let s = cmd(&mut d, "LIST");
    let ch = match &s.requests[0] {
        IoRequest::ConnectBack { channel, .. } => *channel,
        r => panic!("{r:?}"),
    };
    let s = d.io(
        IoEvent::Failed {
            channel: ch,
            reason: "connect",
        },
        t0(),
    );
    assert_eq!(codes(&s.bytes), vec![425]);
}

#[test]
fn commands_during_pasv_setup_are_queued_in_order() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    let s = d.input(b"PASV\r\nNOOP\r\nPWD\r\n", t0());
    assert!(s.bytes.is_empty());
    let ch = match &s.requests[0] {
        IoRequest::OpenDataListener { channel, .. } => *channel,
        r => panic!("{r:?}"),
    };
    let s = d.io(
        IoEvent::Listening {
            channel: ch,
            local: SocketAddr::from(([192, 0, 2, 1], 60000)),
        },
        t0(),
    );
    assert_eq!(codes(&s.bytes), vec![227, 200, 257]);
    // An overlong line while waiting is answered in its place, not before the 227.
    let mut input = b"PASV\r\n".to_vec();
    input.extend(vec![b'A'; 3000]);
    input.extend_from_slice(b"\r\nNOOP\r\n");
    let s = d.input(&input, t0());
    assert!(s.bytes.is_empty());
    let ch = match &s.requests.last().unwrap() {
        IoRequest::OpenDataListener { channel, .. } => *channel,
        r => panic!("{r:?}"),
    };
    let local = SocketAddr::from(([192, 0, 2, 1], 60001));
    let s = d.io(IoEvent::Listening { channel: ch, local }, t0());
    assert_eq!(codes(&s.bytes), vec![227, 500, 200]);
}

#[test]
fn quota_exhaustion_is_disk_full_and_still_captured() {
    let svc = service();
    svc.shared().device.vfs.set_limits(VfsLimits {
        quota_bytes: 100,
        max_file: 1000,
        max_entries: 100,
    });
    let mut d = login(&svc, "admin", "secret");
    cmd(&mut d, "TYPE I");
    let ch = pasv(&mut d, 60001);
    let s = upload(&mut d, ch, "STOR big.bin", &[7u8; 500]);
    assert_eq!(codes(&s.bytes), vec![552]);
    assert_eq!(s.files.len(), 1, "the refused upload is captured all the same");
    assert_eq!(s.files[0].bytes.len(), 500);
    assert_eq!(s.files[0].data["refused"], "quota_exceeded");
    assert!(s.event("limit.hit").is_some());
    // Too large for one file: the bytes beyond the cap are counted, not kept.
    let ch = pasv(&mut d, 60002);
    let s = upload(&mut d, ch, "STOR huge.bin", &[1u8; 3000]);
    assert_eq!(codes(&s.bytes), vec![552]);
    assert_eq!(s.files[0].original_len, 3000);
    assert!(s.files[0].bytes.len() <= 1001);
}

#[test]
fn abort_during_transfer_and_timeouts() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    let ch = pasv(&mut d, 60001);
    cmd(&mut d, "STOR partial.bin");
    d.io(
        IoEvent::Data {
            channel: ch,
            bytes: b"half".to_vec(),
        },
        t0(),
    );
    let s = d.input(b"\xff\xf4\xff\xf2ABOR\r\n", t0());
    assert_eq!(codes(&s.bytes), vec![426, 226]);
    assert_eq!(s.files[0].bytes, b"half", "an aborted upload is still captured");
    // The transfer timeout: no progress for 10 s.
    let ch = pasv(&mut d, 60002);
    cmd(&mut d, "STOR slow.bin");
    let s = d.advance(t0() + Duration::from_secs(11));
    assert_eq!(codes(&s.bytes), vec![426]);
    assert!(s.requests.contains(&IoRequest::Close { channel: ch }));
    // Idle timeout of the control connection.
    let s = d.advance(t0() + Duration::from_secs(60));
    assert_eq!(codes(&s.bytes), vec![421]);
    assert!(s.close);
}

#[test]
fn an_overlong_line_is_answered_once_and_the_session_goes_on() {
    let svc = service();
    let (mut d, _) = Driver::tcp(&svc, 2121, t0());
    let s = d.input(&vec![b'A'; 5000], t0());
    assert_eq!(codes(&s.bytes), vec![500]);
    assert!(s.event("ftp.malformed").is_some());
    assert!(d.buffered().is_empty(), "nothing of it is kept");
    let s = d.input(b"AAAA\r\nNOOP\r\n", t0());
    assert_eq!(codes(&s.bytes), vec![200]);
}

#[test]
fn stat_and_help() {
    let svc = service();
    let (mut d, _) = Driver::tcp(&svc, 2121, t0());
    let s = cmd(&mut d, "STAT");
    assert!(text(&s).starts_with("211-FTP server status:\r\n Connected to 192.0.2.10\r\n"));
    assert!(text(&s).contains(" plc-042 FTP server ready.\r\n"));
    let s = cmd(&mut d, "HELP");
    assert!(text(&s).starts_with("214-"));
    assert!(text(&s).ends_with("214 Help OK.\r\n"));
    let mut d = login(&svc, "admin", "secret");
    let s = cmd(&mut d, "STAT /");
    assert!(text(&s).contains("readme.txt"), "{}", text(&s));
}

#[test]
fn rest_then_stor_writes_at_the_offset_and_epsv_mlsd() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    cmd(&mut d, "TYPE I");
    assert_eq!(codes(&cmd(&mut d, "REST 8").bytes), vec![350]);
    let ch = pasv(&mut d, 60001);
    let s = upload(&mut d, ch, "STOR readme.txt", b"PLC");
    assert_eq!(codes(&s.bytes), vec![226]);
    assert_eq!(s.files[0].data["write_mode"], "offset");
    assert_eq!(s.files[0].bytes, b"Station PLC-042\nline two\n");
    let s = cmd(&mut d, "EPSV");
    let ch = match &s.requests[0] {
        IoRequest::OpenDataListener { channel, .. } => *channel,
        r => panic!("{r:?}"),
    };
    let local = SocketAddr::from(([192, 0, 2, 1], 60002));
    let s = d.io(IoEvent::Listening { channel: ch, local }, t0());
    assert_eq!(text(&s), "229 Entering Extended Passive Mode (|||60002|).\r\n");
    d.io(
        IoEvent::Connected {
            channel: ch,
            peer: local,
        },
        t0(),
    );
    let s = cmd(&mut d, "MLSD");
    let (data, _) = download(&mut d, ch, s);
    let data = String::from_utf8(data).unwrap();
    assert!(data.contains("type=file;size=25;modify=20231114221320;perm=rawf;unix.mode=0644;unix.owner=admin;unix.group=eng; readme.txt\r\n"), "{data}");
    cmd(&mut d, "OPTS MLST type;size;");
    let s = cmd(&mut d, "MLST readme.txt");
    assert_eq!(
        text(&s),
        "250-Listing\r\n type=file;size=25; /readme.txt\r\n250 End\r\n"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever arrives, every reply is a well-formed one and nothing is kept unbounded.
        #[test]
        fn arbitrary_lines_get_well_formed_replies(lines in proptest::collection::vec("[A-Za-z]{1,5}( [ -~]{0,40})?", 0..30)) {
            let svc = service();
            let mut d = login(&svc, "admin", "secret");
            for l in &lines {
                let s = cmd(&mut d, l);
                let t = text(&s);
                for line in t.split_terminator("\r\n") {
                    prop_assert!(line.len() >= 3 && line.as_bytes()[..3].iter().all(u8::is_ascii_digit) || line.starts_with(' '), "{line:?}");
                }
                if d.closed {
                    break;
                }
            }
            prop_assert!(d.buffered().len() < conpot_ftp::command::MAX_LINE);
        }
    }
}

#[test]
fn big_downloads_go_chunk_by_chunk_with_ascii_across_chunks() {
    let svc = service();
    let mut d = login(&svc, "admin", "secret");
    cmd(&mut d, "TYPE I");
    // Lines that straddle the 64 KiB chunk boundaries, CR LF pairs cut in two included.
    let file: Vec<u8> = (0..200_000u32)
        .map(|i| match i % 7 {
            5 => b'\r',
            6 => b'\n',
            _ if i % 13 == 0 => b'\n',
            _ => b'a',
        })
        .collect();
    let ch = pasv(&mut d, 60001);
    upload(&mut d, ch, "STOR big.txt", &file);
    cmd(&mut d, "TYPE A");
    let ch = pasv(&mut d, 60002);
    let s = cmd(&mut d, "RETR big.txt");
    let sends = s
        .requests
        .iter()
        .filter(|r| matches!(r, IoRequest::Send { .. }))
        .count();
    assert_eq!(sends, 1, "one chunk at a time");
    let mut data = Vec::new();
    let mut step = s;
    let mut chunks = 0;
    let last = loop {
        let mut next = None;
        for r in &step.requests {
            match r {
                IoRequest::Send { bytes, .. } => {
                    chunks += 1;
                    data.extend_from_slice(bytes);
                    next = Some(IoEvent::Drained { channel: ch });
                }
                IoRequest::Close { .. } => next = Some(IoEvent::Closed { channel: ch }),
                _ => {}
            }
        }
        match next {
            Some(ev) => step = d.io(ev, t0()),
            None => break step,
        }
    };
    assert!(chunks >= 4);
    assert_eq!(data, conpot_ftp::listing::to_network_ascii(&file));
    let ev = last.event("file.download").unwrap();
    assert_eq!(ev.body.data["size"], 200_000);
    assert_eq!(ev.body.data["sha256"], conpot_core::capture::hex_digest(&file));
}
