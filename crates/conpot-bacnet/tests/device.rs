//! The device driven as the UDP listener drives it: golden frames from ASHRAE 135 and from
//! what nmap and bacpypes3 send.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime};

use conpot_bacnet::BacnetService;
use conpot_core::drive::{Driver, device_and_section};
use conpot_core::hex;

const TEMPLATE: &str = r#"
[template]
unit = "VAV"
vendor = "Test"
description = "test controller"
protocols = "BACnet"
creator = "test"

[persona]
hostname = "ahu-3"

[protocols.bacnet]
enabled = true
host = "0.0.0.0"
port = 47808
device_instance = 36113
device_name = "{persona.hostname}"
vendor_id = 24
model = "OptiFLEX BACnet Building Controller"
firmware = "6.0.2"
location = "Mech room"

[[protocols.bacnet.objects]]
type = "analog-input"
instance = 1
name = "Supply Air Temp"
units = 62
value = 13.5

[[protocols.bacnet.objects]]
type = "analog-output"
instance = 2
name = "Damper Cmd"
key = "damper"
units = 98
value = 40.0

[[protocols.bacnet.objects]]
type = "binary-value"
instance = 3
name = "Occupied"
value = 1.0

[[protocols.bacnet.objects]]
type = "multi-state-value"
instance = 4
name = "Mode"
states = ["Off", "Heat", "Cool"]
value = 2.0

[[users]]
name = "bacnet"
password = "s3cret"
scope = ["bacnet"]
"#;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn service() -> (BacnetService, conpot_core::Device) {
    let (device, section) = device_and_section(TEMPLATE, "bacnet").unwrap();
    (BacnetService::build(&section, &device).unwrap(), device)
}

/// A BVLC Original-Unicast-NPDU (expecting a reply) around `apdu` (hex).
fn unicast(apdu: &str) -> Vec<u8> {
    let apdu = hex::decode(apdu).unwrap();
    let mut d = vec![0x81, 0x0a, 0, 0, 0x01, 0x04];
    d.extend(apdu);
    let len = (d.len() as u16).to_be_bytes();
    d[2..4].copy_from_slice(&len);
    d
}

fn ask(d: &mut Driver, apdu: &str) -> String {
    let s = d.input(&unicast(apdu), t0());
    hex::encode(&s.bytes)
}

#[test]
fn who_is_with_and_without_range() {
    let (svc, _) = service();
    let (mut d, _) = Driver::udp(&svc, 47808, t0());
    let iam = "810a001401001000c402008d112205c4910121 18".replace(' ', "");
    assert_eq!(ask(&mut d, "1008"), iam);
    assert_eq!(ask(&mut d, "10080a01f41a9c40"), iam, "500..40000");
    assert_eq!(
        ask(&mut d, "1008090019 64".replace(' ', "").as_str()),
        "",
        "0..100: silence"
    );
    // Original-Broadcast-NPDU, as bacpypes3 and YABE send it.
    let s = d.input(&hex::decode("810b000801001008").unwrap(), t0());
    assert_eq!(hex::encode(&s.bytes), iam);
}

#[test]
fn nmap_bacnet_info_reads_the_wildcard_device() {
    let (svc, _) = service();
    let (mut d, _) = Driver::udp(&svc, 47808, t0());
    let s = d.input(&hex::decode("810a001101040005010c0c023fffff194b").unwrap(), t0());
    assert_eq!(hex::encode(&s.bytes), "810a0017010030010c0c02008d11194b3ec402008d113f");
    assert_eq!(
        ask(&mut d, "0005010c0c023fffff1978"),
        "810a0014010030010c0c02008d1119783e21183f"
    );
    let name = ask(&mut d, "0005010c0c023fffff1979");
    assert!(name.contains(&hex::encode(b"Automated Logic Corporation")), "{name}");
}

#[test]
fn errors_rejects_and_aborts_as_a_device_gives_them() {
    let (svc, _) = service();
    let (mut d, _) = Driver::udp(&svc, 47808, t0());
    // Unknown object: object / unknown-object.
    assert_eq!(
        ask(&mut d, "0005070c0c00000063 1955".replace(' ', "").as_str()),
        "810a000d0100500 70c9101911f".replace(' ', "")
    );
    // Unknown property of a known object: property / unknown-property.
    assert_eq!(
        ask(&mut d, "0005080c0c000000011a0200"),
        "810a000d010050080c9102 9120".replace(' ', "")
    );
    // Array index into a non-array: property / property-is-not-an-array.
    assert!(ask(&mut d, "0005090c0c0000000119552901").ends_with("91029132"));
    // An unsupported service (ReadRange): reject, unrecognized-service.
    assert_eq!(
        ask(&mut d, "00050a1a0c0000000119 55".replace(' ', "").as_str()),
        "810a0009010060 0a09".replace(' ', "")
    );
    // A segmented request: abort, segmentation-not-supported.
    assert_eq!(
        ask(&mut d, "0805 0b00 01 0c0c0000000119 55".replace(' ', "").as_str()),
        "810a00090100710b04"
    );
    // BBMD functions of a device that is no BBMD: BVLC-Result NAK.
    let s = d.input(&hex::decode("810500060e10").unwrap(), t0());
    assert_eq!(hex::encode(&s.bytes), "810000060030");
    // Garbage: silence and an event.
    let s = d.input(b"\x81\x0a\x00\x05\x02", t0());
    assert!(s.bytes.is_empty());
    assert_eq!(s.types(), ["bacnet.malformed"]);
}

#[test]
fn read_property_values_and_arrays() {
    let (svc, _) = service();
    let (mut d, _) = Driver::udp(&svc, 47808, t0());
    // AI 1 present value: REAL 13.5.
    assert_eq!(
        ask(&mut d, "0005010c0c000000011955"),
        "810a0017010030010c0c0000000119553e4441580000 3f".replace(' ', "")
    );
    // Object list length (index 0) and its second element.
    assert!(ask(&mut d, "0005020c0c02008d11194c2900").ends_with("29003e21053f"));
    assert!(ask(&mut d, "0005030c0c02008d11194c2902").ends_with("29023ec4000000013f"));
    assert!(
        ask(&mut d, "0005040c0c02008d11194c2909").ends_with("9102912a"),
        "invalid-array-index"
    );
    // Multi-state value 4 present value 2, its state text.
    assert!(ask(&mut d, "0005050c0c04c000041955").ends_with("3e21023f"));
}

#[test]
fn read_property_multiple_all_required_optional() {
    let (svc, _) = service();
    let (mut d, _) = Driver::udp(&svc, 47808, t0());
    // AI 1: all; device: object-name and location; an unknown object.
    let r = ask(
        &mut d,
        "0005010e0c000000011e09081f0c02008d111e094d093a1f0c000000631e09551f",
    );
    assert!(r.starts_with("810a"), "{r}");
    assert!(r.contains(&hex::encode(b"Supply Air Temp")));
    assert!(r.contains(&hex::encode(b"Mech room")));
    assert!(r.contains("5e9101911f5f"), "per-property unknown-object error: {r}");
    let required = ask(&mut d, "0005020e0c000000011e09691f");
    let optional = ask(&mut d, "0005030e0c000000011e09501f");
    assert!(
        required.contains("2975") && !required.contains("291c"),
        "units required, description not"
    );
    assert!(optional.contains("291c"), "description is optional: {optional}");
}

#[test]
fn write_property_with_priority_reaches_the_databus() {
    let (svc, device) = service();
    let (mut d, _) = Driver::udp(&svc, 47808, t0());
    // AO 2 present value := 75.0 at priority 8.
    assert_eq!(
        ask(&mut d, "0005110f0c0040000219553e44429600003f4908"),
        "810a0009010020110f"
    );
    assert_eq!(
        device.databus.get("damper", t0()),
        Some(conpot_core::Value::Float(75.0))
    );
    assert!(ask(&mut d, "0005120c0c004000021955").ends_with("3e44429600003f"));
    // Priority array slot 8 holds it; relinquish (NULL) goes back to the default.
    assert!(ask(&mut d, "0005130c0c00400002195729 08".replace(' ', "").as_str()).ends_with("3e44429600003f"));
    assert_eq!(ask(&mut d, "0005140f0c0040000219553e003f4908"), "810a0009010020140f");
    assert_eq!(device.databus.get("damper", t0()), Some(conpot_core::Value::Float(0.0)));
    // An input in service is not writable; a wrong datatype is refused.
    assert!(ask(&mut d, "0005150f0c0000000119553e44429600003f").ends_with("91029128"));
    assert!(ask(&mut d, "0005160f0c0040000219553e21013f").ends_with("91029109"));
    // Other protocols' writes are seen.
    device.databus.set("damper", conpot_core::Value::Float(12.5));
    assert!(ask(&mut d, "0005170c0c004000021955").ends_with("3e4441480000 3f".replace(' ', "").as_str()));
}

#[test]
fn device_communication_control_checks_the_password() {
    let (svc, _) = service();
    let (mut d, _) = Driver::udp(&svc, 47808, t0());
    // Disable with a wrong password: security / password-failure, one auth.attempt.
    let s = d.input(
        &unicast("000501111901 2d0600 77726f6e67".replace(' ', "").as_str()),
        t0(),
    );
    assert!(hex::encode(&s.bytes).ends_with("9104911a"));
    let e = s.event("auth.attempt").unwrap();
    assert_eq!(
        (e.body.data["protocol"].clone(), e.body.data["success"].clone()),
        ("bacnet".into(), false.into())
    );
    // With the right one (s3cret) the device falls silent, but hears the re-enable.
    assert_eq!(
        ask(&mut d, "000502111901 2d0700 733363726574".replace(' ', "").as_str()),
        "810a0009010020021 1".replace(' ', "")
    );
    assert_eq!(ask(&mut d, "1008"), "");
    assert_eq!(
        ask(&mut d, "000503111900 2d0700 733363726574".replace(' ', "").as_str()),
        "810a00090100200311"
    );
    assert_ne!(ask(&mut d, "1008"), "");
}

#[test]
fn long_answers_are_segmented_within_the_cap() {
    let (svc, _) = service();
    let (mut d, _) = Driver::udp(&svc, 47808, t0());
    // RPM device all, segmented responses accepted (0x02), max APDU 1476, invoke 9.
    let req = unicast("0275090e0c02008d111e09081f");
    d.reply_limit = req.len() * 8;
    let mut s = d.input(&req, t0());
    let mut data = Vec::new();
    let mut seq = 0u8;
    loop {
        let b = &s.bytes;
        assert!(
            !b.is_empty() && b.len() <= d.reply_limit,
            "segment {seq}: {} bytes",
            b.len()
        );
        let apdu = &b[6..];
        assert_eq!(apdu[0] & 0xF8, 0x38, "segmented complex ack");
        assert_eq!((apdu[1], apdu[2]), (9, seq));
        data.extend(&apdu[5..]);
        if apdu[0] & 0x04 == 0 {
            break;
        }
        let ack = hex::decode(&format!("810a000a01004009{seq:02x}01")).unwrap();
        d.reply_limit = ack.len() * 8;
        s = d.input(&ack, t0());
        seq += 1;
    }
    assert!(seq >= 2, "several segments");
    assert!(hex::encode(&data).contains(&hex::encode(b"OptiFLEX BACnet Building Controller")));
    // A client that takes no segments gets an abort.
    let req = unicast("0075090e0c02008d111e09081f");
    d.reply_limit = req.len() * 8;
    assert_eq!(hex::encode(&d.input(&req, t0()).bytes), "810a00090100710904");
}

#[test]
fn routed_requests_are_answered_through_the_router() {
    let (svc, _) = service();
    let (mut d, _) = Driver::udp(&svc, 47808, t0());
    // From network 7, MAC 0x21, via a router: ReadProperty object-name of the device.
    let s = d.input(
        &hex::decode(
            "810a001501 0c 0007 01 21 0005010c0c02008d11194d"
                .replace(' ', "")
                .as_str(),
        )
        .unwrap(),
        t0(),
    );
    let r = hex::encode(&s.bytes);
    assert!(
        r.starts_with("810a") && r[8..22].eq("01200007 0121ff".replace(' ', "").as_str()),
        "{r}"
    );
}

#[test]
fn who_has_time_sync_and_reinitialize() {
    let (svc, _) = service();
    let (mut d, _) = Driver::udp(&svc, 47808, t0());
    // Who-Has by object identifier (AO 2) and by name.
    let r = ask(&mut d, "10072c00400002");
    assert_eq!(
        r,
        "810a001f010010 01c402008d11c400400002750b00 44616d70657220436d64".replace(' ', "")
    );
    let r = ask(&mut d, "10073d09004f63637570696564");
    assert!(r.contains("c401400003"), "binary-value 3: {r}");
    assert_eq!(
        ask(&mut d, "10073d0500 6e6f7065".replace(' ', "").as_str()),
        "",
        "unknown name: silence"
    );
    // TimeSynchronization: logged, not answered.
    let s = d.input(&unicast("1006a47c0b1e02b40c1e0000"), t0());
    assert!(s.bytes.is_empty());
    assert_eq!(s.event("bacnet.request").unwrap().body.data["date"], "2024-11-30");
    // ReinitializeDevice (warmstart) needs the password.
    assert!(ask(&mut d, "000501140901").ends_with("9104911a"));
    assert_eq!(ask(&mut d, "0005021409011d0700733363726574"), "810a00090100200214");
    // SubscribeCOV is not a service this device has.
    assert_eq!(
        ask(&mut d, "00050305090112 0c00000001".replace(' ', "").as_str()),
        "810a00090100600309"
    );
}
