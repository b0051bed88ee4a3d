//! The controlled station driven as the listener drives it: golden APCI frames from the
//! standard and the requests c104 and lib60870 clients send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::Value;
use conpot_core::drive::{Driver, device_and_section};
use conpot_iec104::Iec104Service;

const TEMPLATE: &str = r#"
[template]
unit = "RTU"
vendor = "Siemens"
[persona]
vendor = "Siemens"
ca = "412"
[databus]
breaker = 1
isolator = 0
voltage = 110.5
power = 42
energy = 123456
[protocols.IEC104]
port = 2404
common_address = "{persona.ca}"
points = [
  { ioa = 1001, type = "single", key = "breaker", group = 1 },
  { ioa = 1002, type = "double", key = "isolator", group = 1 },
  { ioa = 2001, type = "float", key = "voltage", group = 2, deadband = 0.5 },
  { ioa = 2002, type = "scaled", key = "power", group = 2, deadband_percent = 10 },
  { ioa = 3001, type = "counter", key = "energy" },
]
commands = [
  { ioa = 5001, type = "single", key = "breaker" },
  { ioa = 5002, type = "double", key = "isolator" },
  { ioa = 6001, type = "float", key = "voltage" },
]
"#;

const CA: u16 = 412;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn service() -> (Iec104Service, conpot_core::Device) {
    let (device, section) = device_and_section(TEMPLATE, "IEC104").unwrap();
    (Iec104Service::build(&section, &device).unwrap(), device)
}

fn i_frame(send: u16, recv: u16, asdu: &[u8]) -> Vec<u8> {
    let mut v = vec![0x68, (4 + asdu.len()) as u8];
    v.extend_from_slice(&(send << 1).to_le_bytes());
    v.extend_from_slice(&(recv << 1).to_le_bytes());
    v.extend_from_slice(asdu);
    v
}

fn asdu(type_id: u8, cot: u8, ca: u16, ioa: u32, element: &[u8]) -> Vec<u8> {
    let mut v = vec![type_id, 1, cot, 0];
    v.extend_from_slice(&ca.to_le_bytes());
    v.extend_from_slice(&ioa.to_le_bytes()[..3]);
    v.extend_from_slice(element);
    v
}

/// Splits replies into (control bytes, ASDU).
fn frames(mut b: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        assert_eq!(b[0], 0x68);
        let len = usize::from(b[1]);
        out.push((b[2..6].try_into().unwrap(), b[6..2 + len].to_vec()));
        b = &b[2 + len..];
    }
    out
}

fn nums(c: [u8; 4]) -> (u16, u16) {
    (
        u16::from_le_bytes([c[0], c[1]]) >> 1,
        u16::from_le_bytes([c[2], c[3]]) >> 1,
    )
}

/// A started session with the end of initialisation received and acknowledged.
fn started(svc: &Iec104Service) -> Driver {
    let (mut d, _) = Driver::tcp(svc, 2404, t0());
    let r = d.input(&[0x68, 4, 0x07, 0, 0, 0], t0()).bytes;
    let f = frames(&r);
    assert_eq!(&r[..6], &[0x68, 4, 0x0b, 0, 0, 0], "STARTDT con");
    assert_eq!(f[1].1[0], 70, "M_EI_NA_1");
    assert_eq!(f[1].1[2], 4, "cause initialised");
    assert_eq!(nums(f[1].0), (0, 0));
    d
}

#[test]
fn nothing_is_sent_before_startdt_and_i_frames_then_close() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 2404, t0());
    let step = d.input(&i_frame(0, 0, &asdu(100, 6, CA, 0, &[20])), t0());
    assert!(step.bytes.is_empty());
    assert!(step.close);
    assert!(step.event("iec104.protocol_error").is_some());
}

#[test]
fn testfr_is_answered_stopped_or_not() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 2404, t0());
    assert_eq!(
        d.input(&[0x68, 4, 0x43, 0, 0, 0], t0()).bytes,
        vec![0x68, 4, 0x83, 0, 0, 0]
    );
}

#[test]
fn general_interrogation_confirms_reports_and_terminates() {
    let (svc, _) = service();
    let mut d = started(&svc);
    let r = d.input(&i_frame(0, 1, &asdu(100, 6, CA, 0, &[20])), t0()).bytes;
    let f = frames(&r);
    let causes: Vec<u8> = f.iter().map(|(_, a)| a[2]).collect();
    assert_eq!(causes.first(), Some(&7), "activation confirmation");
    assert_eq!(causes.last(), Some(&10), "activation termination");
    assert!(causes[1..causes.len() - 1].iter().all(|c| *c == 20));
    // Types 1, 3, 13, 11: one ASDU each; the counter is not in a station interrogation.
    let types: Vec<u8> = f[1..f.len() - 1].iter().map(|(_, a)| a[0]).collect();
    assert_eq!(types, vec![1, 3, 13, 11]);
    // N(S) counts on from the end of initialisation; N(R) acknowledges the request.
    for (i, (c, _)) in f.iter().enumerate() {
        assert_eq!(nums(*c), (1 + i as u16, 1));
    }
    let float = &f[3].1;
    assert_eq!(&float[6..9], &[0xd1, 0x07, 0]);
    assert_eq!(f32::from_le_bytes(float[9..13].try_into().unwrap()), 110.5);
    // The broadcast address is answered with ours.
    let r = d.input(&i_frame(1, 7, &asdu(100, 6, 0xffff, 0, &[20])), t0()).bytes;
    let f = frames(&r);
    assert_eq!(u16::from_le_bytes([f[0].1[4], f[0].1[5]]), CA);
}

#[test]
fn counter_interrogation_clock_sync_and_read() {
    let (svc, _) = service();
    let mut d = started(&svc);
    let f = frames(&d.input(&i_frame(0, 1, &asdu(101, 6, CA, 0, &[5])), t0()).bytes);
    assert_eq!(
        f.iter().map(|(_, a)| (a[0], a[2])).collect::<Vec<_>>(),
        vec![(101, 7), (15, 37), (101, 10)]
    );
    assert_eq!(i32::from_le_bytes(f[1].1[9..13].try_into().unwrap()), 123_456);
    let time = [0x10, 0x27, 30, 8, 1, 12, 26];
    let f = frames(&d.input(&i_frame(1, 4, &asdu(103, 6, CA, 0, &time)), t0()).bytes);
    assert_eq!(f[0].1[2], 7);
    assert_eq!(&f[0].1[9..], &time, "the time echoed");
    let f = frames(&d.input(&i_frame(2, 5, &asdu(102, 5, CA, 1001, &[])), t0()).bytes);
    assert_eq!((f[0].1[0], f[0].1[2], f[0].1[9]), (1, 5, 1));
}

#[test]
fn negative_confirmations_for_unknown_type_address_and_object() {
    let (svc, _) = service();
    let mut d = started(&svc);
    let mut ask = |n: u16, a: Vec<u8>| frames(&d.input(&i_frame(n, 1 + n, &a), t0()).bytes)[0].1[2];
    assert_eq!(ask(0, asdu(100, 6, CA + 1, 0, &[20])), 46 | 0x40);
    assert_eq!(ask(1, asdu(58, 6, CA, 5001, &[1, 0, 0, 0, 0, 0, 0, 0])), 44 | 0x40);
    assert_eq!(ask(2, asdu(45, 6, CA, 9999, &[1])), 47 | 0x40);
    assert_eq!(ask(3, asdu(102, 5, CA, 4242, &[])), 47 | 0x40);
    assert_eq!(ask(4, asdu(45, 3, CA, 5001, &[1])), 45 | 0x40);
}

#[test]
fn a_command_changes_its_point_and_is_reported_spontaneously() {
    let (svc, device) = service();
    let mut d = started(&svc);
    let f = frames(&d.input(&i_frame(0, 1, &asdu(45, 6, CA, 5001, &[0])), t0()).bytes);
    assert_eq!(f.iter().map(|(_, a)| a[2]).collect::<Vec<_>>(), vec![7, 10]);
    assert_eq!(device.databus.get("breaker", t0()), Some(Value::Int(0)));
    // The scan after a second reports the change with a time tag: M_SP_TB_1, cause 3,
    // IOA 1001, SIQ off, CP56Time2a of 2027-01-15 08:00:01.000 (a Friday).
    let r = d.advance(t0() + Duration::from_secs(1)).bytes;
    let f = frames(&r);
    let ca = CA.to_le_bytes();
    assert_eq!(
        f[0].1,
        vec![
            30,
            1,
            3,
            0,
            ca[0],
            ca[1],
            0xe9,
            0x03,
            0,
            0,
            232,
            3,
            0,
            8,
            (5 << 5) | 15,
            1,
            27
        ]
    );
    // A write from another protocol is reported the same way: M_ME_TF_1.
    device.databus.set("voltage", Value::Float(99.0));
    let f = frames(&d.advance(t0() + Duration::from_secs(2)).bytes);
    let mut want = vec![36, 1, 3, 0, ca[0], ca[1], 0xd1, 0x07, 0];
    want.extend_from_slice(&99.0f32.to_le_bytes());
    want.extend_from_slice(&[0, 208, 7, 0, 8, (5 << 5) | 15, 1, 27]);
    assert_eq!(f[0].1, want);
}

#[test]
fn group_interrogation_answers_that_groups_points_with_its_cause() {
    let (svc, _) = service();
    let mut d = started(&svc);
    let ca = CA.to_le_bytes();
    // Group 1 (qualifier 21): the breaker and the isolator, cause 21, then termination.
    let f = frames(&d.input(&i_frame(0, 1, &asdu(100, 6, CA, 0, &[21])), t0()).bytes);
    let asdus: Vec<Vec<u8>> = f.into_iter().map(|(_, a)| a).collect();
    assert_eq!(
        asdus,
        vec![
            vec![100, 1, 7, 0, ca[0], ca[1], 0, 0, 0, 21],
            vec![1, 1, 21, 0, ca[0], ca[1], 0xe9, 0x03, 0, 1],
            vec![3, 1, 21, 0, ca[0], ca[1], 0xea, 0x03, 0, 1],
            vec![100, 1, 10, 0, ca[0], ca[1], 0, 0, 0, 21],
        ]
    );
    // Group 2 (qualifier 22): the two measured values without time tag.
    let f = frames(&d.input(&i_frame(1, 5, &asdu(100, 6, CA, 0, &[22])), t0()).bytes);
    assert_eq!(
        f.iter().map(|(_, a)| (a[0], a[2])).collect::<Vec<_>>(),
        vec![(100, 7), (13, 22), (11, 22), (100, 10)]
    );
    // Group 16 (qualifier 36) has no points: confirmation and termination only.
    let f = frames(&d.input(&i_frame(2, 9, &asdu(100, 6, CA, 0, &[36])), t0()).bytes);
    assert_eq!(
        f.iter().map(|(_, a)| (a[0], a[2])).collect::<Vec<_>>(),
        vec![(100, 7), (100, 10)]
    );
    // Qualifier 37 is no interrogation: negative confirmation.
    let f = frames(&d.input(&i_frame(3, 11, &asdu(100, 6, CA, 0, &[37])), t0()).bytes);
    assert_eq!(f[0].1[2], 7 | 0x40);
}

#[test]
fn measured_values_are_reported_only_past_their_deadband() {
    let (svc, device) = service();
    let mut d = started(&svc);
    let at = |s: u64| t0() + Duration::from_secs(s);
    // 110.5 to 110.9 is within the absolute 0.5; 42 to 45 within 10 % of 42.
    device.databus.set("voltage", Value::Float(110.9));
    device.databus.set("power", Value::Int(45));
    assert!(d.advance(at(1)).bytes.is_empty());
    // 111.1 is 0.6 from the last reported 110.5; 47 is 5 from 42 (more than 4.2).
    device.databus.set("voltage", Value::Float(111.1));
    let f = frames(&d.advance(at(2)).bytes);
    assert_eq!(f.iter().map(|(_, a)| (a[0], a[2])).collect::<Vec<_>>(), vec![(36, 3)]);
    device.databus.set("power", Value::Int(47));
    let f = frames(&d.advance(at(3)).bytes);
    assert_eq!(f.iter().map(|(_, a)| (a[0], a[2])).collect::<Vec<_>>(), vec![(35, 3)]);
    assert_eq!(&f[0].1[9..11], &47i16.to_le_bytes());
    // The band is measured from what was last reported (111.1), not the first value.
    device.databus.set("voltage", Value::Float(111.5));
    assert!(d.advance(at(4)).bytes.is_empty());
    // Integrated totals are not spontaneous unless configured.
    device.databus.set("energy", Value::Int(999_999));
    assert!(d.advance(at(5)).bytes.is_empty());
}

const PLAIN: &str = r#"
[template]
unit = "RTU"
vendor = "Siemens"
[databus]
energy = 1
flag = 0
[protocols.IEC104]
port = 2404
common_address = 9
time_tag = false
points = [
  { ioa = 1, type = "single", key = "flag", time_tag = true },
  { ioa = 2, type = "counter", key = "energy", spontaneous = true },
]
"#;

#[test]
fn time_tags_and_counters_configured_per_station_and_point() {
    let (device, section) = device_and_section(PLAIN, "IEC104").unwrap();
    let svc = Iec104Service::build(&section, &device).unwrap();
    let mut d = started(&svc);
    device.databus.set("energy", Value::Int(7));
    device.databus.set("flag", Value::Int(1));
    let f = frames(&d.advance(t0() + Duration::from_secs(1)).bytes);
    // The point's own time tag first, then the counter without one (the station's).
    assert_eq!(
        f.into_iter().map(|(_, a)| a).collect::<Vec<_>>(),
        vec![
            vec![30, 1, 3, 0, 9, 0, 1, 0, 0, 1, 232, 3, 0, 8, (5 << 5) | 15, 1, 27],
            vec![15, 1, 3, 0, 9, 0, 2, 0, 0, 7, 0, 0, 0, 0],
        ]
    );
}

#[test]
fn bad_groups_and_deadbands_are_template_errors() {
    let builds = |point: &str| {
        let t = format!(
            "[template]\nunit = \"RTU\"\nvendor = \"Siemens\"\n[databus]\nflag = 0\n\
             [protocols.IEC104]\nport = 2404\ncommon_address = 9\npoints = [{point}]\n"
        );
        let (device, section) = device_and_section(&t, "IEC104").unwrap();
        Iec104Service::build(&section, &device).is_ok()
    };
    assert!(builds(
        r#"{ ioa = 1, type = "float", key = "flag", group = 16, deadband = 1, deadband_percent = 2.5 }"#
    ));
    for bad in [
        r#"{ ioa = 1, type = "single", key = "flag", group = 17 }"#,
        r#"{ ioa = 1, type = "single", key = "flag", deadband = 1 }"#,
        r#"{ ioa = 1, type = "float", key = "flag", deadband = -1 }"#,
        r#"{ ioa = 1, type = "float", key = "flag", deadband_percent = 150 }"#,
        r#"{ ioa = 1, type = "float", key = "flag", time_tag = "yes" }"#,
    ] {
        assert!(!builds(bad), "{bad}");
    }
}

#[test]
fn select_before_execute() {
    let (svc, device) = service();
    let mut d = started(&svc);
    let f = frames(&d.input(&i_frame(0, 1, &asdu(46, 6, CA, 5002, &[0x82])), t0()).bytes);
    assert_eq!(
        f.iter().map(|(_, a)| a[2]).collect::<Vec<_>>(),
        vec![7],
        "select confirmed"
    );
    assert_eq!(device.databus.get("isolator", t0()), Some(Value::Int(0)));
    let f = frames(&d.input(&i_frame(1, 2, &asdu(46, 6, CA, 5002, &[0x02])), t0()).bytes);
    assert_eq!(f.iter().map(|(_, a)| a[2]).collect::<Vec<_>>(), vec![7, 10]);
    assert_eq!(device.databus.get("isolator", t0()), Some(Value::Int(1)));
}

#[test]
fn sequence_errors_close() {
    let (svc, _) = service();
    let mut d = started(&svc);
    let step = d.input(&i_frame(5, 1, &asdu(100, 6, CA, 0, &[20])), t0());
    assert!(step.close, "N(S) is not the expected 0");
    let mut d = started(&svc);
    assert!(
        d.input(&[0x68, 4, 0x01, 0, 0x10, 0], t0()).close,
        "S frame acknowledging frame 8 of 1"
    );
}

/// A started session whose k window is full: the end of initialisation and 11 answers
/// are unacknowledged (the peer acknowledges nothing); returns the peer's next N(S).
fn window_full(svc: &Iec104Service) -> (Driver, u16) {
    let mut d = started(svc);
    for n in 0..11u16 {
        let r = d.input(&i_frame(n, 0, &asdu(102, 5, CA, 1001, &[])), t0()).bytes;
        assert_eq!(frames(&r).len(), 1);
    }
    (d, 11)
}

#[test]
fn the_k_window_holds_answers_and_w_frames_are_acknowledged() {
    let (svc, _) = service();
    let (mut d, next) = window_full(&svc);
    let mut s_frames = Vec::new();
    for n in next..next + 8 {
        let r = d.input(&i_frame(n, 0, &asdu(102, 5, CA, 1001, &[])), t0()).bytes;
        for (c, _) in frames(&r) {
            assert_eq!(c[0] & 1, 1, "no I frame past the k window");
            s_frames.push(nums(c).1);
        }
    }
    assert_eq!(s_frames, vec![next + 8], "one S frame after w = 8 received frames");
    // Acknowledging everything releases the 8 held answers (within k).
    let r = d.input(&[0x68, 4, 0x01, 0, 24, 0], t0()).bytes;
    let f = frames(&r);
    assert_eq!(f.len(), 8);
    assert_eq!(nums(f[0].0).0, 12);
}

#[test]
fn t2_acknowledges_when_nothing_else_does() {
    let (svc, _) = service();
    let (mut d, next) = window_full(&svc);
    assert!(frames(&d.input(&i_frame(next, 0, &asdu(102, 5, CA, 1001, &[])), t0()).bytes).is_empty());
    let step = d.advance(t0() + Duration::from_secs(10));
    assert_eq!(
        step.bytes,
        vec![0x68, 4, 0x01, 0, ((next + 1) << 1) as u8, 0],
        "S frame after t2"
    );
}

#[test]
fn t3_sends_testfr_and_t1_closes_without_its_confirmation() {
    let (svc, _) = service();
    let mut d = started(&svc);
    d.input(&[0x68, 4, 0x01, 0, 2, 0], t0());
    let step = d.advance(t0() + Duration::from_secs(20));
    assert_eq!(step.bytes, vec![0x68, 4, 0x43, 0, 0, 0], "TESTFR act after t3 idle");
    let step = d.advance(t0() + Duration::from_secs(35));
    assert!(step.close, "no TESTFR con within t1");
    assert!(step.event("iec104.timeout").is_some());
}

#[test]
fn t1_closes_when_an_i_frame_is_never_acknowledged() {
    let (svc, _) = service();
    let mut d = started(&svc);
    // The end of initialisation is never acknowledged.
    let step = d.advance(t0() + Duration::from_secs(15));
    assert!(step.close);
}

#[test]
fn sequence_numbers_wrap_past_32767() {
    let (svc, _) = service();
    let mut d = started(&svc);
    let mut vs_peer: u16 = 0;
    let mut ours: u16 = 1;
    for _ in 0..33_000u32 {
        let r = d.input(&i_frame(vs_peer, ours, &asdu(102, 5, CA, 1001, &[])), t0());
        assert!(!r.close);
        let f = frames(&r.bytes);
        let (s, rr) = nums(f[0].0);
        assert_eq!((s, rr), (ours, (vs_peer + 1) % 32768));
        vs_peer = (vs_peer + 1) % 32768;
        ours = (ours + 1) % 32768;
    }
    assert!(ours < 1000, "wrapped");
}

#[test]
fn a_one_byte_frame_waits_and_a_bad_start_closes() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 2404, t0());
    let step = d.input(&[0x68], t0());
    assert!(!step.close && step.bytes.is_empty());
    d.eof(t0());
    let (mut d, _) = Driver::tcp(&svc, 2404, t0());
    assert!(d.input(&[0x00], t0()).close);
}

#[test]
fn conpot_iec104_template_imports() {
    let dir = conpot_testkit::conpot_templates().join("IEC104");
    let t = conpot_core::template::Template::load_dir(&dir).expect("Conpot IEC104 template loads");
    let device = conpot_core::drive::device_of(&t).unwrap();
    let svc = Iec104Service::build(&t.protocols["IEC104"], &device).unwrap();
    let c = &svc.station().config;
    assert_eq!(c.common_address, 7720);
    assert!(c.points.iter().any(|p| p.ioa == (13 << 8 | 20)));
    let cmd = c.commands.iter().find(|c| c.ioa == (22 << 8 | 20)).unwrap();
    assert_eq!((cmd.type_id, cmd.key.as_str()), (45, "13_20"));
    let mut d = {
        let (mut d, _) = Driver::tcp(&svc, 2404, t0());
        d.input(&[0x68, 4, 0x07, 0, 0, 0], t0());
        d
    };
    let f = frames(&d.input(&i_frame(0, 1, &asdu(100, 6, 7720, 0, &[20])), t0()).bytes);
    assert!(f.len() > 3);
    assert_eq!(f.last().unwrap().1[2], 10);
}
