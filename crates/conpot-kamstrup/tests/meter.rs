//! The meter driven as the listener drives it, with the embedded `kamstrup_382` template:
//! frames of every command, wrong address, bad CRC, pipelined requests, noise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_core::drive::{Driver, device_and_section};
use conpot_kamstrup::MeterService;
use conpot_kamstrup::kmp::{self, Direction, Frame, LogSelector, Request, Response, Rtc, cmd};

const TEMPLATE: &str = include_str!("../../../templates/kamstrup_382/template.toml");

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_119_051)
}

fn service() -> (MeterService, conpot_core::Device) {
    let (device, section) = device_and_section(TEMPLATE, "kamstrup_meter").unwrap();
    (MeterService::build(&section, &device).unwrap(), device)
}

fn ask(d: &mut Driver, req: &Request, now: SystemTime) -> (Response, conpot_core::drive::Step) {
    let step = d.input(&kmp::encode_frame(&req.to_frame(0x3F)), now);
    let f = kmp::decode_frame(&step.bytes).unwrap();
    assert_eq!(
        (f.direction, f.address, f.command),
        (Direction::Response, 0x3F, req.command())
    );
    (Response::parse(f.command, &f.payload).unwrap(), step)
}

fn registers(r: Response) -> Vec<kmp::RegisterValue> {
    match r {
        Response::Registers(r) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn get_register_answers_with_units_and_values() {
    let (svc, device) = service();
    let (mut d, _) = Driver::tcp(&svc, 1025, t0());
    let (r, step) = ask(&mut d, &Request::GetRegister(vec![1001, 1054, 9999, 1205]), t0());
    let regs = registers(r);
    // The unknown register is left out, the order kept.
    assert_eq!(regs.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1001, 1054, 1205]);
    let serial: u128 = device.persona.get("meter_serial").unwrap().parse().unwrap();
    assert_eq!(regs[0].mantissa(), Some(serial));
    assert_eq!((regs[1].unit, regs[1].value.len()), (33, 2));
    let v = regs[1].number().unwrap();
    assert!((220.0..240.0).contains(&v), "{v}");
    assert_eq!(regs[2].value, vec![0xFF; 16]);
    // The real meter's delay, and the event with the decoded registers.
    assert!(step.delay >= Duration::from_millis(240) && step.delay <= Duration::from_millis(340));
    let ev = step.event("kamstrup.request").unwrap();
    let data = &ev.body.data;
    assert_eq!(data.get("status").unwrap(), "ok");
    assert_eq!(
        data.get("request").unwrap()["registers"],
        serde_json::json!([1001, 1054, 9999, 1205])
    );
    assert_eq!(data.get("response").unwrap()["registers"][1]["unit"], "V");
    assert!(ev.body.raw.is_some() && ev.body.raw_response.is_some());
}

#[test]
fn energy_grows_with_the_profile_and_power_moves() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 1025, t0());
    let read = |d: &mut Driver, now| {
        let r = registers(ask(d, &Request::GetRegister(vec![13, 1033, 1076]), now).0);
        (r[0].number().unwrap(), r[1].number().unwrap(), r[2].number().unwrap())
    };
    let (e0, p0, _) = read(&mut d, t0());
    let (e1, _, _) = read(&mut d, t0() + Duration::from_secs(3600));
    // 2.7 kW on average: about that much energy in one hour, never less than zero.
    assert!(e1 > e0 && e1 - e0 < 8.0 && e1 - e0 > 0.5, "{e0} {e1}");
    let day = (0..24).map(|h| read(&mut d, t0() + Duration::from_secs(h * 3600)).1);
    let (lo, hi) = day.fold((f64::MAX, 0.0f64), |(lo, hi), p| (lo.min(p), hi.max(p)));
    assert!(hi > 1.5 * lo, "{lo} {hi}");
    assert!(p0 > 0.0);
}

#[test]
fn type_serial_clock_and_logs() {
    let (svc, device) = service();
    let (mut d, _) = Driver::tcp(&svc, 1025, t0());
    let (r, _) = ask(&mut d, &Request::GetType, t0());
    assert_eq!(
        r,
        Response::Type {
            meter_type: 0x0382,
            revision: 0x0505
        }
    );
    let (r, _) = ask(&mut d, &Request::GetSerialNo, t0());
    let serial: u32 = device.persona.get("meter_serial").unwrap().parse().unwrap();
    assert_eq!(r, Response::SerialNo(serial));
    // SetClock moves the RTC registers.
    let new = Rtc::from_unix(1_700_000_000);
    let (r, step) = ask(&mut d, &Request::SetClock(new), t0());
    assert_eq!(r, Response::ClockSet);
    assert_eq!(
        step.event("kamstrup.request")
            .unwrap()
            .body
            .data
            .get("request")
            .unwrap()["clock"],
        "2023-11-14T22:13:20"
    );
    let regs = registers(
        ask(
            &mut d,
            &Request::GetRegister(vec![1047]),
            t0() + Duration::from_secs(10),
        )
        .0,
    );
    assert_eq!(regs[0].value[1..7], Rtc::from_unix(1_700_000_010).to_bytes()[1..7]);
    // Logs: hourly records, newest last, energy growing.
    let (r, step) = ask(
        &mut d,
        &Request::GetLog {
            selector: LogSelector::LastPresent,
            log: 0,
            records: 4,
            registers: vec![13],
        },
        t0(),
    );
    let Response::Log { records, .. } = r else { panic!() };
    assert_eq!(records.len(), 4);
    assert!(records.windows(2).all(|w| w[1].id == w[0].id + 1));
    assert!(
        step.event("kamstrup.request")
            .unwrap()
            .body
            .data
            .get("response")
            .unwrap()["records"]
            .is_array()
    );
    for selector in [
        LogSelector::TimePresent(Rtc::from_unix(1_699_990_000)),
        LogSelector::TimePast(Rtc::from_unix(1_699_990_000)),
        LogSelector::IdPresent(207_000),
    ] {
        let (r, _) = ask(
            &mut d,
            &Request::GetLog {
                selector,
                log: 0,
                records: 2,
                registers: vec![1, 13],
            },
            t0(),
        );
        let Response::Log { records, .. } = r else { panic!() };
        assert!(!records.is_empty() && records.len() <= 2);
        assert_eq!(records[0].registers.len(), 2);
    }
}

#[test]
fn wrong_address_bad_crc_and_unknown_commands_get_silence() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 1025, t0());
    let other = kmp::encode_frame(&Request::GetRegister(vec![1001]).to_frame(0x01));
    let step = d.input(&other, t0());
    assert!(step.bytes.is_empty());
    assert_eq!(
        step.event("kamstrup.request").unwrap().body.data.get("status").unwrap(),
        "wrong_address"
    );
    let mut bad = kmp::encode_frame(&Request::GetRegister(vec![1001]).to_frame(0x3F));
    bad[3] ^= 0x01;
    let step = d.input(&bad, t0());
    assert!(step.bytes.is_empty());
    assert_eq!(
        step.event("kamstrup.request").unwrap().body.data.get("status").unwrap(),
        "bad_crc"
    );
    for req in [
        Request::Unknown {
            command: 0x77,
            payload: vec![],
        },
        Request::PutRegister {
            id: 1001,
            value: vec![0, 0, 0, 1],
        },
    ] {
        let step = d.input(&kmp::encode_frame(&req.to_frame(0x3F)), t0());
        assert!(step.bytes.is_empty() && !step.close);
        assert_eq!(
            step.event("kamstrup.request").unwrap().body.data.get("status").unwrap(),
            "unanswered"
        );
    }
    // A count that does not match its ids.
    let f = Frame {
        direction: Direction::Request,
        address: 0x3F,
        command: cmd::GET_REGISTER,
        payload: vec![3, 0, 1],
    };
    let step = d.input(&kmp::encode_frame(&f), t0());
    assert!(step.bytes.is_empty());
    // Still answering afterwards.
    assert!(!registers(ask(&mut d, &Request::GetRegister(vec![1001]), t0()).0).is_empty());
}

#[test]
fn pipelined_split_and_noisy_input() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 1025, t0());
    let one = kmp::encode_frame(&Request::GetRegister(vec![1001]).to_frame(0x3F));
    let two = kmp::encode_frame(&Request::GetSerialNo.to_frame(0x3F));
    let mut all = b"garbage".to_vec();
    all.extend_from_slice(&one);
    all.extend_from_slice(&two);
    let step = d.input(&all, t0());
    assert_eq!(step.types().iter().filter(|t| **t == "kamstrup.request").count(), 2);
    assert_eq!(step.types().iter().filter(|t| **t == "kamstrup.noise").count(), 1);
    assert_eq!(step.bytes.iter().filter(|b| **b == kmp::START_RESPONSE).count(), 2);
    // One byte at a time.
    let mut got = Vec::new();
    for b in &one {
        got.extend(d.input(&[*b], t0()).bytes);
    }
    assert!(kmp::decode_frame(&got).is_ok());
    // A frame cut off by the close.
    d.input(&one[..4], t0());
    let step = d.eof(t0());
    assert!(step.event("kamstrup.truncated").is_some());
}

#[test]
fn a_megabyte_without_a_stop_byte_is_dropped_in_bounded_pieces() {
    let (svc, _) = service();
    let (mut d, _) = Driver::tcp(&svc, 1025, t0());
    let mut junk = vec![0x80];
    junk.extend(std::iter::repeat_n(0x11u8, 1 << 20));
    let step = d.input(&junk, t0());
    assert!(step.bytes.is_empty() && !step.close);
    assert!(step.events.len() <= 20, "{}", step.events.len());
    assert!(d.buffered().len() < kmp::MAX_FRAME);
    let one = kmp::encode_frame(&Request::GetSerialNo.to_frame(0x3F));
    assert!(!d.input(&one, t0()).bytes.is_empty());
}

#[test]
fn conpot_xml_registers_import() {
    use conpot_core::template::{ProtocolSection, SectionBody};
    let (device, _) = device_and_section(TEMPLATE, "kamstrup_meter").unwrap();
    let xml = r#"<kamstrup_meter enabled="True" host="0.0.0.0" port="1025">
    <config><communication_address>63</communication_address></config>
    <registers>
        <register length="4" name="1001" units="51" unknown="0"><value>register_1001</value></register>
        <register length="2" name="1054" units="33" unknown="0"><value>register_1054</value></register>
    </registers></kamstrup_meter>"#;
    let section = ProtocolSection {
        name: "kamstrup_meter".into(),
        enabled: true,
        host: "0.0.0.0".into(),
        port: 1025,
        file: "kamstrup_meter.xml".into(),
        body: SectionBody::ConpotXml(xml.into()),
    };
    let svc = MeterService::build(&section, &device).unwrap();
    assert_eq!(svc.meter().config.address, 63);
    assert_eq!(svc.meter().config.registers.len(), 2);
    assert_eq!(svc.meter().config.response_time_ms, (240, 340));
    let bad = ProtocolSection {
        body: SectionBody::ConpotXml(xml.replace("register_1054", "nope")),
        ..section
    };
    assert!(format!("{:?}", MeterService::build(&bad, &device).unwrap_err()).contains("nope"));
}
