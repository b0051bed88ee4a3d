//! The S7 CPU through its sans-IO session: the frames real tools send, and what a CPU
//! answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::SystemTime;

use conpot_core::protocol::{Output, Service, Session, SessionCtx};
use conpot_core::{Device, Value};
use conpot_s7::S7Service;

const DEFAULT: &str = include_str!("../../../templates/default/template.toml");

fn hex(s: &str) -> Vec<u8> {
    conpot_core::hex::decode(&s.replace(' ', "")).unwrap()
}

fn build(text: &str, seed: u64) -> (Device, S7Service) {
    let t = conpot_core::template::Template::from_toml("default", text).unwrap();
    let p = t.persona.generate("default", seed);
    let d = Device::build(&t, p, SystemTime::now(), &mut conpot_core::rng::Rng::from_seed(seed)).unwrap();
    let s = S7Service::build(&t.protocols["s7comm"], &d).unwrap();
    (d, s)
}

fn ctx() -> SessionCtx {
    SessionCtx {
        transport: conpot_core::event::Transport::Tcp,
        peer: "127.0.0.1:1".parse().unwrap(),
        local: "127.0.0.1:102".parse().unwrap(),
    }
}

struct Conn {
    s: Box<dyn Session>,
    closed: bool,
    events: Vec<conpot_core::event::EventDraft>,
    files: Vec<conpot_core::protocol::Capture>,
}

impl Conn {
    fn new(svc: &S7Service) -> Conn {
        Conn {
            s: svc.new_session(&ctx()),
            closed: false,
            events: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Sends raw bytes; returns everything answered.
    fn raw(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Output::default();
        let mut used = 0;
        while used < bytes.len() {
            let n = self.s.on_input(&bytes[used..], SystemTime::now(), &mut out);
            used += n;
            if n == 0 || out.close {
                break;
            }
        }
        self.closed |= out.close;
        self.events.extend(out.events);
        self.files.extend(out.files);
        out.bytes
    }

    /// Sends an S7 PDU in one DT TPDU; returns the S7 PDUs answered (TPKT/COTP stripped).
    fn pdu(&mut self, s7: &[u8]) -> Vec<Vec<u8>> {
        let mut f = vec![3, 0, 0, 0, 2, 0xF0, 0x80];
        f.extend_from_slice(s7);
        let len = f.len() as u16;
        f[2..4].copy_from_slice(&len.to_be_bytes());
        split(&self.raw(&f))
    }

    fn connect(&mut self) {
        let cc = self.raw(&hex("0300001611e00000001400c1020100c2020102c0010a"));
        assert_eq!(cc[5], 0xD0);
        let r = self.pdu(&hex("32010000000000080000f0000001000101e0"));
        assert_eq!(r.len(), 1);
    }

    fn szl(&mut self, id: u16, index: u16) -> Vec<u8> {
        let mut p = hex("3207000005000008000800011204114401 00 ff090004");
        p.extend(id.to_be_bytes());
        p.extend(index.to_be_bytes());
        let r = self.pdu(&p);
        assert_eq!(r.len(), 1, "one answer");
        r[0].clone()
    }
}

/// Splits a byte stream of TPKTs into the S7 payloads of their DT TPDUs (reassembled).
fn split(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_be_bytes([b[2], b[3]]) as usize;
        let tpdu = &b[4..len];
        if tpdu[1] == 0xF0 {
            cur.extend_from_slice(&tpdu[3..]);
            if tpdu[2] & 0x80 != 0 {
                out.push(std::mem::take(&mut cur));
            }
        }
        b = &b[len..];
    }
    out
}

fn cstr(b: &[u8]) -> String {
    String::from_utf8_lossy(b.split(|&c| c == 0).next().unwrap()).into_owned()
}

#[test]
fn nmap_s7_info_sequence_shows_the_persona() {
    let (dev, svc) = build(DEFAULT, 11);
    let p = |k: &str| dev.persona.get(k).unwrap().to_owned();
    let mut c = Conn::new(&svc);
    let cc = c.raw(&hex("0300001611e00000001400c1020100c2020102c0010a"));
    // CC: echoes the caller's reference and both TSAPs, negotiates 1024-byte TPDUs.
    assert_eq!(cc[..4], [3, 0, 0, 22]);
    assert_eq!(&cc[4..8], &[0x11, 0xD0, 0x00, 0x14]);
    assert_ne!(&cc[8..10], &[0, 0], "a source reference of our own");
    assert_eq!(&cc[10..], &hex("00c0010ac1020100c2020102")[..]);
    let setup = c.pdu(&hex("32010000000000080000f0000001000101e0"));
    assert_eq!(
        setup[0],
        hex("320300000000000800000000f0000001000100f0"),
        "PDU 240, AmQ 1"
    );
    // The full response frames as nmap reads them (1-based offsets in its script).
    let mut first = vec![3, 0, 0, 0, 2, 0xF0, 0x80];
    first.extend(c.szl(0x0011, 0x0001));
    assert!(first.len() >= 125);
    assert_eq!(cstr(&first[43..]).trim_end(), p("order_code"));
    assert_eq!(cstr(&first[71..]).trim_end(), p("order_code"));
    let fw: Vec<String> = first[122..125].iter().map(u8::to_string).collect();
    assert_eq!(format!("V{}", fw.join(".")), p("firmware"));
    let mut second = vec![3, 0, 0, 0, 2, 0xF0, 0x80];
    second.extend(c.szl(0x001C, 0x0001));
    assert!(second.len() > 180);
    assert_eq!(cstr(&second[43..]), p("system_name"));
    assert_eq!(cstr(&second[77..]), p("module_type"));
    assert_eq!(cstr(&second[111..]), p("plant"));
    assert_eq!(cstr(&second[145..]), p("copyright"));
    assert_eq!(cstr(&second[179..]), p("serial"));
    assert!(!c.closed);
    assert!(c.events.iter().any(|e| e.event_type == "s7.szl_read"));
}

#[test]
fn detector_sequence_szl_read_var_szl_all_answered() {
    let (_dev, svc) = build(DEFAULT, 3);
    let mut c = Conn::new(&svc);
    c.connect();
    let a = c.szl(0x001C, 1);
    // Read DB1.DBW0 (2 bytes).
    let r = c.pdu(&hex("320100000200000e00000401120a100200020001840000 00"));
    assert_eq!(r[0][..12], hex("320300000200000200060000")[..]);
    assert_eq!(&r[0][12..16], &[0x04, 0x01, 0xFF, 0x04]);
    let b = c.szl(0x001C, 1);
    assert_eq!(a[22..], b[22..]);
    assert!(!c.closed);
}

#[test]
fn unknown_szl_and_jobs_get_error_codes_not_a_close() {
    let (_dev, svc) = build(DEFAULT, 3);
    let mut c = Conn::new(&svc);
    c.connect();
    let r = c.szl(0x0F24, 0);
    // Userdata answer: parameter error 0xD401, data return code 0x0A.
    assert_eq!(&r[20..22], &[0xD4, 0x01]);
    assert_eq!(r[22], 0x0A);
    let r = c.szl(0x0111, 0x0033);
    assert_eq!(&r[20..22], &[0xD4, 0x02]);
    // An unknown job function: header error, connection kept.
    let r = c.pdu(&hex("320100000300000200003300"));
    assert_eq!(&r[0][10..12], &[0x81, 0x04]);
    assert!(!c.closed);
}

#[test]
fn read_write_var_over_the_databus() {
    let (dev, svc) = build(DEFAULT, 5);
    let mut c = Conn::new(&svc);
    c.connect();
    // Write DB1.DBW4 = 0x1234 (transport 0x04, 16 bits).
    let w = c.pdu(&hex("320100000400000e00060501120a10020002000184000020 0004001012 34"));
    assert_eq!(&w[0][12..], &[0x05, 0x01, 0xFF]);
    // Modbus holding register 2 is DB1.DBW4.
    let Value::List(h) = dev.databus.get("holding", SystemTime::now()).unwrap() else {
        panic!()
    };
    assert_eq!(h[2], Value::Int(0x1234));
    // Two items: DB1 bytes 4..6 and M0.1 as a bit; an odd first item is padded.
    let r = c.pdu(&hex(
        "320100000500001a00000402 120a10020003000184000020 120a10010001000083000001",
    ));
    let data = &r[0][14..];
    assert_eq!(&data[..4], &[0xFF, 0x04, 0x00, 24]);
    assert_eq!(&data[4..6], &[0x12, 0x34]);
    assert_eq!(data[7], 0x00, "fill byte after an odd item");
    assert_eq!(&data[8..11], &[0xFF, 0x03, 0x00]);
    // Missing DB and out-of-range address.
    let r = c.pdu(&hex(
        "320100000600001a00000402 120a10020001006384000000 120a100200100001840008 00",
    ));
    let data = &r[0][14..];
    assert_eq!(data[0], 0x0A);
    assert_eq!(data[4], 0x05);
    // Q0.0 set over S7 is Modbus coil 0.
    c.pdu(&hex("320100000700000e00050501120a1001000100008200000000030001 01"));
    let Value::List(q) = dev.databus.get("coils", SystemTime::now()).unwrap() else {
        panic!()
    };
    assert_eq!(q[0], Value::Int(1));
    let logged = c.events.iter().filter(|e| e.event_type == "s7.write_var").count();
    assert_eq!(logged, 2);
}

#[test]
fn stop_and_start_change_the_mode_lists() {
    let (dev, svc) = build(DEFAULT, 6);
    let mut c = Conn::new(&svc);
    c.connect();
    assert_eq!(c.szl(0x0424, 0)[34 + 3], 0x08);
    let stop = c.pdu(&hex("3201000008000010000029000000000009505f50524f4752414d"));
    assert_eq!(&stop[0][10..13], &[0, 0, 0x29]);
    assert!(!svc.device().running(SystemTime::now()));
    assert_eq!(
        dev.databus.get("s7_cpu_run", SystemTime::now()),
        Some(Value::Bool(false))
    );
    assert_eq!(c.szl(0x0424, 0)[34 + 3], 0x04);
    let leds = c.szl(0x0074, 0);
    // RUN LED (id 4) off, STOP LED (id 5) on.
    assert_eq!(&leds[38..42], &[0, 4, 0, 0]);
    assert_eq!(&leds[42..46], &[0, 5, 1, 0]);
    let hot = c.pdu(&hex("320100000900001400002800000000000000fd000009505f50524f4752414d"
        .replacen("2800000000000000fd", "28000000000000fd", 1)
        .as_str()));
    assert_eq!(&hot[0][10..13], &[0, 0, 0x28]);
    assert!(svc.device().running(SystemTime::now()));
    let ev = c
        .events
        .iter()
        .filter(|e| e.event_type == "s7.plc_control")
        .collect::<Vec<_>>();
    assert_eq!(ev[0].body.request.as_ref().unwrap()["action"], "stop");
    assert_eq!(ev[0].body.request.as_ref().unwrap()["service"], "P_PROGRAM");
    assert_eq!(ev[1].body.request.as_ref().unwrap()["service"], "P_PROGRAM");
    assert_eq!(ev[1].body.request.as_ref().unwrap()["action"], "hot_start");
}

#[test]
fn long_lists_are_split_to_the_pdu_size_with_follow_ups() {
    let (_dev, svc) = build(DEFAULT, 6);
    let mut c = Conn::new(&svc);
    c.connect();
    let first = c.szl(0x001C, 0);
    assert!(first.len() <= 240);
    assert_eq!(first[19], 0x01, "more data units follow");
    let seq = first[17];
    let mut follow = hex("320700000600 000c 0004 000112081244010000000000 0a000000");
    follow[17] = seq;
    let rest = c.pdu(&follow);
    assert_eq!(rest[0][19], 0x00, "last data unit");
    let total = (first.len() - 26) + (rest[0].len() - 26);
    assert_eq!(total, 8 + 340);
}

#[test]
fn clock_and_password() {
    let (_dev, svc) = build(DEFAULT, 7);
    let mut c = Conn::new(&svc);
    c.connect();
    let set = c.pdu(&hex(
        "3207000010000008000e 0001120411470200 ff09000a 00201207041530000000 01",
    ));
    assert_eq!(&set[0][20..22], &[0, 0]);
    let get = c.pdu(&hex("320700001100000800040001120411470100 0a000000"));
    assert_eq!(&get[0][26..33], &hex("00201207041530")[..]);
    // A wrong password: refused and logged with the password tried.
    let wrong = c.pdu(&hex(
        "320700001200000800 0c 0001120411450100 ff090008 26 24 63 34 64 20 44 04",
    ));
    assert_eq!(&wrong[0][20..22], &[0xD6, 0x02]);
    let attempt = c.events.iter().find(|e| e.event_type == "auth.attempt").unwrap();
    assert_eq!(attempt.body.data["success"], false);
    assert!(!attempt.body.data["password"].as_str().unwrap().is_empty());
}

#[test]
fn protected_cpu_refuses_writes_until_the_password() {
    let text = DEFAULT.replace(
        "[protocols.s7comm.identity]",
        "[protocols.s7comm.protection]\nlevel = 2\npassword = \"secret\"\n\n[protocols.s7comm.identity]",
    );
    let (_dev, svc) = build(&text, 8);
    let mut c = Conn::new(&svc);
    c.connect();
    let w = c.pdu(&hex("320100000400000e00050501120a100200010001840000000004000812"));
    assert_eq!(w[0][14], 0x03, "access denied");
    let stop = c.pdu(&hex("3201000008000010000029000000000009505f50524f4752414d"));
    assert_eq!(&stop[0][10..12], &[0xD6, 0x04]);
    // "secret  " scrambled as clients send it.
    let mut enc = [0u8; 8];
    for (i, &b) in b"secret  ".iter().enumerate() {
        enc[i] = b ^ 0x55 ^ if i >= 2 { enc[i - 2] } else { 0 };
    }
    let mut p = hex("320700001200000800 0c 0001120411450100 ff090008");
    p.extend(enc);
    let ok = c.pdu(&p);
    assert_eq!(&ok[0][20..22], &[0, 0]);
    let w = c.pdu(&hex("320100000400000e00050501120a100200010001840000000004000812"));
    assert_eq!(w[0][14], 0xFF);
}

/// The security userdata PDU with `password` scrambled as clients send it.
fn password_pdu(password: &[u8; 8]) -> Vec<u8> {
    let mut enc = [0u8; 8];
    for (i, &b) in password.iter().enumerate() {
        enc[i] = b ^ 0x55 ^ if i >= 2 { enc[i - 2] } else { 0 };
    }
    let mut p = hex("320700001200000800 0c 0001120411450100 ff090008");
    p.extend(enc);
    p
}

#[test]
fn device_accounts_open_the_cpu_by_their_privilege() {
    let text = DEFAULT.replace(
        "[protocols.s7comm.identity]",
        "[protocols.s7comm.protection]\nlevel = 3\n\n[protocols.s7comm.identity]",
    ) + "\n[[users]]\nname = \"viewer\"\npassword = \"look\"\nprivilege = \"user\"\nscope = [\"s7comm\"]\n";
    let (_dev, svc) = build(&text, 10);
    let mut c = Conn::new(&svc);
    c.connect();
    let read = hex("320100000300000e00000401120a10020001000184000000");
    assert_eq!(c.pdu(&read)[0][14], 0x03, "read-protected");
    let ok = c.pdu(&password_pdu(b"look    "));
    assert_eq!(&ok[0][20..22], &[0, 0]);
    assert_eq!(c.pdu(&read)[0][14], 0xFF, "a user may read");
    let w = c.pdu(&hex("320100000400000e00050501120a100200010001840000000004000812"));
    assert_eq!(w[0][14], 0x03, "but not write");
    let a: Vec<_> = c.events.iter().filter(|e| e.event_type == "auth.attempt").collect();
    assert_eq!(a.len(), 1);
    let d = &a[0].body.data;
    let keys: Vec<_> = d.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, conpot_core::auth::attempt::FIELDS);
    assert_eq!(d["protocol"], "s7comm");
    assert_eq!(d["password"], "look");
    assert_eq!(d["username"], serde_json::Value::Null);
    assert_eq!(d["method"], "password");
    assert_eq!(d["success"], true);
    assert_eq!(d["attempts"], 1);
    assert!(a[0].body.raw.is_some(), "the frame is kept");
    // An ftp-only account's password does not open the CPU.
    let text = text + "[[users]]\nname = \"ftpuser\"\npassword = \"ftppass\"\nscope = [\"ftp\"]\n";
    let (_dev, svc) = build(&text, 10);
    let mut c = Conn::new(&svc);
    c.connect();
    assert_eq!(&c.pdu(&password_pdu(b"ftppass "))[0][20..22], &[0xD6, 0x02]);
    let a = c.events.iter().find(|e| e.event_type == "auth.attempt").unwrap();
    assert_eq!(a.body.data["reason"], "bad_password");
}

#[test]
fn download_is_captured_and_listed() {
    let (_dev, svc) = build(DEFAULT, 9);
    let mut c = Conn::new(&svc);
    c.connect();
    let block = [&hex("707001010105 0007 000000b0")[..], &[0u8; 24], b"MALICIOUS LOGIC"].concat();
    // Build the request download exactly as clients do.
    let mut prm = vec![0x1A, 0, 1, 0, 0, 0, 0, 0, 9];
    prm.extend(b"_0A00007P");
    prm.push(0x0D);
    prm.extend(format!("1{:06}{:06}", block.len(), block.len() - 36).bytes());
    let mut pdu = hex("320100000020");
    pdu.extend((prm.len() as u16).to_be_bytes());
    pdu.extend([0, 0]);
    pdu.extend(&prm);
    let r = c.pdu(&pdu);
    assert_eq!(r.len(), 2, "ack, then the CPU's own download-block job");
    assert_eq!(&r[0][10..13], &[0, 0, 0x1A]);
    assert_eq!(r[1][1], 0x01);
    assert_eq!(r[1][10], 0x1B);
    assert_eq!(&r[1][19..28], b"_0A00007P");
    let job_ref = u16::from_be_bytes([r[1][4], r[1][5]]);
    // The client answers with the whole block, marked last.
    let mut ack = hex("3203000000000002");
    ack[4..6].copy_from_slice(&job_ref.to_be_bytes());
    ack.extend(((block.len() + 4) as u16).to_be_bytes());
    ack.extend([0, 0, 0x1B, 0x00]);
    ack.extend((block.len() as u16).to_be_bytes());
    ack.extend([0x00, 0xFB]);
    ack.extend(&block);
    let r = c.pdu(&ack);
    assert_eq!(r[0][10], 0x1C, "download ended job");
    let job_ref = u16::from_be_bytes([r[0][4], r[0][5]]);
    let mut end = hex("320300000000000100000000 1c");
    end[4..6].copy_from_slice(&job_ref.to_be_bytes());
    c.pdu(&end);
    assert_eq!(c.files.len(), 1);
    assert_eq!(c.files[0].bytes, block);
    assert_eq!(c.files[0].data["block"], "_0A00007P");
    // DB7 is now listed.
    let list = c.pdu(&hex("3207000030000008000600011204114302 00 ff0900023041"));
    let data = &list[0][26..];
    assert!(data.chunks(4).any(|e| e[..2] == [0, 7]), "{data:?}");
}

#[test]
fn malformed_input() {
    let (_dev, svc) = build(DEFAULT, 10);
    // Not TPKT: closed.
    let mut c = Conn::new(&svc);
    c.raw(b"GET / HTTP/1.0\r\n\r\n");
    assert!(c.closed);
    // Data before the connection request: closed.
    let mut c = Conn::new(&svc);
    c.pdu(&hex("32010000000000080000f0000001000101e0"));
    assert!(c.closed);
    // Truncated S7 header after setup: an error answer, still connected.
    let mut c = Conn::new(&svc);
    c.connect();
    let r = c.pdu(&hex("3201000000"));
    assert_eq!(r[0][1], 0x03);
    assert!(!c.closed);
    // Segmented DT: the setup in two TPDUs.
    let mut c = Conn::new(&svc);
    c.raw(&hex("0300001611e00000001400c1020100c2020102c0010a"));
    let part1 = hex("0300001102f000 32010000000000080000");
    let part2 = hex("0300000f 02f080 f0000001000101e0");
    assert!(c.raw(&part1).is_empty());
    let r = split(&c.raw(&part2));
    assert_eq!(r[0][1], 0x03);
    // S7CommPlus on an S7-300: closed; on an S7-1500: a session.
    let plus = hex("72010023 31 0000 04ca 0000 0001 00000000 00 00 0000 72010000");
    let mut c = Conn::new(&svc);
    c.raw(&hex("0300001611e00000001400c1020100c2020102c0010a"));
    let mut f = vec![3, 0, 0, 0, 2, 0xF0, 0x80];
    f.extend(&plus);
    let l = f.len() as u16;
    f[2..4].copy_from_slice(&l.to_be_bytes());
    c.raw(&f);
    assert!(c.closed);
    let (_d, svc1500) = build(&DEFAULT.replace("family = \"s7-300\"", "family = \"s7-1500\""), 10);
    let mut c = Conn::new(&svc1500);
    c.raw(&hex("0300001611e00000001400c1020100c2020102c0010a"));
    let r = split(&c.raw(&f));
    assert_eq!(r[0][0], 0x72);
    assert_eq!(r[0][4], 0x32);
    assert!(!c.closed);
}

/// An S7 PDU with ROSCTR `rosctr` and lengths that match `param` and `data`.
fn s7_pdu(rosctr: u8, param: &[u8], data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x32, rosctr, 0, 0, 0x01, 0x00];
    p.extend((param.len() as u16).to_be_bytes());
    p.extend((data.len() as u16).to_be_bytes());
    p.extend_from_slice(param);
    p.extend_from_slice(data);
    p
}

#[test]
fn requests_cut_short_are_errors_never_read_as_zeros() {
    let (_dev, svc) = build(DEFAULT, 13);
    let mut c = Conn::new(&svc);
    c.connect();
    // Every cut of a job's parameter, lengths consistent: header error 0x8104.
    let jobs = [
        hex("f0000001000101e0"),
        hex("0401120a10020002000184000000"),
        hex("0501120a10020001000184000000"),
        hex("29000000000009505f50524f4752414d"),
        hex("1d0000000000000009 5f30413030303031 50"),
    ];
    for param in &jobs {
        for cut in 0..param.len() {
            let r = c.pdu(&s7_pdu(1, &param[..cut], &[]));
            assert_eq!(r.len(), 1, "{param:02x?} cut at {cut}");
            if param[0] == 0x04 && cut == 1 {
                // A Read Var of the function byte alone is python-snap7's probe of the CPU
                // state: an empty result.
                assert_eq!(&r[0][10..], &[0, 0, 0x04, 0x00]);
                continue;
            }
            assert_eq!(r[0][1], 0x03, "an acknowledgement");
            assert_eq!(&r[0][10..12], &[0x81, 0x04], "{param:02x?} cut at {cut}");
        }
    }
    // A Write Var whose value is cut short writes nothing: item return code 0x07.
    let param = hex("0501120a10020002000184000020");
    let data = hex("000400101234");
    for cut in 0..data.len() {
        let r = c.pdu(&s7_pdu(1, &param, &data[..cut]));
        assert_eq!(&r[0][12..], &[0x05, 0x01, 0x07], "cut at {cut}");
    }
    // Userdata cut in its parameter: header error; cut in its data: userdata error 0x8104.
    let param = hex("0001120411440100");
    let data = hex("ff09000400110001");
    for cut in 0..param.len() {
        let r = c.pdu(&s7_pdu(7, &param[..cut], &data));
        assert_eq!(&r[0][10..12], &[0x81, 0x04], "cut at {cut}");
    }
    for cut in 0..data.len() {
        let r = c.pdu(&s7_pdu(7, &param, &data[..cut]));
        assert_eq!(r[0][1], 0x07, "a userdata answer");
        assert_eq!(&r[0][20..22], &[0x81, 0x04], "cut at {cut}");
        assert_eq!(r[0][22], 0x0A);
    }
    // A password cut short is refused as unreadable, not tried as a shorter password.
    let before = c.events.iter().filter(|e| e.event_type == "auth.attempt").count();
    let r = c.pdu(&s7_pdu(7, &hex("0001120411450100"), &hex("ff090005 2624633464")));
    assert_eq!(&r[0][20..22], &[0x81, 0x04]);
    assert_eq!(
        c.events.iter().filter(|e| e.event_type == "auth.attempt").count(),
        before
    );
    assert!(!c.closed);
    assert!(
        c.events.iter().any(|e| e.event_type == "s7.malformed"
            && e.body.error.as_deref().is_some_and(|m| m.contains("truncated at byte")))
    );
}

#[test]
fn conpot_template_imports() {
    let dir = conpot_testkit::conpot_templates().join("default");
    let t = conpot_core::template::Template::load_dir(&dir).unwrap();
    let p = t.persona.generate("default", 1);
    let d = Device::build(&t, p, SystemTime::now(), &mut conpot_core::rng::Rng::from_seed(1)).unwrap();
    let svc = S7Service::build(&t.protocols["s7comm"], &d).unwrap();
    assert_eq!(t.protocols["s7comm"].port, 10201);
    let mut c = Conn::new(&svc);
    c.connect();
    let r = c.szl(0x001C, 1);
    let text = String::from_utf8_lossy(&r);
    for v in [
        "Technodrome",
        "Mouser Factory",
        "Original Siemens Equipment",
        "88111222",
        "IM151-8 PN/DP CPU",
        "Siemens, SIMATIC, S7-200",
    ] {
        assert!(text.contains(v), "{v} in {text:?}");
    }
    // The template leaves the module's versions empty: they come from the persona (what
    // nmap's s7-info shows as Version), never 0.0.0.
    let r = c.szl(0x0011, 0);
    let at = r
        .windows(3)
        .position(|w| w == [0x00, 0xC0, b'V'])
        .expect("a firmware record");
    let firmware = format!("V{}.{}.{}", r[at + 3], r[at + 4], r[at + 5]);
    assert_eq!(Some(firmware.as_str()), d.persona.get("firmware"));
    assert_ne!(firmware, "V0.0.0");
    let hw = r
        .windows(5)
        .position(|w| w == [0x00, 0xC0, 0x00, 0x00, 0x00])
        .expect("a hardware record");
    assert_eq!(Some(r[hw + 5].to_string().as_str()), d.persona.get("hardware"));
    let _ = Arc::clone(svc.device());
}

#[test]
fn response_time_profile_delays_answers() {
    let (_d, svc) = build(
        &DEFAULT.replace(
            "family = \"s7-300\"",
            "family = \"s7-300\"\nresponse_time_ms = [20, 30]",
        ),
        12,
    );
    let now = SystemTime::now();
    let (mut d, _) = conpot_core::drive::Driver::tcp(&svc, 102, now);
    d.input(&hex("0300001611e00000001400c1020100c2020102c0010a"), now);
    let step = d.input(&hex("0300001902f08032010000000000080000f0000001000101e0"), now);
    assert!(!step.bytes.is_empty());
    assert!((20..=30).contains(&step.delay.as_millis()), "{:?}", step.delay);
}

/// The fuzz seed corpus of the S7 session target (`fuzz/seeds/s7_session`) is real: each
/// file is what python-snap7 sent in one session after the COTP connect and setup (the
/// fuzz target prepends those for inputs that start with an odd byte, as TPKT's 0x03 is).
/// Each must be answered request by request without a malformed frame, so the fuzzer
/// starts from deep inside the protocol.
#[test]
fn fuzz_seeds_are_whole_sessions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/s7_session");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        assert_eq!(data[0] & 1, 1, "{path:?}: the target prepends the handshake");
        let (_d, svc) = build(DEFAULT, 7);
        let mut c = Conn::new(&svc);
        c.connect();
        let answers = split(&c.raw(&data));
        let requests = split(&data).len();
        assert!(!answers.is_empty(), "{path:?}");
        assert!(
            answers.len() + 1 >= requests,
            "{path:?}: {} answers to {requests}",
            answers.len()
        );
        assert!(
            c.events.iter().all(|e| !e.event_type.ends_with("malformed")),
            "{path:?}: {:?}",
            c.events.iter().map(|e| e.event_type.clone()).collect::<Vec<_>>()
        );
        seen += 1;
    }
    assert!(seen >= 5, "{seen} seeds");
}
