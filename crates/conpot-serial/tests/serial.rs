//! The serial device server driven in memory: RTU over TCP answered by the device's
//! slaves, and the bridge to an upstream serial server with its decoding and reconnects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::Value;
use conpot_core::drive::{Driver, device_and_section};
use conpot_core::protocol::{IoEvent, IoRequest, Service};
use conpot_serial::SerialService;
use conpot_serial::rtu::{self, crc16};

const EMULATE: &str = r#"
[template]
unit = "t"
vendor = "v"
[databus]
holding = [10, 20, 30, 40]
coils = [0, 1, 0, 1]
[protocols.serial]
port = 4001
mode = "emulate"
line = { baud = 19200, parity = "even" }
[[protocols.serial.modbus.slaves]]
id = 1
blocks = [
  { table = "holding_registers", start = 0, size = 4, key = "holding" },
  { table = "coils", start = 0, size = 4, key = "coils" },
]
"#;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn rtu_frame(body: &[u8]) -> Vec<u8> {
    let mut f = body.to_vec();
    f.extend_from_slice(&crc16(body).to_le_bytes());
    f
}

fn emulated() -> (SerialService, conpot_core::Device) {
    let (d, s) = device_and_section(EMULATE, "serial").unwrap();
    (SerialService::build(&s, &d).unwrap(), d)
}

#[test]
fn answers_rtu_over_tcp_from_the_slaves() {
    let (svc, dev) = emulated();
    let (mut d, open) = Driver::tcp(&svc, 4001, t0());
    assert!(open.bytes.is_empty());
    let s = d.input(&rtu_frame(&[1, 3, 0, 1, 0, 2]), t0());
    assert_eq!(s.bytes, rtu_frame(&[1, 3, 4, 0, 20, 0, 30]));
    let e = s.event("modbus.request").unwrap();
    assert_eq!(e.body.data.get("unit_id").unwrap(), 1);
    assert_eq!(e.body.data.get("slave_id").unwrap(), 1);
    assert_eq!(e.body.data.get("framing").unwrap(), "rtu");
    assert!(e.body.data.get("transaction_id").is_none());
    assert_eq!(e.body.raw_response.as_deref(), Some(&s.bytes[..]));
    // A write, seen by the databus every protocol shares.
    let s = d.input(&rtu_frame(&[1, 6, 0, 2, 0x12, 0x34]), t0());
    assert_eq!(s.bytes, rtu_frame(&[1, 6, 0, 2, 0x12, 0x34]));
    assert_eq!(
        dev.databus.get("holding", t0()).unwrap(),
        Value::List([10, 20, 0x1234, 40].map(Value::Int).to_vec())
    );
    // An exception: address out of the block.
    let s = d.input(&rtu_frame(&[1, 3, 0, 9, 0, 1]), t0());
    assert_eq!(s.bytes, rtu_frame(&[1, 0x83, 2]));
}

#[test]
fn silent_for_other_addresses_bad_crc_and_broadcast() {
    let (svc, dev) = emulated();
    let (mut d, _) = Driver::tcp(&svc, 4001, t0());
    // No slave 7 on the line: no answer, but logged.
    let s = d.input(&rtu_frame(&[7, 3, 0, 0, 0, 1]), t0());
    assert!(s.bytes.is_empty());
    assert!(
        s.event("modbus.request")
            .unwrap()
            .body
            .data
            .get("slave_id")
            .unwrap()
            .is_null()
    );
    // A CRC error is ignored, as a slave does.
    let mut bad = rtu_frame(&[1, 3, 0, 0, 0, 1]);
    bad[7] ^= 0xFF;
    let s = d.input(&bad, t0());
    assert!(s.bytes.is_empty());
    assert_eq!(s.types(), ["serial.malformed"]);
    // Broadcast write: executed, not answered.
    let s = d.input(&rtu_frame(&[0, 6, 0, 0, 0, 99]), t0());
    assert!(s.bytes.is_empty());
    assert_eq!(
        dev.databus.get("holding", t0()).unwrap().to_string(),
        "[99, 20, 30, 40]"
    );
}

#[test]
fn frames_across_segments_and_the_silence() {
    let (svc, _) = emulated();
    let (mut d, _) = Driver::tcp(&svc, 4001, t0());
    let f = rtu_frame(&[1, 1, 0, 0, 0, 4]);
    // Two frames in one segment, then one split.
    let mut two = f.clone();
    two.extend_from_slice(&f);
    let s = d.input(&two, t0());
    assert_eq!(s.types(), ["modbus.request", "modbus.request"]);
    assert!(d.input(&f[..3], t0()).bytes.is_empty());
    assert!(d.deadline.is_some());
    let s = d.input(&f[3..], t0());
    assert_eq!(s.bytes, rtu_frame(&[1, 1, 1, 0b1010]));
    // An unfinished frame is dropped after the silence; the next frame is read cleanly.
    d.input(&f[..5], t0());
    let s = d.advance(t0() + Duration::from_secs(1));
    assert_eq!(s.types(), ["serial.malformed"]);
    assert_eq!(d.input(&f, t0()).types(), ["modbus.request"]);
    // Garbage never grows the buffer past its bound.
    let s = d.input(&[0x55; 5000], t0());
    assert!(s.types().iter().all(|t| *t == "serial.malformed"));
}

const BRIDGE: &str = r#"
[template]
unit = "t"
vendor = "v"
[protocols.serial]
port = 4001
mode = "bridge"
upstream = "127.0.0.1:7001"
"#;

#[test]
fn bridge_carries_and_decodes_and_retries() {
    let (dev, s) = device_and_section(BRIDGE, "serial").unwrap();
    let svc = SerialService::build(&s, &dev).unwrap();
    let up = "127.0.0.1:7001".parse().unwrap();
    assert_eq!(svc.upstream_targets(), [up]);
    let (mut d, open) = Driver::tcp(&svc, 4001, t0());
    assert_eq!(open.requests, [IoRequest::Upstream { channel: 1, addr: up }]);
    // Bytes before the line is up are held, then sent.
    let req = rtu_frame(&[1, 3, 0, 0, 0, 1]);
    let s = d.input(&req, t0());
    assert!(s.requests.is_empty() && s.events.is_empty());
    let s = d.io(IoEvent::Connected { channel: 1, peer: up }, t0());
    assert_eq!(
        s.requests,
        [IoRequest::Send {
            channel: 1,
            bytes: req.clone()
        }]
    );
    assert_eq!(s.event("serial.link").unwrap().body.data.get("state").unwrap(), "up");
    let resp = rtu_frame(&[1, 3, 2, 0, 42]);
    let s = d.io(
        IoEvent::Data {
            channel: 1,
            bytes: resp.clone(),
        },
        t0(),
    );
    assert_eq!(s.bytes, resp);
    let e = s.event("modbus.request").unwrap();
    assert_eq!(e.body.raw.as_deref(), Some(&req[..]));
    assert_eq!(e.body.raw_response.as_deref(), Some(&resp[..]));
    assert_eq!(e.body.data.get("bridged").unwrap(), true);
    assert_eq!(e.body.request.as_ref().unwrap()["function"], "read_holding_registers");
    // Once up, client bytes go straight down.
    let s = d.input(&req, t0());
    assert_eq!(
        s.requests,
        [IoRequest::Send {
            channel: 1,
            bytes: req.clone()
        }]
    );
    // The device vanishes: an event, a retry after a back-off, never a crash.
    let s = d.io(IoEvent::Closed { channel: 1 }, t0());
    let down = s.event("serial.link").unwrap();
    assert_eq!(down.body.data.get("state").unwrap(), "down");
    assert_eq!(down.body.data.get("retry_ms").unwrap(), 1000);
    assert!(d.advance(t0() + Duration::from_millis(999)).requests.is_empty());
    let s = d.advance(t0() + Duration::from_secs(1));
    assert_eq!(s.requests, [IoRequest::Upstream { channel: 1, addr: up }]);
    let s = d.io(
        IoEvent::Failed {
            channel: 1,
            reason: "refused",
        },
        t0(),
    );
    assert_eq!(s.event("serial.link").unwrap().body.data.get("retry_ms").unwrap(), 2000);
    // The unanswered request is logged when the client leaves.
    let s = d.eof(t0());
    assert_eq!(s.types(), ["modbus.request"]);
}

#[test]
fn template_errors_are_named() {
    let bad = EMULATE.replace("key = \"holding\"", "key = \"nope\"");
    let (d, s) = device_and_section(&bad, "serial").unwrap();
    let e = format!("{:?}", SerialService::build(&s, &d).unwrap_err());
    assert!(e.contains("protocols.serial.modbus") && e.contains("nope"), "{e}");
    let bad = BRIDGE.replace("127.0.0.1:7001", "/dev/ttyS0");
    let (d, s) = device_and_section(&bad, "serial").unwrap();
    assert!(format!("{:?}", SerialService::build(&s, &d).unwrap_err()).contains("upstream"));
    assert_eq!(rtu::silence(9600, 11), Duration::from_micros(4010));
}

#[test]
fn rfc2217_settings_are_answered_and_data_escaped() {
    let text = EMULATE.replace("mode = \"emulate\"", "mode = \"emulate\"\nrfc2217 = true");
    let (dev, s) = device_and_section(&text, "serial").unwrap();
    let svc = SerialService::build(&s, &dev).unwrap();
    let (mut d, open) = Driver::tcp(&svc, 4001, t0());
    assert_eq!(open.bytes, [255, 251, 0, 255, 253, 0, 255, 251, 3]);
    // pyserial's opening: COM-PORT-OPTION both ways, then the line settings.
    let mut neg = vec![255, 251, 44, 255, 253, 44];
    neg.extend_from_slice(&[255, 250, 44, 1, 0, 0, 0x4B, 0x00, 255, 240]);
    neg.extend_from_slice(&[255, 250, 44, 3, 3, 255, 240]);
    let s = d.input(&neg, t0());
    let mut want = vec![255, 253, 44, 255, 251, 44];
    want.extend_from_slice(&[255, 250, 44, 101, 0, 0, 0x4B, 0x00, 255, 240]);
    want.extend_from_slice(&[255, 250, 44, 103, 3, 255, 240]);
    assert_eq!(s.bytes, want);
    let set: Vec<_> = s.events.iter().filter(|e| e.event_type == "serial.settings").collect();
    assert_eq!(set[0].body.data.get("command").unwrap(), "set_baudrate");
    assert_eq!(set[0].body.data.get("value").unwrap(), 19200);
    assert_eq!(set[1].body.data.get("value").unwrap(), "even");
    // A register holding 0xFFFF: its bytes go out doubled as Telnet data, and a 255 in the
    // request arrives doubled.
    let s = d.input(
        &rtu_frame(&[1, 6, 0, 0, 0xFF, 0xFF])
            .iter()
            .flat_map(|b| if *b == 255 { vec![255, 255] } else { vec![*b] })
            .collect::<Vec<u8>>(),
        t0(),
    );
    assert_eq!(
        s.event("modbus.request")
            .unwrap()
            .body
            .data
            .get("function_code")
            .unwrap(),
        6
    );
    let plain = rtu_frame(&[1, 6, 0, 0, 0xFF, 0xFF]);
    let escaped: Vec<u8> = plain
        .iter()
        .flat_map(|b| if *b == 255 { vec![255, 255] } else { vec![*b] })
        .collect();
    assert_eq!(s.bytes, escaped);
}

const DEVICE: &str = r#"
[template]
unit = "t"
vendor = "v"
[protocols.serial]
port = 4001
mode = "bridge"
device = "/dev/ttyUSB0"
line = { baud = 19200, parity = "even" }
response_timeout_ms = 300
"#;

#[test]
fn bridge_to_a_device_sends_whole_frames_to_the_shared_line() {
    let (dev, s) = device_and_section(DEVICE, "serial").unwrap();
    let svc = SerialService::build(&s, &dev).unwrap();
    assert_eq!(svc.serial_line(), Some("/dev/ttyUSB0"));
    assert!(svc.upstream_targets().is_empty());
    assert_eq!(svc.config().response_timeout, Duration::from_millis(300));
    assert!(svc.arbiter().is_some() && svc.line_session().is_none());
    let (mut d, open) = Driver::tcp(&svc, 4001, t0());
    assert_eq!(open.requests, [IoRequest::SerialLine { channel: 1 }]);
    // Attached: the line's task reports its state, the session adds no link event.
    let s = d.io(
        IoEvent::Connected {
            channel: 1,
            peer: "0.0.0.0:0".parse().unwrap(),
        },
        t0(),
    );
    assert!(s.event("serial.link").is_none());
    // Half a frame goes nowhere; the whole frame goes as one send.
    let req = rtu_frame(&[1, 3, 0, 0, 0, 1]);
    assert!(d.input(&req[..5], t0()).requests.is_empty());
    let s = d.input(&req[5..], t0());
    assert_eq!(
        s.requests,
        [IoRequest::Send {
            channel: 1,
            bytes: req.clone()
        }]
    );
    // A frame with a bad CRC never reaches the line.
    let mut bad = req.clone();
    bad[7] ^= 1;
    let s = d.input(&bad, t0());
    assert!(s.requests.is_empty());
    assert_eq!(s.types(), ["serial.malformed"]);
    let resp = rtu_frame(&[1, 3, 2, 0, 42]);
    let s = d.io(
        IoEvent::Data {
            channel: 1,
            bytes: resp.clone(),
        },
        t0(),
    );
    assert_eq!(s.bytes, resp);
    assert_eq!(
        s.event("modbus.request").unwrap().body.raw_response.as_deref(),
        Some(&resp[..])
    );
}

#[test]
fn rfc2217_settings_on_a_device_bridge_are_passed_to_the_line() {
    let t = DEVICE.replace("response_timeout_ms = 300", "rfc2217 = true");
    let (dev, s) = device_and_section(&t, "serial").unwrap();
    let svc = SerialService::build(&s, &dev).unwrap();
    let (mut d, _) = Driver::tcp(&svc, 4001, t0());
    // IAC SB COM-PORT-OPTION SET-BAUDRATE 19200 IAC SE
    let mut sb = vec![255, 250, 44, 1];
    sb.extend_from_slice(&19_200u32.to_be_bytes());
    sb.extend_from_slice(&[255, 240]);
    let s = d.input(&sb, t0());
    assert!(s.requests.contains(&IoRequest::SerialControl {
        channel: 1,
        command: 1,
        value: 19_200u32.to_be_bytes().to_vec()
    }));
    let e = s.event("serial.settings").unwrap();
    assert_eq!(e.body.data.get("forwarded").unwrap(), true);
    // A query (value 0) is answered, not applied.
    let s = d.input(&[255, 250, 44, 1, 0, 0, 0, 0, 255, 240], t0());
    assert!(!s.requests.iter().any(|r| matches!(r, IoRequest::SerialControl { .. })));
}

#[test]
fn a_device_in_emulate_mode_is_the_line_mode() {
    let t = EMULATE.replace("mode = \"emulate\"", "mode = \"emulate\"\ndevice = \"/tmp/ttyRTU\"");
    let (dev, s) = device_and_section(&t, "serial").unwrap();
    let svc = SerialService::build(&s, &dev).unwrap();
    assert_eq!(svc.device_path(), Some("/tmp/ttyRTU"));
    // The TCP port still serves; the line is served by its own session, not shared.
    assert_eq!(svc.serial_line(), None);
    let mut line = svc.line_session().unwrap();
    let mut out = conpot_core::protocol::Output::default();
    line.on_input(&rtu_frame(&[1, 3, 0, 1, 0, 1]), t0(), &mut out);
    assert_eq!(out.bytes, rtu_frame(&[1, 3, 2, 0, 20]));
}

#[test]
fn device_paths_come_checked_from_the_template() {
    for (from, to, wants) in [
        ("device = \"/dev/ttyUSB0\"", "device = \"ttyUSB0\"", "absolute"),
        (
            "device = \"/dev/ttyUSB0\"",
            "device = \"/dev/ttyUSB0\"\nupstream = \"127.0.0.1:1\"",
            "not both",
        ),
        (
            "response_timeout_ms = 300",
            "response_timeout_ms = 0",
            "response_timeout_ms",
        ),
    ] {
        let (d, s) = device_and_section(&DEVICE.replace(from, to), "serial").unwrap();
        let e = format!("{:?}", SerialService::build(&s, &d).unwrap_err());
        assert!(e.contains(wants), "{to}: {e}");
    }
    let long = format!("device = \"/{}\"", "a".repeat(300));
    let (d, s) = device_and_section(&DEVICE.replace("device = \"/dev/ttyUSB0\"", &long), "serial").unwrap();
    assert!(SerialService::build(&s, &d).is_err());
}

#[test]
fn rfc2217_commands_change_the_line_settings() {
    use conpot_serial::config::Line;
    use conpot_serial::rfc2217::apply;
    let mut l = Line {
        baud: 9600,
        data_bits: 8,
        parity: "none".into(),
        stop_bits: 1,
        flow: "none".into(),
    };
    assert!(apply(&mut l, 1, &38_400u32.to_be_bytes()));
    assert!(apply(&mut l, 2, &[7]));
    assert!(apply(&mut l, 3, &[3]));
    assert!(apply(&mut l, 4, &[2]));
    assert!(apply(&mut l, 5, &[3]));
    assert_eq!(
        (l.baud, l.data_bits, l.parity.as_str(), l.stop_bits, l.flow.as_str()),
        (38_400, 7, "even", 2, "rtscts")
    );
    // Queries, the same value again, 1.5 stop bits, DTR: nothing changes.
    for (code, v) in [
        (1, &[0, 0, 0, 0][..]),
        (2, &[7]),
        (4, &[3]),
        (5, &[8]),
        (3, &[9]),
        (1, &[0, 0, 0, 1]),
    ] {
        assert!(!apply(&mut l, code, v), "{code} {v:?}");
    }
}
