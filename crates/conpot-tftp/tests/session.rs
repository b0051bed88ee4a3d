//! TFTP transfers driven in memory as the UDP listener drives them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use conpot_core::drive::{Driver, Step, device_and_section};
use conpot_core::protocol::{IoEvent, IoRequest};
use conpot_core::vfs::{Principal, VPath, VfsLimits};
use conpot_tftp::TftpService;
use conpot_tftp::wire::{self, Packet};

const TEMPLATE: &str = r#"
[template]
unit = "S7-300"
vendor = "Siemens"
[persona]
hostname = "plc-042"

[filesystem]
date = "2021-06-03T08:14:00Z"

[[filesystem.entries]]
path = "/data/tftp"
mode = 0o777

[[filesystem.entries]]
path = "/data/tftp/config.txt"
content = "hostname {persona.hostname}\nvlan 1\n"

[[filesystem.entries]]
path = "/data/tftp/sub"

[[filesystem.entries]]
path = "/etc/passwd"
content = "root:x:0:0::/root:/bin/sh\n"

[protocols.tftp]
enabled = true
port = 6969
root = "/data/tftp"
user = "nobody"
groups = ["nogroup"]
max_blksize = 1468
"#;

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn service() -> TftpService {
    let (device, section) = device_and_section(TEMPLATE, "tftp").unwrap();
    TftpService::build(&section, &device).unwrap()
}

fn rrq(name: &str, mode: &str, opts: &[(&str, &str)]) -> Vec<u8> {
    let mut p = vec![0, 1];
    for s in [name, mode] {
        p.extend_from_slice(s.as_bytes());
        p.push(0);
    }
    for (k, v) in opts {
        p.extend_from_slice(k.as_bytes());
        p.push(0);
        p.extend_from_slice(v.as_bytes());
        p.push(0);
    }
    p
}

fn wrq(name: &str, opts: &[(&str, &str)]) -> Vec<u8> {
    let mut p = rrq(name, "octet", opts);
    p[1] = 2;
    p
}

fn sends(s: &Step, ch: u32) -> Vec<Vec<u8>> {
    s.requests
        .iter()
        .filter_map(|r| match r {
            IoRequest::Send { channel, bytes } if *channel == ch => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

/// Sends a request; plays the listener opening the port. Returns the channel and the
/// first packets sent from it.
fn open(d: &mut Driver, req: &[u8]) -> (u32, Vec<Vec<u8>>) {
    let s = d.input(req, t0());
    assert!(s.datagrams.is_empty(), "{:?}", s.datagrams);
    let [IoRequest::NewUdpPort { channel }] = s.requests.as_slice() else {
        panic!("{:?}", s.requests)
    };
    let ch = *channel;
    let s = d.io(
        IoEvent::Listening {
            channel: ch,
            local: SocketAddr::from(([192, 0, 2, 1], 50000 + ch as u16)),
        },
        t0(),
    );
    (ch, sends(&s, ch))
}

fn ack(block: u16) -> Vec<u8> {
    let mut p = Vec::new();
    wire::ack(&mut p, block);
    p
}

fn data_pkt(block: u16, bytes: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    wire::data(&mut p, block, bytes);
    p
}

/// Downloads with acknowledgments of each window's last block; returns the file.
fn download(d: &mut Driver, ch: u32, mut packets: Vec<Vec<u8>>) -> (Vec<u8>, Step) {
    let mut file = Vec::new();
    let blksize_hint = usize::MAX;
    let _ = blksize_hint;
    loop {
        let mut last = None;
        for p in &packets {
            if let Packet::Data { block, data } = wire::parse(p).unwrap() {
                file.extend_from_slice(data);
                last = Some((block, data.len()));
            }
        }
        let (block, _) = last.expect("data");
        let s = d.io(
            IoEvent::Data {
                channel: ch,
                bytes: ack(block),
            },
            t0(),
        );
        if s.requests.contains(&IoRequest::Close { channel: ch }) {
            return (file, s);
        }
        packets = sends(&s, ch);
        assert!(!packets.is_empty());
    }
}

#[test]
fn plain_rrq_from_a_fresh_port() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 6969, t0());
    let (ch, first) = open(&mut d, &rrq("config.txt", "octet", &[]));
    assert_eq!(first.len(), 1);
    let (file, s) = download(&mut d, ch, first);
    assert_eq!(file, b"hostname plc-042\nvlan 1\n");
    let ev = s.event("file.download").unwrap();
    assert_eq!(ev.body.data["protocol"], "tftp");
    assert_eq!(ev.body.data["size"], 24);
    assert_eq!(s.event("tftp.transfer").unwrap().body.data["result"], "complete");
}

#[test]
fn downloads_read_the_file_block_by_block() {
    // No copy of the file is held per transfer: a block is read when it is sent, so a
    // request that never gets past its first block (a spoofed source) costs no memory.
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 6969, t0());
    let (ch, first) = open(&mut d, &rrq("config.txt", "octet", &[]));
    assert_eq!(first.len(), 1);
    let root = svc.shared().device.vfs.view("/").unwrap();
    let p = VPath::new("/data/tftp/config.txt").unwrap();
    let new: Vec<u8> = vec![b'z'; 600];
    root.write(
        &Principal::root(),
        &p,
        conpot_core::vfs::WriteMode::Truncate,
        &new,
        t0(),
    )
    .unwrap();
    // The timer's retransmission of block 1 reads it again, from the new file.
    let s = d.advance(d.deadline.unwrap());
    let again = sends(&s, ch);
    assert_eq!(
        wire::parse(&again[0]).unwrap(),
        Packet::Data {
            block: 1,
            data: &new[..512]
        }
    );
    let s = d.io(
        IoEvent::Data {
            channel: ch,
            bytes: ack(1),
        },
        t0(),
    );
    assert_eq!(
        wire::parse(&sends(&s, ch)[0]).unwrap(),
        Packet::Data {
            block: 2,
            data: &new[512..]
        }
    );
}

#[test]
fn netascii_download() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 6969, t0());
    let (ch, first) = open(&mut d, &rrq("/config.txt", "NETASCII", &[]));
    let (file, _) = download(&mut d, ch, first);
    assert_eq!(file, b"hostname plc-042\r\nvlan 1\r\n");
}

#[test]
fn options_blksize_windowsize_tsize_and_large_files() {
    let svc = service();
    // A file over 512 blocks of 512 bytes, put there by another protocol.
    let big: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let root = svc.shared().device.vfs.view("/").unwrap();
    root.write(
        &Principal::root(),
        &VPath::new("/data/tftp/fw.bin").unwrap(),
        conpot_core::vfs::WriteMode::Truncate,
        &big,
        t0(),
    )
    .unwrap();
    let (mut d, _) = Driver::udp(&svc, 6969, t0());
    let req = rrq(
        "fw.bin",
        "octet",
        &[("blksize", "1428"), ("windowsize", "8"), ("tsize", "0"), ("bogus", "1")],
    );
    let (ch, first) = open(&mut d, &req);
    assert_eq!(first.len(), 1);
    let mut oack = Vec::new();
    wire::oack(
        &mut oack,
        &[
            ("blksize", "1428".into()),
            ("windowsize", "8".into()),
            ("tsize", "700000".into()),
        ],
    );
    assert_eq!(first[0], oack);
    // ACK 0 starts the data: a window of 8 blocks of 1428 bytes.
    let s = d.io(
        IoEvent::Data {
            channel: ch,
            bytes: ack(0),
        },
        t0(),
    );
    let window = sends(&s, ch);
    assert_eq!(window.len(), 8);
    assert_eq!(window[0].len(), 4 + 1428);
    let (file, s) = download(&mut d, ch, window);
    assert_eq!(file, big);
    assert_eq!(s.event("tftp.transfer").unwrap().body.data["blksize"], 1428);
    // Block sizes above the configured maximum are lowered.
    let (mut d, _) = Driver::udp(&svc, 6969, t0());
    let (_, first) = open(&mut d, &rrq("fw.bin", "octet", &[("blksize", "65000")]));
    let mut oack = Vec::new();
    wire::oack(&mut oack, &[("blksize", "1468".into())]);
    assert_eq!(first[0], oack);
}

#[test]
fn duplicate_acks_get_no_data_and_timeouts_retransmit_with_backoff() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 6969, t0());
    let big = vec![b'x'; 2000];
    let root = svc.shared().device.vfs.view("/").unwrap();
    root.write(
        &Principal::root(),
        &VPath::new("/data/tftp/b.bin").unwrap(),
        conpot_core::vfs::WriteMode::Truncate,
        &big,
        t0(),
    )
    .unwrap();
    let (ch, first) = open(&mut d, &rrq("b.bin", "octet", &[]));
    assert_eq!(first.len(), 1);
    let s = d.io(
        IoEvent::Data {
            channel: ch,
            bytes: ack(1),
        },
        t0(),
    );
    assert_eq!(sends(&s, ch).len(), 1, "DATA 2");
    // The Sorcerer's Apprentice: a repeated ACK 1 must not send DATA 2 again.
    let s = d.io(
        IoEvent::Data {
            channel: ch,
            bytes: ack(1),
        },
        t0(),
    );
    assert!(sends(&s, ch).is_empty());
    // The timer retransmits DATA 2, each time later.
    let deadline = d.deadline.unwrap();
    let s = d.advance(deadline);
    let again = sends(&s, ch);
    assert_eq!(again.len(), 1);
    assert_eq!(
        wire::parse(&again[0]).unwrap(),
        Packet::Data {
            block: 2,
            data: &big[512..1024]
        }
    );
    let second = d.deadline.unwrap();
    assert!(second.duration_since(deadline).unwrap() > Duration::from_secs(1));
    // After the retries, the transfer is given up.
    for _ in 0..10 {
        if let Some(t) = d.deadline {
            let s = d.advance(t);
            if s.requests.contains(&IoRequest::Close { channel: ch }) {
                assert!(s.event("tftp.timeout").is_some());
                return;
            }
        }
    }
    panic!("never gave up");
}

#[test]
fn upload_is_captured_and_readable_over_the_filesystem() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 6969, t0());
    let payload: Vec<u8> = (0..1300u32).map(|i| i as u8).collect();
    let (ch, first) = open(&mut d, &wrq("up.bin", &[("tsize", "1300")]));
    let mut oack = Vec::new();
    wire::oack(&mut oack, &[("tsize", "1300".into())]);
    assert_eq!(first, vec![oack]);
    let s = d.io(
        IoEvent::Data {
            channel: ch,
            bytes: data_pkt(1, &payload[..512]),
        },
        t0(),
    );
    assert_eq!(sends(&s, ch), vec![ack(1)]);
    // A repeated block is acknowledged again, not stored twice.
    let s = d.io(
        IoEvent::Data {
            channel: ch,
            bytes: data_pkt(1, &payload[..512]),
        },
        t0(),
    );
    assert_eq!(sends(&s, ch), vec![ack(1)]);
    d.io(
        IoEvent::Data {
            channel: ch,
            bytes: data_pkt(2, &payload[512..1024]),
        },
        t0(),
    );
    let s = d.io(
        IoEvent::Data {
            channel: ch,
            bytes: data_pkt(3, &payload[1024..]),
        },
        t0(),
    );
    assert_eq!(sends(&s, ch), vec![ack(3)]);
    assert_eq!(s.files.len(), 1);
    assert_eq!(s.files[0].bytes, payload);
    assert_eq!(s.files[0].data["protocol"], "tftp");
    assert_eq!(s.files[0].data["vfs_path"], "/data/tftp/up.bin");
    let root = svc.shared().device.vfs.view("/").unwrap();
    let got = root
        .read(
            &Principal::root(),
            &VPath::new("/data/tftp/up.bin").unwrap(),
            0,
            usize::MAX,
            t0(),
        )
        .unwrap();
    assert_eq!(got, payload);
    // The port stays a moment to acknowledge a repeat of the last block, then closes.
    let s = d.io(
        IoEvent::Data {
            channel: ch,
            bytes: data_pkt(3, &payload[1024..]),
        },
        t0(),
    );
    assert_eq!(sends(&s, ch), vec![ack(3)]);
    let s = d.advance(d.deadline.unwrap());
    assert!(s.requests.contains(&IoRequest::Close { channel: ch }));
}

#[test]
fn windowed_upload_acknowledges_once_per_window() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 6969, t0());
    let (ch, _) = open(&mut d, &wrq("w.bin", &[("windowsize", "4")]));
    let block = vec![1u8; 512];
    for b in 1..=3u16 {
        let s = d.io(
            IoEvent::Data {
                channel: ch,
                bytes: data_pkt(b, &block),
            },
            t0(),
        );
        assert!(sends(&s, ch).is_empty());
    }
    let s = d.io(
        IoEvent::Data {
            channel: ch,
            bytes: data_pkt(4, &block),
        },
        t0(),
    );
    assert_eq!(sends(&s, ch), vec![ack(4)]);
    let s = d.io(
        IoEvent::Data {
            channel: ch,
            bytes: data_pkt(5, b"end"),
        },
        t0(),
    );
    assert_eq!(sends(&s, ch), vec![ack(5)]);
    assert_eq!(s.files[0].bytes.len(), 4 * 512 + 3);
}

#[test]
fn errors_with_the_right_codes() {
    let svc = service();
    let err = |s: &Step| match wire::parse(&s.datagrams[0]).unwrap() {
        Packet::Error { code, .. } => code,
        p => panic!("{p:?}"),
    };
    let (mut d, _) = Driver::udp(&svc, 6969, t0());
    let s = d.input(&rrq("nothere.txt", "octet", &[]), t0());
    assert_eq!(err(&s), 1);
    // `..` stays inside the root (an event), where there is no etc/passwd.
    let s = d.input(&rrq("../../etc/passwd", "octet", &[]), t0());
    assert_eq!(err(&s), 1);
    assert!(s.event("fs.escape").is_some());
    let s = d.input(&rrq("/etc/passwd", "octet", &[]), t0());
    assert_eq!(err(&s), 1);
    let s = d.input(&rrq(&"a".repeat(300), "octet", &[]), t0());
    assert_eq!(err(&s), 2);
    assert_eq!(s.event("fs.refused").unwrap().body.data["reason"], "name_too_long");
    let s = d.input(&rrq("a\\b", "octet", &[]), t0());
    assert_eq!(err(&s), 2);
    let s = d.input(&rrq("x", "mail", &[]), t0());
    assert_eq!(err(&s), 4);
    let s = d.input(&ack(3), t0());
    assert_eq!(err(&s), 5);
    let s = d.input(b"\x00\x09junk", t0());
    assert_eq!(err(&s), 4);
    assert!(s.event("tftp.malformed").is_some());
    let s = d.input(&wrq("missing/dir/x", &[]), t0());
    assert_eq!(err(&s), 1);
    let s = d.input(&rrq("sub", "octet", &[]), t0());
    assert_eq!(err(&s), 2);
}

#[test]
fn quota_exhaustion_is_disk_full_and_captured() {
    let svc = service();
    svc.shared().device.vfs.set_limits(VfsLimits {
        quota_bytes: 600,
        max_file: 10_000,
        max_entries: 100,
    });
    let (mut d, _) = Driver::udp(&svc, 6969, t0());
    let s = d.input(&wrq("t.bin", &[("tsize", "20000")]), t0());
    assert!(matches!(
        wire::parse(&s.datagrams[0]).unwrap(),
        Packet::Error { code: 3, .. }
    ));
    let (ch, _) = open(&mut d, &wrq("q.bin", &[]));
    d.io(
        IoEvent::Data {
            channel: ch,
            bytes: data_pkt(1, &[5u8; 512]),
        },
        t0(),
    );
    let s = d.io(
        IoEvent::Data {
            channel: ch,
            bytes: data_pkt(2, &[5u8; 200]),
        },
        t0(),
    );
    let out = sends(&s, ch);
    assert!(
        matches!(wire::parse(&out[0]).unwrap(), Packet::Error { code: 3, .. }),
        "{out:?}"
    );
    assert_eq!(s.files.len(), 1);
    assert_eq!(s.files[0].bytes.len(), 712);
    assert_eq!(s.files[0].data["refused"], "quota_exceeded");
}

#[test]
fn several_transfers_at_once_and_duplicate_requests() {
    let svc = service();
    let (mut d, _) = Driver::udp(&svc, 6969, t0());
    let req = rrq("config.txt", "octet", &[]);
    let (a, first_a) = open(&mut d, &req);
    // The same request again (a client retransmitting) opens nothing new.
    let s = d.input(&req, t0());
    assert!(s.requests.is_empty() && s.datagrams.is_empty());
    let (b, first_b) = open(&mut d, &wrq("other.bin", &[]));
    assert_ne!(a, b);
    assert_eq!(first_b, vec![ack(0)]);
    let (file, _) = download(&mut d, a, first_a);
    assert_eq!(file, b"hostname plc-042\nvlan 1\n");
    let s = d.io(
        IoEvent::Data {
            channel: b,
            bytes: data_pkt(1, b"x"),
        },
        t0(),
    );
    assert_eq!(s.files.len(), 1);
    // Another client address is another session with its own transfers.
    let ctx = conpot_core::protocol::SessionCtx {
        transport: conpot_core::event::Transport::Udp,
        peer: SocketAddr::from(([198, 51, 100, 7], 1069)),
        local: SocketAddr::from(([192, 0, 2, 1], 6969)),
    };
    let (mut d2, _) = Driver::open(&svc, ctx, t0());
    let (c, first_c) = open(&mut d2, &rrq("other.bin", "octet", &[]));
    assert_eq!(download(&mut d2, c, first_c).0, b"x");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever a client sends, on the server's port or a transfer's, every answer is
        /// a TFTP packet a server may send, and no more than four transfers run.
        #[test]
        fn arbitrary_datagrams_get_valid_answers(
            datagrams in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..40)
        ) {
            let svc = service();
            let (mut d, _) = Driver::udp(&svc, 6969, t0());
            let (ch, _) = open(&mut d, &rrq("config.txt", "octet", &[("blksize", "8")]));
            let mut open_ports = 1;
            for (to_port, bytes) in datagrams {
                let s = if to_port {
                    d.io(IoEvent::Data { channel: ch, bytes }, t0())
                } else {
                    d.input(&bytes, t0())
                };
                let mut answers = s.datagrams.clone();
                answers.extend(s.requests.iter().filter_map(|r| match r {
                    IoRequest::Send { bytes, .. } => Some(bytes.clone()),
                    _ => None,
                }));
                open_ports += s.requests.iter().filter(|r| matches!(r, IoRequest::NewUdpPort { .. })).count();
                for a in answers {
                    let op = u16::from_be_bytes([a[0], a[1]]);
                    prop_assert!((3..=6).contains(&op), "{a:?}");
                }
            }
            prop_assert!(open_ports <= 4);
        }
    }
}
