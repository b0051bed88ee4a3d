//! Golden frames through the sans-IO session: exact bytes in, exact bytes out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::SystemTime;

use conpot_core::Value;
use conpot_core::protocol::{Output, Service, Session};

fn session(svc: &conpot_modbus::ModbusService) -> Box<dyn Session> {
    svc.new_session(&common::ctx())
}

/// Feeds `input` like the listener does and returns (reply bytes, output).
fn feed(s: &mut dyn Session, input: &[u8]) -> (Vec<u8>, Output, usize) {
    let mut out = Output::default();
    let mut used = 0;
    loop {
        let n = s.on_input(&input[used..], SystemTime::now(), &mut out);
        used += n;
        if n == 0 || out.close || used == input.len() {
            break;
        }
    }
    (out.bytes.clone(), out, used)
}

fn adu(tid: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut v = tid.to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    v.push(unit);
    v.extend_from_slice(pdu);
    v
}

fn ask(s: &mut dyn Session, unit: u8, pdu: &[u8]) -> Vec<u8> {
    let (reply, _, _) = feed(s, &adu(0x1234, unit, pdu));
    assert_eq!(&reply[..2], &[0x12, 0x34], "transaction id echoed");
    assert_eq!(reply[6], unit, "unit echoed");
    assert_eq!(
        usize::from(u16::from_be_bytes([reply[4], reply[5]])),
        reply.len() - 6,
        "MBAP length"
    );
    reply[7..].to_vec()
}

#[test]
fn reads() {
    let (_d, svc) = common::service("device");
    let mut s = session(&svc);
    assert_eq!(
        ask(&mut *s, 255, &[0x03, 0x00, 0x00, 0x00, 0x06]),
        [0x03, 12, 0, 10, 0, 20, 0, 30, 0, 40, 0xFF, 0xFF, 0, 7]
    );
    assert_eq!(
        ask(&mut *s, 255, &[0x01, 0x00, 0x00, 0x00, 0x0A]),
        [0x01, 2, 0b0001_1010, 0b11]
    );
    assert_eq!(
        ask(&mut *s, 255, &[0x02, 0x00, 0x64, 0x00, 0x10]),
        [0x02, 2, 0xFF, 0xFF]
    );
    let ir = ask(&mut *s, 255, &[0x04, 0x00, 0x00, 0x00, 0x04]);
    assert_eq!(ir[..2], [0x04, 8]);
    for c in ir[2..].chunks(2) {
        let v = u16::from_be_bytes([c[0], c[1]]);
        assert!((100..=200).contains(&v), "drifting analog value {v}");
    }
    // Padded to the declared size: registers 6 and 7 exist and read 0.
    assert_eq!(
        ask(&mut *s, 255, &[0x03, 0x00, 0x06, 0x00, 0x02]),
        [0x03, 4, 0, 0, 0, 0]
    );
}

#[test]
fn exceptions() {
    let (_d, svc) = common::service("device");
    let mut s = session(&svc);
    // Past the end of the block: illegal data address.
    assert_eq!(ask(&mut *s, 255, &[0x03, 0x00, 0x07, 0x00, 0x02]), [0x83, 0x02]);
    assert_eq!(ask(&mut *s, 255, &[0x01, 0x00, 0x0A, 0x00, 0x01]), [0x81, 0x02]);
    // Quantity out of range: illegal data value.
    assert_eq!(ask(&mut *s, 255, &[0x03, 0x00, 0x00, 0x00, 0x7E]), [0x83, 0x03]);
    assert_eq!(ask(&mut *s, 255, &[0x01, 0x00, 0x00, 0x07, 0xD1]), [0x81, 0x03]);
    // Bad coil value.
    assert_eq!(ask(&mut *s, 255, &[0x05, 0x00, 0x01, 0x12, 0x34]), [0x85, 0x03]);
    // Too short for its function.
    assert_eq!(ask(&mut *s, 255, &[0x03, 0x00]), [0x83, 0x03]);
    // Unsupported function.
    assert_eq!(ask(&mut *s, 255, &[0x07]), [0x87, 0x01]);
    assert_eq!(
        ask(&mut *s, 255, &[0x17, 0, 0, 0, 1, 0, 0, 0, 1, 2, 0, 0]),
        [0x97, 0x01]
    );
    // Diagnostics other than echo.
    assert_eq!(ask(&mut *s, 255, &[0x08, 0x00, 0x0A, 0x00, 0x00]), [0x88, 0x01]);
    // Read device id: bad code, missing object.
    assert_eq!(ask(&mut *s, 255, &[0x2B, 0x0E, 0x05, 0x00]), [0xAB, 0x03]);
    assert_eq!(ask(&mut *s, 255, &[0x2B, 0x0E, 0x04, 0x06]), [0xAB, 0x02]);
}

#[test]
fn writes_are_read_back_and_reach_the_databus() {
    let (device, svc) = common::service("device");
    let mut s = session(&svc);
    assert_eq!(
        ask(&mut *s, 255, &[0x06, 0x00, 0x02, 0x12, 0x34]),
        [0x06, 0x00, 0x02, 0x12, 0x34]
    );
    assert_eq!(
        ask(&mut *s, 255, &[0x03, 0x00, 0x02, 0x00, 0x01]),
        [0x03, 2, 0x12, 0x34]
    );
    assert_eq!(
        ask(
            &mut *s,
            255,
            &[0x10, 0x00, 0x00, 0x00, 0x02, 0x04, 0xAB, 0xCD, 0x00, 0x01]
        ),
        [0x10, 0, 0, 0, 2]
    );
    assert_eq!(
        ask(&mut *s, 255, &[0x03, 0x00, 0x00, 0x00, 0x02]),
        [0x03, 4, 0xAB, 0xCD, 0, 1]
    );
    assert_eq!(
        ask(&mut *s, 255, &[0x05, 0x00, 0x00, 0xFF, 0x00]),
        [0x05, 0x00, 0x00, 0xFF, 0x00]
    );
    assert_eq!(
        ask(&mut *s, 255, &[0x0F, 0x00, 0x01, 0x00, 0x03, 0x01, 0b101]),
        [0x0F, 0, 1, 0, 3]
    );
    assert_eq!(ask(&mut *s, 255, &[0x01, 0x00, 0x00, 0x00, 0x04]), [0x01, 1, 0b1011]);
    // Another protocol reading the databus sees the writes.
    let holding = device.databus.get("holding", SystemTime::now()).unwrap();
    let Value::List(l) = holding else { panic!("list") };
    assert_eq!(l[0], Value::Int(0xABCD));
    assert_eq!(l[2], Value::Int(0x1234));
    // A write from elsewhere is seen by Modbus.
    device
        .databus
        .update("holding", SystemTime::now(), |v| {
            if let Value::List(l) = v {
                l[5] = Value::Int(999);
            }
        })
        .unwrap();
    assert_eq!(
        ask(&mut *s, 255, &[0x03, 0x00, 0x05, 0x00, 0x01]),
        [0x03, 2, 0x03, 0xE7]
    );
}

#[test]
fn identification_and_server_id() {
    let (_d, svc) = common::service("device");
    let mut s = session(&svc);
    assert_eq!(
        ask(&mut *s, 255, &[0x08, 0x00, 0x00, 0xA5, 0x37]),
        [0x08, 0x00, 0x00, 0xA5, 0x37]
    );
    let mut expect = vec![0x11, 15];
    expect.extend_from_slice(b"SIMATIC S7-300");
    expect.push(0xFF);
    assert_eq!(ask(&mut *s, 255, &[0x11]), expect);
    let mut basic = vec![0x2B, 0x0E, 0x01, 0x81, 0x00, 0x00, 0x03, 0x00, 7];
    basic.extend_from_slice(b"Siemens");
    basic.extend_from_slice(&[0x01, 19]);
    basic.extend_from_slice(b"6ES7 315-2EH14-0AB0");
    basic.extend_from_slice(&[0x02, 6]);
    basic.extend_from_slice(b"V3.2.8");
    assert_eq!(ask(&mut *s, 255, &[0x2B, 0x0E, 0x01, 0x00]), basic);
    // Individual access.
    let mut one = vec![0x2B, 0x0E, 0x04, 0x81, 0x00, 0x00, 0x01, 0x01, 19];
    one.extend_from_slice(b"6ES7 315-2EH14-0AB0");
    assert_eq!(ask(&mut *s, 255, &[0x2B, 0x0E, 0x04, 0x01]), one);
    // Stream access from object 2.
    let r = ask(&mut *s, 255, &[0x2B, 0x0E, 0x01, 0x02]);
    assert_eq!(&r[..9], &[0x2B, 0x0E, 0x01, 0x81, 0x00, 0x00, 0x01, 0x02, 6]);
}

#[test]
fn more_follows_when_objects_do_not_fit() {
    let long = "X".repeat(120);
    let text = common::template("device").replace(
        "revision = \"{persona.firmware}\"",
        &format!("revision = \"{long}\"\nvendor_url = \"{long}\"\nproduct_name = \"{long}\""),
    );
    let (_d, svc) = common::service_from(&text);
    let mut s = session(&svc);
    let r = ask(&mut *s, 255, &[0x2B, 0x0E, 0x02, 0x00]);
    assert!(r.len() <= 253);
    assert_eq!(r[3], 0x82, "regular conformity");
    assert_eq!(r[4], 0xFF, "more follows");
    let next = r[5];
    assert_eq!(r[6], next, "objects 0..next were sent");
    let r2 = ask(&mut *s, 255, &[0x2B, 0x0E, 0x02, next]);
    assert_eq!(r2[4], 0x00, "last part");
    assert_eq!(r2[7], next);
}

#[test]
fn device_mode_answers_every_unit() {
    let (_d, svc) = common::service("device");
    let mut s = session(&svc);
    for unit in [0u8, 1, 17, 247, 255] {
        assert_eq!(
            ask(&mut *s, unit, &[0x03, 0x00, 0x00, 0x00, 0x01]),
            [0x03, 2, 0, 10],
            "unit {unit}"
        );
    }
    // Unit 2 has its own slave.
    assert_eq!(
        ask(&mut *s, 2, &[0x03, 0x00, 0x00, 0x00, 0x03]),
        [0x03, 6, 0, 1, 0, 2, 0, 3]
    );
}

#[test]
fn gateway_routes_broadcasts_and_missing_targets() {
    let (device, svc) = common::service("gateway");
    let mut s = session(&svc);
    assert_eq!(ask(&mut *s, 1, &[0x03, 0x00, 0x00, 0x00, 0x01]), [0x03, 2, 0, 10]);
    assert_eq!(ask(&mut *s, 9, &[0x03, 0x00, 0x00, 0x00, 0x01]), [0x83, 0x0B]);
    assert_eq!(ask(&mut *s, 255, &[0x03, 0x00, 0x00, 0x00, 0x01]), [0x83, 0x0B]);
    // Broadcast write: executed by every slave, no reply, connection stays open.
    let (reply, out, used) = feed(&mut *s, &adu(5, 0, &[0x06, 0x00, 0x00, 0x00, 0x63]));
    assert!(reply.is_empty());
    assert!(!out.close);
    assert_eq!(used, 12);
    assert_eq!(out.events[0].body.response.as_ref().unwrap()["reply"], "none");
    assert_eq!(ask(&mut *s, 1, &[0x03, 0x00, 0x00, 0x00, 0x01]), [0x03, 2, 0, 0x63]);
    let Value::List(gw) = device.databus.get("gw_holding", SystemTime::now()).unwrap() else {
        panic!()
    };
    assert_eq!(gw[0], Value::Int(0x63));
}

#[test]
fn framing_split_batched_foreign_and_broken() {
    let (_d, svc) = common::service("device");
    let mut s = session(&svc);
    let req = adu(1, 255, &[0x03, 0x00, 0x00, 0x00, 0x01]);
    // Byte by byte: nothing until the last byte.
    for i in 1..req.len() {
        let (reply, _, used) = feed(&mut *s, &req[..i]);
        assert!(reply.is_empty());
        assert_eq!(used, 0);
    }
    // Three requests in one segment: three replies in order.
    let mut three = adu(1, 255, &[0x03, 0x00, 0x00, 0x00, 0x01]);
    three.extend(adu(2, 255, &[0x03, 0x00, 0x01, 0x00, 0x01]));
    three.extend(adu(3, 255, &[0x07]));
    let (reply, out, used) = feed(&mut *s, &three);
    assert_eq!(used, three.len());
    assert_eq!(out.events.len(), 3);
    assert_eq!(
        reply,
        [
            &[0, 1, 0, 0, 0, 5, 255, 3, 2, 0, 10][..],
            &[0, 2, 0, 0, 0, 5, 255, 3, 2, 0, 20],
            &[0, 3, 0, 0, 0, 3, 255, 0x87, 1]
        ]
        .concat()
    );
    // A foreign protocol id: discarded without a reply, logged.
    let mut foreign = req.clone();
    foreign[3] = 1;
    let (reply, out, used) = feed(&mut *s, &foreign);
    assert!(reply.is_empty());
    assert_eq!(used, foreign.len());
    assert_eq!(out.events[0].event_type, "modbus.malformed");
    // A length no device accepts: logged and closed.
    let (reply, out, _) = feed(&mut *s, &[0, 1, 0, 0, 0x10, 0x00, 255, 3]);
    assert!(reply.is_empty());
    assert!(out.close);
    assert_eq!(out.events[0].event_type, "modbus.malformed");
    // Truncated at EOF.
    let mut out = Output::default();
    s.on_eof(&req[..9], SystemTime::now(), &mut out);
    assert_eq!(out.events[0].event_type, "modbus.malformed");
    assert!(out.events[0].body.error.as_deref().unwrap().contains("truncated"));
}

#[test]
fn request_event_has_decoded_fields_and_raw_bytes() {
    let (_d, svc) = common::service("device");
    let mut s = session(&svc);
    let req = adu(9, 255, &[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x05, 0x00, 0x06]);
    let (reply, out, _) = feed(&mut *s, &req);
    let ev = &out.events[0];
    assert_eq!(ev.event_type, "modbus.request");
    assert_eq!(ev.body.data["unit_id"], 255);
    assert_eq!(ev.body.data["function_code"], 16);
    assert_eq!(ev.body.data["transaction_id"], 9);
    let r = ev.body.request.as_ref().unwrap();
    assert_eq!(r["function"], "write_multiple_registers");
    assert_eq!(r["address"], 1);
    assert_eq!(r["values"], serde_json::json!([5, 6]));
    assert_eq!(ev.body.raw.as_deref(), Some(&req[..]));
    assert_eq!(ev.body.raw_response.as_deref(), Some(&reply[..]));
}

#[test]
fn conpot_default_template_imports_and_serves() {
    let dir = conpot_testkit::conpot_templates().join("default");
    let t = conpot_core::template::Template::load_dir(&dir).expect("Conpot default template loads");
    let persona = t.persona.generate("default", 3);
    let device =
        conpot_core::Device::build(&t, persona, SystemTime::now(), &mut conpot_core::rng::Rng::from_seed(3)).unwrap();
    let section = &t.protocols["modbus"];
    assert_eq!(section.port, 5020);
    let svc = conpot_modbus::ModbusService::build(section, &device).unwrap();
    let mut s = session(&svc);
    // Conpot's layout: serial (gateway) mode, coils of slave 1 at PDU address 1..128.
    device
        .databus
        .set("memoryModbusSlave1BlockA", Value::List(vec![Value::Int(1); 128]));
    assert_eq!(
        ask(&mut *s, 1, &[0x01, 0x00, 0x01, 0x00, 0x80]),
        [&[0x01, 16][..], &[0xFF; 16]].concat()
    );
    assert_eq!(ask(&mut *s, 1, &[0x01, 0x00, 0x00, 0x00, 0x08]), [0x81, 0x02]);
    // Slave 2 serves the 8 holding registers its block declares (its databus list has 32).
    assert_eq!(ask(&mut *s, 2, &[0x03, 0x9C, 0x41, 0x00, 0x08]).len(), 2 + 16);
    assert_eq!(ask(&mut *s, 2, &[0x03, 0x9C, 0x41, 0x00, 0x09]), [0x83, 0x02]);
    assert_eq!(ask(&mut *s, 2, &[0x03, 0x9C, 0x49, 0x00, 0x01]), [0x83, 0x02]);
    assert_eq!(ask(&mut *s, 2, &[0x04, 0x75, 0x31, 0x00, 0x08]).len(), 2 + 16);
    assert_eq!(ask(&mut *s, 2, &[0x04, 0x75, 0x31, 0x00, 0x09]), [0x84, 0x02]);
    assert_eq!(ask(&mut *s, 5, &[0x01, 0x00, 0x01, 0x00, 0x01]), [0x81, 0x0B]);
    let id = ask(&mut *s, 1, &[0x2B, 0x0E, 0x01, 0x00]);
    let text = String::from_utf8_lossy(&id);
    assert!(
        text.contains("Siemens") && text.contains("SIMATIC") && text.contains("S7-200"),
        "{text}"
    );
}

#[test]
fn response_time_profile_delays_answers() {
    let text = common::template("device").replace("mode = \"device\"", "mode = \"device\"\nresponse_time_ms = [3, 5]");
    let (_d, svc) = common::service_from(&text);
    let now = SystemTime::now();
    let (mut d, greeting) = conpot_core::drive::Driver::tcp(&svc, 502, now);
    assert!(greeting.delay.is_zero(), "nothing sent, nothing delayed");
    let step = d.input(&adu(1, 255, &[0x03, 0x00, 0x00, 0x00, 0x01]), now);
    assert!(!step.bytes.is_empty());
    assert!((3..=5).contains(&step.delay.as_millis()), "{:?}", step.delay);
}

/// The decoded response of every kind of answer, as the event log carries it.
#[test]
fn response_events_describe_what_was_sent() {
    let (_d, svc) = common::service("device");
    let mut s = session(&svc);
    let mut described = |unit: u8, pdu: &[u8]| {
        let (reply, out, _) = feed(&mut *s, &adu(7, unit, pdu));
        let ev = &out.events[0];
        assert_eq!(ev.body.raw_response.as_deref(), Some(&reply[..]), "the bytes sent");
        ev.body.response.clone().unwrap()
    };
    use serde_json::json;
    assert_eq!(
        described(255, &[0x01, 0x00, 0x00, 0x00, 0x0A]),
        json!({"values": [0, 1, 0, 1, 1, 0, 0, 0, 1, 1]})
    );
    assert_eq!(
        described(255, &[0x03, 0x00, 0x00, 0x00, 0x03]),
        json!({"values": [10, 20, 30]})
    );
    assert_eq!(
        described(255, &[0x03, 0x00, 0x10, 0x00, 0x01]),
        json!({"exception": 2, "exception_name": "ILLEGAL DATA ADDRESS"})
    );
    assert_eq!(
        described(255, &[0x07]),
        json!({"exception": 1, "exception_name": "ILLEGAL FUNCTION"})
    );
    assert_eq!(
        described(255, &[0x03, 0x00]),
        json!({"exception": 3, "exception_name": "ILLEGAL DATA VALUE"})
    );
    assert_eq!(described(255, &[0x06, 0x00, 0x01, 0x00, 0x05]), json!({"ok": true}));
    assert_eq!(described(255, &[0x05, 0x00, 0x01, 0xFF, 0x00]), json!({"ok": true}));
    assert_eq!(
        described(255, &[0x10, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00, 0x09]),
        json!({"ok": true})
    );
    assert_eq!(
        described(255, &[0x0F, 0x00, 0x00, 0x00, 0x02, 0x01, 0x03]),
        json!({"ok": true})
    );
    assert_eq!(described(255, &[0x08, 0x00, 0x00, 0xA5, 0x37]), json!({"ok": true}));
    assert_eq!(
        described(255, &[0x11]),
        json!({"server_id": "SIMATIC S7-300\u{fffd}", "raw": "53494d415449432053372d333030ff"})
    );
    assert_eq!(
        described(255, &[0x2B, 0x0E, 0x01, 0x00]),
        json!({
            "conformity": 0x81,
            "more_follows": false,
            "next_object_id": 0,
            "objects": {"0x00": "Siemens", "0x01": "6ES7 315-2EH14-0AB0", "0x02": "V3.2.8"},
        })
    );
    assert_eq!(
        described(255, &[0x2B, 0x0E, 0x04, 0x02]),
        json!({"conformity": 0x81, "more_follows": false, "next_object_id": 0, "objects": {"0x02": "V3.2.8"}})
    );
}

/// A Conpot XML template folder with one Modbus slave whose blocks are `blocks`.
fn conpot_xml_modbus(name: &str, blocks: &str) -> Result<(conpot_core::Device, conpot_modbus::ModbusService), String> {
    let dir = std::env::temp_dir().join(format!("conpot-modbus-xml-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("modbus")).unwrap();
    std::fs::write(
        dir.join("template.xml"),
        r#"<core><template><entity name="unit">X</entity><entity name="vendor">Y</entity></template>
        <databus><key_value_mappings>
        <key name="short"><value type="value">[7 for b in range(0,4)]</value></key>
        <key name="long"><value type="value">[5 for b in range(0,32)]</value></key>
        </key_value_mappings></databus></core>"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("modbus/modbus.xml"),
        format!(
            r#"<modbus enabled="True" host="0.0.0.0" port="5020"><mode>tcp</mode><delay>100</delay>
            <slaves><slave id="255"><blocks>{blocks}</blocks></slave></slaves></modbus>"#
        ),
    )
    .unwrap();
    let t = conpot_core::template::Template::load_dir(&dir).map_err(|e| format!("{e:?}"))?;
    let device = conpot_core::Device::build(
        &t,
        t.persona.generate(name, 1),
        SystemTime::now(),
        &mut conpot_core::rng::Rng::from_seed(1),
    )
    .map_err(|e| format!("{e:?}"))?;
    let svc = conpot_modbus::ModbusService::build(&t.protocols["modbus"], &device).map_err(|e| format!("{e:?}"))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((device, svc))
}

fn xml_block(name: &str, start: u16, size: Option<&str>) -> String {
    let size = size.map(|s| format!("<size>{s}</size>")).unwrap_or_default();
    format!(
        "<block name=\"{name}\"><type>HOLDING_REGISTERS</type><starting_address>{start}</starting_address>{size}<content>{name}</content></block>"
    )
}

#[test]
fn conpot_xml_blocks_serve_their_declared_size() {
    // Declared smaller than the list: the declared size; larger: padded with zeros.
    let blocks = [xml_block("long", 0, Some("8")), xml_block("short", 100, Some("6"))].concat();
    let (_d, svc) = conpot_xml_modbus("sizes", &blocks).unwrap();
    let mut s = session(&svc);
    assert_eq!(
        ask(&mut *s, 255, &[0x03, 0x00, 0x00, 0x00, 0x08]),
        [&[0x03, 16][..], &[0, 5].repeat(8)].concat()
    );
    assert_eq!(ask(&mut *s, 255, &[0x03, 0x00, 0x00, 0x00, 0x09]), [0x83, 0x02]);
    assert_eq!(
        ask(&mut *s, 255, &[0x03, 0x00, 0x64, 0x00, 0x06]),
        [&[0x03, 12][..], &[0, 7].repeat(4), &[0, 0, 0, 0]].concat()
    );
    assert_eq!(ask(&mut *s, 255, &[0x03, 0x00, 0x64, 0x00, 0x07]), [0x83, 0x02]);

    // No <size>: the list's length.
    let (_d, svc) = conpot_xml_modbus("nosize", &xml_block("long", 0, None)).unwrap();
    let mut s = session(&svc);
    assert_eq!(ask(&mut *s, 255, &[0x03, 0x00, 0x00, 0x00, 0x20]).len(), 2 + 64);
    assert_eq!(ask(&mut *s, 255, &[0x03, 0x00, 0x00, 0x00, 0x21]), [0x83, 0x02]);

    // A size that is no size, or runs past the address space, or overlaps: errors.
    for (name, blocks, expected) in [
        ("bad", xml_block("long", 0, Some("eight")), "found `eight`"),
        ("zero", xml_block("long", 0, Some("0")), "found `0`"),
        ("past", xml_block("long", 65530, Some("8")), "starts at 65530"),
        (
            "overlap",
            [xml_block("long", 0, Some("8")), xml_block("short", 4, Some("4"))].concat(),
            "no overlap with block `long`",
        ),
    ] {
        let err = conpot_xml_modbus(name, &blocks).err().unwrap();
        assert!(err.contains(expected), "{name}: {err}");
    }
}
